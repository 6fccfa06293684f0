//! `impl Interface for dyn Trait`, the statics that describe each method, the
//! compile-time check that supertrait routing cannot collide, and
//! `impl Debug for dyn Trait`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Context, unraw};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let model = cx.model;
    let ident = &model.ident;
    let name = &model.name;
    let interface = cx.interface();
    let tokens = model.tokens;
    // Spanned on each supertrait, so one that is not an interface is reported where the user named it.
    let supertrait = |path: &syn::Path| quote_spanned!(path.span()=> <dyn #path as #private::Interface>);
    let super_routing = model.supertraits.iter().map(|path| {
        let supertrait = supertrait(path);
        quote!(#supertrait::ROUTING)
    });
    let super_contracts = model.supertraits.iter().map(|path| {
        let supertrait = supertrait(path);
        quote!(#supertrait::contract)
    });
    let super_handles = model.supertraits.iter().map(|path| {
        let supertrait = supertrait(path);
        quote!(|| #supertrait::handles(__ipc_method))
    });
    let wire = match &model.wire {
        Some(wire) => quote!(#private::WireName::explicit(#wire)),
        None => quote!(#private::WireName::from_module(::core::module_path!(), #name)),
    };
    let statics = model.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let info = cx.method_static(method);
        let value = cx.method_info(method);
        quote! {
            #(#cfgs)*
            #[allow(non_upper_case_globals)]
            static #info: #private::MethodInfo = #value;
        }
    });
    let method_ids = model.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let method_name = unraw(&method.ident);
        quote!(#(#cfgs)* #interface::WIRE.method_id(#method_name))
    });
    let method_refs = model.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let info = cx.method_static(method);
        quote!(#(#cfgs)* &#info)
    });
    let debug = (!model.debug_supertrait).then(|| {
        quote! {
            #[automatically_derived]
            impl ::core::fmt::Debug for dyn #ident {
                fn fmt(&self, __ipc_f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match #ident::__ipc_proxy(self) {
                        ::core::option::Option::Some(__ipc_core) => __ipc_f.debug_tuple(#name).field(__ipc_core).finish(),
                        ::core::option::Option::None => {
                            __ipc_f.debug_tuple(#name).field(&::core::format_args!("local")).finish()
                        }
                    }
                }
            }
        }
    });
    quote! {
        #debug

        #(#statics)*

        #[automatically_derived]
        impl #private::Interface for dyn #ident {
            const NAME: &'static str = #name;
            const WIRE: #private::WireName = #wire;
            const ROUTING: &'static #private::Routing = &#private::Routing {
                wire: #interface::WIRE,
                tokens: #tokens,
                methods: &[#(#method_ids),*],
                supertraits: &[#(#super_routing),*],
            };

            fn contract() -> &'static #private::InterfaceContract {
                static __IPC_CONTRACT: ::std::sync::OnceLock<#private::InterfaceContract> = ::std::sync::OnceLock::new();
                __IPC_CONTRACT.get_or_init(|| {
                    #private::InterfaceContract::new(
                        #interface::WIRE,
                        &[#(#method_refs),*],
                        &[#(#super_contracts),*],
                    )
                })
            }

            fn handles(__ipc_method: u64) -> bool {
                #interface::ROUTING.methods.contains(&__ipc_method) #(#super_handles)*
            }

            fn from_proxy(__ipc_core: #private::ProxyCore) -> ::std::boxed::Box<Self> {
                ::std::boxed::Box::new(#private::Proxy::<Self>::new(__ipc_core))
            }

            fn from_proxy_arc(__ipc_core: #private::ProxyCore) -> ::std::sync::Arc<Self> {
                <::std::sync::Arc<Self> as ::core::convert::From<::std::boxed::Box<Self>>>::from(
                    <Self as #private::Interface>::from_proxy(__ipc_core),
                )
            }

            fn proxy_core(__ipc_this: &Self) -> ::core::option::Option<&#private::ProxyCore> {
                #ident::__ipc_proxy(__ipc_this)
            }

            fn from_shared(__ipc_this: #private::Shared<Self>) -> ::std::boxed::Box<Self> {
                ::std::boxed::Box::new(__ipc_this)
            }

            fn dispatch(
                __ipc_this: &Self,
                __ipc_call: &mut #private::Incoming<'_>,
            ) -> ::core::result::Result<(), #private::Error> {
                #ident::__ipc_dispatch(__ipc_this, __ipc_call)
            }
        }

        // Handles as fields of the user's own serde types: a `Box<dyn #ident>`
        // inside a struct crosses as a handle, like an argument does.
        #[automatically_derived]
        impl #private::serde::Serialize for dyn #ident {
            fn serialize<__IpcS: #private::serde::Serializer>(
                &self,
                __ipc_serializer: __IpcS,
            ) -> ::core::result::Result<__IpcS::Ok, __IpcS::Error> {
                #private::serialize_object::<dyn #ident, __IpcS>(self, __ipc_serializer)
            }
        }

        #[automatically_derived]
        impl<'__ipc_de> #private::serde::Deserialize<'__ipc_de> for ::std::boxed::Box<dyn #ident> {
            fn deserialize<__IpcD: #private::serde::Deserializer<'__ipc_de>>(
                __ipc_deserializer: __IpcD,
            ) -> ::core::result::Result<Self, __IpcD::Error> {
                #private::deserialize_object::<dyn #ident, __IpcD>(__ipc_deserializer)
            }
        }

        #[automatically_derived]
        impl<__IpcT: ?::core::marker::Sized + #ident> #private::DispatchFor<__IpcT> for dyn #ident {
            fn dispatch(
                __ipc_this: &__IpcT,
                __ipc_call: &mut #private::Incoming<'_>,
            ) -> ::core::result::Result<(), #private::Error> {
                #ident::__ipc_dispatch(__ipc_this, __ipc_call)
            }
        }

        // No call can reach the wrong method: a collision among this trait and
        // its supertraits fails to compile here.
        const _: () = #private::check_routing(#interface::ROUTING);
    }
}
