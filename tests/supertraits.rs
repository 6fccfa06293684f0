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
fn the_fingerprint_covers_the_supertraits() {
    assert_ne!(<dyn Greeter as Interface>::FINGERPRINT, <dyn Named as Interface>::FINGERPRINT);
    assert!(<dyn Greeter as Interface>::handles(<dyn Named as Interface>::ID));
    assert!(<dyn Greeter as Interface>::handles(<dyn Tagged as Interface>::ID));
    assert!(!<dyn Named as Interface>::handles(<dyn Greeter as Interface>::ID));
}
