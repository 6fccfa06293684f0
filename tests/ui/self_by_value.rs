use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Store: Send + Sync {
    fn consume(self) -> u32;
}

fn main() {}
