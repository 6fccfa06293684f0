//! Every way a trait can be unfit to cross a process boundary, each reported
//! on the user's own token with what to write instead. All problems are
//! collected, not just the first.

use syn::{FnArg, GenericParam, ItemTrait, Pat, ReturnType, TraitItem, Type, TypeParamBound, visit::Visit};

use crate::model::{Errors, is_local, is_marker};

/// The prefix of the names the macro adds to the trait.
pub(crate) const RESERVED_PREFIX: &str = "__ipc";

pub(crate) fn check(item: &ItemTrait) -> syn::Result<()> {
    let mut errors = Errors::default();
    check_trait(item, &mut errors);
    for trait_item in &item.items {
        match trait_item {
            // `where Self: Sized` methods stay local: anything goes.
            TraitItem::Fn(method) if is_local(&method.sig) => {}
            TraitItem::Fn(method) => check_method(&method.sig, &mut errors),
            TraitItem::Type(ty) => errors.add(
                &ty.ident,
                "associated types cannot cross a process boundary: use a concrete type in the method signatures",
            ),
            TraitItem::Const(constant) => errors.add(
                &constant.ident,
                "associated constants are not supported in an ipc_interface: use a method that returns the value",
            ),
            other => errors.add(other, "only methods are supported in an ipc_interface"),
        }
    }
    errors.finish()
}

fn check_trait(item: &ItemTrait, errors: &mut Errors) {
    if let Some(unsafety) = &item.unsafety {
        errors.add(unsafety, "an ipc_interface cannot be an `unsafe trait`");
    }
    if let Some(auto) = &item.auto_token {
        errors.add(auto, "an ipc_interface cannot be an auto trait");
    }
    if !item.generics.params.is_empty() {
        errors.add(
            &item.generics,
            "an ipc_interface cannot be generic: a proxy must know every type at compile time; use concrete types",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        errors.add(
            where_clause,
            "an ipc_interface cannot have a where clause: write its bounds as supertraits (`: Send + Sync`)",
        );
    }
    let named = |name: &str| {
        item.supertraits.iter().any(|bound| {
            matches!(bound, TypeParamBound::Trait(bound) if bound.path.segments.last().is_some_and(|s| s.ident == name))
        })
    };
    // Another interface as a supertrait is Send + Sync already.
    let inherits =
        item.supertraits.iter().any(|bound| matches!(bound, TypeParamBound::Trait(bound) if !is_marker(&bound.path)));
    if !(inherits || named("Send") && named("Sync")) {
        let ident = &item.ident;
        errors.add(
            ident,
            format!("an ipc_interface is called from several threads and held across them: declare it as `trait {ident}: Send + Sync`"),
        );
    }
}

fn check_method(sig: &syn::Signature, errors: &mut Errors) {
    let name = &sig.ident;
    if is_reserved(name) {
        errors.add(name, format!("method names starting with `{RESERVED_PREFIX}` are reserved for the items #[ipc_interface] generates: rename the method"));
    }
    if let Some(constness) = &sig.constness {
        errors.add(constness, "a `const fn` cannot cross a process boundary: remove `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.add(unsafety, "an `unsafe fn` cannot be called across processes: make the method safe");
    }
    if let Some(abi) = &sig.abi {
        errors.add(abi, "an `extern` method cannot be an ipc method: remove the ABI");
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(variadic, "variadic methods are not supported");
    }
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(ty) => errors.add(
                ty,
                "generic methods cannot cross a process boundary: use a concrete type, or take `Box<dyn Trait>` for a trait object",
            ),
            GenericParam::Const(constant) => errors.add(constant, "const generic methods cannot cross a process boundary: use a concrete value"),
        }
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.add(
            where_clause,
            "a where clause on an ipc method is not supported: use concrete types (only `where Self: Sized`, which keeps a method local, is allowed)",
        );
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => {
            if receiver.colon_token.is_some() {
                errors.add(receiver, "methods take `&self`; a typed receiver (`self: Box<Self>`, ..) cannot cross a process boundary");
            } else if receiver.reference.is_none() {
                errors.add(receiver, "methods take `&self`: `self` by value would move the object out of the process that owns it");
            } else if receiver.mutability.is_some() {
                errors.add(receiver, "methods take `&self`: the object is shared with the peer, so use `&self` and interior mutability (`Mutex`, atomics)");
            }
        }
        _ => errors.add(name, "an ipc method takes `&self` as its first argument: associated functions without a receiver cannot be called on a remote object"),
    }
    for input in sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = input else { continue };
        match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                if is_reserved(&pat.ident) {
                    errors.add(&pat.ident, format!("argument names starting with `{RESERVED_PREFIX}` are reserved: rename the argument"));
                }
            }
            pat => errors.add(pat, "patterns are not supported in ipc method arguments: name the argument (`point: (i32, i32)`) and destructure it in the body"),
        }
        if let Type::ImplTrait(_) = &*typed.ty {
            errors.add(&typed.ty, "`impl Trait` arguments cannot cross a process boundary: name a concrete type, or take `Box<dyn Trait>`");
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        let mut borrows = Borrows(None);
        borrows.visit_type(ty);
        if let Some(borrow) = borrows.0 {
            errors.push(syn::Error::new_spanned(
                borrow,
                "a return type cannot borrow: the value is decoded into a fresh copy on the caller's side, so return an owned type (`String` instead of `&str`, `Vec<T>` instead of `&[T]`)",
            ));
        }
        if let Type::ImplTrait(_) = &**ty {
            errors.add(
                ty,
                "`impl Trait` cannot be returned across a process boundary: return a concrete type or `Box<dyn Trait>`",
            );
        }
    }
}

/// Names starting with `__ipc`, in any case, belong to the generated code.
fn is_reserved(ident: &syn::Ident) -> bool {
    ident.to_string().trim_start_matches("r#").to_ascii_lowercase().starts_with(RESERVED_PREFIX)
}

/// Finds the first reference or lifetime in a type.
struct Borrows(Option<proc_macro2::TokenStream>);

impl<'ast> Visit<'ast> for Borrows {
    fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
        self.0.get_or_insert_with(|| quote::ToTokens::to_token_stream(reference));
    }

    fn visit_type_trait_object(&mut self, object: &'ast syn::TypeTraitObject) {
        // `Box<dyn Trait + 'static>` owns its object; only the traits' own
        // arguments can borrow.
        for bound in &object.bounds {
            if let TypeParamBound::Trait(bound) = bound {
                self.visit_trait_bound(bound);
            }
        }
    }

    fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
        self.0.get_or_insert_with(|| quote::ToTokens::to_token_stream(lifetime));
    }
}
