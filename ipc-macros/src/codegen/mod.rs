//! Writes the expansion from the model. One module per generated item; the
//! per-argument encode and decode fragments they share live in [`marshal`].

mod dispatch;
mod forward;
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

    /// The `static` that describes a method, declared by [`Context::method_statics`].
    pub(crate) fn method_info(&self) -> Ident {
        format_ident!("METHOD")
    }

    /// The `static` that describes a callback passed as `arg` (or returned).
    pub(crate) fn callback_info(&self, arg: Option<&Ident>) -> Ident {
        match arg {
            Some(arg) => format_ident!("CALLBACK_{}", arg.to_string().trim_start_matches("r#").to_uppercase()),
            None => format_ident!("CALLBACK_RETURN"),
        }
    }

    /// The statics that describe one method and its callbacks, for the log
    /// lines and the wire. Each function that needs them declares them inside
    /// its own body, so the macro adds no names to the user's module.
    pub(crate) fn method_statics(&self, method: &Method) -> TokenStream {
        let private = &self.private;
        let name = &self.model.name;
        let id = self.model.id;
        let info = self.method_info();
        let index = method.index;
        let method_name = method.ident.to_string();
        let mut statics = quote! {
            static #info: #private::MethodInfo = #private::MethodInfo::new(#name, #id, #index, #method_name);
        };
        for arg in &method.args {
            if let Pass::Value(Flow::Callback(_)) = &arg.pass {
                let info = self.callback_info(Some(&arg.ident));
                let described = format!("{name}.{method_name}({})", arg.ident);
                statics
                    .extend(quote!(static #info: #private::MethodInfo = #private::MethodInfo::callback(#described);));
            }
        }
        if let Ret::Plain(Flow::Callback(_)) = &method.ret {
            let info = self.callback_info(None);
            let described = format!("{name}.{method_name} -> callback");
            statics.extend(quote!(static #info: #private::MethodInfo = #private::MethodInfo::callback(#described);));
        }
        statics
    }
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
    item.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __ipc_proxy(&self) -> ::core::option::Option<&#private::ProxyCore> {
            ::core::option::Option::None
        }
    });
    item.items.push(syn::parse_quote!(#dispatch));
    quote!(#item)
}
