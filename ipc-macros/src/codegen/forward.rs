//! `impl Trait for Shared<T>`: a local object handed back by the peer where a
//! `Box<dyn Trait>` is expected, reached through `Deref`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Context, future, proxy};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let private = &cx.private;
    let ident = &cx.model.ident;
    let methods = cx.model.methods.iter().map(|method| {
        let sig = if method.is_async { future::signature(&method.sig) } else { method.sig.clone() };
        let cfgs = &method.cfgs;
        let name = &method.ident;
        let args = method.args.iter().map(|arg| &arg.ident);
        quote! {
            #(#cfgs)*
            #sig {
                #ident::#name(&**self, #(#args),*)
            }
        }
    });
    let locals = cx.model.local_methods.iter().map(proxy::local_method);
    quote! {
        #[automatically_derived]
        #[allow(deprecated, non_snake_case)]
        impl<__IpcT: ?::core::marker::Sized + #ident> #ident for #private::Shared<__IpcT> {
            #(#methods)*
            #(#locals)*
        }
    }
}
