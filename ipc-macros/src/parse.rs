//! Reads the attribute arguments and the trait.

use proc_macro2::TokenStream;
use syn::{
    ItemTrait, LitStr, Path, Token,
    parse::{Parse, ParseStream},
};

/// What the user wrote.
pub(crate) struct Parsed {
    pub(crate) krate: Path,
    pub(crate) item: ItemTrait,
}

/// `crate = path` or `crate = "path"`.
struct Args {
    krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut krate = None;
        while !input.is_empty() {
            let key: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
            if key != "crate" {
                return Err(syn::Error::new(key.span(), "unknown argument: the only argument is `crate = path`"));
            }
            input.parse::<Token![=]>()?;
            let path =
                if input.peek(LitStr) { input.parse::<LitStr>()?.parse::<Path>()? } else { input.parse::<Path>()? };
            if krate.replace(path).is_some() {
                return Err(syn::Error::new(key.span(), "`crate` is given twice"));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Args { krate })
    }
}

pub(crate) fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let args: Args = syn::parse2(attr)?;
    let item: ItemTrait = syn::parse2(item).map_err(|error| {
        syn::Error::new(error.span(), "#[ipc_interface] goes on a trait: `pub trait Echo: Send + Sync { .. }`")
    })?;
    Ok(Parsed { krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::multiprocess)), item })
}
