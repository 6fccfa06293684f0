//! What travels on the wire.
//!
//! A frame (see [`OutFrame`]) carries a bincode-encoded [`Header`] and, for
//! `Call` and `Return`, the encoded arguments or result right after it; large
//! byte buffers follow out of line as blobs.
//!
//! A connection has one control socket (`Hello`, `NewThread`, `Goodbye`) and one
//! socket per pair of partner threads (`Call`, `Return`, `Release`). The socket
//! a call arrives on *is* its thread routing: every frame on it belongs to one
//! calling thread and its partner.

use std::{
    collections::VecDeque,
    io::{self, IoSlice, Read, Write},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{Error, codec, contract::InterfaceDescription};

/// The version of the wire protocol: bumped whenever the meaning of a frame
/// changes. Two sides that speak different versions refuse each other at the
/// handshake with [`Error::ProtocolVersion`].
///
/// ```
/// assert!(multiprocess::PROTOCOL_VERSION >= 2);
/// ```
pub const PROTOCOL_VERSION: u32 = 3;

/// The first frame each side sends on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Hello {
    pub version: u32,
    /// The wire name of the bootstrap interface: the one this side serves, or
    /// expects the peer to serve.
    pub interface: String,
    /// A hash of `contract`.
    pub fingerprint: u64,
    /// The bootstrap interface and every interface reachable from it.
    pub contract: Vec<InterfaceDescription>,
}

impl Header {
    /// The frame's kind, for messages that must not echo what a peer sent.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Header::Hello(_) => "Hello",
            Header::Call { .. } => "Call",
            Header::Release { .. } => "Release",
            Header::Return { .. } => "Return",
            Header::NewThread { .. } => "NewThread",
            Header::ReleaseLater { .. } => "ReleaseLater",
            Header::Refused { .. } => "Refused",
            Header::Goodbye => "Goodbye",
            Header::DialRequest { .. } => "DialRequest",
            Header::Cancel { .. } => "Cancel",
        }
    }
}

impl Hello {
    pub(crate) fn describe(&self) -> String {
        format!("{} (fingerprint {:016x})", self.interface, self.fingerprint)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Header {
    Hello(Hello),
    /// Call `method` (a hash of interface and method name) on the receiver's
    /// object `object`, whose signature the caller sees as `check`; arguments follow.
    Call {
        id: u64,
        object: u64,
        method: u64,
        check: u64,
    },
    /// Drop one remote reference to the receiver's object; answered by a `Return`.
    Release {
        id: u64,
        object: u64,
    },
    /// The answer to `Call` or `Release` number `id`; on success the encoded
    /// result and written-back arguments follow.
    Return {
        id: u64,
        outcome: Result<(), Error>,
    },
    /// A new calling thread: the frame carries its socket as SCM_RIGHTS.
    NewThread {
        name: String,
    },
    /// A release that could not wait for its answer (sent while a thread exits).
    ReleaseLater {
        object: u64,
    },
    /// The peer will not serve this channel: the first frame on a channel
    /// whose `NewThread` was refused (too many partner threads, say).
    Refused {
        error: Error,
    },
    Goodbye,
    /// On transports whose channels are dialled (TCP, named pipes): the
    /// server asks its client to dial a channel for the server's thread
    /// `name`, presenting `ticket`.
    DialRequest {
        ticket: u64,
        name: String,
    },
    /// On a task channel: the caller no longer waits for call `id`; the
    /// callee drops the call's future at its next await and sends no reply.
    Cancel {
        id: u64,
    },
}

/// Size of the frame prefix: the total length, then the inline length.
pub(crate) const PREFIX: usize = 8;

/// The smallest `total`: the inline length and the blob count.
const MIN_TOTAL: usize = 4 + 2;

/// Byte buffers at least this long travel as blobs, out of line.
pub(crate) const BLOB_THRESHOLD: usize = 16 << 10;

/// A frame on the wire:
///
/// ```text
/// u32 total  u32 inline_len  inline[inline_len]  u16 blobs  u64 blob_len[blobs]  blob...
/// ```
///
/// `total` counts every byte after itself. The inline part holds the
/// bincode-encoded [`Header`] and the arguments or result; large byte buffers
/// travel after it as blobs, written straight from the caller's buffer with
/// one vectored write and read straight into their own `Vec` on the other
/// side, so a megabyte crosses with the same copies as a raw socket write.
pub(crate) struct OutFrame<'a> {
    /// Prefix, inline part and (once finished) the blob table, contiguous.
    pub(crate) inline: Vec<u8>,
    blobs: Vec<Blob<'a>>,
    finished: bool,
}

enum Blob<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Blob<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Blob::Borrowed(bytes) => bytes,
            Blob::Owned(bytes) => bytes,
        }
    }
}

