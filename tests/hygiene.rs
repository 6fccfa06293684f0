//! Generated code names everything by absolute path and reaches the runtime
//! only through the path given with `crate = ..`, so it compiles without the
//! prelude and with the crate renamed.

extern crate multiprocess as renamed;

mod no_prelude {
    #![no_implicit_prelude]

    use ::renamed::ipc_interface;

    #[ipc_interface(crate = ::renamed)]
    pub trait Greeter: ::core::marker::Send + ::core::marker::Sync {
        fn greet(&self, name: &str) -> ::std::string::String;
        fn greet_all(
            &self,
            names: ::std::vec::Vec<::std::string::String>,
            done: ::std::boxed::Box<dyn ::core::ops::Fn(u32) + ::core::marker::Send + ::core::marker::Sync>,
        ) -> ::core::result::Result<u32, Failure>;
        fn child(&self) -> ::std::boxed::Box<dyn Greeter>;
    }

    #[derive(::renamed::Serialize, ::renamed::Deserialize, ::core::fmt::Debug)]
    #[serde(crate = "::renamed::serde")]
    pub struct Failure(pub ::std::string::String);

    impl ::core::convert::From<::renamed::Error> for Failure {
        fn from(error: ::renamed::Error) -> Self {
            Failure(::std::string::ToString::to_string(&error))
        }
    }
}

struct Local;

impl no_prelude::Greeter for Local {
    fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
    fn greet_all(&self, names: Vec<String>, done: Box<dyn Fn(u32) + Send + Sync>) -> Result<u32, no_prelude::Failure> {
        done(names.len() as u32);
        Ok(names.len() as u32)
    }
    fn child(&self) -> Box<dyn no_prelude::Greeter> {
        Box::new(Local)
    }
}

#[test]
fn a_renamed_crate_without_prelude_works() {
    let greeter = renamed::pair::<dyn no_prelude::Greeter>(Box::new(Local)).unwrap();
    assert_eq!(greeter.greet("you"), "hello you");
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let recorder = seen.clone();
    let done = Box::new(move |n| recorder.store(n, std::sync::atomic::Ordering::SeqCst));
    assert_eq!(greeter.greet_all(vec!["a".into(), "b".into()], done).unwrap(), 2);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(greeter.child().greet("child"), "hello child");
}
