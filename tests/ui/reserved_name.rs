use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Clash: Send + Sync {
    fn __ipc_proxy(&self) -> u32;
}

fn main() {}
