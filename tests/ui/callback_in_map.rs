use multiprocess::ipc_interface;

use std::collections::HashMap;

#[ipc_interface]
pub trait Registry: Send + Sync {
    fn handlers(&self, handlers: HashMap<String, Box<dyn Fn(u32) + Send + Sync>>);
}

fn main() {}
