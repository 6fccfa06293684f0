use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Visitor: Send + Sync {
    fn visit(&self, node: u32);
}

#[ipc_interface]
pub trait Tree: Send + Sync {
    fn walk(&self, visitor: &dyn Visitor);
}

fn main() {}
