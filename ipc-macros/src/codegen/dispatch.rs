//! The trait's hidden `__ipc_dispatch` method: decode the arguments of one
//! call, run the method on `self`, encode the result and any written-back
//! arguments. Calls that name a supertrait go to the supertrait's dispatcher.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Context, marshal};
use crate::model::{Flow, Method, Pass, Ret};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let name = &cx.model.name;
    let id = cx.model.id;
    let arms = cx.model.methods.iter().map(|method| arm(cx, method));
    let supertraits = &cx.model.supertraits;
    let unknown = quote!(::core::result::Result::Err(call.unknown_method(#name)));
    // A call naming another interface id belongs to a supertrait, if to anything.
    let other_interface = if supertraits.is_empty() {
        unknown.clone()
    } else {
        quote! {{
            let interface = call.interface_id();
            #(
                if <dyn #supertraits as #private::Interface>::handles(interface) {
                    return <Self as #supertraits>::__ipc_dispatch(self, call);
                }
            )*
            #unknown
        }}
    };
    quote! {
        #[doc(hidden)]
        fn __ipc_dispatch(&self, call: &mut #private::Incoming<'_>) -> ::core::result::Result<(), #private::Error> {
            match call.method_of(#id) {
                #(#arms)*
                ::core::option::Option::Some(_) => #unknown,
                ::core::option::Option::None => #other_interface,
            }
        }
    }
}

fn arm(cx: &Context<'_>, method: &Method) -> TokenStream {
    let ident = &cx.model.ident;
    let index = method.index;
    let info = cx.method_info();
    let statics = cx.method_statics(method);
    let method_ident = &method.ident;
    let decodes = method.args.iter().map(|arg| {
        let binding = &arg.ident;
        let name = binding.to_string();
        match &arg.pass {
            Pass::Value(flow) => {
                let info = cx.callback_info(Some(&arg.ident));
                let decoded = marshal::decode(cx, flow, &name, &info);
                quote!(let #binding = #decoded;)
            }
            Pass::Ref { raw: Some(raw), .. } => {
                let method = marshal::raw_method(*raw);
                quote!(let #binding = call.#method(#name)?;)
            }
            Pass::Ref { owned, .. } => quote_spanned!(owned.span()=> let #binding = call.value::<#owned>(#name)?;),
            Pass::Mut { owned } => quote_spanned!(owned.span()=> let mut #binding = call.value::<#owned>(#name)?;),
            Pass::Lend { interface } => {
                quote_spanned!(interface.span()=> let #binding = call.object::<::std::boxed::Box<dyn #interface>>(#name)?;)
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
    let return_info = cx.callback_info(None);
    let encode_return = match &method.ret {
        Ret::Unit => quote!(call.ret(&ret)?;),
        Ret::Plain(flow) => marshal::encode_return(cx, flow, &return_info),
        Ret::Result { ok, ty, .. } if matches!(**ok, Flow::Object(_)) => {
            quote_spanned!(ty.span()=> call.ret_object::<#ty>(ret)?;)
        }
        Ret::Result { ty, .. } => quote_spanned!(ty.span()=> call.ret::<#ty>(&ret)?;),
    };
    let write_backs = method.args.iter().filter_map(|arg| {
        let Pass::Mut { .. } = arg.pass else { return None };
        let binding = &arg.ident;
        let name = binding.to_string();
        Some(quote!(call.write_back(#name, &#binding)?;))
    });
    quote! {
        ::core::option::Option::Some(#index) => {
            #statics
            #(#decodes)*
            call.received(&#info);
            let ret = #ident::#method_ident(self, #(#args),*);
            #encode_return
            #(#write_backs)*
            ::core::result::Result::Ok(())
        }
    }
}
