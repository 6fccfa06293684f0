use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Files: Send + Sync {
    fn read(&self, path: String) -> std::io::Result<Vec<u8>>;
}

fn main() {}
