//! How objects and callbacks cross: [`Export`] and [`Import`] for
//! `Box<dyn I>`, `Arc<dyn I>`, callbacks, and `Option`, `Vec` and `Result` of
//! those, and the targets the runtime dispatches to.

use std::{any::Any, ptr::NonNull, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    Error,
    bounds::ErrorValue,
    call::{Decoder, Encoder, Export, Import, Incoming, ObjectRef},
    conn::{CallFrame, Conn, Target},
    contract::Signature,
    embed::{self, Current, Keeper},
    interface::Interface,
    proxy::{ProxyCore, Shared},
    render,
};

/// An exported object of interface `I`.
pub(crate) struct ObjectTarget<I: ?Sized + Interface> {
    pub(crate) object: Arc<I>,
}

impl<I: ?Sized + Interface> Target for ObjectTarget<I> {
    fn dispatch(&self, conn: &Arc<Conn>, call: &mut CallFrame<'_>) -> Result<(), Error> {
        call.later.object = Some(Arc::as_ptr(&self.object) as *const ());
        I::dispatch(&self.object, &mut Incoming::new(conn, call))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An exported object of interface `I` that lives inside a value that was
/// sent (a field of a struct), kept by `keeper` (see `embed`).
pub(crate) struct KeptTarget<I: ?Sized + Interface> {
    object: NonNull<I>,
    keeper: Arc<Keeper>,
}

// SAFETY: the object is only ever reached as `&I`, and `I: Sync` (every
// interface is `Send + Sync`); the keeper holds it in place while we live.
unsafe impl<I: ?Sized + Interface> Send for KeptTarget<I> {}
// SAFETY: as above.
unsafe impl<I: ?Sized + Interface> Sync for KeptTarget<I> {}

impl<I: ?Sized + Interface> Target for KeptTarget<I> {
    fn dispatch(&self, conn: &Arc<Conn>, call: &mut CallFrame<'_>) -> Result<(), Error> {
        // SAFETY: the keeper we hold keeps the value, and the object in it, in place.
        let object = unsafe { self.object.as_ref() };
        call.later.object = Some(self.object.as_ptr() as *const ());
        I::dispatch(object, &mut Incoming::new(conn, call))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Our own object, named by a `Returned` reference from the peer.
enum Home<I: ?Sized> {
    Shared(Arc<I>),
    Kept(NonNull<I>, Arc<Keeper>),
}

impl<I: ?Sized + Interface> Home<I> {
    fn find(conn: &Arc<Conn>, id: u64, transfer: bool) -> Result<Home<I>, Error> {
        // Looked at before it is taken: a reference of the wrong type, even
        // one that claims to hand the object back, leaves it where it is.
        let target = conn.lookup(id).ok_or(Error::UnknownObject(id))?;
        let any = target.as_any();
        let home = if let Some(object) = any.downcast_ref::<ObjectTarget<I>>() {
            Home::Shared(object.object.clone())
        } else if let Some(kept) = any.downcast_ref::<KeptTarget<I>>() {
            Home::Kept(kept.object, kept.keeper.clone())
        } else {
            return Err(Error::Decode {
                what: "object reference".into(),
                message: format!("object {id} is not a {}", I::NAME),
            });
        };
        if transfer {
            // The peer gave up its reference: the entry goes, the object lives on in `home`.
            drop(conn.unexport(id));
        }
        Ok(home)
    }

    fn into_box(self) -> Box<I> {
        match self {
            Home::Shared(object) => I::from_shared(Shared::new(object)),
            // SAFETY: the pointer came from a `KeptTarget`, whose keeper holds the object in place.
            Home::Kept(object, keeper) => I::from_shared(unsafe { Shared::kept(object, keeper) }),
        }
    }

    fn into_arc(self) -> Arc<I> {
        match self {
            Home::Shared(object) => object,
            kept @ Home::Kept(..) => Arc::from(kept.into_box()),
        }
    }
}

/// `Serialize` of `dyn I`, which generated code implements with this: inside
/// a value that moves into a call, a local object is exported (the value is
/// kept until the peer releases it) and the peer's own object goes home; in a
/// log line it renders as `<I>`; anywhere else it is an error.
pub fn serialize_object<I: ?Sized + Interface, S: Serializer>(object: &I, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let reference = embed::with_current(|current| match current {
        Current::Encoding(encoding) => {
            let Some(keeper) = encoding.keeper.clone() else {
                // Discovering: the value must be kept and encoded again.
                encoding.needs_keeping = true;
                return Ok(ObjectRef::Exported(0));
            };
            if let Some(core) = I::proxy_core(object)
                && Arc::ptr_eq(&core.conn, encoding.conn)
            {
                // The peer's own object goes home; the kept value holds our
                // proxy until the frame has been answered.
                return Ok(ObjectRef::Returned { id: core.object, transfer: false });
            }
            let target = Arc::new(KeptTarget::<I> { object: NonNull::from(object), keeper });
            match encoding.conn.export(target) {
                Ok(id) => {
                    encoding.exported.push(id);
                    Ok(ObjectRef::Exported(id))
                }
                Err(error) => {
                    let message = error.to_string();
                    encoding.error = Some(error);
                    Err(message)
                }
            }
        }
        Current::Lending(lending) => {
            if let Some(core) = I::proxy_core(object)
                && Arc::ptr_eq(&core.conn, lending.conn)
            {
                // The peer's own object; our proxy lives as long as the borrow.
                return Ok(ObjectRef::Returned { id: core.object, transfer: false });
            }
            let id = lending.conn.table().reserve_id();
            let pointer = NonNull::from(object);
            lending.lent.push((
                id,
                Box::new(move |conn: &Arc<Conn>, call: &mut CallFrame<'_>| {
                    // SAFETY: the object is inside a value borrowed for the call
                    // that lends it; that call holds this dispatcher and drops it
                    // before it returns, so before the borrow ends.
                    let object = unsafe { pointer.as_ref() };
                    I::dispatch(object, &mut Incoming::new(conn, call))
                }),
            ));
            Ok(ObjectRef::Exported(id))
        }
        Current::Rendering => Err(String::new()),
        Current::Refusing => Err(format!(
            "an object handle ({}) crosses only inside an argument or a result, not inside an error value or \
             an in/out argument's new value: pass the object as an argument or a result",
            I::NAME
        )),
        Current::Decoding(_) | Current::Idle => Err(format!(
            "an object handle ({}) is serialized only as part of an argument or a result of an ipc call",
            I::NAME
        )),
    });
    match reference {
        Ok(reference) => reference.serialize(serializer),
        Err(message) if message.is_empty() => serializer.serialize_str(&describe_object::<I>(object)),
        Err(message) => Err(S::Error::custom(message)),
    }
}

/// `Deserialize` of `Box<dyn I>`, which generated code implements with this:
/// a reference the peer exported becomes a proxy, and our own object coming
/// home is the object itself. Outside an ipc call it is an error.
pub fn deserialize_object<'de, I: ?Sized + Interface, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Box<I>, D::Error> {
    use serde::de::Error as _;
    let conn = embed::with_current(|current| match current {
        Current::Decoding(conn) => Some(conn.clone()),
        _ => None,
    });
    let Some(conn) = conn else {
        return Err(D::Error::custom(format!(
            "an object handle ({}) is deserialized only as part of an argument or a result of an ipc call",
            I::NAME
        )));
    };
    match ObjectRef::deserialize(deserializer)? {
        ObjectRef::Exported(id) => Ok(I::from_proxy(ProxyCore::new(conn, id))),
        ObjectRef::Returned { id, transfer } => {
            Home::<I>::find(&conn, id, transfer).map(Home::into_box).map_err(D::Error::custom)
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
            ObjectRef::Returned { id, transfer } => Ok(Home::<I>::find(input.conn, id, transfer)?.into_box()),
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
            ObjectRef::Returned { id, transfer } => Ok(Home::<I>::find(input.conn, id, transfer)?.into_arc()),
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
