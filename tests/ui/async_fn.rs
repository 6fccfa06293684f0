use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Fetcher: Send + Sync {
    async fn fetch(&self, url: String) -> Vec<u8>;
}

fn main() {}
