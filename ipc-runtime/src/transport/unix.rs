//! Unix domain sockets: the control stream is a connected socket, and a
//! calling thread's channel is one end of a fresh socketpair, whose other end
//! travels to the peer with the `NewThread` frame as `SCM_RIGHTS`.

use std::{
    io::{self, IoSlice, IoSliceMut, Read, Write},
    mem::MaybeUninit,
    net::Shutdown,
    os::{
        fd::{AsFd, OwnedFd},
        unix::net::UnixStream,
    },
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

use super::{ControlFrame, MAX_CONTROL_FRAME, Stream, Transport};
use crate::{
    Error,
    protocol::{self, InFrame, Source},
};

/// How every write goes out: a peer that has gone away must not raise
/// SIGPIPE in a process that did not ignore it. Apple systems have no
/// `MSG_NOSIGNAL`; their sockets get `SO_NOSIGPIPE` instead ([`prepare`]).
#[cfg(not(target_vendor = "apple"))]
const SEND: SendFlags = SendFlags::NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND: SendFlags = SendFlags::empty();

/// How descriptors are received: close-on-exec from the first moment where
/// the system can do that (Linux); elsewhere [`prepare`] sets the flag just
/// after, which leaves a window in which another thread's fork and exec
/// could inherit it.
#[cfg(any(target_os = "linux", target_os = "android"))]
const RECEIVE: RecvFlags = RecvFlags::CMSG_CLOEXEC;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const RECEIVE: RecvFlags = RecvFlags::empty();

/// Readies a socket of ours for use: see [`SEND`] and [`RECEIVE`].
pub(crate) fn prepare(socket: &UnixStream) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    rustix::net::sockopt::set_socket_nosigpipe(socket, true)?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    rustix::io::fcntl_setfd(socket, rustix::io::FdFlags::CLOEXEC)?;
    let _ = socket;
    Ok(())
}

impl Stream for UnixStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        <&UnixStream as Read>::read(&mut &*self, buf)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Not `writev`: see SEND.
        let mut no_ancillary = SendAncillaryBuffer::default();
        rustix::net::sendmsg(self, bufs, &mut no_ancillary, SEND).map_err(io::Error::from)
    }

    fn shutdown(&self) {
        let _ = UnixStream::shutdown(self, Shutdown::Both);
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
}

impl Source for &UnixStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

/// A connection over a connected Unix socket.
pub(crate) struct UnixTransport {
    control: UnixStream,
    /// Serialises whole frames written to the control socket.
    write: Mutex<()>,
    /// Only the control loop reads; the lock is never contended.
    read: Mutex<()>,
}

impl UnixTransport {
    /// Wraps a control socket whose handshake is done.
    pub(crate) fn new(control: UnixStream) -> UnixTransport {
        if let Err(error) = prepare(&control) {
            tracing::warn!(target: "ipc", %error, "could not ready the control socket");
        }
        UnixTransport { control, write: Mutex::new(()), read: Mutex::new(()) }
    }

    /// Fills `buf` from the control socket, keeping the descriptors that
    /// arrive with it. `Ok(false)`: the stream ended before the first byte.
    fn receive_exact(&self, buf: &mut [u8], fds: &mut Vec<OwnedFd>, deadline: &mut Deadline) -> Result<bool, Error> {
        let mut filled = 0;
        while filled < buf.len() {
            deadline.before_read(&self.control, filled > 0 || deadline.begun)?;
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
            let mut ancillary = RecvAncillaryBuffer::new(&mut space);
            let received = rustix::net::recvmsg(
                &self.control,
                &mut [IoSliceMut::new(&mut buf[filled..])],
                &mut ancillary,
                RECEIVE,
            );
            let received = match received {
                Ok(received) => received,
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) if errno == rustix::io::Errno::AGAIN || errno == rustix::io::Errno::TIMEDOUT => {
                    return Err(deadline.expired());
                }
                Err(errno) => return Err(protocol::io_to_error(errno.into())),
            };
            for message in ancillary.drain() {
                if let RecvAncillaryMessage::ScmRights(received) = message {
                    fds.extend(received);
                }
            }
            if received.bytes == 0 {
                return if deadline.begun { Err(Error::Disconnected) } else { Ok(false) };
            }
            filled += received.bytes;
            deadline.begun = true;
        }
        Ok(true)
    }
}

