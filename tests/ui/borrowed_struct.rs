use multiprocess::ipc_interface;

#[derive(multiprocess::Serialize, multiprocess::Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Query<'a> {
    pub text: &'a str,
}

#[ipc_interface]
pub trait Index: Send + Sync {
    fn find(&self, query: Query<'_>) -> Vec<u32>;
}

fn main() {}