impl<'a> OutFrame<'a> {
    /// A frame with nothing in it yet, to be replaced by [`OutFrame::start`].
    pub(crate) fn empty() -> Self {
        OutFrame { inline: Vec::new(), blobs: Vec::new(), finished: false }
    }

    /// Starts a frame in `buf` (reused for its capacity) with `header`.
    pub(crate) fn start(buf: Vec<u8>, header: &Header) -> Result<Self, Error> {
        let mut frame = OutFrame { inline: buf, blobs: Vec::new(), finished: false };
        frame.restart(header)?;
        Ok(frame)
    }

    /// Throws away everything and starts again with `header`.
    pub(crate) fn restart(&mut self, header: &Header) -> Result<(), Error> {
        self.inline.clear();
        self.blobs.clear();
        self.finished = false;
        self.inline.extend_from_slice(&[0; PREFIX]);
        codec::encode_into(&mut self.inline, header, "frame header")
    }

    pub(crate) fn push_borrowed(&mut self, bytes: &'a [u8]) {
        self.blobs.push(Blob::Borrowed(bytes));
    }

    pub(crate) fn push_owned(&mut self, bytes: Vec<u8>) {
        self.blobs.push(Blob::Owned(bytes));
    }

    /// Writes the prefix and the blob table; refuses a frame over `max`.
    pub(crate) fn finish(&mut self, max: usize) -> Result<(), Error> {
        debug_assert!(!self.finished, "a frame is finished once");
        let inline_len = self.inline.len() - PREFIX;
        let blob_bytes: usize = self.blobs.iter().map(|blob| blob.bytes().len()).sum();
        let total = 4 + inline_len + 2 + 8 * self.blobs.len() + blob_bytes;
        if total > max || total > u32::MAX as usize || self.blobs.len() > usize::from(u16::MAX) {
            return Err(Error::FrameTooLarge { size: total as u64, max: max as u64 });
        }
        self.inline.extend_from_slice(&(self.blobs.len() as u16).to_le_bytes());
        for blob in &self.blobs {
            self.inline.extend_from_slice(&(blob.bytes().len() as u64).to_le_bytes());
        }
        self.inline[..4].copy_from_slice(&(total as u32).to_le_bytes());
        self.inline[4..PREFIX].copy_from_slice(&(inline_len as u32).to_le_bytes());
        self.finished = true;
        Ok(())
    }

    /// Writes a finished frame: one `write` without blobs, one `writev` with them.
    pub(crate) fn write_to(&self, mut stream: impl Write) -> Result<(), Error> {
        debug_assert!(self.finished, "finish a frame before writing it");
        if self.blobs.is_empty() {
            return stream.write_all(&self.inline).map_err(io_to_error);
        }
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(1 + self.blobs.len());
        slices.push(IoSlice::new(&self.inline));
        slices.extend(self.blobs.iter().map(|blob| IoSlice::new(blob.bytes())));
        let mut slices = &mut slices[..];
        while !slices.is_empty() {
            match stream.write_vectored(slices) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(written) => IoSlice::advance_slices(&mut slices, written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_to_error(e)),
            }
        }
        Ok(())
    }

    /// The inline buffer, for reuse.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.inline
    }

    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.inline.clone();
        self.blobs.iter().for_each(|blob| bytes.extend_from_slice(blob.bytes()));
        bytes
    }
}

