use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Names: Send + Sync {
    fn first(&self) -> &str;
}

fn main() {}