/// The frame deadline on the control socket: none before a frame's first
/// byte, `timeout` from then on.
struct Deadline {
    timeout: Duration,
    /// When the frame's first byte was seen waiting for more.
    started: Option<Instant>,
    /// Whether the frame's first byte has arrived.
    begun: bool,
    applied: bool,
}

impl Deadline {
    fn before_read(&mut self, control: &UnixStream, mid_frame: bool) -> Result<(), Error> {
        if !(mid_frame || self.started.is_some()) {
            return Ok(());
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let left = self.timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(self.expired());
        }
        control.set_read_timeout(Some(left))?;
        self.applied = true;
        Ok(())
    }

    fn expired(&self) -> Error {
        Error::Protocol(format!("a control frame began but did not arrive whole within {:?}", self.timeout))
    }

    fn reset(&self, control: &UnixStream) {
        if self.applied {
            let _ = control.set_read_timeout(None);
        }
    }
}

impl Transport for UnixTransport {
    fn control(&self) -> &dyn Stream {
        &self.control
    }

    fn send_control(&self, frame: &[u8]) -> Result<(), Error> {
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        (&self.control).write_all(frame).map_err(protocol::io_to_error)
    }

    fn open_channel(&self, _name: &str, announce: &[u8]) -> Result<Arc<dyn Stream>, Error> {
        let (ours, theirs) = UnixStream::pair()?;
        prepare(&ours)?;
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        send_with_fd(&self.control, announce, &OwnedFd::from(theirs))?;
        Ok(Arc::new(ours))
    }

    /// Reads exactly one frame, so that every descriptor that arrives is
    /// known to belong to it: the sender attaches a channel to the first byte
    /// of its `NewThread` frame.
    fn read_control(&self, frame_timeout: Duration) -> Result<Option<ControlFrame>, Error> {
        let _read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let mut deadline = Deadline { timeout: frame_timeout, started: None, begun: false, applied: false };
        let mut fds = Vec::new();
        let outcome = (|| {
            // The total is checked as soon as it is here, without waiting for more.
            let mut total = [0; 4];
            if !self.receive_exact(&mut total, &mut fds, &mut deadline)? {
                return Ok(None);
            }
            let total = u32::from_le_bytes(total) as usize;
            if total > MAX_CONTROL_FRAME {
                return Err(Error::FrameTooLarge { size: total as u64, max: MAX_CONTROL_FRAME as u64 });
            }
            let mut inline = [0; 4];
            self.receive_exact(&mut inline, &mut fds, &mut deadline)?;
            let inline = u32::from_le_bytes(inline) as usize;
            // The rest: the inline part, then a blob count that must be zero.
            if total.checked_sub(4 + 2) != Some(inline) {
                return Err(Error::Protocol("malformed control frame: control frames carry no blobs".into()));
            }
            let mut rest = vec![0; inline + 2];
            self.receive_exact(&mut rest, &mut fds, &mut deadline)?;
            if rest[inline..] != [0, 0] {
                return Err(Error::Protocol("malformed control frame: control frames carry no blobs".into()));
            }
            rest.truncate(inline);
            Ok(Some(rest))
        })();
        deadline.reset(&self.control);
        let Some(inline) = outcome? else { return Ok(None) };
        let mut channels: Vec<Arc<dyn Stream>> = Vec::with_capacity(fds.len());
        for fd in fds {
            // Only a socket can be a channel; anything else is closed here.
            let is_socket = rustix::fs::fstat(&fd)
                .is_ok_and(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket);
            let channel = UnixStream::from(fd);
            if is_socket && prepare(&channel).is_ok() {
                channels.push(Arc::new(channel));
            } else {
                tracing::warn!(target: "ipc", "closed a descriptor the peer sent that is not a socket");
            }
        }
        Ok(Some(ControlFrame { frame: InFrame { inline, blobs: Default::default() }, channels }))
    }

    fn shutdown(&self) {
        let _ = self.control.shutdown(Shutdown::Both);
    }
}

/// Writes `frame` with `fd` attached to its first byte.
fn send_with_fd(stream: &UnixStream, frame: &[u8], fd: &OwnedFd) -> Result<(), Error> {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let sent = rustix::net::sendmsg(stream, &[IoSlice::new(frame)], &mut control, SEND)
        .map_err(|e| protocol::io_to_error(e.into()))?;
    // The descriptor travels with the first byte; the rest of the frame may follow separately.
    (&*stream).write_all(&frame[sent..]).map_err(protocol::io_to_error)
}
