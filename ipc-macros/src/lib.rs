//! The `#[ipc_interface]` attribute of multiprocess. Use it through the
//! `multiprocess` crate, which re-exports it together with the runtime that the
//! generated code calls.
//!
//! The expansion runs in four steps, one module each: [`parse`] reads the
//! attribute arguments and the trait, [`model`] classifies every argument and
//! return type (value, reference, in/out, bytes, object, callback),
//! [`validate`] collects every misuse as a spanned error, and [`codegen`]
//! writes the interface description, the proxy, the dispatcher and the
//! forwarding impl.

mod codegen;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// Turns a trait into an interface that can be called across processes.
///
/// For `pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }`
/// this emits the trait unchanged except for one hidden provided method, and:
///
/// - `impl multiprocess::Interface for dyn Echo`: the name, fingerprint,
///   proxy constructors and the dispatcher;
/// - `impl<I: ?Sized> Echo for multiprocess::__private::Proxy<I>`: the
///   client side, which sends each call to the object's owner;
/// - `impl<T: ?Sized + Echo> Echo for multiprocess::__private::Shared<T>`:
///   forwarding to a shared local object;
/// - `impl Debug for dyn Echo` (unless `Debug` is a supertrait), which says
///   whether the object is local or a proxy, and for which connection.
///
/// The trait gains two hidden provided methods: `__ipc_proxy`, through which
/// the runtime recognises its proxies, and `__ipc_dispatch`, the dispatcher,
/// which declares each method's `static MethodInfo` in its own body.
///
/// The helpers live inside `const _: () = { .. };`, so the macro adds no names
/// to your module. `#[ipc_interface(crate = path)]` names the runtime when the
/// `multiprocess` crate is renamed.
///
/// See the `multiprocess` crate documentation for what may appear in a signature.
#[proc_macro_attribute]
pub fn ipc_interface(attr: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The whole expansion as a plain function, for tests and snapshots. On error
/// it returns the user's trait unchanged plus one `compile_error!` per
/// problem, so a single mistake does not cascade into unrelated errors.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match parse::parse(attr, item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return with_errors(item, error),
    };
    let model = match validate::check(&parsed.item).and_then(|()| model::Interface::from_parsed(&parsed)) {
        Ok(model) => model,
        Err(error) => return with_errors(item, error),
    };
    codegen::generate(&parsed, &model)
}

fn with_errors(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote::quote!(#item #errors)
}

#[cfg(test)]
mod tests;
