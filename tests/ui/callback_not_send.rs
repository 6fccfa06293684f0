use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Timer: Send + Sync {
    fn after(&self, millis: u64, callback: Box<dyn Fn()>);
}

fn main() {}
