//! The calls generated code makes: [`OutgoingCall`] and [`Reply`] on the
//! calling side, [`Incoming`] on the serving side, and the traits through
//! which objects and callbacks cross ([`Export`], [`Import`]; their
//! implementations live in `objects`).

use std::{
    any::Any,
    collections::VecDeque,
    fmt::Write as _,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{Arc, Mutex, TryLockError},
    thread,
    time::Instant,
};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::bounds::{Codec, ErrorCodec};

use crate::{
    Error, codec,
    conn::{CallFrame, Conn, Later, Target},
    contract::{self, MethodInfo, Signature},
    embed::{self, Encoding, KeepFn, Keeper, Lending, LentObject},
    engine::{self, Link},
    protocol::{self, Header, OutFrame},
    proxy::{Proxy, ProxyCore},
    render,
    tasks::{FrameReply, MethodFuture, Started, TaskLink, Waiting},
};

/// The dispatcher of a borrowed object (`&dyn I`), lent for one call.
pub type Lent<'a> = dyn Fn(&mut Incoming<'_>) -> Result<(), Error> + 'a;

fn logging() -> bool {
    tracing::enabled!(target: "ipc", tracing::Level::DEBUG)
}

pub(crate) fn log(conn: u64, event: &str, text: std::fmt::Arguments<'_>) {
    let thread = thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    tracing::debug!(target: "ipc", conn, thread = %thread, "{event} {text}");
}

/// Decodes one value with `conn` as the connection its handles belong to.
fn decode_in<T>(conn: &Arc<Conn>, codec: Codec<T>, bytes: &[u8], what: &str) -> Result<(T, usize), Error> {
    embed::decoding(conn, || (codec.decode)(bytes, what))
}

/// Encodes a value that moves into a call or a reply. A value without object
/// handles is encoded once, as any other. One that holds handles is moved to
/// the heap, kept there by the objects exported from it until the peer has
/// released them all (and by `kept` until the frame is answered, for the
/// peer's own objects it names), and encoded again from its kept place, so
/// that every exported object has an address that does not change.
#[allow(clippy::too_many_arguments, reason = "the parts of a frame being built, borrowed separately")]
fn encode_moved<T>(
    conn: &Arc<Conn>,
    codec: Codec<T>,
    value: T,
    keep: KeepFn<T>,
    out: &mut Vec<u8>,
    what: &str,
    kept: &mut Vec<Box<dyn Any + Send>>,
    exported: &mut Vec<u64>,
) -> Result<(), Error> {
    let start = out.len();
    let mut discovery = Encoding::new(conn, None);
    let encoded = embed::encoding(&mut discovery, || (codec.encode_in_context)(&value, out, what));
    if !discovery.needs_keeping {
        return encoded;
    }
    out.truncate(start);
    let Some(keep) = keep.0 else {
        return Err(Error::Encode {
            what: what.to_owned(),
            message: "a value that holds object handles must be Send + 'static".into(),
        });
    };
    let (value, pointer) = keep(value);
    let keeper = Keeper::new(value);
    let mut encoding = Encoding::new(conn, Some(keeper.clone()));
    // SAFETY: `pointer` points into the value `keeper` holds, which is never
    // moved, mutated or dropped while a clone of the keeper lives; we hold one.
    let encoded = embed::encoding(&mut encoding, || (codec.encode_in_context)(unsafe { &*pointer }, out, what));
    exported.extend_from_slice(&encoding.exported);
    kept.push(Box::new(keeper));
    match (encoded, encoding.error) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(error)) | (Err(error), None) => Err(error),
    }
}

/// A handle's description with the ids it was exported under: `<Echo #3>`,
/// so that a log line can be matched with the peer's `<Echo proxy #3>`.
fn with_ids(described: String, ids: &[u64]) -> String {
    match ids {
        [] => described,
        [id] if described.ends_with('>') => format!("{} #{id}>", &described[..described.len() - 1]),
        ids => {
            let ids: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
            format!("{described} ({})", ids.join(", "))
        }
    }
}

fn push_rendered(log: &mut Option<String>, name: &str, rendered: impl FnOnce() -> String) {
    if let Some(log) = log {
        if !log.is_empty() {
            log.push_str(", ");
        }
        let _ = write!(log, "{name}: {}", rendered());
    }
}

impl<I: ?Sized> Proxy<I> {
    /// Starts a call of `method` on the remote object.
    pub fn call(&self, method: &'static MethodInfo) -> OutgoingCall<'_> {
        OutgoingCall::new(&self.core, method)
    }

    /// Starts a call of the async `method` on the remote object: it goes out
    /// on the connection's task channel, and [`OutgoingCall::send_async`]
    /// waits for its reply without holding a thread.
    pub fn call_async(&self, method: &'static MethodInfo) -> OutgoingCall<'_> {
        OutgoingCall::new_async(&self.core, method)
    }
}

/// A call being built: arguments are encoded straight into the frame that
/// [`send`](OutgoingCall::send) writes.
pub struct OutgoingCall<'a> {
    conn: &'a Arc<Conn>,
    method: &'static MethodInfo,
    link: Option<Rc<Link>>,
    id: u64,
    frame: OutFrame<'a>,
    /// The first thing that went wrong while encoding; reported by `send`.
    error: Option<Error>,
    log: Option<String>,
    keep: Vec<Box<dyn Any + Send>>,
    /// What the call exported, to take back if the callee never takes it.
    exported: Vec<u64>,
    lent: Vec<(u64, &'a Lent<'a>)>,
    /// Objects inside borrowed arguments, lent for the call like `lent`.
    lent_inside: Vec<(u64, LentObject)>,
    deadline: Option<Instant>,
    /// The task channel an async call goes out on.
    tasks: Option<Arc<TaskLink>>,
}

impl std::fmt::Debug for OutgoingCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingCall").field("method", &format_args!("{}", self.method)).field("id", &self.id).finish()
    }
}

