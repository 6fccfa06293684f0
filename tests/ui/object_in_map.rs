use multiprocess::ipc_interface;

use std::collections::HashMap;

#[ipc_interface]
pub trait Echo: Send + Sync {
    fn echo(&self, message: String) -> String;
}

#[ipc_interface]
pub trait Directory: Send + Sync {
    fn all(&self) -> HashMap<String, Box<dyn Echo>>;
}

fn main() {}
