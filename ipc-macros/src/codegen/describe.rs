//! The closure that lists a method's signature for the contract check: one
//! call on a `Signature` per argument, then the result.
//!
//! Fragments that name a user type carry that type's span, so a type that
//! cannot be described is reported where the user wrote it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::Context;
use crate::model::{Callback, Flavor, Flow, Method, Pass, Raw, Ret};

/// `|__ipc_sig: &mut Signature| { .. }` for `method`.
pub(crate) fn method(cx: &Context<'_>, method: &Method) -> TokenStream {
    let private = &cx.private;
    let args = method.args.iter().map(|arg| match &arg.pass {
        Pass::Value(flow) => flow_shape(cx, flow),
        Pass::Ref { raw: Some(raw), .. } => raw_shape(*raw),
        Pass::Ref { owned, .. } => quote_spanned!(owned.span()=> __ipc_sig.value(#private::codec::<#owned>());),
        Pass::Mut { owned } => quote_spanned!(owned.span()=> __ipc_sig.in_out(#private::codec::<#owned>());),
        Pass::Lend { interface } => {
            quote_spanned! {interface.span()=>
                #private::handle::<::std::boxed::Box<dyn #interface>>().describe_lent(__ipc_sig);
            }
        }
    });
    let ret = match &method.ret {
        Ret::Unit => quote!(),
        Ret::Plain(flow) => flow_shape(cx, flow),
        Ret::Result { ok, err, .. } => {
            let ok = flow_shape(cx, ok);
            let error = quote_spanned!(err.span()=> __ipc_sig.error(#private::error_codec::<#err>()););
            quote! {
                __ipc_sig.open("result");
                #ok
                #error
                __ipc_sig.close();
            }
        }
    };
    quote! {
        |__ipc_sig: &mut #private::Signature| {
            #(#args)*
            __ipc_sig.returns();
            #ret
        }
    }
}

fn raw_shape(raw: Raw) -> TokenStream {
    match raw {
        Raw::Bytes => quote!(__ipc_sig.bytes();),
        Raw::Text => quote!(__ipc_sig.text();),
    }
}

/// The statement that describes one value of `flow`.
fn flow_shape(cx: &Context<'_>, flow: &Flow) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> __ipc_sig.value(#private::codec::<#ty>());),
        Flow::Raw(raw) => raw_shape(*raw),
        Flow::Object(ty) => quote_spanned!(ty.span()=> #private::handle::<#ty>().describe(__ipc_sig);),
        Flow::Callback(callback) => callback_shape(cx, callback),
    }
}

fn callback_shape(cx: &Context<'_>, callback: &Callback) -> TokenStream {
    let private = &cx.private;
    let flavor = match callback.flavor {
        Flavor::Fn => "fn",
        Flavor::FnMut => "fnmut",
        Flavor::FnOnce => "fnonce",
    };
    let inputs = callback.inputs.iter().map(|flow| flow_shape(cx, flow));
    let output = callback.output.as_deref().map(|flow| flow_shape(cx, flow));
    let described = quote! {
        __ipc_sig.callback(#flavor, |__ipc_sig: &mut #private::Signature| {
            #(#inputs)*
            __ipc_sig.returns();
            #output
        });
    };
    if callback.optional {
        quote! {
            __ipc_sig.open("option");
            #described
            __ipc_sig.close();
        }
    } else {
        described
    }
}
