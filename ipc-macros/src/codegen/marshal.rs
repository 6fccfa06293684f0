//! The code that moves one value across, by how it crosses ([`Flow`]). Methods
//! and callbacks use the same fragments, so a callback accepts every kind of
//! value a method does.
//!
//! Fragments that name a user type carry that type's span, so a type that
//! cannot cross is reported on the argument that uses it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Ident, spanned::Spanned};

use super::Context;
use crate::model::{Callback, Container, Flavor, Flow, Raw};

/// The method of `OutgoingCall`, `Incoming` and `Reply` that moves a raw buffer.
pub(crate) fn raw_method(raw: Raw) -> Ident {
    match raw {
        Raw::Bytes => format_ident!("bytes"),
        Raw::Text => format_ident!("text"),
    }
}

/// The owned type of a raw buffer.
pub(crate) fn raw_type(raw: Raw) -> TokenStream {
    match raw {
        Raw::Bytes => quote!(::std::vec::Vec<u8>),
        Raw::Text => quote!(::std::string::String),
    }
}

/// `call.value(..)`, `call.bytes(..)` or `call.object(..)` for an argument
/// `value` of an outgoing call named `call`.
pub(crate) fn encode(cx: &Context<'_>, flow: &Flow, name: &str, value: &TokenStream, info: &Ident) -> TokenStream {
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> call.value::<#ty>(#name, &#value);),
        Flow::Raw(raw) => {
            let method = raw_method(*raw);
            quote!(call.#method(#name, &#value);)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> call.object::<#ty>(#name, #value);),
        Flow::Callback(callback) => {
            let exported = export_callback(cx, callback, value, info);
            quote!(call.object(#name, #exported);)
        }
    }
}

/// An expression that decodes the next argument from an incoming call named `call`.
pub(crate) fn decode(cx: &Context<'_>, flow: &Flow, name: &str, info: &Ident) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> call.value::<#ty>(#name)?),
        Flow::Raw(raw) => {
            let method = raw_method(*raw);
            quote!(call.#method(#name)?)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> call.object::<#ty>(#name)?),
        Flow::Callback(callback) => {
            import_callback(cx, callback, &quote!(call.object::<#private::RemoteCallback>(#name)?), info)
        }
    }
}

/// An expression that decodes a returned value from a `reply`.
pub(crate) fn decode_reply(cx: &Context<'_>, flow: &Flow, info: &Ident) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> reply.value::<#ty>()?),
        Flow::Raw(raw) => {
            let method = raw_method(*raw);
            quote!(reply.#method()?)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> reply.object::<#ty>()?),
        Flow::Callback(callback) => {
            import_callback(cx, callback, &quote!(reply.object::<#private::RemoteCallback>()?), info)
        }
    }
}

/// A statement that encodes the value `ret` as the result of an incoming `call`.
pub(crate) fn encode_return(cx: &Context<'_>, flow: &Flow, info: &Ident) -> TokenStream {
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> call.ret::<#ty>(&ret)?;),
        Flow::Raw(raw) => {
            let method = format_ident!("ret_{}", raw_method(*raw));
            quote!(call.#method(ret)?;)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> call.ret_object::<#ty>(ret)?;),
        Flow::Callback(callback) => {
            let exported = export_callback(cx, callback, &quote!(ret), info);
            quote!(call.ret_object(#exported)?;)
        }
    }
}

fn input_names(callback: &Callback) -> Vec<Ident> {
    (0..callback.inputs.len()).map(|i| format_ident!("arg{}", i)).collect()
}

/// Wraps a local closure `value` in a `Callback` that the peer calls back through.
fn export_callback(cx: &Context<'_>, callback: &Callback, value: &TokenStream, info: &Ident) -> TokenStream {
    let private = &cx.private;
    let names = input_names(callback);
    let decodes = callback.inputs.iter().zip(&names).enumerate().map(|(i, (flow, name))| {
        let decoded = decode(cx, flow, &i.to_string(), info);
        quote!(let #name = #decoded;)
    });
    let ret = match &callback.output {
        None => quote!(call.ret(&ret)),
        Some(output) => {
            let encoded = encode_return(cx, output, info);
            quote!(#encoded ::core::result::Result::Ok(()))
        }
    };
    let (constructor, binding) = match callback.flavor {
        Flavor::Fn => (quote!(new_fn), quote!(let callback = #value;)),
        Flavor::FnMut => (quote!(new_fn_mut), quote!(let mut callback = #value;)),
        Flavor::FnOnce => (quote!(new_fn_once), quote!(let callback = #value;)),
    };
    let described = info.to_string();
    quote! {{
        #binding
        #private::Callback::#constructor(#described, move |call: &mut #private::Incoming<'_>| {
            #(#decodes)*
            call.received(&#info);
            let ret = callback(#(#names),*);
            #ret
        })
    }}
}

/// Wraps a `RemoteCallback` (from `remote`) in a closure of the user's type.
fn import_callback(cx: &Context<'_>, callback: &Callback, remote: &TokenStream, info: &Ident) -> TokenStream {
    let private = &cx.private;
    let ty = &callback.ty;
    let names = input_names(callback);
    let params = callback.inputs.iter().zip(&names).map(|(flow, name)| match flow {
        Flow::Value(ty) | Flow::Object(ty) => quote!(#name: #ty),
        Flow::Raw(raw) => {
            let ty = raw_type(*raw);
            quote!(#name: #ty)
        }
        Flow::Callback(callback) => {
            let ty = &callback.ty;
            quote!(#name: #ty)
        }
    });
    let encodes = callback
        .inputs
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (flow, name))| encode(cx, flow, &i.to_string(), &quote!(#name), info));
    let (output, decoded) = match &callback.output {
        None => (quote!(()), quote!(reply.value::<()>()?)),
        Some(flow) => {
            let output = match &**flow {
                Flow::Value(ty) | Flow::Object(ty) => quote!(#ty),
                Flow::Raw(raw) => raw_type(*raw),
                Flow::Callback(callback) => {
                    let ty = &callback.ty;
                    quote!(#ty)
                }
            };
            (output, decode_reply(cx, flow, info))
        }
    };
    let container = match callback.container {
        Container::Box => quote!(::std::boxed::Box),
        Container::Arc => quote!(::std::sync::Arc),
    };
    let span = Span::call_site();
    quote_spanned! {span=> {
        let remote = #remote;
        let callback: #ty = #container::new(move |#(#params),*| -> #output {
            let mut call = remote.call(&#info);
            #(#encodes)*
            let outcome = call.send().and_then(|mut reply| {
                let ret = #decoded;
                ::core::result::Result::Ok(ret)
            });
            #private::expect(outcome, &#info)
        });
        callback
    }}
}
