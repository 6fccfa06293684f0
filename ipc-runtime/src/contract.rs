//! The contract between two builds of one interface: how methods are named on
//! the wire, what their signatures look like, and how two sides built
//! separately decide whether a call may go through.
//!
//! - A method is named by a hash of its interface's *wire name* and its own
//!   name ([`WireName::method_id`]), never by its position: reordering methods
//!   changes nothing.
//! - Each method has a *description*: the shape of every argument and of the
//!   result, where user serde types are traced (with serde-reflection) down to
//!   their field names, order, types and enum variants. Type names are left
//!   out, so renaming a type is harmless; changing its fields is not. A type
//!   that cannot be traced (one that deserializes with `deserialize_any`, such
//!   as an untagged enum) is described by its Rust type name instead.
//! - A method's *check* covers its description and, for every interface it
//!   passes or returns, that interface's method descriptions. Every call
//!   carries the caller's check; the callee serves the call only if it equals
//!   its own.
//! - The handshake exchanges the descriptions of every interface reachable
//!   from the bootstrap interface, so each side knows in advance which methods
//!   differ, and how: methods that one side added to a passed interface are
//!   compatible (calling one the peer lacks is [`Error::UnknownMethod`]); a
//!   changed signature is [`Error::Incompatible`], for that method only.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    fmt,
    sync::{Mutex, OnceLock},
};

use serde::{Deserialize, Serialize};

use crate::{
    Error,
    bounds::{Codec, ErrorCodec},
};

/// FNV-1a over `bytes`, continuing from `hash`: stable across compilers and
/// platforms, and usable in `const` context.
pub const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x100000001b3);
        i += 1;
    }
    hash
}

const FNV_OFFSET: u64 = 0xcbf29ce484222325;

/// How an interface's contract is reached: `<dyn I as Interface>::contract`.
pub type ContractFn = fn() -> &'static InterfaceContract;

/// The name an interface has on the wire: the same in every build of the
/// interface, whatever the crate or binary is called.
///
/// `#[ipc_interface(name = "wallet.Wallet")]` gives it explicitly; otherwise
/// it is the module path where the trait is declared, without the crate name,
/// and the trait's name (`Wallet` at a crate's root, `node::Chain` in module
/// `node`).
///
/// ```
/// use multiprocess::WireName;
///
/// assert_eq!(WireName::from_module("my_crate::node", "Chain").to_string(), "node::Chain");
/// assert_eq!(WireName::from_module("my_crate", "Echo").to_string(), "Echo");
/// assert_eq!(WireName::explicit("app.Echo").to_string(), "app.Echo");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WireName {
    path: &'static str,
    name: &'static str,
}

impl WireName {
    /// The default wire name of trait `name` declared in module `module_path`
    /// (as `module_path!()` says it); the crate's name is dropped.
    ///
    /// ```
    /// use multiprocess::WireName;
    ///
    /// let moved_crate = WireName::from_module("other_crate::node", "Chain");
    /// let here = WireName::from_module("my_crate::node", "Chain");
    /// assert_eq!(moved_crate.method_id("tip"), here.method_id("tip"));
    /// assert_eq!(here.to_string(), "node::Chain");
    /// ```
    pub const fn from_module(module_path: &'static str, name: &'static str) -> WireName {
        let bytes = module_path.as_bytes();
        let mut i = 0;
        while i + 1 < bytes.len() {
            if bytes[i] == b':' && bytes[i + 1] == b':' {
                let (_, rest) = bytes.split_at(i + 2);
                let path = match std::str::from_utf8(rest) {
                    Ok(path) => path,
                    Err(_) => panic!("a module path is UTF-8"),
                };
                return WireName { path, name };
            }
            i += 1;
        }
        WireName { path: "", name }
    }

    /// A wire name given with `#[ipc_interface(name = "..")]`.
    ///
    /// ```
    /// let name = multiprocess::WireName::explicit("app.Store");
    /// assert_eq!(name.to_string(), "app.Store");
    /// ```
    pub const fn explicit(name: &'static str) -> WireName {
        WireName { path: "", name }
    }

