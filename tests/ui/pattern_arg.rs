use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Plane: Send + Sync {
    fn distance(&self, (x, y): (i32, i32)) -> i32;
}

fn main() {}
