pub trait Echo: Send + Sync {
    fn echo(&self, message: String) -> String;
    #[doc(hidden)]
    fn __ipc_proxy(
        &self,
    ) -> ::core::option::Option<&::multiprocess::__private::ProxyCore> {
        ::core::option::Option::None
    }
    #[doc(hidden)]
    #[allow(deprecated, non_snake_case)]
    fn __ipc_dispatch(
        &self,
        __ipc_call: &mut ::multiprocess::__private::Incoming<'_>,
    ) -> ::core::result::Result<(), ::multiprocess::__private::Error> {
        #[allow(non_upper_case_globals)]
        const __IPC_ID_echo: u64 = <dyn Echo as ::multiprocess::__private::Interface>::WIRE
            .method_id("echo");
        match __ipc_call.method() {
            __IPC_ID_echo => {
                static __IPC_METHOD: ::multiprocess::__private::MethodInfo = ::multiprocess::__private::MethodInfo::new(
                    "Echo",
                    <dyn Echo as ::multiprocess::__private::Interface>::WIRE,
                    "echo",
                    |__ipc_sig: &mut ::multiprocess::__private::Signature| {
                        __ipc_sig.text();
                        __ipc_sig.returns();
                        __ipc_sig.text();
                    },
                );
                __ipc_call.check(&__IPC_METHOD)?;
                let message = __ipc_call.text("message")?;
                __ipc_call.received(&__IPC_METHOD);
                let __ipc_ret = Echo::echo(self, message);
                __ipc_call.ret_text(__ipc_ret)?;
                ::core::result::Result::Ok(())
            }
            __ipc_other => ::core::result::Result::Err(__ipc_call.unknown_method("Echo")),
        }
    }
}
const _: () = {
    #[automatically_derived]
    impl ::core::fmt::Debug for dyn Echo {
        fn fmt(&self, __ipc_f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            match Echo::__ipc_proxy(self) {
                ::core::option::Option::Some(__ipc_core) => {
                    __ipc_f.debug_tuple("Echo").field(__ipc_core).finish()
                }
                ::core::option::Option::None => {
                    __ipc_f
                        .debug_tuple("Echo")
                        .field(&::core::format_args!("local"))
                        .finish()
                }
            }
        }
    }
    #[allow(non_upper_case_globals)]
    static __IPC_METHOD_echo: ::multiprocess::__private::MethodInfo = ::multiprocess::__private::MethodInfo::new(
        "Echo",
        <dyn Echo as ::multiprocess::__private::Interface>::WIRE,
        "echo",
        |__ipc_sig: &mut ::multiprocess::__private::Signature| {
            __ipc_sig.text();
            __ipc_sig.returns();
            __ipc_sig.text();
        },
    );
    #[automatically_derived]
    impl ::multiprocess::__private::Interface for dyn Echo {
        const NAME: &'static str = "Echo";
        const WIRE: ::multiprocess::__private::WireName = ::multiprocess::__private::WireName::from_module(
            ::core::module_path!(),
            "Echo",
        );
        const ROUTING: &'static ::multiprocess::__private::Routing = &::multiprocess::__private::Routing {
            wire: <dyn Echo as ::multiprocess::__private::Interface>::WIRE,
            tokens: 3671082274736214762u64,
            methods: &[
                <dyn Echo as ::multiprocess::__private::Interface>::WIRE
                    .method_id("echo"),
            ],
            supertraits: &[],
        };
        fn contract() -> &'static ::multiprocess::__private::InterfaceContract {
            static __IPC_CONTRACT: ::std::sync::OnceLock<
                ::multiprocess::__private::InterfaceContract,
            > = ::std::sync::OnceLock::new();
            __IPC_CONTRACT
                .get_or_init(|| {
                    ::multiprocess::__private::InterfaceContract::new(
                        <dyn Echo as ::multiprocess::__private::Interface>::WIRE,
                        &[&__IPC_METHOD_echo],
                        &[],
                    )
                })
        }
        fn handles(__ipc_method: u64) -> bool {
            <dyn Echo as ::multiprocess::__private::Interface>::ROUTING
                .methods
                .contains(&__ipc_method)
        }
        fn from_proxy(
            __ipc_core: ::multiprocess::__private::ProxyCore,
        ) -> ::std::boxed::Box<Self> {
            ::std::boxed::Box::new(
                ::multiprocess::__private::Proxy::<Self>::new(__ipc_core),
            )
        }
        fn from_proxy_arc(
            __ipc_core: ::multiprocess::__private::ProxyCore,
        ) -> ::std::sync::Arc<Self> {
            <::std::sync::Arc<
                Self,
            > as ::core::convert::From<
                ::std::boxed::Box<Self>,
            >>::from(
                <Self as ::multiprocess::__private::Interface>::from_proxy(__ipc_core),
            )
        }
        fn proxy_core(
            __ipc_this: &Self,
        ) -> ::core::option::Option<&::multiprocess::__private::ProxyCore> {
            Echo::__ipc_proxy(__ipc_this)
        }
        fn from_shared(
            __ipc_this: ::multiprocess::__private::Shared<Self>,
        ) -> ::std::boxed::Box<Self> {
            ::std::boxed::Box::new(__ipc_this)
        }
        fn dispatch(
            __ipc_this: &Self,
            __ipc_call: &mut ::multiprocess::__private::Incoming<'_>,
        ) -> ::core::result::Result<(), ::multiprocess::__private::Error> {
            Echo::__ipc_dispatch(__ipc_this, __ipc_call)
        }
    }
    #[automatically_derived]
    impl ::multiprocess::__private::serde::Serialize for dyn Echo {
        fn serialize<__IpcS: ::multiprocess::__private::serde::Serializer>(
            &self,
            __ipc_serializer: __IpcS,
        ) -> ::core::result::Result<__IpcS::Ok, __IpcS::Error> {
            ::multiprocess::__private::serialize_object::<
                dyn Echo,
                __IpcS,
            >(self, __ipc_serializer)
        }
    }
    #[automatically_derived]
    impl<'__ipc_de> ::multiprocess::__private::serde::Deserialize<'__ipc_de>
    for ::std::boxed::Box<dyn Echo> {
        fn deserialize<
            __IpcD: ::multiprocess::__private::serde::Deserializer<'__ipc_de>,
        >(__ipc_deserializer: __IpcD) -> ::core::result::Result<Self, __IpcD::Error> {
            ::multiprocess::__private::deserialize_object::<
                dyn Echo,
                __IpcD,
            >(__ipc_deserializer)
        }
    }
    #[automatically_derived]
    impl<
        __IpcT: ?::core::marker::Sized + Echo,
    > ::multiprocess::__private::DispatchFor<__IpcT> for dyn Echo {
        fn dispatch(
            __ipc_this: &__IpcT,
            __ipc_call: &mut ::multiprocess::__private::Incoming<'_>,
        ) -> ::core::result::Result<(), ::multiprocess::__private::Error> {
            Echo::__ipc_dispatch(__ipc_this, __ipc_call)
        }
    }
    const _: () = ::multiprocess::__private::check_routing(
        <dyn Echo as ::multiprocess::__private::Interface>::ROUTING,
    );
    #[automatically_derived]
    #[allow(non_snake_case)]
    impl<__IpcI: ?::core::marker::Sized + 'static> Echo
    for ::multiprocess::__private::Proxy<__IpcI> {
        fn __ipc_proxy(
            &self,
        ) -> ::core::option::Option<&::multiprocess::__private::ProxyCore> {
            ::core::option::Option::Some(::multiprocess::__private::Proxy::core(self))
        }
        fn echo(&self, message: String) -> String {
            let mut __ipc_call = ::multiprocess::__private::Proxy::call(
                self,
                &__IPC_METHOD_echo,
            );
            __ipc_call.text("message", &message);
            let __ipc_outcome = __ipc_call
                .send()
                .and_then(|mut __ipc_reply| {
                    let __ipc_ret = __ipc_reply.text()?;
                    ::core::result::Result::Ok(__ipc_ret)
                });
            ::multiprocess::__private::expect(__ipc_outcome, &__IPC_METHOD_echo)
        }
    }
    #[automatically_derived]
    #[allow(deprecated, non_snake_case)]
    impl<__IpcT: ?::core::marker::Sized + Echo> Echo
    for ::multiprocess::__private::Shared<__IpcT> {
        fn echo(&self, message: String) -> String {
            Echo::echo(&**self, message)
        }
    }
};
