use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Parser: Send + Sync {
    fn parse(&self, text: String) -> Result<u32, String>;
}

fn main() {}
