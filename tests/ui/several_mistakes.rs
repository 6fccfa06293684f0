use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Messy {
    fn generic<T>(&self, value: T);
    fn owned(self);
    unsafe fn later(&self);
}

fn main() {}
