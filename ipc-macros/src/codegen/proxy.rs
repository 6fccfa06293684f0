//! `impl Trait for Proxy<I>`: each method encodes its arguments, sends the
//! call, serves callbacks until the reply comes, and decodes the result.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Context, future, marshal, unraw};
use crate::model::{Flow, LocalMethod, Method, Pass, Ret};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let ident = &cx.model.ident;
    let methods = cx.model.methods.iter().map(|method| proxy_method(cx, method));
    let locals = cx.model.local_methods.iter().map(local_method);
    quote! {
        #[automatically_derived]
        #[allow(non_snake_case)]
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
    let sig = if method.sig.asyncness.is_some() { future::signature(&method.sig) } else { method.sig.clone() };
    let sig = &sig;
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
        Some(quote_spanned! {interface.span()=>
            let #lender = |__ipc_call: &mut #private::Incoming<'_>| {
                <dyn #interface as #private::DispatchFor<_>>::dispatch(#value, __ipc_call)
            };
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
                match &*reference.elem {
                    syn::Type::Slice(slice) => {
                        let elem = &slice.elem;
                        quote_spanned!(elem.span()=> __ipc_call.slice(#private::codec::<#elem>(), #name, #value);)
                    }
                    referent => {
                        quote_spanned!(referent.span()=> __ipc_call.value(#private::codec::<#referent>(), #name, #value);)
                    }
                }
            }
            Pass::Mut { owned } => {
                quote_spanned!(owned.span()=> __ipc_call.value(#private::codec::<#owned>(), #name, &*#value);)
            }
            Pass::Lend { .. } => {
                let lender = lender(value);
                quote!(__ipc_call.lend(#name, &#lender);)
            }
        }
    });
    let write_backs = method.args.iter().filter_map(|arg| {
        let Pass::Mut { owned } = &arg.pass else { return None };
        let name = unraw(&arg.ident);
        let value = &arg.ident;
        Some(quote_spanned!(owned.span()=> __ipc_reply.write_back(#private::codec::<#owned>(), #name, #value)?;))
    });
    let return_info = cx.callback_static(None);
    let (decoded, finish) = match &method.ret {
        Ret::Unit => {
            (quote!(__ipc_reply.value(#private::codec::<()>())?), quote!(#private::expect(__ipc_outcome, &#info)))
        }
        Ret::Plain(flow) => {
            (marshal::decode_reply(cx, flow, &return_info), quote!(#private::expect(__ipc_outcome, &#info)))
        }
        Ret::Result { ok, err, .. } => {
            // Spanned on `E`, so an error type that does not fit is reported where the user wrote it.
            let err = quote_spanned!(err.span()=> #private::error_codec::<#err>());
            let decoded = match &**ok {
                Flow::Value(ok) => {
                    let ok = quote_spanned!(ok.span()=> #private::codec::<#ok>());
                    quote!(__ipc_reply.result(#ok, #err)?)
                }
                Flow::Object(ok) => {
                    let ok = quote_spanned!(ok.span()=> #private::handle::<#ok>());
                    quote!(__ipc_reply.object_result(#ok, #err)?)
                }
                _ => unreachable!("the model maps other results to values"),
            };
            (decoded, quote!(#private::into_result(#err, __ipc_outcome)))
        }
    };
    if method.is_async {
        // Lent objects are refused by the model: an async call borrows nothing for its duration.
        let sig = future::signature(sig);
        return quote! {
            #(#cfgs)*
            #sig {
                ::std::boxed::Box::pin(async move {
                    #callbacks
                    let __ipc_sent = {
                        let mut __ipc_call = #private::Proxy::call_async(self, &#info);
                        #(#encodes)*
                        __ipc_call.send_async()
                    };
                    let __ipc_outcome = __ipc_sent.await.and_then(|mut __ipc_reply| {
                        let __ipc_ret = #decoded;
                        #(#write_backs)*
                        ::core::result::Result::Ok(__ipc_ret)
                    });
                    #finish
                })
            }
        };
    }
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
