//! `impl Trait for Proxy<I>`: each method encodes its arguments, sends the
//! call, serves callbacks until the reply comes, and decodes the result.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Context, marshal};
use crate::model::{Flow, Method, Pass, Ret};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let ident = &cx.model.ident;
    let methods = cx.model.methods.iter().map(|method| proxy_method(cx, method));
    quote! {
        #[automatically_derived]
        impl<I: ?::core::marker::Sized> #ident for #private::Proxy<I> {
            fn __ipc_proxy(&self) -> ::core::option::Option<&#private::ProxyCore> {
                ::core::option::Option::Some(#private::Proxy::core(self))
            }

            #(#methods)*
        }
    }
}

fn proxy_method(cx: &Context<'_>, method: &Method) -> TokenStream {
    let private = &cx.private;
    let sig = &method.sig;
    let info = cx.method_info();
    let statics = cx.method_statics(method);
    // A lent object is a closure over its dispatcher that lives on this stack
    // frame, longer than the call that mentions it.
    let lenders = method.args.iter().filter_map(|arg| {
        let Pass::Lend { interface } = &arg.pass else { return None };
        let value = &arg.ident;
        let lender = lender(value);
        Some(quote! {
            let #lender = |call: &mut #private::Incoming<'_>| #interface::__ipc_dispatch(#value, call);
        })
    });
    let encodes = method.args.iter().map(|arg| {
        let name = arg.ident.to_string();
        let value = &arg.ident;
        match &arg.pass {
            Pass::Value(flow) => {
                let info = cx.callback_info(Some(&arg.ident));
                marshal::encode(cx, flow, &name, &quote!(#value), &info)
            }
            Pass::Ref { raw: Some(raw), .. } => {
                let method = marshal::raw_method(*raw);
                quote!(call.#method(#name, #value);)
            }
            Pass::Ref { .. } => {
                let Some(referent) = referent(&arg.ty) else { unreachable!("a Ref argument is a reference") };
                quote_spanned!(referent.span()=> call.value::<#referent>(#name, #value);)
            }
            Pass::Mut { owned } => quote_spanned!(owned.span()=> call.value::<#owned>(#name, &*#value);),
            Pass::Lend { .. } => {
                let lender = lender(value);
                quote!(call.lend(#name, &#lender);)
            }
        }
    });
    let write_backs = method.args.iter().filter_map(|arg| {
        let Pass::Mut { .. } = arg.pass else { return None };
        let name = arg.ident.to_string();
        let value = &arg.ident;
        Some(quote!(reply.write_back(#name, #value)?;))
    });
    let return_info = cx.callback_info(None);
    let (decoded, finish) = match &method.ret {
        Ret::Unit => (quote!(reply.value::<()>()?), quote!(#private::expect(outcome, &#info))),
        Ret::Plain(flow) => (marshal::decode_reply(cx, flow, &return_info), quote!(#private::expect(outcome, &#info))),
        Ret::Result { ok, err, ty } => {
            let decoded = match &**ok {
                Flow::Object(_) => quote_spanned!(ty.span()=> reply.object::<#ty>()?),
                _ => quote_spanned!(ty.span()=> reply.value::<#ty>()?),
            };
            // Spanned on `E`, so a missing `From<Error>` is reported where the user wrote it.
            let finish = quote_spanned!(err.span()=> #private::into_result::<_, #err>(outcome));
            (decoded, finish)
        }
    };
    quote! {
        #sig {
            #statics
            #(#lenders)*
            let mut call = #private::Proxy::call(self, &#info);
            #(#encodes)*
            let outcome = call.send().and_then(|mut reply| {
                let ret = #decoded;
                #(#write_backs)*
                ::core::result::Result::Ok(ret)
            });
            #finish
        }
    }
}

/// The name of the closure that lends argument `value`.
fn lender(value: &syn::Ident) -> syn::Ident {
    quote::format_ident!("lend_{}", value)
}

/// `T` of `&T`.
fn referent(ty: &syn::Type) -> Option<&syn::Type> {
    match ty {
        syn::Type::Reference(reference) => Some(&reference.elem),
        _ => None,
    }
}
