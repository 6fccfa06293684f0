use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Store: Send + Sync {
    fn get(&self) -> u32;
}

#[ipc_interface]
pub trait Fetcher: Send + Sync {
    async fn fetch(&self, url: String, store: &dyn Store) -> Vec<u8>;
}

fn main() {}