/// A frame as read: the inline part, and the blobs in order.
#[derive(Debug)]
pub(crate) struct InFrame {
    pub(crate) inline: Vec<u8>,
    pub(crate) blobs: VecDeque<Vec<u8>>,
}

/// Builds a frame with no blobs, for control messages and tests.
pub(crate) fn simple_frame(header: &Header, payload: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    let mut frame = OutFrame::start(Vec::new(), header)?;
    frame.inline.extend_from_slice(payload);
    frame.finish(max)?;
    Ok(frame.into_buffer())
}

/// Splits an inline part into its header and the bytes that follow it.
pub(crate) fn split_frame(inline: &[u8]) -> Result<(Header, &[u8]), Error> {
    let (header, used) = codec::decode_from::<Header>(inline, "frame header")?;
    Ok((header, &inline[used..]))
}

/// Where a [`FrameReader`] reads: a byte stream that can be told how long a
/// blocking read may wait.
pub(crate) trait Source: Read {
    /// Applies `timeout` (`None`: wait as long as it takes) to the reads that follow.
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl<S: Source + ?Sized> Source for &mut S {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_timeout(timeout)
    }
}

impl Source for &[u8] {
    fn set_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

/// What bounds reading frames on one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits<'a> {
    /// The largest frame the peer may send.
    pub(crate) max_frame: usize,
    /// Bytes held in partial frames on the connection, all streams together.
    pub(crate) held: &'a AtomicUsize,
    pub(crate) max_held: usize,
    /// Once its first byte is here, a frame must arrive whole within this.
    pub(crate) frame_timeout: Option<Duration>,
}

impl Limits<'_> {
    /// No limits beyond the frame size, for tests.
    #[cfg(test)]
    pub(crate) fn unbounded(max_frame: usize) -> Limits<'static> {
        static HELD: AtomicUsize = AtomicUsize::new(0);
        Limits { max_frame, held: &HELD, max_held: usize::MAX, frame_timeout: None }
    }
}

/// Reads frames from a stream through a small staging buffer, so that a small
/// frame costs one `read` call, and a large blob is read straight into its own
/// buffer without being zeroed first.
///
/// Little is allocated from what a frame announces: a large part is read in
/// chunks, the first at most a megabyte, each next one reserved only once the
/// one before it has arrived and at most doubling it, and every byte reserved
/// for a partial frame counts against the connection's limit. Reads
/// wait without a timeout between frames (or until the caller's deadline);
/// once a frame has begun, it must arrive whole within the frame timeout.
#[derive(Debug)]
pub(crate) struct FrameReader {
    staging: Box<[u8]>,
    start: usize,
    end: usize,
    /// The read timeout the stream has now, so that it is set only when it changes.
    applied: Option<Duration>,
}

const STAGING: usize = 16 * 1024;

/// How much of a large part of a frame is reserved before its bytes arrive
/// (counted against the connection's limit); beyond it, each next
/// reservation doubles what has arrived.
const FIRST_CHUNK: usize = 1 << 20;

/// The state of one frame being read.
struct Progress<'a, 'b> {
    limits: &'a Limits<'b>,
    /// The caller's deadline, if it waits for a reply.
    deadline: Option<Instant>,
    /// When the frame's first byte was seen waiting for more.
    started: Option<Instant>,
    /// Bytes of this frame counted in `limits.held`.
    held: usize,
}

impl Drop for Progress<'_, '_> {
    fn drop(&mut self) {
        if self.held > 0 {
            self.limits.held.fetch_sub(self.held, Ordering::AcqRel);
        }
    }
}