    const fn hash(&self, hash: u64) -> u64 {
        if self.path.is_empty() {
            fnv1a(hash, self.name.as_bytes())
        } else {
            fnv1a(fnv1a(fnv1a(hash, self.path.as_bytes()), b"::"), self.name.as_bytes())
        }
    }

    /// The id of method `method` of this interface: a hash of the wire name
    /// and the method's name, so reordering methods changes no id.
    ///
    /// ```
    /// let store = multiprocess::WireName::explicit("app.Store");
    /// assert_ne!(store.method_id("get"), store.method_id("put"));
    /// assert_eq!(store.method_id("get"), multiprocess::WireName::explicit("app.Store").method_id("get"));
    /// ```
    pub const fn method_id(&self, method: &str) -> u64 {
        fnv1a(fnv1a(self.hash(FNV_OFFSET), b"."), method.as_bytes())
    }

    const fn same(&self, other: &WireName) -> bool {
        const fn eq(a: &[u8], b: &[u8]) -> bool {
            if a.len() != b.len() {
                return false;
            }
            let mut i = 0;
            while i < a.len() {
                if a[i] != b[i] {
                    return false;
                }
                i += 1;
            }
            true
        }
        eq(self.path.as_bytes(), other.path.as_bytes()) && eq(self.name.as_bytes(), other.name.as_bytes())
    }
}

impl fmt::Display for WireName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(self.name) } else { write!(f, "{}::{}", self.path, self.name) }
    }
}

/// What the compiler checks about an interface and its supertraits: that no
/// call can reach the wrong method. Generated code builds one per interface.
#[doc(hidden)]
#[derive(Debug)]
pub struct Routing {
    pub wire: WireName,
    /// A hash of the trait's tokens: tells two different traits with the same
    /// wire name apart from one trait reached twice (a diamond).
    pub tokens: u64,
    pub methods: &'static [u64],
    pub supertraits: &'static [&'static Routing],
}

/// Fails compilation (this runs in a `const`) if two interfaces among `root`
/// and its supertraits could take each other's calls.
#[doc(hidden)]
pub const fn check_routing(root: &Routing) {
    const fn each_against(root: &Routing, a: &Routing) {
        compare(a, root);
        let mut i = 0;
        while i < root.supertraits.len() {
            each_against(root.supertraits[i], a);
            i += 1;
        }
    }
    const fn each(root: &Routing, node: &Routing) {
        each_against(root, node);
        let mut i = 0;
        while i < node.supertraits.len() {
            each(root, node.supertraits[i]);
            i += 1;
        }
    }
    const fn compare(a: &Routing, b: &Routing) {
        if a.wire.same(&b.wire) {
            if a.tokens != b.tokens {
                panic!(
                    "two different interfaces among this trait and its supertraits have the same wire name, so calls could reach the wrong one: give one of them another with #[ipc_interface(name = \"...\")]"
                );
            }
            return;
        }
        let mut i = 0;
        while i < a.methods.len() {
            let mut j = 0;
            while j < b.methods.len() {
                if a.methods[i] == b.methods[j] {
                    panic!(
                        "two methods of this trait and its supertraits hash to the same method id: rename one, or give its interface another wire name"
                    );
                }
                j += 1;
            }
            i += 1;
        }
    }
    each(root, root);
}

/// Names one method (or callback) for the wire, the log lines, and the
/// contract check. Generated code declares one `static` per method.
pub struct MethodInfo {
    pub(crate) interface: &'static str,
    pub(crate) wire: WireName,
    pub(crate) name: &'static str,
    pub(crate) id: u64,
    describe: Option<fn(&mut Signature)>,
    shape: OnceLock<MethodShape>,
}

impl fmt::Debug for MethodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodInfo").field("method", &format_args!("{self}")).field("id", &self.id).finish()
    }
}

impl MethodInfo {
    /// Method `name` of the interface whose trait is called `interface` and
    /// whose wire name is `wire`; `describe` lists its signature.
    pub const fn new(
        interface: &'static str,
        wire: WireName,
        name: &'static str,
        describe: fn(&mut Signature),
    ) -> Self {
        MethodInfo { interface, wire, name, id: wire.method_id(name), describe: Some(describe), shape: OnceLock::new() }
    }

