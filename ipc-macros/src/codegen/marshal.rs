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

/// `__ipc_call.value(..)`, `__ipc_call.bytes(..)` or `__ipc_call.object(..)` for an argument
/// `value` of an outgoing call named `call`.
pub(crate) fn encode(cx: &Context<'_>, flow: &Flow, name: &str, value: &TokenStream, info: &Ident) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => {
            let keep = keep(cx, ty);
            quote_spanned!(ty.span()=> __ipc_call.value_owned(#private::codec::<#ty>(), #name, #value, #keep);)
        }
        Flow::Raw(raw) => {
            let method = raw_method(*raw);
            quote!(__ipc_call.#method(#name, &#value);)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> __ipc_call.object(#private::handle::<#ty>(), #name, #value);),
        Flow::Callback(callback) if callback.optional => {
            let exported = export_callback(cx, callback, &quote!(__ipc_some), info);
            quote! {
                __ipc_call.optional_callback(#name, match #value {
                    ::core::option::Option::Some(__ipc_some) => ::core::option::Option::Some(#exported),
                    ::core::option::Option::None => ::core::option::Option::None,
                });
            }
        }
        Flow::Callback(callback) => {
            let exported = export_callback(cx, callback, value, info);
            quote!(__ipc_call.callback(#name, #exported);)
        }
    }
}

/// The type a callback argument or result has in the user's signature.
pub(crate) fn callback_type(callback: &Callback) -> TokenStream {
    let ty = &callback.ty;
    if callback.optional { quote!(::core::option::Option<#ty>) } else { quote!(#ty) }
}

/// Wraps an `Option<RemoteCallback>` expression in an `Option` of the user's closure type.
fn import_optional(cx: &Context<'_>, callback: &Callback, remote: &TokenStream, info: &Ident) -> TokenStream {
    let imported = import_callback(cx, callback, &quote!(__ipc_some), info);
    quote! {
        match #remote {
            ::core::option::Option::Some(__ipc_some) => ::core::option::Option::Some(#imported),
            ::core::option::Option::None => ::core::option::Option::None,
        }
    }
}

/// An expression that decodes the next argument from an incoming call named `call`.
pub(crate) fn decode(cx: &Context<'_>, flow: &Flow, name: &str, info: &Ident) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> __ipc_call.value(#private::codec::<#ty>(), #name)?),
        Flow::Raw(raw) => {
            let method = raw_method(*raw);
            quote!(__ipc_call.#method(#name)?)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> __ipc_call.object(#private::handle::<#ty>(), #name)?),
        Flow::Callback(callback) if callback.optional => {
            import_optional(cx, callback, &quote!(__ipc_call.optional_callback(#name)?), info)
        }
        Flow::Callback(callback) => import_callback(cx, callback, &quote!(__ipc_call.callback(#name)?), info),
    }
}

/// An expression that decodes a returned value from a `reply`.
pub(crate) fn decode_reply(cx: &Context<'_>, flow: &Flow, info: &Ident) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => quote_spanned!(ty.span()=> __ipc_reply.value(#private::codec::<#ty>())?),
        Flow::Raw(raw) => {
            let method = raw_method(*raw);
            quote!(__ipc_reply.#method()?)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> __ipc_reply.object(#private::handle::<#ty>())?),
        Flow::Callback(callback) if callback.optional => {
            import_optional(cx, callback, &quote!(__ipc_reply.optional_callback()?), info)
        }
        Flow::Callback(callback) => import_callback(cx, callback, &quote!(__ipc_reply.callback()?), info),
    }
}

/// A statement that encodes the value `__ipc_ret` as the result of an incoming `__ipc_call`.
pub(crate) fn encode_return(cx: &Context<'_>, flow: &Flow, info: &Ident) -> TokenStream {
    let private = &cx.private;
    match flow {
        Flow::Value(ty) => {
            let keep = keep(cx, ty);
            quote_spanned!(ty.span()=> __ipc_call.ret_owned(#private::codec::<#ty>(), __ipc_ret, #keep)?;)
        }
        Flow::Raw(raw) => {
            let method = format_ident!("ret_{}", raw_method(*raw));
            quote!(__ipc_call.#method(__ipc_ret)?;)
        }
        Flow::Object(ty) => quote_spanned!(ty.span()=> __ipc_call.ret_object(#private::handle::<#ty>(), __ipc_ret)?;),
        Flow::Callback(callback) if callback.optional => {
            let exported = export_callback(cx, callback, &quote!(__ipc_some), info);
            quote! {
                __ipc_call.ret_optional_callback(match __ipc_ret {
                    ::core::option::Option::Some(__ipc_some) => ::core::option::Option::Some(#exported),
                    ::core::option::Option::None => ::core::option::Option::None,
                })?;
            }
        }
        Flow::Callback(callback) => {
            let exported = export_callback(cx, callback, &quote!(__ipc_ret), info);
            quote!(__ipc_call.ret_callback(#exported)?;)
        }
    }
}

/// How a moved value of type `ty` is kept if it turns out to hold object
/// handles: `Some` when `ty: Send + 'static`, found without requiring it (a
/// method resolution that prefers `Keepable` and falls back to `NotKeepable`).
pub(crate) fn keep(cx: &Context<'_>, ty: &syn::Type) -> TokenStream {
    let private = &cx.private;
    quote_spanned! {ty.span()=> {
        #[allow(unused_imports)]
        use #private::{Keepable as _, NotKeepable as _};
        (&#private::Probe::<#ty>::new()).keep()
    }}
}

fn input_names(callback: &Callback) -> Vec<Ident> {
    (0..callback.inputs.len()).map(|i| format_ident!("__ipc_arg{}", i)).collect()
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
        None => quote!(__ipc_call.ret(#private::codec::<()>(), &__ipc_ret)),
        Some(output) => {
            let encoded = encode_return(cx, output, info);
            quote!(#encoded ::core::result::Result::Ok(()))
        }
    };
    let (constructor, binding) = match callback.flavor {
        Flavor::Fn => (quote!(new_fn), quote!(let __ipc_callback = #value;)),
        Flavor::FnMut => (quote!(new_fn_mut), quote!(let mut __ipc_callback = #value;)),
        Flavor::FnOnce => (quote!(new_fn_once), quote!(let __ipc_callback = #value;)),
    };
    quote! {{
        #binding
        #private::Callback::#constructor(&#info, move |__ipc_call: &mut #private::Incoming<'_>| {
            #(#decodes)*
            __ipc_call.received(&#info);
            let __ipc_ret = __ipc_callback(#(#names),*);
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
            let ty = callback_type(callback);
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
        None => (quote!(()), quote!(__ipc_reply.value(#private::codec::<()>())?)),
        Some(flow) => {
            let output = match &**flow {
                Flow::Value(ty) | Flow::Object(ty) => quote!(#ty),
                Flow::Raw(raw) => raw_type(*raw),
                Flow::Callback(callback) => callback_type(callback),
            };
            (output, decode_reply(cx, flow, info))
        }
    };
    let container = match callback.container {
        Container::Box => quote!(::std::boxed::Box),
        Container::Arc => quote!(::std::sync::Arc),
    };
    let finish = match &callback.error {
        // Spanned on `E`, so an error type that does not fit is reported where the user wrote it.
        Some(err) => {
            let err = quote_spanned!(err.span()=> #private::error_codec::<#err>());
            quote!(#private::into_result(#err, __ipc_outcome))
        }
        None => quote!(#private::expect(__ipc_outcome, &#info)),
    };
    let span = Span::call_site();
    quote_spanned! {span=> {
        let __ipc_remote = #remote;
        let __ipc_callback: #ty = #container::new(move |#(#params),*| -> #output {
            let mut __ipc_call = __ipc_remote.call(&#info);
            #(#encodes)*
            let __ipc_outcome = __ipc_call.send().and_then(|mut __ipc_reply| {
                let __ipc_ret = #decoded;
                ::core::result::Result::Ok(__ipc_ret)
            });
            #finish
        });
        __ipc_callback
    }}
}
