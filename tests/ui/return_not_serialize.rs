use multiprocess::ipc_interface;

pub struct Opaque {
    pub handle: u32,
}

#[ipc_interface]
pub trait Registry: Send + Sync {
    fn lookup(&self, name: String) -> Option<Opaque>;
}

fn main() {}
