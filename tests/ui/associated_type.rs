use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Container: Send + Sync {
    type Item;
    fn len(&self) -> usize;
}

fn main() {}