impl<'a> OutgoingCall<'a> {
    pub(crate) fn new(core: &'a ProxyCore, method: &'static MethodInfo) -> Self {
        let mut call = Self::unstarted(core, method);
        match Link::current(&core.conn) {
            Ok(link) => {
                call.start(core, link.next_call_id(), link.take_buffer());
                call.link = Some(link);
            }
            Err(error) => call.error = Some(error),
        }
        call
    }

    fn new_async(core: &'a ProxyCore, method: &'static MethodInfo) -> Self {
        let mut call = Self::unstarted(core, method);
        match TaskLink::current(&core.conn) {
            Ok(link) => {
                call.start(core, link.next_call_id(), Vec::new());
                call.tasks = Some(link);
            }
            Err(error) => call.error = Some(error),
        }
        call
    }

    fn unstarted(core: &'a ProxyCore, method: &'static MethodInfo) -> Self {
        OutgoingCall {
            conn: &core.conn,
            method,
            link: None,
            id: 0,
            frame: OutFrame::empty(),
            error: None,
            log: logging().then(String::new),
            keep: Vec::new(),
            exported: Vec::new(),
            lent: Vec::new(),
            lent_inside: Vec::new(),
            deadline: core.deadline(),
            tasks: None,
        }
    }

    /// Writes the call's header, as call `id` on its channel.
    fn start(&mut self, core: &ProxyCore, id: u64, buffer: Vec<u8>) {
        self.id = id;
        let check = match &core.conn.peer {
            None => self.method.check(),
            Some(peer) => peer.check_for(self.method),
        };
        let header = Header::Call { id, object: core.object, method: self.method.id, check };
        match OutFrame::start(buffer, &header) {
            Ok(frame) => self.frame = frame,
            Err(error) => self.error = Some(error),
        }
    }

    /// Encodes the referent of a `&T` or `&mut T` argument. Object handles
    /// inside it are lent for the call, as a `&dyn I` argument is.
    pub fn value<T>(&mut self, codec: Codec<T>, name: &str, value: &'a T) {
        if self.error.is_none() {
            let mut lending = Lending { conn: self.conn, lent: Vec::new() };
            let encoded =
                embed::lending(&mut lending, || (codec.encode_in_context)(value, &mut self.frame.inline, name));
            self.lent_inside.append(&mut lending.lent);
            if let Err(error) = encoded {
                self.error = Some(error);
            }
            push_rendered(&mut self.log, name, || (codec.render)(value));
        }
    }

    /// Encodes a value argument that moves into the call. Object handles
    /// inside it (fields of a struct, entries of a map) cross as handles:
    /// see `embed`.
    pub fn value_owned<T>(&mut self, codec: Codec<T>, name: &str, value: T, keep: KeepFn<T>) {
        if self.error.is_none() {
            push_rendered(&mut self.log, name, || (codec.render)(&value));
            let encoded = encode_moved(
                self.conn,
                codec,
                value,
                keep,
                &mut self.frame.inline,
                name,
                &mut self.keep,
                &mut self.exported,
            );
            if let Err(error) = encoded {
                self.error = Some(error);
            }
        }
    }

    /// Encodes a `&[T]` argument; the callee gets a `Vec<T>` to borrow from.
    pub fn slice<T>(&mut self, codec: Codec<T>, name: &str, values: &'a [T]) {
        if self.error.is_none() {
            let mut lending = Lending { conn: self.conn, lent: Vec::new() };
            let encoded = embed::lending(&mut lending, || (codec.encode_slice)(values, &mut self.frame.inline, name));
            self.lent_inside.append(&mut lending.lent);
            if let Err(error) = encoded {
                self.error = Some(error);
            }
            push_rendered(&mut self.log, name, || (codec.render_slice)(values));
        }
    }

    /// Sends a byte buffer argument as raw bytes; a large one is written
    /// straight from `bytes`, without a copy into the frame.
    pub fn bytes(&mut self, name: &str, bytes: &'a [u8]) {
        if self.error.is_none() {
            put_bytes(&mut self.frame, bytes);
            push_rendered(&mut self.log, name, || render::render_bytes(bytes));
        }
    }

    /// Sends a string argument as raw UTF-8, like [`bytes`](Self::bytes).
    pub fn text(&mut self, name: &str, text: &'a str) {
        if self.error.is_none() {
            put_bytes(&mut self.frame, text.as_bytes());
            push_rendered(&mut self.log, name, || render::render(text));
        }
    }

    /// Encodes an object argument: the receiver gets a proxy.
    pub fn object<T>(&mut self, codec: HandleCodec<T>, name: &str, value: T) {
        if self.error.is_none() {
            let described = self.log.is_some().then(|| (codec.describe_out)(&value));
            let before = self.exported.len();
            let mut out = Encoder {
                conn: self.conn,
                buf: &mut self.frame.inline,
                keep: &mut self.keep,
                exported: &mut self.exported,
            };
            if let Err(error) = (codec.export)(value, &mut out) {
                self.error = Some(error);
            }
            if let Some(described) = described {
                push_rendered(&mut self.log, name, || with_ids(described, &self.exported[before..]));
            }
        }
    }

    /// Encodes a callback argument: the receiver gets a proxy it calls back through.
    pub fn callback(&mut self, name: &str, callback: Callback) {
        let codec = HandleCodec {
            export: Callback::export,
            import: |_| Err(Error::Protocol("a local callback is never imported".into())),
            describe_out: Callback::describe,
            describe_in: Callback::describe,
            signature: |_| {},
        };
        self.object(codec, name, callback);
    }

    /// Encodes an optional callback argument (`Option<Box<dyn Fn..>>`): the
    /// receiver gets `None`, or a proxy it calls back through.
    pub fn optional_callback(&mut self, name: &str, callback: Option<Callback>) {
        self.object(OPTIONAL_CALLBACK, name, callback);
    }

