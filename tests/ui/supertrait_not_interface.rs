use multiprocess::ipc_interface;

/// An ordinary trait, without #[ipc_interface].
pub trait Named {
    fn name(&self) -> String;
}

#[ipc_interface]
pub trait Greeter: Named + Send + Sync {
    fn greet(&self) -> String;
}

fn main() {}
