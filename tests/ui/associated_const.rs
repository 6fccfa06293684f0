use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Versioned: Send + Sync {
    const VERSION: u32;
    fn name(&self) -> String;
}

fn main() {}
