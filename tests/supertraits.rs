//! An interface whose supertrait is itself an interface: the proxy implements
//! both, and calls to supertrait methods reach the object on every path.

use std::sync::Arc;

use multiprocess::{Interface, ipc_interface};

#[ipc_interface]
pub trait Named: Send + Sync {
    fn name(&self) -> String;
}

#[ipc_interface]
pub trait Tagged: Send + Sync {
    fn tag(&self) -> u32;
}

/// Two interface supertraits; `Send + Sync` comes with them.
#[ipc_interface]
pub trait Greeter: Named + Tagged {
    fn greet(&self, who: String) -> String;
    fn introduce(&self, other: &dyn Greeter) -> String;
    fn adopt(&self, other: Box<dyn Greeter>) -> Box<dyn Greeter>;
    fn share(&self, other: Arc<dyn Greeter>) -> Arc<dyn Greeter>;
}

struct Local(&'static str);

impl Named for Local {
    fn name(&self) -> String {
        self.0.to_owned()
    }
}

impl Tagged for Local {
    fn tag(&self) -> u32 {
        self.0.len() as u32
    }
}

impl Greeter for Local {
    fn greet(&self, who: String) -> String {
        format!("{} greets {who}", self.0)
    }
    fn introduce(&self, other: &dyn Greeter) -> String {
        format!("{} meets {} ({})", self.0, other.name(), other.tag())
    }
    fn adopt(&self, other: Box<dyn Greeter>) -> Box<dyn Greeter> {
        other
    }
    fn share(&self, other: Arc<dyn Greeter>) -> Arc<dyn Greeter> {
        other
    }
}

fn remote_greeter() -> Box<dyn Greeter> {
    multiprocess::pair::<dyn Greeter>(Box::new(Local("remote"))).unwrap()
}

#[test]
fn supertrait_methods_cross_on_the_proxy() {
    let greeter = remote_greeter();
    assert_eq!(greeter.name(), "remote");
    assert_eq!(greeter.tag(), 6);
    assert_eq!(greeter.greet("you".into()), "remote greets you");
}

#[test]
fn supertrait_methods_reach_lent_returned_and_shared_objects() {
    let greeter = remote_greeter();
    assert_eq!(greeter.introduce(&Local("local")), "remote meets local (5)");
    let adopted = greeter.adopt(Box::new(Local("boxed")));
    assert!(multiprocess::connection_of(&*adopted).is_none(), "came home as itself");
    assert_eq!((adopted.name(), adopted.tag()), ("boxed".to_string(), 5));
    let shared: Arc<dyn Greeter> = Arc::new(Local("shared"));
    let back = greeter.share(shared.clone());
    assert!(Arc::ptr_eq(&back, &shared));

    // A proxy forwarded into another connection becomes an object there, and
    // its supertrait methods still answer.
    let other = remote_greeter();
    assert_eq!(other.introduce(&*greeter), "remote meets remote (6)");
    let forwarded = other.adopt(greeter);
    assert_eq!(forwarded.name(), "remote");
}

#[test]
fn the_contract_covers_the_supertraits_and_routing_follows_method_names() {
    assert_ne!(<dyn Greeter as Interface>::fingerprint(), <dyn Named as Interface>::fingerprint());
    let named = <dyn Named as Interface>::WIRE.method_id("name");
    let tag = <dyn Tagged as Interface>::WIRE.method_id("tag");
    let greet = <dyn Greeter as Interface>::WIRE.method_id("greet");
    assert!(<dyn Greeter as Interface>::handles(named));
    assert!(<dyn Greeter as Interface>::handles(tag));
    assert!(<dyn Greeter as Interface>::handles(greet));
    assert!(!<dyn Named as Interface>::handles(greet));
}

/// Two supertraits with the same bare name in different modules: once, their
/// ids hashed the bare name, and `count()` ran `label()`.
mod counting {
    #[multiprocess::ipc_interface]
    pub trait Named: Send + Sync {
        fn count(&self) -> u32;
    }
}

mod labelling {
    #[multiprocess::ipc_interface]
    pub trait Named: Send + Sync {
        fn label(&self) -> String;
    }
}

#[ipc_interface]
pub trait Both: counting::Named + labelling::Named {
    fn both(&self) -> (u32, String);
}

struct Twice;

impl counting::Named for Twice {
    fn count(&self) -> u32 {
        2
    }
}

impl labelling::Named for Twice {
    fn label(&self) -> String {
        "two".into()
    }
}

impl Both for Twice {
    fn both(&self) -> (u32, String) {
        (counting::Named::count(self), labelling::Named::label(self))
    }
}

#[test]
fn supertraits_with_one_bare_name_in_two_modules_do_not_collide() {
    assert_eq!(<dyn counting::Named as Interface>::WIRE.to_string(), "counting::Named");
    assert_eq!(<dyn labelling::Named as Interface>::WIRE.to_string(), "labelling::Named");
    let both = multiprocess::pair::<dyn Both>(Box::new(Twice)).unwrap();
    assert_eq!(counting::Named::count(&*both), 2);
    assert_eq!(labelling::Named::label(&*both), "two");
    assert_eq!(both.both(), (2, "two".to_string()));
}
