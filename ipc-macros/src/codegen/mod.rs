//! Writes the expansion from the model. One module per generated item; the
//! per-argument encode, decode and describe fragments they share live in
//! [`marshal`] and [`describe`].
//!
//! Every name the generated code introduces starts with `__ipc` (`__IPC` for
//! statics), a prefix the user's own argument and method names may not use, so
//! an argument called `call`, `reply` or `ret` never meets a generated local.

mod describe;
mod dispatch;
mod forward;
pub(crate) mod future;
mod interface;
mod marshal;
mod proxy;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, Path};

use crate::{
    model::{Flow, Interface, Method, Pass, Ret},
    parse::Parsed,
};

/// Names shared by the generated items.
pub(crate) struct Context<'a> {
    /// `path::to::multiprocess::__private`.
    pub(crate) private: TokenStream,
    pub(crate) model: &'a Interface,
}

impl Context<'_> {
    fn new<'a>(krate: &Path, model: &'a Interface) -> Context<'a> {
        Context { private: quote!(#krate::__private), model }
    }

    /// `<dyn Trait as Interface>`.
    pub(crate) fn interface(&self) -> TokenStream {
        let private = &self.private;
        let ident = &self.model.ident;
        quote!(<dyn #ident as #private::Interface>)
    }

    /// The static in the helper block that describes `method`.
    pub(crate) fn method_static(&self, method: &Method) -> Ident {
        format_ident!("__IPC_METHOD_{}", unraw(&method.ident))
    }

    /// The const holding `method`'s wire id inside the dispatcher.
    pub(crate) fn method_id_const(&self, method: &Method) -> Ident {
        format_ident!("__IPC_ID_{}", unraw(&method.ident))
    }

    /// The static that describes a callback passed as `arg` (or returned).
    pub(crate) fn callback_static(&self, arg: Option<&Ident>) -> Ident {
        match arg {
            Some(arg) => format_ident!("__IPC_CALLBACK_{}", unraw(arg)),
            None => format_ident!("__IPC_CALLBACK_RESULT"),
        }
    }

    /// `MethodInfo::new(..)` for `method`: its names, wire id and signature.
    pub(crate) fn method_info(&self, method: &Method) -> TokenStream {
        let private = &self.private;
        let name = &self.model.name;
        let interface = self.interface();
        let method_name = unraw(&method.ident);
        let describe = describe::method(self, method);
        quote! {
            #private::MethodInfo::new(#name, #interface::WIRE, #method_name, #describe)
        }
    }

    /// The statics that describe the callbacks of one method, declared inside
    /// each function that needs them, so the macro adds no names to the
    /// user's module.
    pub(crate) fn callback_statics(&self, method: &Method) -> TokenStream {
        let private = &self.private;
        let prefix = format!("{}.{}", self.model.name, unraw(&method.ident));
        let mut statics = TokenStream::new();
        for arg in &method.args {
            if let Pass::Value(Flow::Callback(_)) = &arg.pass {
                let info = self.callback_static(Some(&arg.ident));
                let described = format!("{prefix}.{}", unraw(&arg.ident));
                statics.extend(quote! {
                    #[allow(non_upper_case_globals)]
                    static #info: #private::MethodInfo = #private::MethodInfo::callback(#described);
                });
            }
        }
        if let Ret::Plain(Flow::Callback(_)) = &method.ret {
            let info = self.callback_static(None);
            let described = format!("{prefix}.result");
            statics.extend(quote! {
                static #info: #private::MethodInfo = #private::MethodInfo::callback(#described);
            });
        }
        statics
    }
}

/// An identifier's text without a leading `r#`.
pub(crate) fn unraw(ident: &Ident) -> String {
    ident.to_string().trim_start_matches("r#").to_owned()
}

pub(crate) fn generate(parsed: &Parsed, model: &Interface) -> TokenStream {
    let cx = Context::new(&parsed.krate, model);
    let item = with_hidden_methods(parsed, &cx);
    let interface = interface::generate(&cx);
    let proxy = proxy::generate(&cx);
    let forward = forward::generate(&cx);
    quote! {
        #item

        const _: () = {
            #interface
            #proxy
            #forward
        };
    }
}

/// The user's trait, plus two provided methods: one through which the
/// runtime recognises its own proxies, and the dispatcher. The dispatcher is a
/// method of the trait so that it works on any implementor, including a
/// `dyn Trait + 'a` lent for one call, and reaches supertraits through `Self`.
fn with_hidden_methods(parsed: &Parsed, cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let dispatch = dispatch::generate(cx);
    let mut item = parsed.item.clone();
    item.items.iter_mut().for_each(future::trait_item);
    item.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __ipc_proxy(&self) -> ::core::option::Option<&#private::ProxyCore> {
            ::core::option::Option::None
        }
    });
    item.items.push(syn::parse_quote!(#dispatch));
    quote!(#item)
}
