//! Reads the attribute arguments and the trait.

use proc_macro2::TokenStream;
use syn::{
    ItemTrait, LitStr, Path, Token,
    parse::{Parse, ParseStream},
};

/// What the user wrote.
pub(crate) struct Parsed {
    pub(crate) krate: Path,
    /// `name = ".."`: the interface's wire name, if given.
    pub(crate) name: Option<LitStr>,
    pub(crate) item: ItemTrait,
}

/// `crate = path` (or `crate = "path"`) and `name = "wire name"`, in any order.
struct Args {
    krate: Option<Path>,
    name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args { krate: None, name: None };
        while !input.is_empty() {
            let key: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
            input.parse::<Token![=]>()?;
            if key == "crate" {
                let path = if input.peek(LitStr) {
                    input.parse::<LitStr>()?.parse::<Path>()?
                } else {
                    input.parse::<Path>()?
                };
                if args.krate.replace(path).is_some() {
                    return Err(syn::Error::new(key.span(), "`crate` is given twice"));
                }
            } else if key == "name" {
                let name: LitStr = input.parse()?;
                if name.value().trim().is_empty() {
                    return Err(syn::Error::new(name.span(), "the wire name cannot be empty"));
                }
                if args.name.replace(name).is_some() {
                    return Err(syn::Error::new(key.span(), "`name` is given twice"));
                }
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    "unknown argument: the arguments are `name = \"wire name\"` and `crate = path`",
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

pub(crate) fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let args: Args = syn::parse2(attr)?;
    let item: ItemTrait = syn::parse2(item).map_err(|error| {
        syn::Error::new(error.span(), "#[ipc_interface] goes on a trait: `pub trait Echo: Send + Sync { .. }`")
    })?;
    Ok(Parsed { krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::multiprocess)), name: args.name, item })
}
