//! How objects and callbacks cross: [`Export`] and [`Import`] for
//! `Box<dyn I>`, `Arc<dyn I>`, callbacks, and `Option`, `Vec` and `Result` of
//! those, and the targets the runtime dispatches to.

use std::{any::Any, sync::Arc};

use serde::Serialize;

use crate::{
    Error,
    bounds::ErrorValue,
    call::{Decoder, Encoder, Export, Import, Incoming, ObjectRef},
    conn::{CallFrame, Conn, Target},
    contract::Signature,
    interface::Interface,
    proxy::ProxyCore,
    render,
};

/// An exported object of interface `I`.
pub(crate) struct ObjectTarget<I: ?Sized + Interface> {
    pub(crate) object: Arc<I>,
}

impl<I: ?Sized + Interface> Target for ObjectTarget<I> {
    fn dispatch(&self, conn: &Arc<Conn>, call: &mut CallFrame<'_>) -> Result<(), Error> {
        I::dispatch(&self.object, &mut Incoming::new(conn, call))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The local object a `Returned` reference names.
fn returned<I: ?Sized + Interface>(input: &Decoder<'_>, id: u64, transfer: bool) -> Result<Arc<I>, Error> {
    let target = if transfer { input.conn.unexport(id) } else { input.conn.lookup(id) };
    let target = target.ok_or(Error::UnknownObject(id))?;
    match target.as_any().downcast_ref::<ObjectTarget<I>>() {
        Some(object) => Ok(object.object.clone()),
        None => {
            Err(Error::Decode { what: "object reference".into(), message: format!("object {id} is not a {}", I::NAME) })
        }
    }
}

fn describe_object<I: ?Sized + Interface>(object: &I) -> String {
    match I::proxy_core(object) {
        Some(core) => format!("<{} proxy #{}>", I::NAME, core.object),
        None => format!("<{}>", I::NAME),
    }
}

impl<I: ?Sized + Interface> Export for Box<I> {
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error> {
        if let Some(core) = I::proxy_core(&self)
            && Arc::ptr_eq(&core.conn, out.conn)
        {
            // Going home: the owner takes our reference over.
            core.mark_transferred();
            return out.put(&ObjectRef::Returned { id: core.object, transfer: true });
        }
        out.export(Arc::new(ObjectTarget::<I> { object: Arc::from(self) }))
    }

    fn describe(&self) -> String {
        describe_object::<I>(self)
    }
}

impl<I: ?Sized + Interface> Export for Arc<I> {
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error> {
        if let Some(core) = I::proxy_core(&self)
            && Arc::ptr_eq(&core.conn, out.conn)
        {
            if Arc::strong_count(&self) == 1 {
                // The last reference goes home: the owner takes it over.
                core.mark_transferred();
                return out.put(&ObjectRef::Returned { id: core.object, transfer: true });
            }
            let sent = out.put(&ObjectRef::Returned { id: core.object, transfer: false });
            out.keep(Box::new(self));
            return sent;
        }
        out.export(Arc::new(ObjectTarget::<I> { object: self }))
    }

    fn describe(&self) -> String {
        describe_object::<I>(self)
    }
}

impl<I: ?Sized + Interface> Import for Box<I> {
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error> {
        match input.take::<ObjectRef>()? {
            ObjectRef::Exported(id) => Ok(I::from_proxy(ProxyCore::new(input.conn.clone(), id))),
            ObjectRef::Returned { id, transfer } => Ok(I::from_shared(returned::<I>(input, id, transfer)?)),
        }
    }

    fn describe(&self) -> String {
        describe_object::<I>(self)
    }

    fn signature(signature: &mut Signature) {
        signature.object(I::WIRE, I::contract);
    }
}

impl<I: ?Sized + Interface> Import for Arc<I> {
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error> {
        match input.take::<ObjectRef>()? {
            ObjectRef::Exported(id) => Ok(I::from_proxy_arc(ProxyCore::new(input.conn.clone(), id))),
            ObjectRef::Returned { id, transfer } => returned::<I>(input, id, transfer),
        }
    }

    fn describe(&self) -> String {
        describe_object::<I>(self)
    }

    fn signature(signature: &mut Signature) {
        signature.object(I::WIRE, I::contract);
    }
}

// How containers of handles appear in log lines, whichever way they travel.
fn describe_option(value: Option<String>) -> String {
    value.map_or_else(|| "None".into(), |value| format!("Some({value})"))
}

fn describe_list(len: usize) -> String {
    format!("[{len} objects]")
}

fn describe_result<E: Serialize>(value: Result<String, &E>) -> String {
    match value {
        Ok(value) => format!("Ok({value})"),
        Err(error) => format!("Err({})", render::render(error)),
    }
}

impl<T: Export> Export for Option<T> {
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error> {
        match self {
            None => out.put(&false),
            Some(value) => {
                out.put(&true)?;
                value.export(out)
            }
        }
    }

    fn describe(&self) -> String {
        describe_option(self.as_ref().map(|value| value.describe()))
    }
}

impl<T: Import> Import for Option<T> {
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error> {
        match input.take::<bool>()? {
            false => Ok(None),
            true => T::import(input).map(Some),
        }
    }

    fn describe(&self) -> String {
        describe_option(self.as_ref().map(|value| value.describe()))
    }

    fn signature(signature: &mut Signature) {
        signature.open("option");
        T::signature(signature);
        signature.close();
    }
}

impl<T: Export> Export for Vec<T> {
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error> {
        out.put(&(self.len() as u64))?;
        self.into_iter().try_for_each(|value| value.export(out))
    }

    fn describe(&self) -> String {
        describe_list(self.len())
    }
}

impl<T: Import> Import for Vec<T> {
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error> {
        let len = input.take::<u64>()?;
        // Every element takes at least one byte: a length beyond what is left is a lie.
        if len > input.remaining() as u64 {
            return Err(Error::Decode { what: "object list".into(), message: format!("{len} elements announced") });
        }
        (0..len).map(|_| T::import(input)).collect()
    }

    fn describe(&self) -> String {
        describe_list(self.len())
    }

    fn signature(signature: &mut Signature) {
        signature.open("seq");
        T::signature(signature);
        signature.close();
    }
}

impl<T: Export, E: ErrorValue> Export for Result<T, E> {
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error> {
        match self {
            Ok(value) => {
                out.put(&0u8)?;
                value.export(out)
            }
            Err(error) => {
                out.put(&1u8)?;
                out.put(&error)
            }
        }
    }

    fn describe(&self) -> String {
        describe_result(self.as_ref().map(|value| value.describe()))
    }
}

impl<T: Import, E: ErrorValue> Import for Result<T, E> {
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error> {
        match input.take::<u8>()? {
            0 => T::import(input).map(Ok),
            1 => input.take::<E>().map(Err),
            tag => Err(Error::Decode { what: "result".into(), message: format!("bad tag {tag}") }),
        }
    }

    fn describe(&self) -> String {
        describe_result(self.as_ref().map(|value| value.describe()))
    }

    fn signature(signature: &mut Signature) {
        signature.open("result");
        T::signature(signature);
        signature.error(crate::bounds::error_codec::<E>());
        signature.close();
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write, net::Shutdown, time::Duration};

    use super::*;
    use crate::{
        conn::Config,
        protocol::{self, FrameReader, Header},
        transport::tcp::{loopback_pair, test_transport},
    };

    #[test]
    fn a_fn_once_callback_called_twice_is_an_error_not_a_crash() {
        let (transport, _peer_control) = test_transport();
        let conn = Conn::new(transport, Config::default(), false, None);
        static ONCE: crate::contract::MethodInfo = crate::contract::MethodInfo::callback("Test.once.callback");
        let once = crate::call::Callback::new_fn_once(&ONCE, |call| call.ret(crate::bounds::codec::<u32>(), &7));
        let mut ref_bytes = Vec::new();
        once.export(&mut Encoder::for_test(&conn, &mut ref_bytes)).unwrap();
        let id = conn.table().ids().max().unwrap();
        let (ours, mut peer) = loopback_pair();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let callback = 0;
        for call in [1, 2] {
            let frame = protocol::simple_frame(
                &Header::Call { id: call, object: id, method: callback, check: 0 },
                &[],
                1 << 20,
            );
            peer.write_all(&frame.unwrap()).unwrap();
        }
        drop(peer.try_clone().unwrap().shutdown(Shutdown::Write));
        let server = std::thread::spawn(move || crate::engine::serve_channel_for_test(conn, Arc::new(ours)));
        let replies = &mut FrameReader::new();
        let mut reply = || {
            protocol::split_frame(
                &replies.read(&peer, &protocol::Limits::unbounded(1 << 20), None).unwrap().expect("a reply").inline,
            )
            .unwrap()
            .0
        };
        assert!(matches!(reply(), Header::Return { id: 1, outcome: Ok(()) }));
        assert!(matches!(reply(), Header::Return { id: 2, outcome: Err(Error::CallbackConsumed) }));
        server.join().expect("no panic");
    }
}
