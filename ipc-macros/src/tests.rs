//! Expansion snapshots and unit tests of the macro, without the compiler bridge.
//!
//! The snapshot is what `cargo expand` shows for the `Echo` interface. After a
//! deliberate change to the generated code, bless it with
//! `BLESS=1 cargo test -p ipc-macros` and review the diff of
//! `ipc-macros/snapshots/echo.expanded.rs` like any other change.

use quote::quote;

use crate::expand;

fn pretty(tokens: proc_macro2::TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
    prettyplease::unparse(&file)
}

fn check_snapshot(name: &str, expanded: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots").join(format!("{name}.expanded.rs"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, expanded).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == expanded,
        "the expansion of {name} changed; if that is intended, run `BLESS=1 cargo test -p ipc-macros`\n--- new expansion:\n{expanded}"
    );
}

#[test]
fn echo_expansion_matches_the_snapshot() {
    let expanded = expand(
        quote!(),
        quote! {
            pub trait Echo: Send + Sync {
                fn echo(&self, message: String) -> String;
            }
        },
    );
    check_snapshot("echo", &pretty(expanded));
}

#[test]
fn the_crate_path_can_be_overridden() {
    let expanded = expand(
        quote!(crate = ::renamed),
        quote!(
            pub trait Ping: Send + Sync {
                fn ping(&self);
            }
        ),
    )
    .to_string();
    assert!(expanded.contains(":: renamed :: __private"), "{expanded}");
    assert!(!expanded.contains("multiprocess"), "{expanded}");
    let quoted = expand(
        quote!(crate = "other::path"),
        quote!(
            pub trait Ping: Send + Sync {
                fn ping(&self);
            }
        ),
    );
    assert!(quoted.to_string().contains("other :: path :: __private"));
}

#[test]
fn errors_keep_the_trait_and_report_every_problem() {
    let expanded = expand(
        quote!(),
        quote! {
            pub trait Messy {
                fn generic<T>(&self, value: T);
                fn owned(self);
            }
        },
    )
    .to_string();
    assert!(expanded.starts_with("pub trait Messy"), "the trait is still emitted: {expanded}");
    assert_eq!(expanded.matches("compile_error").count(), 3, "{expanded}");
}

#[test]
fn unknown_attribute_arguments_are_refused() {
    let expanded = expand(
        quote!(krate = foo),
        quote!(
            pub trait Ping: Send + Sync {}
        ),
    )
    .to_string();
    assert!(expanded.contains("the only argument is `crate = path`"), "{expanded}");
}

#[test]
fn the_fingerprint_follows_the_signatures() {
    let fingerprint = |tokens| {
        let parsed = crate::parse::parse(quote!(), tokens).unwrap();
        crate::model::Interface::from_parsed(&parsed).unwrap().fingerprint
    };
    let a = fingerprint(quote!(
        pub trait E: Send + Sync {
            fn echo(&self, m: String) -> String;
        }
    ));
    let same = fingerprint(quote!(
        pub trait E: Send + Sync {
            fn echo(&self, other_name: String) -> String;
        }
    ));
    let b = fingerprint(quote!(
        pub trait E: Send + Sync {
            fn echo(&self, m: u32) -> String;
        }
    ));
    let c = fingerprint(quote!(
        pub trait E: Send + Sync {
            fn echo2(&self, m: String) -> String;
        }
    ));
    assert_eq!(a, same, "argument names do not matter");
    assert_ne!(a, b);
    assert_ne!(a, c);
}
