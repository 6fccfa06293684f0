use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Store: Send + Sync {
    fn put<T: Clone>(&self, value: T);
}

fn main() {}
