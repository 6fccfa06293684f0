use multiprocess::ipc_interface;

pub struct Opaque {
    pub handle: u32,
}

#[ipc_interface]
pub trait Registry: Send + Sync {
    fn register(&self, name: String, opaque: Opaque) -> u32;
}

fn main() {}