    /// Lends a borrowed object (`&dyn I`) for the duration of the call. The
    /// callee's proxy reaches it only while this call waits for its reply and
    /// only from the callee's partner thread; later, or from other threads,
    /// it is an unknown object.
    pub fn lend(&mut self, name: &str, object: &'a Lent<'a>) {
        if self.error.is_none() {
            let id = self.conn.table().reserve_id();
            push_rendered(&mut self.log, name, || format!("<lent #{id}>"));
            match codec::encode_into(&mut self.frame.inline, &ObjectRef::Exported(id), name) {
                Ok(()) => self.lent.push((id, object)),
                Err(error) => self.error = Some(error),
            }
        }
    }

    /// Sends the call and serves callbacks until its reply arrives.
    pub fn send(mut self) -> Result<Reply, Error> {
        let link = self.link.take();
        let error = self.error.take();
        let (Some(link), None) = (link, &error) else {
            // An argument that could not be encoded is reported as itself.
            self.take_back_exports();
            return Err(error.unwrap_or(Error::Disconnected));
        };
        let mut frame = std::mem::replace(&mut self.frame, OutFrame::empty());
        let sent = frame.finish(self.conn.config.max_frame_bytes).and_then(|()| {
            if let Some(args) = &self.log {
                log(self.conn.id, "send", format_args!("{}({args})", self.method));
            }
            link.send(&frame, self.deadline)
        });
        link.give_buffer(frame.into_buffer());
        if let Err(error) = sent {
            // Refused before it left (too large, say): nothing reached the peer.
            if !matches!(error, Error::Timeout | Error::Disconnected) {
                self.take_back_exports();
            }
            return Err(error);
        }
        let reply = if self.lent.is_empty() && self.lent_inside.is_empty() {
            link.wait(Some(self.id), &[], self.deadline)
        } else {
            // The engine serves lent objects through its own calling convention.
            let adapters: Vec<Box<engine::Lent<'_>>> = self
                .lent
                .iter()
                .map(|(_, object)| {
                    Box::new(move |conn: &Arc<Conn>, call: &mut CallFrame<'_>| object(&mut Incoming::new(conn, call)))
                        as Box<engine::Lent<'_>>
                })
                .collect();
            let mut lent: Vec<(u64, &engine::Lent<'_>)> =
                self.lent.iter().zip(&adapters).map(|((id, _), adapter)| (*id, &**adapter)).collect();
            lent.extend(self.lent_inside.iter().map(|(id, object)| (*id, &**object as &engine::Lent<'_>)));
            link.wait(Some(self.id), &lent, self.deadline)
        };
        // The lent objects point into borrowed values: gone before the borrow ends.
        self.lent_inside.clear();
        // Only now may the proxies the call mentioned send their releases.
        drop(std::mem::take(&mut self.keep));
        let (frame, pos) = reply.map_err(|error| self.refused(error))?.ok_or(Error::Disconnected)?;
        Ok(Reply {
            conn: self.conn.clone(),
            body: frame.inline,
            pos,
            blobs: frame.blobs,
            method: Some(self.method),
            log: self.log.is_some(),
        })
    }
}

impl<'a> OutgoingCall<'a> {
    /// Sends an async call. The returned future waits for the reply without
    /// holding a thread; dropped before the reply, it cancels the call. Only
    /// objects and callbacks that move into the call may be among the
    /// arguments: nothing is lent to an async call.
    pub fn send_async(mut self) -> impl Future<Output = Result<Reply, Error>> + Send + 'a {
        let conn = self.conn.clone();
        let method = self.method;
        let log = self.log.take();
        let deadline = self.deadline;
        let sent = self.send_task();
        async move {
            let (waiting, keep) = sent?;
            let arrived = waiting.reply(deadline).await;
            // Only now may the proxies the call mentioned send their releases.
            drop(keep);
            let (frame, pos) = arrived?;
            Ok(Reply { conn, body: frame.inline, pos, blobs: frame.blobs, method: Some(method), log: log.is_some() })
        }
    }

    /// The part of `send_async` that runs before the first await: nothing
    /// that is not `Send` is held across it.
    #[allow(clippy::type_complexity)]
    fn send_task(&mut self) -> Result<(Waiting, Vec<Box<dyn Any + Send>>), Error> {
        let link = self.tasks.take();
        let mut error = self.error.take();
        if error.is_none() && !(self.lent.is_empty() && self.lent_inside.is_empty()) {
            error = Some(Error::Encode {
                what: self.method.name.to_owned(),
                message: "an async call cannot borrow an object for its duration: pass it by value".into(),
            });
        }
        let (Some(link), None) = (link, &error) else {
            self.take_back_exports();
            return Err(error.unwrap_or(Error::Disconnected));
        };
        let mut frame = std::mem::replace(&mut self.frame, OutFrame::empty());
        let sent = frame.finish(self.conn.config.max_frame_bytes).and_then(|()| {
            if let Some(args) = &self.log {
                log(self.conn.id, "send", format_args!("{}({args})", self.method));
            }
            link.send(self.conn, self.id, &frame)
        });
        match sent {
            Ok(reply) => {
                let waiting = Waiting { conn: self.conn.clone(), link, id: self.id, reply, done: false };
                Ok((waiting, std::mem::take(&mut self.keep)))
            }
            Err(error) => {
                if !matches!(error, Error::Timeout | Error::Disconnected) {
                    self.take_back_exports();
                }
                Err(error)
            }
        }
    }
}

impl OutgoingCall<'_> {
    /// Takes back what this call exported and the peer never took.
    fn take_back_exports(&mut self) {
        for id in std::mem::take(&mut self.exported) {
            drop(self.conn.unexport(id));
        }
    }

    /// Says, in the caller's own words, why the callee refused the call, and
    /// takes back what it exported if the callee never looked at the arguments.
    fn refused(&mut self, error: Error) -> Error {
        if matches!(
            error,
            Error::Incompatible { .. }
                | Error::UnknownMethod { .. }
                | Error::UnknownObject(_)
                | Error::Decode { .. }
                | Error::LimitExceeded { .. }
        ) {
            self.take_back_exports();
        }
        match error {
            Error::UnknownMethod { .. } if !self.method.is_callback() => Error::UnknownMethod {
                interface: self.method.interface.to_owned(),
                method: self.method.name.to_owned(),
            },
            Error::Incompatible { difference, .. } => {
                let difference =
                    self.conn.peer.as_ref().and_then(|peer| peer.difference(self.method)).unwrap_or(difference);
                let error = contract::incompatible(self.method, difference);
                tracing::warn!(target: "ipc", conn = self.conn.id, %error, "call refused");
                error
            }
            other => other,
        }
    }
}

/// The reply to an [`OutgoingCall`]: the result, then any written-back arguments.
pub struct Reply {
    conn: Arc<Conn>,
    body: Vec<u8>,
    pos: usize,
    blobs: VecDeque<Vec<u8>>,
    method: Option<&'static MethodInfo>,
    log: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("bytes", &(self.body.len() - self.pos)).finish()
    }
}

impl Reply {
    fn log_result(&self, rendered: impl FnOnce() -> String) {
        if self.log
            && let Some(method) = self.method
        {
            log(self.conn.id, "reply", format_args!("{method} -> {}", rendered()));
        }
    }

    /// Decodes the returned value.
    pub fn value<T>(&mut self, codec: Codec<T>) -> Result<T, Error> {
        let (value, used) = decode_in(&self.conn, codec, &self.body[self.pos..], "result")?;
        self.pos += used;
        self.log_result(|| (codec.render)(&value));
        Ok(value)
    }

    /// Decodes a returned `Result` whose error is the method's own.
    pub fn result<T, E>(&mut self, ok: Codec<T>, err: ErrorCodec<E>) -> Result<Result<T, E>, Error> {
        let result = match self.tag()? {
            Ok(()) => Ok(self.value(ok)?),
            Err(()) => Err(self.value(err.codec)?),
        };
        Ok(result)
    }

    /// Decodes a returned `Result` of objects.
    pub fn object_result<T, E>(&mut self, ok: HandleCodec<T>, err: ErrorCodec<E>) -> Result<Result<T, E>, Error> {
        let result = match self.tag()? {
            Ok(()) => Ok(self.object(ok)?),
            Err(()) => Err(self.value(err.codec)?),
        };
        Ok(result)
    }

    fn tag(&mut self) -> Result<Result<(), ()>, Error> {
        let (tag, used) = codec::decode_from::<u32>(&self.body[self.pos..], "result")?;
        self.pos += used;
        result_tag(tag)
    }

    /// Decodes a returned byte buffer.
    pub fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let (bytes, used) = take_bytes(&self.body[self.pos..], &mut self.blobs, "result")?;
        self.pos += used;
        self.log_result(|| render::render_bytes(&bytes));
        Ok(bytes)
    }

    /// Decodes a returned string.
    pub fn text(&mut self) -> Result<String, Error> {
        let (bytes, used) = take_bytes(&self.body[self.pos..], &mut self.blobs, "result")?;
        let text = into_text(bytes, "result")?;
        self.pos += used;
        self.log_result(|| render::render(&text));
        Ok(text)
    }

    /// Decodes a returned object.
    pub fn object<T>(&mut self, codec: HandleCodec<T>) -> Result<T, Error> {
        let mut decoder = Decoder { conn: &self.conn, bytes: &self.body[self.pos..], used: 0 };
        let value = (codec.import)(&mut decoder)?;
        self.pos += decoder.used;
        self.log_result(|| (codec.describe_in)(&value));
        Ok(value)
    }

    /// Decodes a returned callback.
    pub fn callback(&mut self) -> Result<RemoteCallback, Error> {
        self.object(REMOTE_CALLBACK)
    }

    /// Decodes a returned optional callback.
    pub fn optional_callback(&mut self) -> Result<Option<RemoteCallback>, Error> {
        self.object(OPTIONAL_REMOTE_CALLBACK)
    }

    /// Decodes the callee's new value of a `&mut T` argument into `target`.
    pub fn write_back<T>(&mut self, codec: Codec<T>, name: &str, target: &mut T) -> Result<(), Error> {
        let (value, used) = decode_in(&self.conn, codec, &self.body[self.pos..], name)?;
        self.pos += used;
        *target = value;
        Ok(())
    }
}

/// What an async method's future ends with: the step that encodes its result
/// (and written-back arguments) into the reply.
pub type ReplyFn = Box<dyn FnOnce(&mut Incoming<'_>) -> Result<(), Error> + Send>;

/// An async method's future as the dispatcher starts it, borrowing the object for `'t`.
pub type BoxedMethod<'t> = Pin<Box<dyn Future<Output = ReplyFn> + Send + 't>>;

/// A call being served: generated dispatchers decode its arguments, run the
/// method and encode the result into the reply frame.
pub struct Incoming<'a> {
    conn: &'a Arc<Conn>,
    method: u64,
    check: u64,
    object: u64,
    args: &'a [u8],
    blobs: &'a mut VecDeque<Vec<u8>>,
    out: &'a mut OutFrame<'static>,
    keep: &'a mut Vec<Box<dyn Any + Send>>,
    exported: &'a mut Vec<u64>,
    later: &'a mut Later,
    log: Option<String>,
    info: Option<&'static MethodInfo>,
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").field("object", &self.object).field("method", &self.method).finish()
    }
}

