use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Factory: Send + Sync {
    fn create() -> u32;
}

fn main() {}