impl Progress<'_, '_> {
    /// Counts `n` more bytes held by this frame against the connection's limit.
    fn hold(&mut self, n: usize) -> Result<(), Error> {
        self.held += n;
        let held = self.limits.held.fetch_add(n, Ordering::AcqRel) + n;
        if held > self.limits.max_held {
            return Err(Error::LimitExceeded {
                what: "bytes held in partial frames".into(),
                limit: self.limits.max_held as u64,
            });
        }
        Ok(())
    }
}

impl FrameReader {
    pub(crate) fn new() -> Self {
        FrameReader { staging: vec![0; STAGING].into_boxed_slice(), start: 0, end: 0, applied: None }
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads one frame. `Ok(None)` is a clean end of stream between frames.
    /// Waiting for the frame's first byte ends at `deadline` with [`Error::Timeout`].
    pub(crate) fn read(
        &mut self,
        mut stream: impl Source,
        limits: &Limits<'_>,
        deadline: Option<Instant>,
    ) -> Result<Option<InFrame>, Error> {
        let mut progress = Progress { limits, deadline, started: None, held: 0 };
        let outcome = self.read_frame(&mut stream, &mut progress);
        // Between frames the stream waits for as long as the next caller says.
        if outcome.is_ok() && self.applied.is_some() && deadline.is_none() {
            self.applied = None;
            stream.set_timeout(None).map_err(io_to_error)?;
        }
        outcome
    }

    fn read_frame(
        &mut self,
        stream: &mut impl Source,
        progress: &mut Progress<'_, '_>,
    ) -> Result<Option<InFrame>, Error> {
        let max = progress.limits.max_frame;
        // The total length is checked as soon as it is here, before anything
        // is allocated for it and without waiting for more.
        for needed in [4, PREFIX] {
            while self.buffered() < needed {
                if !self.fill(stream, progress)? {
                    if self.buffered() == 0 {
                        return Ok(None);
                    }
                    return Err(Error::Disconnected);
                }
            }
            let total = read_u32(&self.staging[self.start..]);
            if total as usize > max {
                return Err(Error::FrameTooLarge { size: u64::from(total), max: max as u64 });
            }
            if (total as usize) < MIN_TOTAL {
                return Err(Error::Protocol(format!("malformed frame: {total} bytes is too short")));
            }
        }
        let total = read_u32(&self.staging[self.start..]) as usize;
        let inline_len = read_u32(&self.staging[self.start + 4..]) as usize;
        let malformed = |what: &str| Error::Protocol(format!("malformed frame: {what}"));
        let mut left = inline_len
            .checked_add(4 + 2)
            .and_then(|fixed| total.checked_sub(fixed))
            .ok_or_else(|| malformed("inline part too long"))?;
        self.start += PREFIX;
        let mut inline = Vec::new();
        self.take(stream, progress, inline_len, &mut inline)?;
        let mut count = Vec::new();
        self.take(stream, progress, 2, &mut count)?;
        let count = usize::from(u16::from_le_bytes([count[0], count[1]]));
        left = left.checked_sub(8 * count).ok_or_else(|| malformed("blob table too long"))?;
        let mut table = Vec::new();
        self.take(stream, progress, 8 * count, &mut table)?;
        let lengths: Vec<u64> =
            table.chunks_exact(8).map(|len| u64::from_le_bytes(len.try_into().unwrap_or_default())).collect();
        // Every length is checked against the frame's total before anything is read for it.
        let sum = lengths.iter().try_fold(0u64, |sum, len| sum.checked_add(*len));
        if sum != Some(left as u64) {
            return Err(malformed("blob lengths do not add up"));
        }
        let mut blobs = VecDeque::with_capacity(count);
        for len in lengths {
            let mut blob = Vec::new();
            // `len` fits: the lengths add up to `left`, which is a usize.
            self.take(stream, progress, len as usize, &mut blob)?;
            blobs.push_back(blob);
        }
        Ok(Some(InFrame { inline, blobs }))
    }

    /// Appends the next `n` bytes of the stream to `out`.
    fn take(
        &mut self,
        stream: &mut impl Source,
        progress: &mut Progress<'_, '_>,
        n: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let buffered = self.buffered().min(n);
        if n <= STAGING {
            // Small enough to reserve whatever it announces.
            out.reserve_exact(n);
        }
        out.extend_from_slice(&self.staging[self.start..self.start + buffered]);
        self.start += buffered;
        let mut rest = n - buffered;
        if rest == 0 {
            return Ok(());
        }
        if rest < STAGING / 2 {
            // Small: through the staging buffer, which may pick up the next frame too.
            while self.buffered() < rest {
                if !self.fill(stream, progress)? {
                    return Err(Error::Disconnected);
                }
            }
            out.extend_from_slice(&self.staging[self.start..self.start + rest]);
            self.start += rest;
            return Ok(());
        }
        // Large: straight into `out`'s spare capacity, never zeroed, reserved
        // a chunk at a time as the bytes arrive.
        while rest > 0 {
            let chunk = rest.min(out.len().max(FIRST_CHUNK));
            out.reserve(chunk);
            progress.hold(chunk)?;
            self.before_blocking(stream, progress)?;
            let read = loop {
                match stream.by_ref().take(chunk as u64).read_to_end(out) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let read = read.map_err(|error| self.timed_out(error, progress))?;
            if read == 0 {
                return Err(Error::Disconnected);
            }
            rest -= read;
        }
        Ok(())
    }

    fn fill(&mut self, stream: &mut impl Source, progress: &mut Progress<'_, '_>) -> Result<bool, Error> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.staging.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.before_blocking(stream, progress)?;
        loop {
            match stream.read(&mut self.staging[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.timed_out(e, progress)),
            }
        }
    }

    /// Gives the read that follows the time it may take: until the frame's
    /// deadline once it has begun, and until the caller's deadline.
    fn before_blocking(&mut self, stream: &mut impl Source, progress: &mut Progress<'_, '_>) -> Result<(), Error> {
        let mid_frame = self.buffered() > 0 || progress.held > 0;
        if !mid_frame && progress.deadline.is_none() && self.applied.is_none() {
            // Between frames, nobody waiting on a deadline: the common case.
            return Ok(());
        }
        if mid_frame && progress.started.is_none() && progress.limits.frame_timeout.is_some() {
            progress.started = Some(Instant::now());
        }
        let frame_deadline =
            progress.started.zip(progress.limits.frame_timeout).map(|(started, timeout)| started + timeout);
        let deadline = match (frame_deadline, progress.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(self.expired(progress));
                }
                Some(left)
            }
        };
        if timeout != self.applied {
            stream.set_timeout(timeout).map_err(io_to_error)?;
            self.applied = timeout;
        }
        Ok(())
    }

    /// A read that timed out: the frame took too long, or the caller's deadline passed.
    fn timed_out(&self, error: io::Error, progress: &Progress<'_, '_>) -> Error {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => self.expired(progress),
            _ => io_to_error(error),
        }
    }

    fn expired(&self, progress: &Progress<'_, '_>) -> Error {
        match (progress.started, progress.limits.frame_timeout) {
            (Some(started), Some(timeout)) if started.elapsed() >= timeout => {
                Error::Protocol(format!("a frame began but did not arrive whole within {timeout:?}"))
            }
            _ => Error::Timeout,
        }
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

/// A peer that goes away mid-frame, or a socket shut down under us, is a disconnection.
pub(crate) fn io_to_error(error: io::Error) -> Error {
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected => Error::Disconnected,
        _ => Error::from(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(header: &Header, payload: &[u8]) -> Vec<u8> {
        simple_frame(header, payload, 1 << 20).unwrap()
    }

    #[test]
    fn frames_round_trip_through_the_reader() {
        let call = Header::Call { id: 7, object: 3, method: 9, check: 2 };
        let mut wire = frame(&call, b"args");
        wire.extend(frame(&Header::Goodbye, b""));
        let mut reader = FrameReader::new();
        let mut input = &wire[..];
        let read = reader.read(&mut input, &Limits::unbounded(1 << 20), None).unwrap().unwrap();
        let (header, rest) = split_frame(&read.inline).unwrap();
        assert!(matches!(header, Header::Call { id: 7, object: 3, method: 9, check: 2 }), "{call:?}");
        assert_eq!(rest, b"args");
        assert!(read.blobs.is_empty());
        let read = reader.read(&mut input, &Limits::unbounded(1 << 20), None).unwrap().unwrap();
        assert!(matches!(split_frame(&read.inline).unwrap().0, Header::Goodbye));
        assert!(reader.read(&mut input, &Limits::unbounded(1 << 20), None).unwrap().is_none());
    }

    #[test]
    fn blobs_travel_out_of_line_in_order() {
        let big = vec![5u8; 3 * STAGING];
        let mut frame = OutFrame::start(Vec::new(), &Header::Goodbye).unwrap();
        frame.inline.extend_from_slice(b"inline");
        frame.push_borrowed(&big);
        frame.push_owned(b"small".to_vec());
        frame.finish(1 << 20).unwrap();
        let mut wire = frame.to_bytes();
        wire.extend(simple_frame(&Header::Goodbye, b"next", 1 << 20).unwrap());
        let mut reader = FrameReader::new();
        let mut input = &wire[..];
        let read = reader.read(&mut input, &Limits::unbounded(1 << 20), None).unwrap().unwrap();
        assert_eq!(split_frame(&read.inline).unwrap().1, b"inline");
        assert_eq!(read.blobs, [big, b"small".to_vec()]);
        let next = reader.read(&mut input, &Limits::unbounded(1 << 20), None).unwrap().unwrap();
        assert_eq!(split_frame(&next.inline).unwrap().1, b"next");
    }

    #[test]
    fn vectored_writes_survive_short_writes() {
        /// Accepts at most 7 bytes per call.
        struct Trickle(Vec<u8>);
        impl Write for Trickle {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = buf.len().min(7);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let blob = (0..100u8).collect::<Vec<_>>();
        let mut frame = OutFrame::start(Vec::new(), &Header::Goodbye).unwrap();
        frame.push_borrowed(&blob);
        frame.finish(1 << 20).unwrap();
        let mut out = Trickle(Vec::new());
        frame.write_to(&mut out).unwrap();
        assert_eq!(out.0, frame.to_bytes());
    }

    #[test]
    fn an_oversized_header_is_refused() {
        // Refused on the first four bytes alone.
        let wire = u32::MAX.to_le_bytes().to_vec();
        let mut reader = FrameReader::new();
        assert!(matches!(
            reader.read(&wire[..], &Limits::unbounded(1 << 20), None),
            Err(Error::FrameTooLarge { size: 4294967295, .. })
        ));
    }

    #[test]
    fn lying_lengths_are_refused_before_allocating() {
        // Total 100, but the inline part claims more than that.
        let mut wire = 100u32.to_le_bytes().to_vec();
        wire.extend_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            FrameReader::new().read(&wire[..], &Limits::unbounded(1 << 20), None),
            Err(Error::Protocol(_))
        ));
        // A blob table whose lengths exceed the frame.
        let mut wire = 24u32.to_le_bytes().to_vec();
        wire.extend_from_slice(&2u32.to_le_bytes());
        wire.extend_from_slice(&[0, 0]);
        wire.extend_from_slice(&2u16.to_le_bytes());
        wire.extend_from_slice(&u64::MAX.to_le_bytes());
        wire.extend_from_slice(&2u64.to_le_bytes());
        assert!(matches!(
            FrameReader::new().read(&wire[..], &Limits::unbounded(1 << 20), None),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn a_stream_cut_mid_frame_is_a_disconnection() {
        let wire = frame(&Header::Goodbye, b"abc");
        let mut reader = FrameReader::new();
        assert!(matches!(
            reader.read(&wire[..wire.len() - 1], &Limits::unbounded(1 << 20), None),
            Err(Error::Disconnected)
        ));
    }
}
