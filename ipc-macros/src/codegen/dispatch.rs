//! The trait's hidden `__ipc_dispatch` method: find the method by its wire
//! id, check that the caller sees its signature as we do, decode the
//! arguments, run the method on `self`, encode the result and any
//! written-back arguments. Calls that name a supertrait's method go to the
//! supertrait's dispatcher.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Context, marshal, unraw};
use crate::model::{Flow, Method, Pass, Ret};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let name = &cx.model.name;
    let interface = cx.interface();
    let ids = cx.model.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let id = cx.method_id_const(method);
        let method_name = unraw(&method.ident);
        quote! {
            #(#cfgs)*
            #[allow(non_upper_case_globals)]
            const #id: u64 = #interface::WIRE.method_id(#method_name);
        }
    });
    let arms = cx.model.methods.iter().map(|method| arm(cx, method));
    // Spanned on each supertrait, so one that is not an interface is reported where the user named it.
    let supertraits = cx.model.supertraits.iter().map(|supertrait| {
        quote_spanned! {supertrait.span()=>
            if <dyn #supertrait as #private::Interface>::handles(__ipc_other) {
                return <dyn #supertrait as #private::DispatchFor<Self>>::dispatch(self, __ipc_call);
            }
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(deprecated, non_snake_case)]
        fn __ipc_dispatch(
            &self,
            __ipc_call: &mut #private::Incoming<'_>,
        ) -> ::core::result::Result<(), #private::Error> {
            #(#ids)*
            match __ipc_call.method() {
                #(#arms)*
                __ipc_other => {
                    // A call of another interface's method belongs to a supertrait, if to anything.
                    #(#supertraits)*
                    ::core::result::Result::Err(__ipc_call.unknown_method(#name))
                }
            }
        }
    }
}

fn arm(cx: &Context<'_>, method: &Method) -> TokenStream {
    let private = &cx.private;
    let ident = &cx.model.ident;
    let cfgs = &method.cfgs;
    let id = cx.method_id_const(method);
    let info = cx.method_info(method);
    let callbacks = cx.callback_statics(method);
    let method_ident = &method.ident;
    let decodes = method.args.iter().map(|arg| {
        let binding = &arg.ident;
        let name = unraw(binding);
        match &arg.pass {
            Pass::Value(flow) => {
                let info = cx.callback_static(Some(&arg.ident));
                let decoded = marshal::decode(cx, flow, &name, &info);
                quote!(let #binding = #decoded;)
            }
            Pass::Ref { raw: Some(raw), .. } => {
                let method = marshal::raw_method(*raw);
                quote!(let #binding = __ipc_call.#method(#name)?;)
            }
            Pass::Ref { owned, .. } => {
                quote_spanned!(owned.span()=> let #binding = __ipc_call.value(#private::codec::<#owned>(), #name)?;)
            }
            Pass::Mut { owned } => {
                quote_spanned!(owned.span()=> let mut #binding = __ipc_call.value(#private::codec::<#owned>(), #name)?;)
            }
            Pass::Lend { interface } => {
                quote_spanned! {interface.span()=>
                    let #binding = __ipc_call.object(#private::handle::<::std::boxed::Box<dyn #interface>>(), #name)?;
                }
            }
        }
    });
    let args = method.args.iter().map(|arg| {
        let binding = &arg.ident;
        match &arg.pass {
            Pass::Value(_) => quote!(#binding),
            Pass::Ref { .. } => quote!(&#binding),
            Pass::Mut { .. } => quote!(&mut #binding),
            Pass::Lend { .. } => quote!(&*#binding),
        }
    });
    let return_info = cx.callback_static(None);
    let encode_return = match &method.ret {
        Ret::Unit => quote!(__ipc_call.ret(#private::codec::<()>(), &__ipc_ret)?;),
        Ret::Plain(flow) => marshal::encode_return(cx, flow, &return_info),
        Ret::Result { ok, err, .. } => {
            let err = quote_spanned!(err.span()=> #private::error_codec::<#err>());
            match &**ok {
                Flow::Value(ok) => {
                    let keep = marshal::keep(cx, ok);
                    let ok = quote_spanned!(ok.span()=> #private::codec::<#ok>());
                    quote!(__ipc_call.ret_result_owned(#ok, #err, __ipc_ret, #keep)?;)
                }
                Flow::Object(ok) => {
                    let ok = quote_spanned!(ok.span()=> #private::handle::<#ok>());
                    quote!(__ipc_call.ret_object_result(#ok, #err, __ipc_ret)?;)
                }
                _ => unreachable!("the model maps other results to values"),
            }
        }
    };
    let write_backs = method.args.iter().filter_map(|arg| {
        let Pass::Mut { owned } = &arg.pass else { return None };
        let binding = &arg.ident;
        let name = unraw(binding);
        Some(quote_spanned!(owned.span()=> __ipc_call.write_back(#private::codec::<#owned>(), #name, &#binding)?;))
    });
    // Find the method's description, check the caller's view of it, decode the arguments.
    let receive = quote! {
        static __IPC_METHOD: #private::MethodInfo = #info;
        #callbacks
        __ipc_call.check(&__IPC_METHOD)?;
        #(#decodes)*
        __ipc_call.received(&__IPC_METHOD);
    };
    if method.is_async {
        // The decoded arguments move into the method's future, which runs as
        // a task; its last step encodes the reply.
        let bindings: Vec<_> = method
            .args
            .iter()
            .map(|arg| {
                let binding = &arg.ident;
                match &arg.pass {
                    Pass::Mut { .. } => quote!(mut #binding),
                    _ => quote!(#binding),
                }
            })
            .collect();
        let moved = method.args.iter().map(|arg| &arg.ident);
        return quote! {
            #(#cfgs)*
            // An in/out argument is decoded `mut` but mutated only inside the future.
            #[allow(unused_mut)]
            #id => {
                #receive
                __ipc_call.run_async(self, (#(#moved,)*), |__ipc_this, (#(#bindings,)*)| {
                    ::std::boxed::Box::pin(async move {
                        let __ipc_ret = #ident::#method_ident(__ipc_this, #(#args),*).await;
                        let __ipc_reply: #private::ReplyFn = ::std::boxed::Box::new(
                            move |__ipc_call: &mut #private::Incoming<'_>| {
                                #encode_return
                                #(#write_backs)*
                                ::core::result::Result::Ok(())
                            },
                        );
                        __ipc_reply
                    })
                })
            }
        };
    }
    quote! {
        #(#cfgs)*
        #id => {
            #receive
            let __ipc_ret = #ident::#method_ident(self, #(#args),*);
            #encode_return
            #(#write_backs)*
            ::core::result::Result::Ok(())
        }
    }
}
