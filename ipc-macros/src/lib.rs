//! The `#[ipc_interface]` attribute of multiprocess. Use it through the
//! `multiprocess` crate, which re-exports it together with the runtime that the
//! generated code calls.
//!
//! The expansion runs in four steps, one module each: `parse` reads the
//! attribute arguments and the trait, `model` classifies every argument and
//! return type (value, reference, in/out, bytes, object, callback),
//! `validate` collects every misuse as a spanned error, and `codegen`
//! writes the interface description, the proxy, the dispatcher and the
//! forwarding impl.

mod codegen;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// Turns a trait into an interface that can be called across processes.
///
/// ```
/// use multiprocess::ipc_interface;
///
/// #[ipc_interface]
/// pub trait Echo: Send + Sync {
///     fn echo(&self, message: String) -> String;
/// }
///
/// struct Local;
/// impl Echo for Local {
///     fn echo(&self, message: String) -> String { message }
/// }
///
/// let echo: Box<dyn Echo> = multiprocess::pair::<dyn Echo>(Box::new(Local))?;
/// assert_eq!(echo.echo("hi".into()), "hi");
/// # Ok::<(), multiprocess::Error>(())
/// ```
///
/// # Arguments
///
/// - `name = "app.Echo"`: the interface's *wire name*. Without it, the wire
///   name is the module path where the trait is declared, without the crate's
///   name, and the trait's name (`Echo` at a crate's root, `node::Chain` in
///   module `node`), so renaming the crate or building it into another binary
///   changes nothing; moving the trait to another module does, so give a name
///   to interfaces whose two ends may live in different places.
/// - `crate = path`: where the `multiprocess` crate is, when it is renamed.
///
/// # What it generates
///
/// The trait itself is emitted as written, plus two hidden provided methods:
/// `__ipc_proxy` (through which the runtime recognises its proxies) and
/// `__ipc_dispatch` (the dispatcher: it finds a method by its wire id, checks
/// that the caller sees its signature as this side does, decodes the
/// arguments, calls the method and encodes the result). Everything else is
/// inside `const _: () = { .. };`, so the macro adds no names to your module:
///
/// - `impl Interface for dyn Echo`: the trait's name and wire name, its
///   contract (every method's signature, traced on first use), supertrait
///   routing, and the proxy constructors;
/// - one `static MethodInfo` per method: its name, wire id and signature;
/// - `impl<T: ?Sized + Echo> DispatchFor<T> for dyn Echo`: how supertraits and
///   lent objects (`&dyn Echo`) reach the dispatcher;
/// - `impl Echo for Proxy<I>`: the client side, which encodes each call,
///   sends it, serves callbacks until the reply comes, and decodes the result;
/// - `impl Echo for Shared<T>`: forwarding to a shared local object handed back
///   where a `Box<dyn Echo>` is expected;
/// - `impl Serialize for dyn Echo` and `impl Deserialize for Box<dyn Echo>`,
///   so that a `Box<dyn Echo>` (or `Arc<dyn Echo>`) may be a field of your
///   own serde types and cross as a handle; they work only inside an ipc call;
/// - `impl Debug for dyn Echo` (unless `Debug` is a supertrait), which says
///   whether the object is local or a proxy, and for which connection;
/// - a `const` assertion that no two interfaces among the trait and its
///   supertraits can take each other's calls (a collision does not compile).
///
/// Every name the expansion binds starts with `__ipc` (`__IPC` for statics),
/// a prefix your method and argument names may not use. The expansion of the
/// `Echo` above is kept in the repository as
/// `ipc-macros/snapshots/echo.expanded.rs`, checked by a test; its proxy
/// method reads:
///
/// ```ignore
/// fn echo(&self, message: String) -> String {
///     let mut __ipc_call = ::multiprocess::__private::Proxy::call(self, &__IPC_METHOD_echo);
///     __ipc_call.text("message", &message);
///     let __ipc_outcome = __ipc_call.send().and_then(|mut __ipc_reply| {
///         let __ipc_ret = __ipc_reply.text()?;
///         ::core::result::Result::Ok(__ipc_ret)
///     });
///     ::multiprocess::__private::expect(__ipc_outcome, &__IPC_METHOD_echo)
/// }
/// ```
///
/// # The trait shapes it accepts
///
/// - Methods take `&self`. `#[cfg]` on a method removes it from everything
///   generated; `#[deprecated]` methods cost no warnings; doc comments and
///   other attributes stay on the trait.
/// - Supertraits are interfaces (their methods cross too), or `Send`, `Sync`,
///   `Debug` and `Any`, which proxies satisfy.
/// - Methods with `where Self: Sized` (the constructor idiom,
///   `fn new() -> Self where Self: Sized`) cannot be called on a `dyn Trait`,
///   so they stay local: they never cross, and take any signature.
/// - Provided (default) methods cross like the others: called on a proxy, a
///   provided method runs in the process that owns the object, as that
///   object's implementation (the default, or its override).
///
/// `async fn` methods return a boxed `Send` future (put `#[ipc_interface]` on
/// the `impl` block too, which rewrites its `async fn`s the same way).
///
/// Misuse (generic methods, `self` by value, borrowed return
/// types, types that cannot be serialized, ..) is a compile error on your
/// own token that says what to write instead. See the `multiprocess` crate
/// documentation for what may appear in a signature, and how interfaces evolve.
#[proc_macro_attribute]
pub fn ipc_interface(attr: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The whole expansion as a plain function, for tests and snapshots. On error
/// it returns the user's trait unchanged plus one `compile_error!` per
/// problem, so a single mistake does not cascade into unrelated errors.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Ok(block) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        if !attr.is_empty() {
            let error = syn::Error::new_spanned(&attr, "on an `impl` block, #[ipc_interface] takes no arguments");
            return with_errors(item, error);
        }
        return codegen::future::impl_block(block);
    }
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
