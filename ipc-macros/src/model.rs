//! What the macro understood: an interface, its methods, and for every argument
//! and return value how it crosses the boundary.

use quote::ToTokens;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, LitStr, Pat, Path, PathArguments, ReturnType, Signature, TraitItem, Type,
    TypeParamBound, WherePredicate, spanned::Spanned,
};

use crate::parse::Parsed;

pub(crate) struct Interface {
    pub(crate) ident: Ident,
    /// The trait's name, for log lines.
    pub(crate) name: String,
    /// `#[ipc_interface(name = "..")]`; otherwise the module path decides.
    pub(crate) wire: Option<LitStr>,
    /// A hash of the trait's tokens: tells two traits with one wire name apart.
    pub(crate) tokens: u64,
    /// Supertraits that are interfaces themselves.
    pub(crate) supertraits: Vec<Path>,
    /// Whether `Debug` is a supertrait (then `dyn Trait` is Debug already).
    pub(crate) debug_supertrait: bool,
    /// The methods that cross the boundary.
    pub(crate) methods: Vec<Method>,
    /// Required methods with `where Self: Sized`: they stay local, and only
    /// exist on proxies because the trait demands a body.
    pub(crate) local_methods: Vec<LocalMethod>,
}

pub(crate) struct Method {
    pub(crate) ident: Ident,
    /// The user's signature, with `mut` removed from argument bindings.
    pub(crate) sig: Signature,
    /// The method's `#[cfg(..)]`s, repeated on everything generated for it.
    pub(crate) cfgs: Vec<Attribute>,
    pub(crate) args: Vec<Arg>,
    pub(crate) ret: Ret,
    /// `async fn`: the call returns a boxed future and runs as a task on the callee.
    pub(crate) is_async: bool,
}

pub(crate) struct LocalMethod {
    pub(crate) sig: Signature,
    pub(crate) cfgs: Vec<Attribute>,
}

pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    pub(crate) pass: Pass,
}

/// How an argument is passed.
pub(crate) enum Pass {
    /// By value.
    Value(Flow),
    /// `&T`, `&str`, `&[T]`: the referent is sent; the callee borrows its copy,
    /// an `owned` value decoded on its side.
    Ref { owned: Type, raw: Option<Raw> },
    /// `&mut T`: sent, and the callee's changes are written back.
    Mut { owned: Type },
    /// `&dyn I`: lent for the duration of the call; the callee gets a proxy
    /// that works until the call returns.
    Lend { interface: Path },
}

/// How one value crosses.
pub(crate) enum Flow {
    /// Encoded with serde.
    Value(Type),
    /// A `Vec<u8>` or `String`, sent as raw bytes rather than through serde
    /// (which would encode a `Vec<u8>` one element at a time).
    Raw(Raw),
    /// `Box<dyn I>`, `Arc<dyn I>`, and `Option` or `Vec` of those: a handle.
    Object(Type),
    /// A boxed closure: a handle the receiver calls back through.
    Callback(Callback),
}

/// The buffers that travel as raw bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw {
    /// `Vec<u8>`, `&[u8]`.
    Bytes,
    /// `String`, `&str`: checked to be UTF-8 on arrival.
    Text,
}

