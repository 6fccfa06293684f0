use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Counter: Send + Sync {
    fn increment(&mut self) -> u32;
}

fn main() {}
