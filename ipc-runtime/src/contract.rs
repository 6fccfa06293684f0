//! The contract between two builds of one interface: how methods are named on
//! the wire, and the fingerprints both sides compare.

use std::fmt;

/// Names one method for the wire and for log lines.
#[derive(Debug)]
pub struct MethodInfo {
    pub(crate) interface: &'static str,
    pub(crate) interface_id: u32,
    pub(crate) index: u16,
    pub(crate) name: &'static str,
}

impl MethodInfo {
    /// Describes method number `index` of the interface `interface`.
    pub const fn new(interface: &'static str, interface_id: u32, index: u16, name: &'static str) -> Self {
        MethodInfo { interface, interface_id, index, name }
    }

    /// Describes a callback; `name` says where it was passed, like `Node.subscribe(callback)`.
    pub const fn callback(name: &'static str) -> Self {
        MethodInfo { interface: "callback", interface_id: 0, index: 0, name }
    }
}

impl fmt::Display for MethodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.interface_id == 0 { f.write_str(self.name) } else { write!(f, "{}.{}", self.interface, self.name) }
    }
}

/// FNV-1a, used by generated code to combine the fingerprints of supertraits.
pub const fn combine_fingerprints(own: u64, supertraits: &[u64]) -> u64 {
    let mut hash = own;
    let mut i = 0;
    while i < supertraits.len() {
        let mut bytes = supertraits[i];
        let mut j = 0;
        while j < 8 {
            hash ^= bytes & 0xff;
            hash = hash.wrapping_mul(0x100000001b3);
            bytes >>= 8;
            j += 1;
        }
        i += 1;
    }
    hash
}
