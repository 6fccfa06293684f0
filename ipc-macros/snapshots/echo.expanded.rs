pub trait Echo: Send + Sync {
    fn echo(&self, message: String) -> String;
    #[doc(hidden)]
    fn __ipc_proxy(
        &self,
    ) -> ::core::option::Option<&::multiprocess::__private::ProxyCore> {
        ::core::option::Option::None
    }
    #[doc(hidden)]
    fn __ipc_dispatch(
        &self,
        call: &mut ::multiprocess::__private::Incoming<'_>,
    ) -> ::core::result::Result<(), ::multiprocess::__private::Error> {
        match call.method_of(661960004u32) {
            ::core::option::Option::Some(0u16) => {
                static METHOD: ::multiprocess::__private::MethodInfo = ::multiprocess::__private::MethodInfo::new(
                    "Echo",
                    661960004u32,
                    0u16,
                    "echo",
                );
                let message = call.text("message")?;
                call.received(&METHOD);
                let ret = Echo::echo(self, message);
                call.ret_text(ret)?;
                ::core::result::Result::Ok(())
            }
            ::core::option::Option::Some(_) => {
                ::core::result::Result::Err(call.unknown_method("Echo"))
            }
            ::core::option::Option::None => {
                ::core::result::Result::Err(call.unknown_method("Echo"))
            }
        }
    }
}
const _: () = {
    #[automatically_derived]
    impl ::core::fmt::Debug for dyn Echo {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            match Echo::__ipc_proxy(self) {
                ::core::option::Option::Some(core) => {
                    f.debug_tuple("Echo").field(core).finish()
                }
                ::core::option::Option::None => {
                    f.debug_tuple("Echo").field(&::core::format_args!("local")).finish()
                }
            }
        }
    }
    #[automatically_derived]
    impl ::multiprocess::__private::Interface for dyn Echo {
        const NAME: &'static str = "Echo";
        const ID: u32 = 661960004u32;
        const FINGERPRINT: u64 = ::multiprocess::__private::combine_fingerprints(
            15264078487336181430u64,
            &[],
        );
        fn handles(interface: u32) -> bool {
            interface == 661960004u32
        }
        fn from_proxy(
            core: ::multiprocess::__private::ProxyCore,
        ) -> ::std::boxed::Box<Self> {
            ::std::boxed::Box::new(::multiprocess::__private::Proxy::<Self>::new(core))
        }
        fn from_proxy_arc(
            core: ::multiprocess::__private::ProxyCore,
        ) -> ::std::sync::Arc<Self> {
            ::std::sync::Arc::new(::multiprocess::__private::Proxy::<Self>::new(core))
        }
        fn proxy_core(
            this: &Self,
        ) -> ::core::option::Option<&::multiprocess::__private::ProxyCore> {
            Echo::__ipc_proxy(this)
        }
        fn from_shared(this: ::std::sync::Arc<Self>) -> ::std::boxed::Box<Self> {
            ::std::boxed::Box::new(::multiprocess::__private::Shared(this))
        }
        fn dispatch(
            this: &Self,
            call: &mut ::multiprocess::__private::Incoming<'_>,
        ) -> ::core::result::Result<(), ::multiprocess::__private::Error> {
            Echo::__ipc_dispatch(this, call)
        }
    }
    #[automatically_derived]
    impl<I: ?::core::marker::Sized> Echo for ::multiprocess::__private::Proxy<I> {
        fn __ipc_proxy(
            &self,
        ) -> ::core::option::Option<&::multiprocess::__private::ProxyCore> {
            ::core::option::Option::Some(::multiprocess::__private::Proxy::core(self))
        }
        fn echo(&self, message: String) -> String {
            static METHOD: ::multiprocess::__private::MethodInfo = ::multiprocess::__private::MethodInfo::new(
                "Echo",
                661960004u32,
                0u16,
                "echo",
            );
            let mut call = ::multiprocess::__private::Proxy::call(self, &METHOD);
            call.text("message", &message);
            let outcome = call
                .send()
                .and_then(|mut reply| {
                    let ret = reply.text()?;
                    ::core::result::Result::Ok(ret)
                });
            ::multiprocess::__private::expect(outcome, &METHOD)
        }
    }
    #[automatically_derived]
    impl<T: ?::core::marker::Sized + Echo> Echo
    for ::multiprocess::__private::Shared<T> {
        fn echo(&self, message: String) -> String {
            Echo::echo(&*self.0, message)
        }
    }
};