    /// A callback; `name` says where it was passed, like `Node.subscribe(callback)`.
    /// Its signature is part of the method that passed it.
    pub const fn callback(name: &'static str) -> Self {
        MethodInfo {
            interface: "callback",
            wire: WireName::explicit(""),
            name,
            id: 0,
            describe: None,
            shape: OnceLock::new(),
        }
    }

    /// The id this method has on the wire.
    pub const fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_callback(&self) -> bool {
        self.describe.is_none()
    }

    /// The method's description, traced on first use.
    pub(crate) fn shape(&'static self) -> Option<&'static MethodShape> {
        let describe = self.describe?;
        Some(self.shape.get_or_init(|| {
            let mut signature = Signature::default();
            describe(&mut signature);
            signature.finish(self.name)
        }))
    }

    /// What a call of this method carries for the callee to compare: 0 for a callback.
    pub(crate) fn check(&'static self) -> u64 {
        self.shape().map_or(0, MethodShape::check)
    }
}

impl fmt::Display for MethodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_callback() { f.write_str(self.name) } else { write!(f, "{}.{}", self.interface, self.name) }
    }
}

/// A method's signature as both sides see it: one shape per argument and the
/// shape of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MethodDescription {
    pub(crate) name: String,
    pub(crate) args: Vec<String>,
    pub(crate) ret: String,
    /// The wire names of the interfaces it passes or returns.
    pub(crate) references: BTreeSet<String>,
}

impl MethodDescription {
    pub(crate) fn text(&self) -> String {
        format!("({}) -> {}", self.args.join(", "), self.ret)
    }

    /// A hash of the signature alone.
    fn shallow(&self) -> u64 {
        fnv1a(FNV_OFFSET, self.text().as_bytes())
    }

    /// A hash of the signature and of every referenced interface's methods,
    /// as `lookup` describes them (ours, or the peer's).
    fn check<'a>(&self, lookup: impl Fn(&str) -> Option<&'a InterfaceDescription>) -> u64 {
        let mut hash = self.shallow();
        for wire in &self.references {
            hash = fnv1a(fnv1a(hash, b"|"), wire.as_bytes());
            if let Some(interface) = lookup(wire) {
                for method in &interface.methods {
                    hash = fnv1a(fnv1a(hash, method.name.as_bytes()), &method.shallow().to_le_bytes());
                }
            }
        }
        hash
    }
}

/// The description of one method, traced once per process.
pub(crate) struct MethodShape {
    pub(crate) description: MethodDescription,
    references: Vec<ContractFn>,
    check: OnceLock<u64>,
}

impl MethodShape {
    fn check(&self) -> u64 {
        *self.check.get_or_init(|| {
            let contracts: Vec<&InterfaceContract> = self.references.iter().map(|contract| contract()).collect();
            self.description.check(|wire| contracts.iter().find(|c| c.description.wire == wire).map(|c| &c.description))
        })
    }
}

/// Every method of an interface (its supertraits' included), by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InterfaceDescription {
    pub(crate) wire: String,
    pub(crate) methods: Vec<MethodDescription>,
}

impl InterfaceDescription {
    fn method(&self, name: &str) -> Option<&MethodDescription> {
        self.methods.iter().find(|method| method.name == name)
    }
}

/// An interface's contract: what its methods look like, and the interfaces
/// they pass or return. Generated code builds it once per process.
pub struct InterfaceContract {
    pub(crate) description: InterfaceDescription,
    references: Vec<ContractFn>,
}

impl fmt::Debug for InterfaceContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterfaceContract").field("wire", &self.description.wire).finish_non_exhaustive()
    }
}

