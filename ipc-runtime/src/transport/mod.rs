//! The seam between the engine and the operating system: a duplex byte
//! [`Stream`], and a [`Transport`] that carries a connection's control stream
//! and opens a channel for each calling thread.
//!
//! Everything above this module speaks frames over `dyn Stream`; only the
//! files below it name sockets, pipes or descriptors:
//!
//! - `unix`: a socketpair per connection, and a channel is a socketpair whose
//!   other end travels with its `NewThread` frame (SCM_RIGHTS);
//! - `dial`: transports that cannot pass descriptors, where a channel is a
//!   new connection to the listener presenting the connection's token;
//! - `tcp` and `windows` (named pipes): the streams those dial;
//! - `noise`: encryption and mutual authentication for dialled streams.

use std::{
    fmt,
    io::{self, IoSlice, Read, Write},
    sync::Arc,
    time::Duration,
};

use crate::{
    Error,
    protocol::{InFrame, Source},
};

pub(crate) mod dial;
pub(crate) mod noise;
pub(crate) mod tcp;
#[cfg(unix)]
pub(crate) mod unix;
#[cfg(windows)]
pub(crate) mod windows;

/// A duplex byte stream to the peer.
///
/// Reads and writes take `&self`, so that one thread can block in a read
/// while another writes or shuts the stream down. [`Stream::shutdown`] must
/// wake every thread blocked on the stream, in either direction.
pub(crate) trait Stream: Send + Sync + 'static {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Ends the stream both ways and wakes every blocked reader and writer.
    fn shutdown(&self);
    /// How long a blocking read may wait (`None`: as long as it takes).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// How long a blocking write may wait without progress.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Source for &dyn Stream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

impl fmt::Debug for dyn Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stream")
    }
}

impl Read for &dyn Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Stream::read(*self, buf)
    }
}

impl Write for &dyn Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Stream::write_vectored(*self, &[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Stream::write_vectored(*self, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One frame read from the control stream, with the channels that came with
/// it: a `NewThread` frame brings the stream its partner thread will serve;
/// any other frame should bring none.
pub(crate) struct ControlFrame {
    pub(crate) frame: InFrame,
    pub(crate) channels: Vec<Arc<dyn Stream>>,
}

/// Control frames are small: a thread's name is the most they carry.
pub(crate) const MAX_CONTROL_FRAME: usize = 64 << 10;

/// How one connection reaches its peer.
pub(crate) trait Transport: Send + Sync + 'static {
    /// The control stream, on which the handshake runs.
    fn control(&self) -> &dyn Stream;
    /// Writes one whole control frame; concurrent writers are serialised.
    fn send_control(&self, frame: &[u8]) -> Result<(), Error>;
    /// Opens a channel for the calling thread, named `name`. `announce` is the
    /// `NewThread` frame that tells the peer to start a partner thread for
    /// it, for transports that announce channels on the control stream.
    fn open_channel(&self, name: &str, announce: &[u8]) -> Result<Arc<dyn Stream>, Error>;
    /// Reads the next control frame; `Ok(None)` is a clean end of stream.
    /// Once a frame has begun, it must arrive within `frame_timeout`.
    fn read_control(&self, frame_timeout: Duration) -> Result<Option<ControlFrame>, Error>;
    /// Ends the control stream both ways, waking its reader.
    fn shutdown(&self);
}
