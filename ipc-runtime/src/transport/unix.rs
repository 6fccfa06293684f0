//! Unix domain sockets: the control stream is a connected socket, and a
//! calling thread's channel is one end of a fresh socketpair, whose other end
//! travels to the peer with the `NewThread` frame as `SCM_RIGHTS`.

use std::{
    collections::VecDeque,
    io::{self, IoSlice, IoSliceMut, Read, Write},
    mem::MaybeUninit,
    net::Shutdown,
    os::{
        fd::{AsFd, OwnedFd},
        unix::net::UnixStream,
    },
    sync::{Arc, Mutex},
};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

use super::{ControlFrame, Stream, Transport};
use crate::{
    Error,
    protocol::{self, FrameReader},
};

impl Stream for UnixStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        <&UnixStream as Read>::read(&mut &*self, buf)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        <&UnixStream as Write>::write_vectored(&mut &*self, bufs)
    }

    fn shutdown(&self) {
        let _ = UnixStream::shutdown(self, Shutdown::Both);
    }
}

/// A connection over a connected Unix socket.
pub(crate) struct UnixTransport {
    control: UnixStream,
    /// Serialises whole frames written to the control socket.
    write: Mutex<()>,
    /// Only the control loop reads; the lock is never contended.
    read: Mutex<ControlReader>,
}

struct ControlReader {
    frames: FrameReader,
    fds: VecDeque<OwnedFd>,
}

impl UnixTransport {
    /// Wraps a control socket whose handshake is done.
    pub(crate) fn new(control: UnixStream, max_control_frame: usize) -> UnixTransport {
        UnixTransport {
            control,
            write: Mutex::new(()),
            read: Mutex::new(ControlReader { frames: FrameReader::new(max_control_frame), fds: VecDeque::new() }),
        }
    }
}

impl Transport for UnixTransport {
    fn send_control(&self, frame: &[u8]) -> Result<(), Error> {
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        (&self.control).write_all(frame).map_err(protocol::io_to_error)
    }

    fn open_channel(&self, announce: &[u8]) -> Result<Arc<dyn Stream>, Error> {
        let (ours, theirs) = UnixStream::pair()?;
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        send_with_fd(&self.control, announce, &OwnedFd::from(theirs))?;
        Ok(Arc::new(ours))
    }

    fn read_control(&self) -> Result<Option<ControlFrame>, Error> {
        let mut reader = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let ControlReader { frames, fds } = &mut *reader;
        let Some(frame) = frames.read(ControlStream { stream: &self.control, fds })? else { return Ok(None) };
        let channel = fds.pop_front().map(|fd| Arc::new(UnixStream::from(fd)) as Arc<dyn Stream>);
        Ok(Some(ControlFrame { frame, channel }))
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
    let sent = rustix::net::sendmsg(stream, &[IoSlice::new(frame)], &mut control, SendFlags::NOSIGNAL)
        .map_err(|e| protocol::io_to_error(e.into()))?;
    // The descriptor travels with the first byte; the rest of the frame may follow separately.
    (&*stream).write_all(&frame[sent..]).map_err(protocol::io_to_error)
}

/// Reads the control socket, collecting descriptors that arrive with it.
struct ControlStream<'a> {
    stream: &'a UnixStream,
    fds: &'a mut VecDeque<OwnedFd>,
}

impl Read for ControlStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received =
            rustix::net::recvmsg(self.stream, &mut [IoSliceMut::new(buf)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                self.fds.extend(fds);
            }
        }
        Ok(received.bytes)
    }
}
