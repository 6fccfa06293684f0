//! `impl Trait for Proxy<I>`: each method encodes its arguments, sends the
//! call, serves callbacks until the reply comes, and decodes the result.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Context, marshal, unraw};
use crate::model::{Flow, LocalMethod, Method, Pass, Ret};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let ident = &cx.model.ident;
    let methods = cx.model.methods.iter().map(|method| proxy_method(cx, method));
    let locals = cx.model.local_methods.iter().map(local_method);
    quote! {
        #[automatically_derived]
        impl<__IpcI: ?::core::marker::Sized + 'static> #ident for #private::Proxy<__IpcI> {
            fn __ipc_proxy(&self) -> ::core::option::Option<&#private::ProxyCore> {
                ::core::option::Option::Some(#private::Proxy::core(self))
            }

            #(#methods)*
            #(#locals)*
        }
    }
}

/// A required `where Self: Sized` method: a proxy only ever exists as a
/// `dyn Trait`, on which such a method cannot be called.
pub(crate) fn local_method(method: &LocalMethod) -> TokenStream {
    let sig = &method.sig;
    let cfgs = &method.cfgs;
    let message = format!(
        "`{}` has `where Self: Sized`: it stays local and is never called through a `dyn` proxy",
        unraw(&sig.ident)
    );
    quote! {
        #(#cfgs)*
        #[allow(unused_variables)]
        #sig {
            ::core::unreachable!(#message)
        }
    }
}

fn proxy_method(cx: &Context<'_>, method: &Method) -> TokenStream {
    let private = &cx.private;
    let sig = &method.sig;
    let cfgs = &method.cfgs;
    let info = cx.method_static(method);
    let callbacks = cx.callback_statics(method);
    // A lent object is a closure over its dispatcher that lives on this stack
    // frame, longer than the call that mentions it.
    let lenders = method.args.iter().filter_map(|arg| {
        let Pass::Lend { interface } = &arg.pass else { return None };
        let value = &arg.ident;
        let lender = lender(value);
        Some(quote! {
            let #lender = |__ipc_call: &mut #private::Incoming<'_>| #interface::__ipc_dispatch(#value, __ipc_call);
        })
    });
    let encodes = method.args.iter().map(|arg| {
        let name = unraw(&arg.ident);
        let value = &arg.ident;
        match &arg.pass {
            Pass::Value(flow) => {
                let info = cx.callback_static(Some(&arg.ident));
                marshal::encode(cx, flow, &name, &quote!(#value), &info)
            }
            Pass::Ref { raw: Some(raw), .. } => {
                let method = marshal::raw_method(*raw);
                quote!(__ipc_call.#method(#name, #value);)
            }
            Pass::Ref { .. } => {
                let syn::Type::Reference(reference) = &arg.ty else { unreachable!("a Ref argument is a reference") };
                let referent = &reference.elem;
                quote_spanned!(referent.span()=> __ipc_call.value::<#referent>(#name, #value);)
            }
            Pass::Mut { owned } => quote_spanned!(owned.span()=> __ipc_call.value::<#owned>(#name, &*#value);),
            Pass::Lend { .. } => {
                let lender = lender(value);
                quote!(__ipc_call.lend(#name, &#lender);)
            }
        }
    });
    let write_backs = method.args.iter().filter_map(|arg| {
        let Pass::Mut { .. } = arg.pass else { return None };
        let name = unraw(&arg.ident);
        let value = &arg.ident;
        Some(quote!(__ipc_reply.write_back(#name, #value)?;))
    });
    let return_info = cx.callback_static(None);
    let (decoded, finish) = match &method.ret {
        Ret::Unit => (quote!(__ipc_reply.value::<()>()?), quote!(#private::expect(__ipc_outcome, &#info))),
        Ret::Plain(flow) => {
            (marshal::decode_reply(cx, flow, &return_info), quote!(#private::expect(__ipc_outcome, &#info)))
        }
        Ret::Result { ok, err, ty } => {
            let decoded = match &**ok {
                Flow::Object(_) => quote_spanned!(ty.span()=> __ipc_reply.object::<#ty>()?),
                _ => quote_spanned!(ty.span()=> __ipc_reply.value::<#ty>()?),
            };
            // Spanned on `E`, so a missing `From<Error>` is reported where the user wrote it.
            let finish = quote_spanned!(err.span()=> #private::into_result::<_, #err>(__ipc_outcome));
            (decoded, finish)
        }
    };
    quote! {
        #(#cfgs)*
        #sig {
            #callbacks
            #(#lenders)*
            let mut __ipc_call = #private::Proxy::call(self, &#info);
            #(#encodes)*
            let __ipc_outcome = __ipc_call.send().and_then(|mut __ipc_reply| {
                let __ipc_ret = #decoded;
                #(#write_backs)*
                ::core::result::Result::Ok(__ipc_ret)
            });
            #finish
        }
    }
}

/// The name of the closure that lends argument `value`.
fn lender(value: &syn::Ident) -> syn::Ident {
    quote::format_ident!("__ipc_lend_{}", unraw(value))
}
