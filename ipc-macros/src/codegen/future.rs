//! `async fn` as a `dyn`-compatible method: the signature returns a boxed
//! `Send` future that may borrow `self` and the arguments for one lifetime,
//! and a body becomes `Box::pin(async move { .. })`. The same rewrite is
//! applied to the trait, to every impl the macro writes, and to a user's
//! `impl` block marked `#[ipc_interface]`, so that they all agree.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{
    Block, FnArg, GenericParam, ImplItem, ItemImpl, Lifetime, LifetimeParam, ReturnType, Signature, TraitItem,
    parse_quote,
    visit_mut::{self, VisitMut},
};

/// The lifetime of the boxed future: `self` and every elided reference in
/// the arguments live at least as long.
fn lifetime() -> Lifetime {
    Lifetime::new("'__ipc_life", proc_macro2::Span::call_site())
}

/// `async fn f(&self, x: &T) -> R` as
/// `fn f<'l>(&'l self, x: &'l T) -> Pin<Box<dyn Future<Output = R> + Send + 'l>>`.
pub(crate) fn signature(sig: &Signature) -> Signature {
    let mut sig = sig.clone();
    let life = lifetime();
    sig.asyncness = None;
    let declared: Vec<Lifetime> = sig.generics.lifetimes().map(|param| param.lifetime.clone()).collect();
    sig.generics.params.insert(0, GenericParam::Lifetime(LifetimeParam::new(life.clone())));
    if !declared.is_empty() {
        let where_clause = sig.generics.make_where_clause();
        for declared in declared {
            where_clause.predicates.push(parse_quote!(#declared: #life));
        }
    }
    for input in sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(receiver) => {
                if let Some((_, lifetime @ None)) = &mut receiver.reference {
                    *lifetime = Some(life.clone());
                }
            }
            FnArg::Typed(typed) => Elided(&life).visit_type_mut(&mut typed.ty),
        }
    }
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    sig.output = parse_quote! {
        -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = #output> + ::core::marker::Send + #life
        >>
    };
    sig
}

/// Names every elided lifetime of an argument type (`&T`, `'_`), outside
/// the argument lists of closures and function pointers, which elide on
/// their own.
struct Elided<'a>(&'a Lifetime);

impl VisitMut for Elided<'_> {
    fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
        if reference.lifetime.is_none() {
            reference.lifetime = Some(self.0.clone());
        }
        visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.0.clone();
        }
    }

    fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}

    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut syn::ParenthesizedGenericArguments) {}
}

/// An `async fn` with a body as the plain `fn` of [`signature`]. Each
/// argument moves into the future, as it would into an `async fn`'s, and is
/// bound there by the pattern the user wrote.
pub(crate) fn function(sig: &Signature, block: &Block) -> (Signature, Block) {
    let mut boxed = signature(sig);
    let mut bindings = Vec::new();
    for (index, input) in boxed.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = input else { continue };
        let name = format_ident!("__ipc_arg{}", index);
        let pattern = std::mem::replace(&mut *typed.pat, parse_quote!(#name));
        bindings.push(quote! {
            let #name = #name;
            let #pattern = #name;
        });
    }
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let body = parse_quote! {{
        ::std::boxed::Box::pin(async move {
            #(#bindings)*
            #[allow(clippy::diverging_sub_expression, clippy::let_unit_value)]
            let __ipc_ret: #output = #block;
            #[allow(unreachable_code)]
            __ipc_ret
        })
    }};
    (boxed, body)
}

/// Rewrites an `async fn` item of a trait; other items stay as they are.
pub(crate) fn trait_item(item: &mut TraitItem) {
    let TraitItem::Fn(method) = item else { return };
    if method.sig.asyncness.is_none() {
        return;
    }
    match &method.default {
        Some(block) => {
            let (sig, block) = function(&method.sig, block);
            method.sig = sig;
            method.default = Some(block);
        }
        None => method.sig = signature(&method.sig),
    }
}

/// `#[ipc_interface]` on an `impl` block: every `async fn` in it becomes
/// the boxed form the trait declares.
pub(crate) fn impl_block(mut item: ItemImpl) -> TokenStream {
    for impl_item in item.items.iter_mut() {
        let ImplItem::Fn(method) = impl_item else { continue };
        if method.sig.asyncness.is_some() {
            let (sig, block) = function(&method.sig, &method.block);
            method.sig = sig;
            method.block = block;
        }
    }
    quote!(#item)
}
