//! What travels on the wire.
//!
//! A frame is a little-endian `u32` length followed by that many bytes: a
//! bincode-encoded [`Header`] and, for `Call` and `Return`, the encoded
//! arguments or result directly after it in the same frame (no second copy).
//!
//! A connection has one control socket (`Hello`, `NewThread`, `Goodbye`) and one
//! socket per pair of partner threads (`Call`, `Return`, `Release`). The socket
//! a call arrives on *is* its thread routing: every frame on it belongs to one
//! calling thread and its partner.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::{Error, codec, error::Fault};

/// Bumped whenever the meaning of a frame changes.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// The first frame each side sends on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Hello {
    pub version: u32,
    /// The bootstrap interface: the one this side serves, or expects the peer to serve.
    pub interface: String,
    pub fingerprint: u64,
}

impl Hello {
    pub(crate) fn describe(&self) -> String {
        format!("{} (fingerprint {:016x})", self.interface, self.fingerprint)
    }
}

/// Which method of which interface a call names. The interface id lets an
/// object that implements supertraits route a call to the right dispatcher.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MethodId {
    pub interface: u32,
    pub index: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Header {
    Hello(Hello),
    /// Call `method` on the receiver's object `object`; arguments follow.
    Call {
        id: u64,
        object: u64,
        method: MethodId,
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
        outcome: Result<(), Fault>,
    },
    /// A new calling thread: the frame carries its socket as SCM_RIGHTS.
    NewThread {
        name: String,
    },
    /// A release that could not wait for its answer (sent while a thread exits).
    ReleaseLater {
        object: u64,
    },
    Goodbye,
}

/// Size of the length prefix.
pub(crate) const PREFIX: usize = 4;

/// Starts a frame in `buf`: reserves the length prefix and encodes `header`.
pub(crate) fn begin_frame(buf: &mut Vec<u8>, header: &Header) -> Result<(), Error> {
    buf.clear();
    buf.extend_from_slice(&[0; PREFIX]);
    codec::encode_into(buf, header, "frame header")
}

/// Writes the length prefix of a frame built with [`begin_frame`].
pub(crate) fn finish_frame(buf: &mut [u8], max: usize) -> Result<(), Error> {
    let body = buf.len() - PREFIX;
    if body > max {
        return Err(Error::FrameTooLarge { size: body as u64, max: max as u64 });
    }
    buf[..PREFIX].copy_from_slice(&(body as u32).to_le_bytes());
    Ok(())
}

/// Splits a frame body into its header and the bytes that follow it.
pub(crate) fn split_frame(body: &[u8]) -> Result<(Header, &[u8]), Error> {
    let (header, used) = codec::decode_from::<Header>(body, "frame header")?;
    Ok((header, &body[used..]))
}

/// Reads frames from a stream through a small staging buffer, so that a small
/// frame costs one `read` call, and a large one is read straight into its own
/// buffer.
#[derive(Debug)]
pub(crate) struct FrameReader {
    staging: Box<[u8]>,
    start: usize,
    end: usize,
    max: usize,
}

const STAGING: usize = 16 * 1024;

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        FrameReader { staging: vec![0; STAGING].into_boxed_slice(), start: 0, end: 0, max }
    }

    /// Reads one frame body. `Ok(None)` is a clean end of stream between frames.
    pub(crate) fn read(&mut self, mut stream: impl Read) -> Result<Option<Vec<u8>>, Error> {
        while self.end - self.start < PREFIX {
            if !self.fill(&mut stream)? {
                if self.end == self.start {
                    return Ok(None);
                }
                return Err(Error::Disconnected);
            }
        }
        let prefix: [u8; PREFIX] = self.staging[self.start..self.start + PREFIX].try_into().expect("prefix length");
        let len = u32::from_le_bytes(prefix) as usize;
        // Refused before anything is allocated for it.
        if len > self.max {
            return Err(Error::FrameTooLarge { size: len as u64, max: self.max as u64 });
        }
        self.start += PREFIX;
        let mut body = Vec::with_capacity(len);
        let buffered = (self.end - self.start).min(len);
        body.extend_from_slice(&self.staging[self.start..self.start + buffered]);
        self.start += buffered;
        if body.len() < len {
            body.resize(len, 0);
            read_exact_or_disconnected(&mut stream, &mut body[buffered..])?;
        }
        Ok(Some(body))
    }

    fn fill(&mut self, stream: &mut impl Read) -> Result<bool, Error> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.staging.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match stream.read(&mut self.staging[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_to_error(e)),
            }
        }
    }
}

fn read_exact_or_disconnected(stream: &mut impl Read, buf: &mut [u8]) -> Result<(), Error> {
    stream.read_exact(buf).map_err(io_to_error)
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
        let mut buf = Vec::new();
        begin_frame(&mut buf, header).unwrap();
        buf.extend_from_slice(payload);
        finish_frame(&mut buf, 1 << 20).unwrap();
        buf
    }

    #[test]
    fn frames_round_trip_through_the_reader() {
        let call = Header::Call { id: 7, object: 3, method: MethodId { interface: 9, index: 2 } };
        let mut wire = frame(&call, b"args");
        wire.extend(frame(&Header::Goodbye, b""));
        let mut reader = FrameReader::new(1 << 20);
        let mut input = &wire[..];
        let body = reader.read(&mut input).unwrap().unwrap();
        let (header, rest) = split_frame(&body).unwrap();
        assert_eq!((header, rest), (call, &b"args"[..]));
        let body = reader.read(&mut input).unwrap().unwrap();
        assert_eq!(split_frame(&body).unwrap().0, Header::Goodbye);
        assert!(reader.read(&mut input).unwrap().is_none());
    }

    #[test]
    fn large_frames_bypass_the_staging_buffer() {
        let payload = vec![5u8; 3 * STAGING];
        let wire = frame(&Header::Goodbye, &payload);
        let mut reader = FrameReader::new(1 << 20);
        let body = reader.read(&wire[..]).unwrap().unwrap();
        assert_eq!(&body[body.len() - payload.len()..], &payload[..]);
    }

    #[test]
    fn an_oversized_header_is_refused() {
        let wire = u32::MAX.to_le_bytes();
        let mut reader = FrameReader::new(1 << 20);
        assert!(matches!(reader.read(&wire[..]), Err(Error::FrameTooLarge { size: 4294967295, .. })));
    }

    #[test]
    fn a_stream_cut_mid_frame_is_a_disconnection() {
        let wire = frame(&Header::Goodbye, b"abc");
        let mut reader = FrameReader::new(1 << 20);
        assert!(matches!(reader.read(&wire[..wire.len() - 1]), Err(Error::Disconnected)));
    }
}