impl<'a> Incoming<'a> {
    pub(crate) fn new(conn: &'a Arc<Conn>, call: &'a mut CallFrame<'_>) -> Self {
        Incoming {
            conn,
            method: call.method,
            check: call.check,
            object: call.object,
            args: call.args,
            blobs: &mut *call.blobs,
            out: &mut *call.out,
            keep: &mut call.keep,
            exported: &mut call.exported,
            later: &mut call.later,
            log: logging().then(String::new),
            info: None,
        }
    }

    /// The reply of an async method, encoded after its future finished.
    pub(crate) fn for_reply(
        conn: &'a Arc<Conn>,
        call: &'a mut CallFrame<'_>,
        info: Option<&'static MethodInfo>,
    ) -> Self {
        let mut incoming = Incoming::new(conn, call);
        incoming.info = info;
        incoming
    }

    /// The id of the method the call names.
    pub fn method(&self) -> u64 {
        self.method
    }

    /// Starts an async method: `start(this, args)` makes its future, which
    /// runs as a task after the dispatcher returns and ends with the step
    /// that encodes its result. `this` must be the object being called
    /// (the dispatcher's `self`): the runtime keeps that object alive, and in
    /// place, for as long as the future lives. `start` is a plain `fn`, so
    /// the future can borrow nothing else.
    pub fn run_async<T: ?Sized + Sync, A: Send + 'static>(
        &mut self,
        this: &T,
        args: A,
        start: for<'t> fn(&'t T, A) -> BoxedMethod<'t>,
    ) -> Result<(), Error> {
        let this_address = this as *const T as *const ();
        let Some(owner) = self.later.owner.clone() else {
            return Err(Error::Protocol("an async method can only be called on a task channel".into()));
        };
        if self.later.object != Some(this_address) {
            return Err(Error::Protocol("an async method must run on the object being called".into()));
        }
        let future = start(this, args);
        // SAFETY: `future` borrows nothing but `*this` (`start` is a `fn`
        // and `args` is `'static`), and `*this` is the object `owner` holds
        // in place: `Started` drops the future before `owner`.
        let future = unsafe { std::mem::transmute::<BoxedMethod<'_>, BoxedMethod<'static>>(future) };
        let info = self.info;
        let future: MethodFuture = Box::pin(async move {
            let reply = future.await;
            Box::new(move |conn: &Arc<Conn>, call: &mut CallFrame<'_>| {
                reply(&mut Incoming::for_reply(conn, call, info))
            }) as FrameReply
        });
        self.later.started = Some(Box::new(Started { future, _owner: owner }));
        Ok(())
    }

    /// Refuses the call unless the caller sees `method`'s signature as this
    /// side does. Both sides log a refusal.
    pub fn check(&self, method: &'static MethodInfo) -> Result<(), Error> {
        if self.check == method.check() {
            return Ok(());
        }
        let ours = method.shape().map(|shape| shape.description.text()).unwrap_or_default();
        let error = contract::incompatible(method, format!("the callee's signature is {ours}"));
        tracing::warn!(target: "ipc", conn = self.conn.id, %error, "refused a call: the caller's signature differs");
        Err(error)
    }

    /// The error for a method this object does not have.
    pub fn unknown_method(&self, interface: &str) -> Error {
        Error::UnknownMethod { interface: interface.to_owned(), method: format!("#{:016x}", self.method) }
    }

    /// Decodes the next value argument.
    pub fn value<T>(&mut self, codec: Codec<T>, name: &str) -> Result<T, Error> {
        let (value, used) = decode_in(self.conn, codec, self.args, name)?;
        self.args = &self.args[used..];
        push_rendered(&mut self.log, name, || (codec.render)(&value));
        Ok(value)
    }

    /// Decodes the next byte buffer argument.
    pub fn bytes(&mut self, name: &str) -> Result<Vec<u8>, Error> {
        let (bytes, used) = take_bytes(self.args, self.blobs, name)?;
        self.args = &self.args[used..];
        push_rendered(&mut self.log, name, || render::render_bytes(&bytes));
        Ok(bytes)
    }

    /// Decodes the next string argument sent with [`OutgoingCall::text`].
    pub fn text(&mut self, name: &str) -> Result<String, Error> {
        let (bytes, used) = take_bytes(self.args, self.blobs, name)?;
        let text = into_text(bytes, name)?;
        self.args = &self.args[used..];
        push_rendered(&mut self.log, name, || render::render(&text));
        Ok(text)
    }

    /// Decodes the next object argument.
    pub fn object<T>(&mut self, codec: HandleCodec<T>, name: &str) -> Result<T, Error> {
        let mut decoder = Decoder { conn: self.conn, bytes: self.args, used: 0 };
        let value = (codec.import)(&mut decoder)?;
        self.args = &self.args[decoder.used..];
        push_rendered(&mut self.log, name, || (codec.describe_in)(&value));
        Ok(value)
    }

    /// Decodes the next callback argument.
    pub fn callback(&mut self, name: &str) -> Result<RemoteCallback, Error> {
        self.object(REMOTE_CALLBACK, name)
    }

    /// Decodes the next optional callback argument.
    pub fn optional_callback(&mut self, name: &str) -> Result<Option<RemoteCallback>, Error> {
        self.object(OPTIONAL_REMOTE_CALLBACK, name)
    }

    /// Marks the arguments as decoded; logs the call as received.
    pub fn received(&mut self, method: &'static MethodInfo) {
        self.info = Some(method);
        if let Some(args) = &self.log {
            log(self.conn.id, "recv", format_args!("{method}({args})"));
        }
    }

    fn log_return(&self, rendered: impl FnOnce() -> String) {
        if self.log.is_some()
            && let Some(method) = self.info
        {
            log(self.conn.id, "return", format_args!("{method} -> {}", rendered()));
        }
    }

    /// Encodes the method's return value.
    pub fn ret<T>(&mut self, codec: Codec<T>, value: &T) -> Result<(), Error> {
        self.log_return(|| (codec.render)(value));
        (codec.encode)(value, &mut self.out.inline, "result")
    }

    /// Encodes the method's return value, which moves into the reply:
    /// object handles inside it cross as handles (see `embed`).
    pub fn ret_owned<T>(&mut self, codec: Codec<T>, value: T, keep: KeepFn<T>) -> Result<(), Error> {
        self.log_return(|| (codec.render)(&value));
        encode_moved(self.conn, codec, value, keep, &mut self.out.inline, "result", self.keep, self.exported)
    }

    /// Encodes a returned `Result` whose error is the method's own; handles
    /// inside the `Ok` value cross as handles.
    pub fn ret_result_owned<T, E>(
        &mut self,
        ok: Codec<T>,
        err: ErrorCodec<E>,
        value: Result<T, E>,
        keep: KeepFn<T>,
    ) -> Result<(), Error> {
        match value {
            Ok(value) => {
                self.log_return(|| format!("Ok({})", (ok.render)(&value)));
                codec::encode_into(&mut self.out.inline, &OK, "result")?;
                encode_moved(self.conn, ok, value, keep, &mut self.out.inline, "result", self.keep, self.exported)
            }
            Err(error) => self.ret_err(err, &error),
        }
    }

    /// Encodes the `Err` of a returned `Result`: a plain value, whose handles are refused.
    fn ret_err<E>(&mut self, err: ErrorCodec<E>, error: &E) -> Result<(), Error> {
        self.log_return(|| format!("Err({})", (err.codec.render)(error)));
        codec::encode_into(&mut self.out.inline, &ERR, "result")?;
        (err.codec.encode)(error, &mut self.out.inline, "result")
    }

    /// Encodes a returned `Result` of objects.
    pub fn ret_object_result<T, E>(
        &mut self,
        ok: HandleCodec<T>,
        err: ErrorCodec<E>,
        value: Result<T, E>,
    ) -> Result<(), Error> {
        match value {
            Ok(value) => {
                codec::encode_into(&mut self.out.inline, &OK, "result")?;
                self.ret_object(ok, value)
            }
            Err(error) => self.ret_err(err, &error),
        }
    }

    /// Sends a returned byte buffer; a large one goes out without a copy.
    pub fn ret_bytes(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        self.log_return(|| render::render_bytes(&bytes));
        put_owned_bytes(self.out, bytes);
        Ok(())
    }

    /// Sends a returned string, like [`ret_bytes`](Self::ret_bytes).
    pub fn ret_text(&mut self, text: String) -> Result<(), Error> {
        self.log_return(|| render::render(&text));
        put_owned_bytes(self.out, text.into_bytes());
        Ok(())
    }

    /// Encodes a returned object.
    pub fn ret_object<T>(&mut self, codec: HandleCodec<T>, value: T) -> Result<(), Error> {
        let described = self.log.is_some().then(|| (codec.describe_out)(&value));
        let before = self.exported.len();
        (codec.export)(
            value,
            &mut Encoder { conn: self.conn, buf: &mut self.out.inline, keep: self.keep, exported: self.exported },
        )?;
        if let Some(described) = described {
            self.log_return(|| with_ids(described, &self.exported[before..]));
        }
        Ok(())
    }

    /// Encodes a returned optional callback.
    pub fn ret_optional_callback(&mut self, callback: Option<Callback>) -> Result<(), Error> {
        self.ret_object(OPTIONAL_CALLBACK, callback)
    }

    /// Encodes a returned callback.
    pub fn ret_callback(&mut self, callback: Callback) -> Result<(), Error> {
        let described = self.log.is_some().then(|| callback.describe());
        let before = self.exported.len();
        callback.export(&mut Encoder {
            conn: self.conn,
            buf: &mut self.out.inline,
            keep: self.keep,
            exported: self.exported,
        })?;
        if let Some(described) = described {
            self.log_return(|| with_ids(described, &self.exported[before..]));
        }
        Ok(())
    }

    /// Encodes the new value of a `&mut T` argument.
    pub fn write_back<T>(&mut self, codec: Codec<T>, name: &str, value: &T) -> Result<(), Error> {
        (codec.encode)(value, &mut self.out.inline, name)
    }
}

