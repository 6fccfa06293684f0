use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Local {
    fn value(&self) -> u32;
}

fn main() {}
