use multiprocess::ipc_interface;

/// Derived through the re-export, but without `#[serde(crate = "multiprocess::serde")]`:
/// this crate has no serde dependency of its own.
#[derive(multiprocess::Serialize, multiprocess::Deserialize)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[ipc_interface]
pub trait Plotter: Send + Sync {
    fn plot(&self, point: Point);
}

fn main() {}