/// How a `Result` is tagged on the wire, as serde tags its variants.
const OK: u32 = 0;
const ERR: u32 = 1;

fn result_tag(tag: u32) -> Result<Result<(), ()>, Error> {
    match tag {
        OK => Ok(Ok(())),
        ERR => Ok(Err(())),
        tag => Err(Error::Decode { what: "result".into(), message: format!("bad tag {tag}") }),
    }
}

/// How a byte buffer is marked inline: its bytes follow, or it is the next blob.
const INLINE: u8 = 0;
const BLOB: u8 = 1;

fn put_bytes<'a>(frame: &mut OutFrame<'a>, bytes: &'a [u8]) {
    if bytes.len() < protocol::BLOB_THRESHOLD {
        frame.inline.push(INLINE);
        codec::encode_bytes(&mut frame.inline, bytes);
    } else {
        frame.inline.push(BLOB);
        frame.push_borrowed(bytes);
    }
}

fn put_owned_bytes(frame: &mut OutFrame<'_>, bytes: Vec<u8>) {
    if bytes.len() < protocol::BLOB_THRESHOLD {
        frame.inline.push(INLINE);
        codec::encode_bytes(&mut frame.inline, &bytes);
    } else {
        frame.inline.push(BLOB);
        frame.push_owned(bytes);
    }
}

