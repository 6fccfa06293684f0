use multiprocess::ipc_interface;

/// An ordinary trait, without #[ipc_interface].
pub trait Listener: Send + Sync {
    fn heard(&self, what: String);
}

#[ipc_interface]
pub trait Radio: Send + Sync {
    fn subscribe(&self, listener: Box<dyn Listener>);
}

fn main() {}
