use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Echo: Send + Sync {
    fn echo(&self, message: String) -> String;
}

#[ipc_interface]
pub trait Directory: Send + Sync {
    fn refresh(&self, entries: &mut Vec<Box<dyn Echo>>);
}

fn main() {}
