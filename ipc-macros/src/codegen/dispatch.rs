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
    let supertraits = &cx.model.supertraits;
    quote! {
        #[doc(hidden)]
        #[allow(deprecated)]
        fn __ipc_dispatch(
            &self,
            __ipc_call: &mut #private::Incoming<'_>,
        ) -> ::core::result::Result<(), #private::Error> {
            #(#ids)*
            match __ipc_call.method() {
                #(#arms)*
                __ipc_other => {
                    // A call of another interface's method belongs to a supertrait, if to anything.
                    #(
                        if <dyn #supertraits as #private::Interface>::handles(__ipc_other) {
                            return <Self as #supertraits>::__ipc_dispatch(self, __ipc_call);
                        }
                    )*
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
                quote_spanned!(owned.span()=> let #binding = __ipc_call.value::<#owned>(#name)?;)
            }
            Pass::Mut { owned } => {
                quote_spanned!(owned.span()=> let mut #binding = __ipc_call.value::<#owned>(#name)?;)
            }
            Pass::Lend { interface } => {
                quote_spanned!(interface.span()=> let #binding = __ipc_call.object::<::std::boxed::Box<dyn #interface>>(#name)?;)
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
        Ret::Unit => quote!(__ipc_call.ret(&__ipc_ret)?;),
        Ret::Plain(flow) => marshal::encode_return(cx, flow, &return_info),
        Ret::Result { ok, ty, .. } if matches!(**ok, Flow::Object(_)) => {
            quote_spanned!(ty.span()=> __ipc_call.ret_object::<#ty>(__ipc_ret)?;)
        }
        Ret::Result { ty, .. } => quote_spanned!(ty.span()=> __ipc_call.ret::<#ty>(&__ipc_ret)?;),
    };
    let write_backs = method.args.iter().filter_map(|arg| {
        let Pass::Mut { .. } = arg.pass else { return None };
        let binding = &arg.ident;
        let name = unraw(binding);
        Some(quote!(__ipc_call.write_back(#name, &#binding)?;))
    });
    quote! {
        #(#cfgs)*
        #id => {
            static __IPC_METHOD: #private::MethodInfo = #info;
            #callbacks
            __ipc_call.check(&__IPC_METHOD)?;
            #(#decodes)*
            __ipc_call.received(&__IPC_METHOD);
            let __ipc_ret = #ident::#method_ident(self, #(#args),*);
            #encode_return
            #(#write_backs)*
            ::core::result::Result::Ok(())
        }
    }
}