pub(crate) enum Ret {
    Unit,
    Plain(Flow),
    /// `Result<T, E>`: transport failures become `E::from(Error)`.
    Result {
        ok: Box<Flow>,
        err: Type,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Box,
    Arc,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Fn,
    FnMut,
    FnOnce,
}

pub(crate) struct Callback {
    pub(crate) ty: Type,
    pub(crate) container: Container,
    pub(crate) flavor: Flavor,
    pub(crate) inputs: Vec<Flow>,
    pub(crate) output: Option<Box<Flow>>,
    /// `E` of an output `Result<T, E>`: a transport failure returns `Err(E::from(error))`.
    pub(crate) error: Option<Box<Type>>,
    /// `Option<Box<dyn Fn..>>`: `None` crosses as itself (libmultiprocess's
    /// empty `std::function`).
    pub(crate) optional: bool,
}

/// Collects errors so that one expansion reports every problem at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn add(&mut self, spanned: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(spanned, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

impl Interface {
    /// Builds the model of a trait that [`crate::validate::check`] accepted.
    pub(crate) fn from_parsed(parsed: &Parsed) -> syn::Result<Interface> {
        let item = &parsed.item;
        let mut errors = Errors::default();
        let mut methods = Vec::new();
        let mut local_methods = Vec::new();
        for trait_item in &item.items {
            let TraitItem::Fn(method) = trait_item else { continue };
            let cfgs: Vec<Attribute> =
                method.attrs.iter().filter(|attr| attr.path().is_ident("cfg")).cloned().collect();
            if is_local(&method.sig) {
                if method.default.is_none() {
                    local_methods.push(LocalMethod { sig: method.sig.clone(), cfgs });
                }
                continue;
            }
            let mut sig = method.sig.clone();
            let mut args = Vec::new();
            for input in sig.inputs.iter_mut() {
                let FnArg::Typed(typed) = input else { continue };
                let Pat::Ident(pat) = &mut *typed.pat else { continue };
                pat.mutability = None;
                match pass(&typed.ty) {
                    Ok(Pass::Lend { .. }) if method.sig.asyncness.is_some() => errors.add(
                        &typed.ty,
                        "an async method cannot borrow an object for the call: take `Box<dyn Trait>` or `Arc<dyn Trait>`",
                    ),
                    Ok(pass) => args.push(Arg { ident: pat.ident.clone(), ty: (*typed.ty).clone(), pass }),
                    Err(error) => errors.push(error),
                }
            }
            let ret = match &sig.output {
                ReturnType::Default => Ok(Ret::Unit),
                ReturnType::Type(_, ty) => ret(ty),
            };
            match ret {
                Ok(ret) => {
                    let is_async = sig.asyncness.is_some();
                    methods.push(Method { ident: sig.ident.clone(), sig, cfgs, args, ret, is_async })
                }
                Err(error) => errors.push(error),
            }
        }
        errors.finish()?;
        let mut supertraits = Vec::new();
        let mut debug_supertrait = false;
        for bound in &item.supertraits {
            let TypeParamBound::Trait(bound) = bound else { continue };
            match supertrait_kind(&bound.path) {
                SupertraitKind::Marker => {}
                SupertraitKind::Debug => debug_supertrait = true,
                SupertraitKind::Interface => supertraits.push(bound.path.clone()),
            }
        }
        Ok(Interface {
            ident: item.ident.clone(),
            name: item.ident.to_string(),
            wire: parsed.name.clone(),
            tokens: fnv1a(item.to_token_stream().to_string().as_bytes()),
            supertraits,
            debug_supertrait,
            methods,
            local_methods,
        })
    }
}

/// A method with `where Self: Sized` cannot be called on a `dyn Trait`, so
/// it never crosses: the constructor idiom, `fn new() -> Self where Self: Sized`.
pub(crate) fn is_local(sig: &Signature) -> bool {
    let Some(where_clause) = &sig.generics.where_clause else { return false };
    where_clause.predicates.iter().any(|predicate| {
        let WherePredicate::Type(predicate) = predicate else { return false };
        is_path(&predicate.bounded_ty, "Self")
            && predicate
                .bounds
                .iter()
                .any(|bound| matches!(bound, TypeParamBound::Trait(t) if t.path.is_ident("Sized")))
    })
}

/// What a supertrait bound is to the generated code.
pub(crate) enum SupertraitKind {
    /// `Send`, `Sync` and friends: bounds that proxies meet by construction.
    Marker,
    /// `Debug`: proxies and forwarders implement it.
    Debug,
    /// Another interface: its calls are routed to its dispatcher.
    Interface,
}

pub(crate) fn supertrait_kind(path: &Path) -> SupertraitKind {
    let Some(last) = path.segments.last() else { return SupertraitKind::Interface };
    match last.ident.to_string().as_str() {
        "Send" | "Sync" | "Sized" | "Unpin" | "Any" => SupertraitKind::Marker,
        "Debug" => SupertraitKind::Debug,
        _ => SupertraitKind::Interface,
    }
}

/// `Send`, `Sync` and friends are bounds, not interfaces.
pub(crate) fn is_marker(path: &Path) -> bool {
    !matches!(supertrait_kind(path), SupertraitKind::Interface)
}

/// FNV-1a, 64 bits: stable across compilers and platforms, unlike `DefaultHasher`.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3))
}

