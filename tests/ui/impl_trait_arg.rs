use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Sink: Send + Sync {
    fn write(&self, data: impl AsRef<[u8]>);
}

fn main() {}