/// Reads a byte buffer written by [`put_bytes`]: from the inline bytes, or
/// the next blob, moved out without a copy. Returns it and the inline bytes used.
fn take_bytes(inline: &[u8], blobs: &mut VecDeque<Vec<u8>>, what: &str) -> Result<(Vec<u8>, usize), Error> {
    let bad = |message: &str| Error::Decode { what: what.to_owned(), message: message.to_owned() };
    match inline.first() {
        Some(&INLINE) => {
            let (bytes, used) = codec::decode_bytes(&inline[1..], what)?;
            Ok((bytes.to_vec(), 1 + used))
        }
        Some(&BLOB) => blobs.pop_front().map(|blob| (blob, 1)).ok_or_else(|| bad("the frame has no blob for it")),
        Some(_) => Err(bad("not a byte buffer")),
        None => Err(bad("missing")),
    }
}

/// Checks that a peer's bytes are UTF-8. A SIMD validator, because a string
/// is checked once per hop and std's check costs about a third of a raw
/// round trip per megabyte.
fn into_text(bytes: Vec<u8>, what: &str) -> Result<String, Error> {
    match simdutf8::compat::from_utf8(&bytes) {
        // SAFETY: simdutf8 has just checked that `bytes` is valid UTF-8.
        Ok(_) => Ok(unsafe { String::from_utf8_unchecked(bytes) }),
        Err(error) => Err(Error::Decode { what: what.to_owned(), message: error.to_string() }),
    }
}

