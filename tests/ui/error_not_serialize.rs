use multiprocess::ipc_interface;

/// Converts transport failures, but cannot cross itself.
#[derive(Debug)]
pub struct StoreError(pub String);

impl From<multiprocess::Error> for StoreError {
    fn from(error: multiprocess::Error) -> Self {
        StoreError(error.to_string())
    }
}

#[ipc_interface]
pub trait Store: Send + Sync {
    fn get(&self, key: String) -> Result<String, StoreError>;
}

fn main() {}