impl InterfaceContract {
    /// The contract of the interface `wire` with `methods`, and the methods of
    /// its `supertraits`.
    #[doc(hidden)]
    pub fn new(wire: WireName, methods: &[&'static MethodInfo], supertraits: &[ContractFn]) -> InterfaceContract {
        let mut descriptions = BTreeMap::new();
        let mut references = Vec::new();
        for method in methods {
            if let Some(shape) = method.shape() {
                descriptions.insert(shape.description.name.clone(), shape.description.clone());
                references.extend(shape.references.iter().copied());
            }
        }
        for supertrait in supertraits {
            let supertrait = supertrait();
            for method in &supertrait.description.methods {
                descriptions.entry(method.name.clone()).or_insert_with(|| method.clone());
            }
            references.extend(supertrait.references.iter().copied());
        }
        InterfaceContract {
            description: InterfaceDescription { wire: wire.to_string(), methods: descriptions.into_values().collect() },
            references,
        }
    }
}

/// The check a call of method `name` of the interface whose contract is
/// `contract` carries, as this build sees it. For tests that speak the
/// protocol by hand.
#[doc(hidden)]
pub fn method_check(contract: ContractFn, name: &str) -> Option<u64> {
    let contract = contract();
    let method = contract.description.method(name)?;
    let contracts: Vec<&InterfaceContract> = contract.references.iter().map(|c| c()).collect();
    Some(method.check(|wire| contracts.iter().find(|c| c.description.wire == wire).map(|c| &c.description)))
}

/// The descriptions of `root` and of every interface reachable from it, by wire name.
pub(crate) fn closure(root: ContractFn) -> Vec<InterfaceDescription> {
    let mut seen = BTreeMap::new();
    let mut queue = VecDeque::from([root]);
    while let Some(next) = queue.pop_front() {
        let contract = next();
        if seen.contains_key(&contract.description.wire) {
            continue;
        }
        seen.insert(contract.description.wire.clone(), contract.description.clone());
        queue.extend(contract.references.iter().copied());
    }
    seen.into_values().collect()
}

/// A hash of a closure: equal on both sides exactly when every reachable
/// interface is the same.
pub(crate) fn fingerprint(closure: &[InterfaceDescription]) -> u64 {
    let mut hash = FNV_OFFSET;
    for interface in closure {
        hash = fnv1a(fnv1a(hash, b"#"), interface.wire.as_bytes());
        for method in &interface.methods {
            hash = fnv1a(fnv1a(hash, method.name.as_bytes()), &method.shallow().to_le_bytes());
            for reference in &method.references {
                hash = fnv1a(hash, reference.as_bytes());
            }
        }
    }
    hash
}

/// What the peer's contract means for the calls this side makes: computed
/// once per connection from the descriptions exchanged at the handshake.
#[derive(Debug)]
pub(crate) struct PeerContract {
    interfaces: BTreeMap<String, InterfaceDescription>,
    /// Per method id: what a call carries, or why the peer will refuse it.
    verdicts: Mutex<HashMap<u64, Verdict>>,
}

#[derive(Debug, Clone)]
enum Verdict {
    /// Send this check: the signatures agree, or differ only in methods that
    /// one side added to an interface the method passes.
    Send(u64),
    /// The peer will refuse the call: this is what differs.
    Incompatible(String),
}

impl PeerContract {
    pub(crate) fn new(closure: Vec<InterfaceDescription>) -> PeerContract {
        PeerContract {
            interfaces: closure.into_iter().map(|interface| (interface.wire.clone(), interface)).collect(),
            verdicts: Mutex::default(),
        }
    }

    /// The check a call of `method` carries to this peer.
    pub(crate) fn check_for(&self, method: &'static MethodInfo) -> u64 {
        match self.verdict(method) {
            Verdict::Send(check) => check,
            Verdict::Incompatible(_) => method.check(),
        }
    }

    /// What differs about `method`, when the peer refused it as incompatible.
    pub(crate) fn difference(&self, method: &'static MethodInfo) -> Option<String> {
        match self.verdict(method) {
            Verdict::Incompatible(difference) => Some(difference),
            Verdict::Send(_) => None,
        }
    }

    fn verdict(&self, method: &'static MethodInfo) -> Verdict {
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        verdicts.entry(method.id).or_insert_with(|| self.judge(method)).clone()
    }