fn pass(ty: &Type) -> syn::Result<Pass> {
    match ty {
        Type::Reference(reference) => {
            let inner = &*reference.elem;
            if reference.mutability.is_some() {
                if matches!(inner, Type::Slice(_)) || is_path(inner, "str") {
                    return Err(syn::Error::new_spanned(
                        ty,
                        "`&mut` of a slice or `str` cannot be written back: use `&mut Vec<T>` or `&mut String`",
                    ));
                }
                reject_handles(inner, "an in/out argument")?;
                return Ok(Pass::Mut { owned: inner.clone() });
            }
            if let Type::TraitObject(object) = inner {
                if fn_bound(object).is_some() {
                    return Err(syn::Error::new_spanned(
                        ty,
                        "a borrowed callback cannot cross: take `Box<dyn Fn(..) + Send + Sync>` (or `Arc<dyn Fn..>`)",
                    ));
                }
                let interface = object.bounds.iter().find_map(|bound| match bound {
                    TypeParamBound::Trait(bound) if !is_marker(&bound.path) => Some(bound.path.clone()),
                    _ => None,
                });
                return match interface {
                    Some(interface) => Ok(Pass::Lend { interface }),
                    None => Err(syn::Error::new_spanned(
                        ty,
                        "a borrowed trait object must name an ipc_interface: `&dyn Visitor`",
                    )),
                };
            }
            let (owned, raw) = match inner {
                Type::Slice(slice) if is_path(&slice.elem, "u8") => {
                    (syn::parse_quote!(::std::vec::Vec<u8>), Some(Raw::Bytes))
                }
                Type::Slice(slice) => {
                    let elem = &slice.elem;
                    (syn::parse_quote_spanned!(slice.span()=> ::std::vec::Vec<#elem>), None)
                }
                _ if is_path(inner, "str") => {
                    (syn::parse_quote_spanned!(inner.span()=> ::std::string::String), Some(Raw::Text))
                }
                _ => (inner.clone(), None),
            };
            reject_handles(inner, "a borrowed argument")?;
            Ok(Pass::Ref { owned, raw })
        }
        _ => flow(ty).map(Pass::Value),
    }
}

fn ret(ty: &Type) -> syn::Result<Ret> {
    if let Type::Tuple(tuple) = ty
        && tuple.elems.is_empty()
    {
        return Ok(Ret::Unit);
    }
    if let Some(args) = generic_args(ty, "Result")
        && let [ok, err] = args.as_slice()
    {
        let ok = match flow(ok)? {
            Flow::Raw(_) => Flow::Value((*ok).clone()),
            Flow::Callback(_) => {
                return Err(syn::Error::new_spanned(
                    ok,
                    "a callback inside `Result` is not supported: return the callback itself",
                ));
            }
            other => other,
        };
        reject_handles(err, "an error type")?;
        return Ok(Ret::Result { ok: Box::new(ok), err: (*err).clone() });
    }
    flow(ty).map(Ret::Plain)
}

fn flow(ty: &Type) -> syn::Result<Flow> {
    if let Some([elem]) = generic_args(ty, "Vec").as_deref()
        && is_path(elem, "u8")
    {
        return Ok(Flow::Raw(Raw::Bytes));
    }
    if is_string(ty) {
        return Ok(Flow::Raw(Raw::Text));
    }
    if let Some(callback) = callback(ty)? {
        return Ok(Flow::Callback(callback));
    }
    if let Some([inner]) = generic_args(ty, "Option").as_deref()
        && let Some(callback) = callback(inner)?
    {
        return Ok(Flow::Callback(Callback { optional: true, ..callback }));
    }
    if is_object(ty) {
        return Ok(Flow::Object(ty.clone()));
    }
    reject_handles(ty, "a value")?;
    Ok(Flow::Value(ty.clone()))
}

/// A type that is neither an object nor a callback must not hide a borrow or
/// a trait object that serde would be asked to encode.
fn reject_handles(ty: &Type, role: &str) -> syn::Result<()> {
    // Inside a value (moved, or borrowed and then lent for the call), but not
    // inside an in/out or error value, a `Box<dyn Interface>` or
    // `Arc<dyn Interface>` crosses as a handle.
    let values = role == "a value" || role == "a borrowed argument";
    let mut objects: Vec<*const syn::TypeTraitObject> = Vec::new();
    if values {
        visit_types(ty, &mut |ty| {
            if let Some((_, object)) = boxed_dyn(ty)
                && fn_bound(object).is_none()
            {
                objects.push(object);
            }
        });
    }
    let mut found = None;
    visit_types(ty, &mut |ty| {
        if found.is_none() {
            match ty {
                Type::TraitObject(object) if objects.contains(&(object as *const _)) => {}
                Type::TraitObject(object) if values && fn_bound(object).is_some() => {
                    found = Some((
                        ty.clone(),
                        "a callback inside a value cannot cross: pass it as an argument of its own (`Box<dyn Fn(..) + Send + Sync>`, or an `Option` of one), or make it an `#[ipc_interface]` trait, whose `Box<dyn Trait>` may be a field or an element".to_owned(),
                    ));
                }
                Type::TraitObject(_) if values => {
                    found = Some((
                        ty.clone(),
                        "this trait object cannot cross: objects travel as `Box<dyn Trait>` or `Arc<dyn Trait>` of a trait marked `#[ipc_interface]`".to_owned(),
                    ));
                }
                Type::TraitObject(_) => {
                    found = Some((
                        ty.clone(),
                        format!(
                            "a trait object inside {role} cannot cross: an in/out argument's new value and an error travel as plain values; pass objects as arguments or results (`Box<dyn Trait>`, `Arc<dyn Trait>`, also as fields of them)"
                        ),
                    ));
                }
                Type::ImplTrait(_) => {
                    found = Some((
                        ty.clone(),
                        "`impl Trait` cannot cross a process boundary: name a concrete type, or take `Box<dyn Trait>`"
                            .to_owned(),
                    ));
                }
                Type::Reference(_) => {
                    found = Some((
                        ty.clone(),
                        format!(
                            "a reference inside {role} cannot cross: only a whole argument may be borrowed (`&T`); use an owned type here"
                        ),
                    ));
                }
                Type::Path(path) if has_lifetime_argument(path) => {
                    found = Some((
                        ty.clone(),
                        format!(
                            "`{}` borrows, so it cannot be {role} that crosses a process boundary: the other side decodes a fresh copy, which must own its data; use a type without lifetimes (`String` fields rather than `&str`)",
                            ty.to_token_stream().to_string().replace(" <", "<").replace("< ", "<").replace(" >", ">")
                        ),
                    ));
                }
                _ => {}
            }
        }
    });
    match found {
        Some((ty, message)) => Err(syn::Error::new_spanned(ty, message)),
        None => Ok(()),
    }
}

fn has_lifetime_argument(path: &syn::TypePath) -> bool {
    path.path.segments.iter().any(|segment| match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().any(|arg| matches!(arg, GenericArgument::Lifetime(_))),
        _ => false,
    })
}

fn visit_types(ty: &Type, visit: &mut impl FnMut(&Type)) {
    visit(ty);
    match ty {
        Type::Array(array) => visit_types(&array.elem, visit),
        Type::Slice(slice) => visit_types(&slice.elem, visit),
        Type::Paren(paren) => visit_types(&paren.elem, visit),
        Type::Group(group) => visit_types(&group.elem, visit),
        Type::Tuple(tuple) => tuple.elems.iter().for_each(|elem| visit_types(elem, visit)),
        Type::Reference(reference) => visit_types(&reference.elem, visit),
        Type::Path(path) => {
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let GenericArgument::Type(ty) = arg {
                            visit_types(ty, visit);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// `String`, `std::string::String` or `alloc::string::String`.
fn is_string(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let segments: Vec<String> = path.path.segments.iter().map(|segment| segment.ident.to_string()).collect();
    path.qself.is_none()
        && path.path.segments.last().is_some_and(|segment| segment.arguments.is_empty())
        && matches!(
            segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            ["String"] | ["std" | "alloc", "string", "String"]
        )
}

fn is_path(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident(name))
}

/// The type arguments of `Name<..>` (matched on the last path segment, so
/// `std::vec::Vec<T>` counts as `Vec<T>`).
fn generic_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
    Some(
        args.args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
    )
}

/// `Box<dyn X>` or `Arc<dyn X>`, returning the trait object.
fn boxed_dyn(ty: &Type) -> Option<(Container, &syn::TypeTraitObject)> {
    for (name, container) in [("Box", Container::Box), ("Arc", Container::Arc)] {
        if let Some([Type::TraitObject(object)]) = generic_args(ty, name).as_deref() {
            return Some((container, object));
        }
    }
    None
}

fn fn_bound(object: &syn::TypeTraitObject) -> Option<(Flavor, &syn::ParenthesizedGenericArguments)> {
    object.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else { return None };
        let segment = bound.path.segments.last()?;
        let PathArguments::Parenthesized(args) = &segment.arguments else { return None };
        let flavor = match segment.ident.to_string().as_str() {
            "Fn" => Flavor::Fn,
            "FnMut" => Flavor::FnMut,
            "FnOnce" => Flavor::FnOnce,
            _ => return None,
        };
        Some((flavor, args))
    })
}

fn is_object(ty: &Type) -> bool {
    if let Some((_, object)) = boxed_dyn(ty) {
        return fn_bound(object).is_none();
    }
    ["Option", "Vec"].iter().any(|name| matches!(generic_args(ty, name).as_deref(), Some([inner]) if is_object(inner)))
}

fn has_bound(object: &syn::TypeTraitObject, name: &str) -> bool {
    object.bounds.iter().any(|bound| {
        matches!(bound, TypeParamBound::Trait(bound) if bound.path.segments.last().is_some_and(|s| s.ident == name))
    })
}

fn callback(ty: &Type) -> syn::Result<Option<Callback>> {
    let Some((container, object)) = boxed_dyn(ty) else { return Ok(None) };
    let Some((flavor, args)) = fn_bound(object) else { return Ok(None) };
    let needs_sync = flavor == Flavor::Fn || container == Container::Arc;
    if !has_bound(object, "Send") || (needs_sync && !has_bound(object, "Sync")) {
        let signature = object
            .bounds
            .iter()
            .find(|bound| matches!(bound, TypeParamBound::Trait(bound) if !is_marker(&bound.path)))
            .map(|bound| bound.to_token_stream().to_string().replace(" (", "(").replace("( ", "(").replace(" )", ")"))
            .unwrap_or_default();
        let container = if container == Container::Box { "Box" } else { "Arc" };
        let bounds = if needs_sync { " + Send + Sync" } else { " + Send" };
        return Err(syn::Error::new_spanned(
            object,
            format!("a callback is called from another thread: write `{container}<dyn {signature}{bounds}>`"),
        ));
    }
    if container == Container::Arc && flavor != Flavor::Fn {
        return Err(syn::Error::new_spanned(
            ty,
            "a shared callback must be `Arc<dyn Fn(..) + Send + Sync>`: an `Arc` cannot call `FnMut` or `FnOnce`",
        ));
    }
    // Whatever a method may take or return, a callback may too: objects,
    // and callbacks of its own.
    let inputs = args.inputs.iter().map(flow).collect::<syn::Result<Vec<_>>>()?;
    let output = match &args.output {
        ReturnType::Default => None,
        ReturnType::Type(_, output) if matches!(&**output, Type::Tuple(t) if t.elems.is_empty()) => None,
        ReturnType::Type(_, output) => Some(Box::new(flow(output)?)),
    };
    let error = match &args.output {
        ReturnType::Type(_, output) => match generic_args(output, "Result").as_deref() {
            Some([_, err]) => Some(Box::new((*err).clone())),
            _ => None,
        },
        ReturnType::Default => None,
    };
    Ok(Some(Callback { ty: ty.clone(), container, flavor, inputs, output, error, optional: false }))
}