/// How an object reference is written on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ObjectRef {
    /// An object the sender owns: the receiver makes a proxy for it.
    Exported(u64),
    /// One of the receiver's own objects, coming home. With `transfer`, the
    /// sender gave up its reference (a moved `Box`), so the receiver releases it.
    Returned { id: u64, transfer: bool },
}

/// Where [`Export`] writes.
pub struct Encoder<'a> {
    pub(crate) conn: &'a Arc<Conn>,
    buf: &'a mut Vec<u8>,
    /// Proxies that must outlive the frame that mentions them: dropping one
    /// sends a `Release`, which must not overtake the frame.
    keep: &'a mut Vec<Box<dyn Any + Send>>,
    /// The ids this frame exports.
    exported: &'a mut Vec<u64>,
}

impl std::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl<'a> Encoder<'a> {
    #[cfg(test)]
    pub(crate) fn for_test(conn: &'a Arc<Conn>, buf: &'a mut Vec<u8>) -> Self {
        // Leaked: a test's keep-alive lists live as long as the test.
        Encoder { conn, buf, keep: Box::leak(Box::default()), exported: Box::leak(Box::default()) }
    }

    pub(crate) fn put<T: Serialize>(&mut self, value: &T) -> Result<(), Error> {
        codec::encode_into(self.buf, value, "object reference")
    }

    /// Exports `target` and writes a reference to it.
    pub(crate) fn export(&mut self, target: Arc<dyn Target>) -> Result<(), Error> {
        let id = self.conn.export(target)?;
        self.exported.push(id);
        self.put(&ObjectRef::Exported(id))
    }

    /// Keeps `value` alive until the frame has been answered.
    pub(crate) fn keep(&mut self, value: Box<dyn Any + Send>) {
        self.keep.push(value);
    }
}

/// Where [`Import`] reads.
pub struct Decoder<'a> {
    pub(crate) conn: &'a Arc<Conn>,
    bytes: &'a [u8],
    used: usize,
}

impl std::fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Decoder<'_> {
    pub(crate) fn take<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        let (value, used) = codec::decode_from::<T>(&self.bytes[self.used..], "object reference")?;
        self.used += used;
        Ok(value)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.used
    }
}

/// How one type of handle crosses, made where the compiler checks that it
/// does: the one place generated code requires `T: Export + Import`, so that
/// a `Box<dyn NotAnInterface>` is one error.
pub struct HandleCodec<T> {
    pub(crate) export: fn(T, &mut Encoder<'_>) -> Result<(), Error>,
    pub(crate) import: fn(&mut Decoder<'_>) -> Result<T, Error>,
    pub(crate) describe_out: fn(&T) -> String,
    pub(crate) describe_in: fn(&T) -> String,
    pub(crate) signature: fn(&mut Signature),
}

impl<T> HandleCodec<T> {
    /// Adds the handle's shape to a method signature.
    pub fn describe(&self, signature: &mut Signature) {
        (self.signature)(signature);
    }

    /// Adds the shape of the handle, lent for one call, to a method signature.
    pub fn describe_lent(&self, signature: &mut Signature) {
        signature.lent(self.signature);
    }
}

impl<T> Clone for HandleCodec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for HandleCodec<T> {}

impl<T> std::fmt::Debug for HandleCodec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HandleCodec<{}>", std::any::type_name::<T>())
    }
}

/// Callbacks arrive as [`RemoteCallback`]s, which generated code wraps in
/// a closure of the declared type.
const REMOTE_CALLBACK: HandleCodec<RemoteCallback> = HandleCodec {
    export: |callback, _| Err(Error::Protocol(format!("{} cannot be sent on", callback.describe()))),
    import: RemoteCallback::import,
    describe_out: RemoteCallback::describe,
    describe_in: RemoteCallback::describe,
    signature: RemoteCallback::signature,
};

const OPTIONAL_CALLBACK: HandleCodec<Option<Callback>> = HandleCodec {
    export: <Option<Callback> as Export>::export,
    import: |_| Err(Error::Protocol("a local callback is never imported".into())),
    describe_out: <Option<Callback> as Export>::describe,
    describe_in: <Option<Callback> as Export>::describe,
    signature: |_| {},
};

const OPTIONAL_REMOTE_CALLBACK: HandleCodec<Option<RemoteCallback>> = HandleCodec {
    export: |_, _| Err(Error::Protocol("a callback of the peer cannot be sent on".into())),
    import: <Option<RemoteCallback> as Import>::import,
    describe_out: <Option<RemoteCallback> as Import>::describe,
    describe_in: <Option<RemoteCallback> as Import>::describe,
    signature: <Option<RemoteCallback> as Import>::signature,
};

/// The codec of a handle type `T`.
pub const fn handle<T: Export + Import>() -> HandleCodec<T> {
    HandleCodec {
        export: T::export,
        import: T::import,
        describe_out: <T as Export>::describe,
        describe_in: <T as Import>::describe,
        signature: T::signature,
    }
}

/// A type whose values cross as object handles: `Box<dyn I>`, `Arc<dyn I>`,
/// callbacks, and `Option`, `Vec` and `Result` of those.
pub trait Export {
    /// Exports the object (or hands a proxy back to its owner) and writes its reference.
    #[doc(hidden)]
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error>;
    /// How the value appears in log lines.
    #[doc(hidden)]
    fn describe(&self) -> String;
}

