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
    assert!(expanded.contains("the arguments are `name = \\\"wire name\\\"` and `crate = path`"), "{expanded}");
}

#[test]
fn an_explicit_wire_name_replaces_the_module_path() {
    let expand_with = |attr| {
        expand(
            attr,
            quote!(
                pub trait Ping: Send + Sync {
                    fn ping(&self);
                }
            ),
        )
        .to_string()
    };
    let named = expand_with(quote!(name = "app.Ping"));
    assert!(named.contains("WireName :: explicit (\"app.Ping\")"), "{named}");
    let default = expand_with(quote!());
    assert!(default.contains("WireName :: from_module (:: core :: module_path ! () , \"Ping\")"), "{default}");
    let twice = expand_with(quote!(name = "a", name = "b"));
    assert!(twice.contains("`name` is given twice"), "{twice}");
}

#[test]
fn generated_names_cannot_meet_the_users() {
    let expanded = expand(
        quote!(),
        quote! {
            pub trait Recorder: Send + Sync {
                fn record(&self, call: u32, reply: String, ret: Vec<u8>, callback: Box<dyn Fn(u32) + Send + Sync>);
            }
        },
    )
    .to_string();
    // Every local the expansion binds is one of the user's arguments or starts with `__ipc`.
    for binding in expanded.split("let ").skip(1) {
        let name = binding.trim_start_matches("mut ").split([' ', ':']).next().unwrap_or_default();
        assert!(
            name.starts_with("__ipc") || ["call", "reply", "ret", "callback"].contains(&name),
            "a generated local `{name}` in {expanded}"
        );
    }
    let reserved = expand(
        quote!(),
        quote!(
            pub trait R: Send + Sync {
                fn f(&self, __IPC_x: u32);
            }
        ),
    )
    .to_string();
    assert!(reserved.contains("are reserved"), "{reserved}");
}
