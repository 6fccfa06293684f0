use multiprocess::ipc_interface;

#[derive(Debug, multiprocess::Serialize, multiprocess::Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum StoreError {
    Missing,
}

#[ipc_interface]
pub trait Store: Send + Sync {
    fn get(&self, key: String) -> Result<String, StoreError>;
}

fn main() {}