    fn judge(&self, method: &'static MethodInfo) -> Verdict {
        let Some(shape) = method.shape() else { return Verdict::Send(0) };
        let wire = method.wire.to_string();
        let theirs = self.interfaces.get(&wire).and_then(|interface| interface.method(method.name));
        let Some(theirs) = theirs else {
            // The peer lacks it, or did not describe it: it decides.
            return Verdict::Send(shape.check());
        };
        let ours = &shape.description;
        let mut differences = Vec::new();
        describe_differences(ours, theirs, &mut differences);
        for wire in ours.references.intersection(&theirs.references) {
            let our_interface = shape.references.iter().map(|c| c()).find(|c| &c.description.wire == wire);
            let (Some(our_interface), Some(their_interface)) = (our_interface, self.interfaces.get(wire)) else {
                continue;
            };
            for our_method in &our_interface.description.methods {
                if let Some(their_method) = their_interface.method(&our_method.name)
                    && our_method.text() != their_method.text()
                {
                    differences.push(format!(
                        "{wire}.{} is {} here and {} on the peer",
                        our_method.name,
                        our_method.text(),
                        their_method.text()
                    ));
                }
            }
        }
        if differences.is_empty() {
            Verdict::Send(theirs.check(|wire| self.interfaces.get(wire)))
        } else {
            Verdict::Incompatible(differences.join("; "))
        }
    }
}

fn describe_differences(ours: &MethodDescription, theirs: &MethodDescription, out: &mut Vec<String>) {
    if ours.args.len() != theirs.args.len() {
        out.push(format!("it takes {} arguments here and {} on the peer", ours.args.len(), theirs.args.len()));
    } else {
        for (i, (a, b)) in ours.args.iter().zip(&theirs.args).enumerate() {
            if a != b {
                out.push(format!("argument {} is {a} here and {b} on the peer", i + 1));
            }
        }
    }
    if ours.ret != theirs.ret {
        out.push(format!("the result is {} here and {} on the peer", ours.ret, theirs.ret));
    }
}

/// What differs between two closures, for the log and for strict mode.
pub(crate) fn closure_differences(ours: &[InterfaceDescription], theirs: &[InterfaceDescription]) -> Vec<String> {
    let theirs: BTreeMap<&str, &InterfaceDescription> = theirs.iter().map(|i| (i.wire.as_str(), i)).collect();
    let ours_by_name: BTreeMap<&str, &InterfaceDescription> = ours.iter().map(|i| (i.wire.as_str(), i)).collect();
    let mut out = Vec::new();
    for (wire, interface) in &ours_by_name {
        let Some(their_interface) = theirs.get(wire) else {
            out.push(format!("interface {wire} only here"));
            continue;
        };
        for method in &interface.methods {
            match their_interface.method(&method.name) {
                None => out.push(format!("{wire}.{} only here", method.name)),
                Some(theirs) if theirs != method => {
                    let mut differences = Vec::new();
                    describe_differences(method, theirs, &mut differences);
                    out.push(format!("{wire}.{}: {}", method.name, differences.join(", ")));
                }
                Some(_) => {}
            }
        }
        for method in &their_interface.methods {
            if interface.method(&method.name).is_none() {
                out.push(format!("{wire}.{} only on the peer", method.name));
            }
        }
    }
    for wire in theirs.keys() {
        if !ours_by_name.contains_key(wire) {
            out.push(format!("interface {wire} only on the peer"));
        }
    }
    out
}

/// The error for a call the callee refused because its check differs.
pub(crate) fn incompatible(method: &MethodInfo, difference: String) -> Error {
    Error::Incompatible { interface: method.interface.to_owned(), method: method.name.to_owned(), difference }
}

/// Lists a method's signature; generated code calls one method per argument,
/// then [`Signature::returns`] and one for the result.
#[derive(Default)]
pub struct Signature {
    args: Vec<String>,
    ret: Option<String>,
    /// How many wrappers ([`Signature::open`]) are open around the current item.
    depth: usize,
    /// Objects described now are lent for a call (`&dyn I`), not passed.
    lending: bool,
    references: Vec<(String, ContractFn)>,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature").field("args", &self.args).field("ret", &self.ret).finish()
    }
}

