use multiprocess::ipc_interface;

#[ipc_interface]
pub struct Echo {
    pub message: String,
}

fn main() {}
