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

    /// The `static` that describes a method.
    pub(crate) fn method_info(&self, method: &Method) -> Ident {
        format_ident!("METHOD_{}", screaming(&method.ident.to_string()))
    }

    /// The `static` that describes a callback passed as `arg` (or returned).
    pub(crate) fn callback_info(&self, method: &Method, arg: Option<&Ident>) -> Ident {
        let method = screaming(&method.ident.to_string());
        match arg {
            Some(arg) => format_ident!("CALLBACK_{}_{}", method, screaming(&arg.to_string())),
            None => format_ident!("CALLBACK_{}_RETURN", method),
        }
    }
}

fn screaming(name: &str) -> String {
    name.trim_start_matches("r#").to_uppercase()
}

pub(crate) fn generate(parsed: &Parsed, model: &Interface) -> TokenStream {
    let cx = Context::new(&parsed.krate, model);
    let item = with_hidden_method(parsed, &cx);
    let statics = statics(&cx);
    let interface = interface::generate(&cx);
    let proxy = proxy::generate(&cx);
    let forward = forward::generate(&cx);
    quote! {
        #item

        const _: () = {
            #statics
            #interface
            #proxy
            #forward
        };
    }
}

/// The user's trait, plus the provided method through which the runtime
/// recognises its own proxies.
fn with_hidden_method(parsed: &Parsed, cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let mut item = parsed.item.clone();
    item.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __ipc_proxy(&self) -> ::core::option::Option<&#private::ProxyCore> {
            ::core::option::Option::None
        }
    });
    quote!(#item)
}

fn statics(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let name = &cx.model.name;
    let id = cx.model.id;
    let mut statics = TokenStream::new();
    for method in &cx.model.methods {
        let info = cx.method_info(method);
        let index = method.index;
        let method_name = method.ident.to_string();
        statics.extend(quote! {
            static #info: #private::MethodInfo = #private::MethodInfo::new(#name, #id, #index, #method_name);
        });
        for arg in &method.args {
            if let Pass::Value(Flow::Callback(_)) = &arg.pass {
                let info = cx.callback_info(method, Some(&arg.ident));
                let described = format!("{name}.{method_name}({})", arg.ident);
                statics
                    .extend(quote!(static #info: #private::MethodInfo = #private::MethodInfo::callback(#described);));
            }
        }
        if let Ret::Plain(Flow::Callback(_)) = &method.ret {
            let info = cx.callback_info(method, None);
            let described = format!("{name}.{method_name} -> callback");
            statics.extend(quote!(static #info: #private::MethodInfo = #private::MethodInfo::callback(#described);));
        }
    }
    statics
}