impl Signature {
    /// Adds an item: a new argument, or more of the one being wrapped or of the result.
    fn push(&mut self, shape: &str) {
        match (&mut self.ret, self.args.last_mut()) {
            (Some(ret), _) => ret.push_str(shape),
            (None, Some(last)) if self.depth > 0 => last.push_str(shape),
            (None, _) => self.args.push(shape.to_owned()),
        }
    }

    /// What follows describes the result.
    pub fn returns(&mut self) {
        self.ret = Some(String::new());
        self.depth = 0;
    }

    /// A value encoded with serde (also the referent of `&T`).
    pub fn value<T>(&mut self, codec: Codec<T>) {
        self.push(&(codec.shape)());
    }

    /// A `&mut T` argument: sent, and written back.
    pub fn in_out<T>(&mut self, codec: Codec<T>) {
        self.push(&format!("mut {}", (codec.shape)()));
    }

    /// A byte buffer sent as raw bytes.
    pub fn bytes(&mut self) {
        self.push("bytes");
    }

    /// A string sent as raw UTF-8.
    pub fn text(&mut self) {
        self.push("str");
    }

    /// Starts a wrapper around what follows, like `option` or `seq`;
    /// [`Signature::close`] ends it.
    pub fn open(&mut self, wrapper: &str) {
        self.push(&format!("{wrapper}<"));
        self.depth += 1;
    }

    /// Ends what [`Signature::open`] started.
    pub fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        match &mut self.ret {
            Some(ret) => ret.push('>'),
            None => {
                if let Some(last) = self.args.last_mut() {
                    last.push('>');
                }
            }
        }
    }

    /// Inside `result<..>`: the error type, after the `Ok` type.
    pub fn error<E>(&mut self, err: ErrorCodec<E>) {
        self.push(&format!(", {}", (err.codec.shape)()));
    }

    /// An object of the interface `wire`, whose contract is `contract`.
    pub fn object(&mut self, wire: WireName, contract: ContractFn) {
        let kind = if self.lending { "lend" } else { "object" };
        self.push(&format!("{kind} {wire}"));
        self.references.push((wire.to_string(), contract));
    }

    /// Describes, with `describe`, an object lent for the call (`&dyn I`).
    pub(crate) fn lent(&mut self, describe: impl FnOnce(&mut Signature)) {
        self.lending = true;
        describe(self);
        self.lending = false;
    }

    /// A callback of `flavor` (`fn`, `fnmut`, `fnonce`), whose own arguments
    /// and result `describe` lists.
    pub fn callback(&mut self, flavor: &str, describe: fn(&mut Signature)) {
        let mut inner = Signature::default();
        describe(&mut inner);
        let ret = inner.ret.filter(|ret| !ret.is_empty()).unwrap_or_else(|| "()".into());
        self.push(&format!("{flavor}({}) -> {ret}", inner.args.join(", ")));
        self.references.extend(inner.references);
    }

    fn finish(self, name: &str) -> MethodShape {
        let mut references = Vec::new();
        let mut names = BTreeSet::new();
        for (wire, contract) in self.references {
            if names.insert(wire) {
                references.push(contract);
            }
        }
        MethodShape {
            description: MethodDescription {
                name: name.to_owned(),
                args: self.args,
                ret: self.ret.filter(|ret| !ret.is_empty()).unwrap_or_else(|| "()".into()),
                references: names,
            },
            references,
            check: OnceLock::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_drop_the_crate_and_ids_follow_names() {
        let a = WireName::from_module("crate_a::node", "Chain");
        let b = WireName::from_module("renamed_crate::node", "Chain");
        assert_eq!(a.to_string(), "node::Chain");
        assert_eq!(a.method_id("tip"), b.method_id("tip"));
        assert_ne!(a.method_id("tip"), a.method_id("top"));
        assert_ne!(a.method_id("tip"), WireName::from_module("c::other", "Chain").method_id("tip"));
        assert_eq!(WireName::from_module("root_only", "Echo").to_string(), "Echo");
    }
}
