use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Tree: Send + Sync {
    fn walk(&self, visitor: &dyn Fn(u32) -> bool);
}

fn main() {}