/// A type whose values arrive as object handles; the counterpart of [`Export`].
pub trait Import: Sized {
    /// Reads a reference and makes a proxy for it (or finds the local object).
    #[doc(hidden)]
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error>;
    /// How the value appears in log lines.
    #[doc(hidden)]
    fn describe(&self) -> String;
    /// Adds the type's shape to a method signature.
    #[doc(hidden)]
    fn signature(signature: &mut Signature);
}

type Handler = dyn Fn(&mut Incoming<'_>) -> Result<(), Error> + Send + Sync;

/// A local closure about to be exported as a callback. Generated code wraps a
/// `Box<dyn Fn..>` argument in one of these.
pub struct Callback {
    handler: Box<Handler>,
    info: &'static MethodInfo,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback").field("name", &self.info.name).finish()
    }
}

impl Callback {
    /// A callback that may run on several threads at once.
    pub fn new_fn(
        info: &'static MethodInfo,
        handler: impl Fn(&mut Incoming<'_>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        Callback { handler: Box::new(handler), info }
    }

    /// A callback that runs one call at a time.
    pub fn new_fn_mut(
        info: &'static MethodInfo,
        handler: impl FnMut(&mut Incoming<'_>) -> Result<(), Error> + Send + 'static,
    ) -> Self {
        let handler = Mutex::new(handler);
        Callback::new_fn(info, move |call| {
            // A peer calling it again from inside itself would deadlock a Mutex;
            // in one process the borrow checker forbids it, so it is an error here.
            let mut handler = match handler.try_lock() {
                Ok(handler) => handler,
                // It panicked once; the panic was reported then. It may run again.
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Protocol(format!("{} is already running", info.name)));
                }
            };
            (*handler)(call)
        })
    }

    /// A callback that can be called once.
    pub fn new_fn_once(
        info: &'static MethodInfo,
        handler: impl FnOnce(&mut Incoming<'_>) -> Result<(), Error> + Send + 'static,
    ) -> Self {
        let handler = Mutex::new(Some(handler));
        Callback::new_fn(info, move |call| {
            let taken = handler.lock().unwrap_or_else(|p| p.into_inner()).take();
            taken.ok_or(Error::CallbackConsumed).and_then(|handler| handler(call))
        })
    }
}

struct CallbackTarget(Callback);

impl Target for CallbackTarget {
    fn dispatch(&self, conn: &Arc<Conn>, call: &mut CallFrame<'_>) -> Result<(), Error> {
        (self.0.handler)(&mut Incoming::new(conn, call))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Export for Callback {
    fn export(self, out: &mut Encoder<'_>) -> Result<(), Error> {
        out.export(Arc::new(CallbackTarget(self)))
    }

    fn describe(&self) -> String {
        format!("<callback {}>", self.info.name)
    }
}

/// A callback the peer owns; generated code wraps it in a closure.
#[derive(Debug)]
pub struct RemoteCallback {
    core: ProxyCore,
}

impl RemoteCallback {
    /// Starts a call of the callback.
    pub fn call(&self, info: &'static MethodInfo) -> OutgoingCall<'_> {
        OutgoingCall::new(&self.core, info)
    }
}

impl Import for RemoteCallback {
    fn import(input: &mut Decoder<'_>) -> Result<Self, Error> {
        match input.take::<ObjectRef>()? {
            ObjectRef::Exported(id) => Ok(RemoteCallback { core: ProxyCore::new(input.conn.clone(), id) }),
            ObjectRef::Returned { id, .. } => Err(Error::Decode {
                what: "callback".into(),
                message: format!("object {id} is ours, not a callback of the peer"),
            }),
        }
    }

    fn describe(&self) -> String {
        format!("<callback proxy #{}>", self.core.object)
    }

    fn signature(signature: &mut Signature) {
        // A callback's own signature is listed by the method that passes it.
        signature.open("callback");
        signature.close();
    }
}

/// Unwraps the outcome of a call to a method that does not return `Result`;
/// a transport failure panics, naming the interface, the method and the cause.
#[track_caller]
pub fn expect<T>(outcome: Result<T, Error>, method: &'static MethodInfo) -> T {
    match outcome {
        Ok(value) => value,
        Err(error) => panic!("ipc call {method} failed: {error}"),
    }
}

/// Folds a transport failure into the method's own error type.
pub fn into_result<T, E>(err: ErrorCodec<E>, outcome: Result<Result<T, E>, Error>) -> Result<T, E> {
    match outcome {
        Ok(result) => result,
        Err(error) => Err((err.from_error)(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_from_a_peer_is_a_decode_error() {
        for bytes in [vec![0xff, 0xfe], vec![b'a'; 20_000].into_iter().chain([0xc3]).collect()] {
            let error = into_text(bytes, "name").unwrap_err();
            assert!(matches!(&error, Error::Decode { what, .. } if what == "name"), "{error:?}");
        }
        assert_eq!(into_text("héllo".into(), "name").unwrap(), "héllo");
    }

    #[test]
    fn byte_buffers_come_from_inline_bytes_or_the_next_blob() {
        let mut frame = OutFrame::start(Vec::new(), &Header::Goodbye).unwrap();
        let start = frame.inline.len();
        let big = vec![9u8; protocol::BLOB_THRESHOLD];
        put_bytes(&mut frame, b"small");
        put_bytes(&mut frame, &big);
        let inline = frame.inline[start..].to_vec();
        let mut blobs = VecDeque::from([big.clone()]);
        let (small, used) = take_bytes(&inline, &mut blobs, "a").unwrap();
        assert_eq!(small, b"small");
        let (large, _) = take_bytes(&inline[used..], &mut blobs, "b").unwrap();
        assert_eq!(large, big);
        assert!(take_bytes(&[BLOB], &mut blobs, "c").is_err(), "no blob left");
        assert!(take_bytes(&[7], &mut blobs, "d").is_err(), "unknown tag");
        assert!(take_bytes(&[], &mut blobs, "e").is_err(), "nothing");
    }
}
