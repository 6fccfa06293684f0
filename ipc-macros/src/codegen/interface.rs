//! `impl Interface for dyn Trait`.

use proc_macro2::TokenStream;
use quote::quote;

use super::Context;

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let model = cx.model;
    let ident = &model.ident;
    let name = &model.name;
    let id = model.id;
    let fingerprint = model.fingerprint;
    let supertraits = &model.supertraits;
    // `dyn Trait` is Debug already when Debug is a supertrait.
    let debug_is_supertrait =
        cx.model.supertraits.iter().any(|path| path.segments.last().is_some_and(|segment| segment.ident == "Debug"));
    let debug = (!debug_is_supertrait).then(|| {
        quote! {
            #[automatically_derived]
            impl ::core::fmt::Debug for dyn #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match #ident::__ipc_proxy(self) {
                        ::core::option::Option::Some(core) => f.debug_tuple(#name).field(core).finish(),
                        ::core::option::Option::None => f.debug_tuple(#name).field(&::core::format_args!("local")).finish(),
                    }
                }
            }
        }
    });
    quote! {
        #debug

        #[automatically_derived]
        impl #private::Interface for dyn #ident {
            const NAME: &'static str = #name;
            const ID: u32 = #id;
            const FINGERPRINT: u64 = #private::combine_fingerprints(
                #fingerprint,
                &[#(<dyn #supertraits as #private::Interface>::FINGERPRINT),*],
            );

            fn handles(interface: u32) -> bool {
                interface == #id #(|| <dyn #supertraits as #private::Interface>::handles(interface))*
            }

            fn from_proxy(core: #private::ProxyCore) -> ::std::boxed::Box<Self> {
                ::std::boxed::Box::new(#private::Proxy::<Self>::new(core))
            }

            fn from_proxy_arc(core: #private::ProxyCore) -> ::std::sync::Arc<Self> {
                ::std::sync::Arc::new(#private::Proxy::<Self>::new(core))
            }

            fn proxy_core(this: &Self) -> ::core::option::Option<&#private::ProxyCore> {
                #ident::__ipc_proxy(this)
            }

            fn from_shared(this: ::std::sync::Arc<Self>) -> ::std::boxed::Box<Self> {
                ::std::boxed::Box::new(#private::Shared(this))
            }

            fn dispatch(this: &Self, call: &mut #private::Incoming<'_>) -> ::core::result::Result<(), #private::Error> {
                #ident::__ipc_dispatch(this, call)
            }
        }
    }
}
