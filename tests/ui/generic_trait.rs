use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Store<T>: Send + Sync {
    fn get(&self) -> u32;
}

fn main() {}
