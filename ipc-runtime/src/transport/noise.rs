//! Encryption and mutual authentication for streams that cross a network
//! (TCP) or that another process could open (named pipes): the Noise
//! protocol `NNpsk0_25519_ChaChaPoly_BLAKE2s`, with the shared secret as the
//! pre-shared key.
//!
//! Each side proves it knows the secret without sending it: a peer without it
//! cannot complete the handshake, and one that replays a recorded handshake
//! cannot produce the first encrypted message that follows it, so it learns
//! nothing and reaches nothing. Every byte after the handshake is encrypted
//! and authenticated, in records of at most 64 KiB.

use std::{
    io::{self, IoSlice},
    sync::Mutex,
    time::{Duration, Instant},
};

use snow::StatelessTransportState;

use super::Stream;
use crate::{Error, secret::Secret};

/// The handshake pattern and primitives.
const PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

/// Binds handshakes to this protocol: a handshake for anything else fails.
const PROLOGUE: &[u8] = b"multiprocess 2";

/// The largest Noise message, and the most plaintext one carries.
const MAX_MESSAGE: usize = 65535;
const TAG: usize = 16;
const MAX_PLAIN: usize = MAX_MESSAGE - TAG;

/// At most this many records go out in one write.
const RECORDS_PER_WRITE: usize = 4;

/// A stream whose bytes are encrypted records on a raw stream.
pub(crate) struct NoiseStream {
    raw: Box<dyn Stream>,
    keys: StatelessTransportState,
    read: Mutex<Reading>,
    write: Mutex<Writing>,
}

/// What has been read: ciphertext received but not yet decrypted (whole
/// records and the start of the next), and the plaintext of the last record
/// not yet handed out. A read that times out halfway through a record
/// resumes where it stopped.
struct Reading {
    nonce: u64,
    /// Received bytes, allocated on first read; `received[start..end]` are
    /// not yet decrypted.
    received: Box<[u8]>,
    start: usize,
    end: usize,
    plain: Vec<u8>,
    pos: usize,
    broken: bool,
}

/// The most ciphertext one read asks for: a whole largest record and then some.
const RECEIVE: usize = 2 + MAX_MESSAGE + 4096;

struct Writing {
    nonce: u64,
    out: Vec<u8>,
    plain: Vec<u8>,
    broken: bool,
}

impl NoiseStream {
    /// Runs the handshake as the side that connected, by `deadline`.
    pub(crate) fn initiate(raw: Box<dyn Stream>, secret: &Secret, deadline: Instant) -> Result<NoiseStream, Error> {
        let mut handshake = builder(secret)?.build_initiator().map_err(noise_error)?;
        let mut message = vec![0; MAX_MESSAGE];
        let len = handshake.write_message(&[], &mut message).map_err(noise_error)?;
        write_record(&*raw, &message[..len], deadline)?;
        let reply = read_record(&*raw, deadline).map_err(|error| match error {
            Error::Disconnected => Error::Protocol(
                "the peer ended the handshake: it has another secret, or does not speak this protocol".into(),
            ),
            other => other,
        })?;
        handshake.read_message(&reply, &mut message).map_err(|_| refused())?;
        NoiseStream::new(raw, handshake.into_stateless_transport_mode().map_err(noise_error)?)
    }

    /// Runs the handshake as the side that accepted, by `deadline`. Fails if
    /// the peer does not know the secret.
    pub(crate) fn respond(raw: Box<dyn Stream>, secret: &Secret, deadline: Instant) -> Result<NoiseStream, Error> {
        let mut handshake = builder(secret)?.build_responder().map_err(noise_error)?;
        let first = read_record(&*raw, deadline)?;
        let mut message = vec![0; MAX_MESSAGE];
        handshake.read_message(&first, &mut message).map_err(|_| refused())?;
        let len = handshake.write_message(&[], &mut message).map_err(noise_error)?;
        write_record(&*raw, &message[..len], deadline)?;
        NoiseStream::new(raw, handshake.into_stateless_transport_mode().map_err(noise_error)?)
    }

    fn new(raw: Box<dyn Stream>, keys: StatelessTransportState) -> Result<NoiseStream, Error> {
        raw.set_read_timeout(None)?;
        raw.set_write_timeout(None)?;
        Ok(NoiseStream {
            raw,
            keys,
            read: Mutex::new(Reading {
                nonce: 0,
                received: Box::default(),
                start: 0,
                end: 0,
                plain: Vec::new(),
                pos: 0,
                broken: false,
            }),
            write: Mutex::new(Writing { nonce: 0, out: Vec::new(), plain: Vec::new(), broken: false }),
        })
    }
}

fn builder(secret: &Secret) -> Result<snow::Builder<'_>, Error> {
    let params = PARAMS.parse().map_err(noise_error)?;
    snow::Builder::new(params).prologue(PROLOGUE).and_then(|b| b.psk(0, secret.bytes())).map_err(noise_error)
}

fn noise_error(error: snow::Error) -> Error {
    Error::Protocol(format!("noise: {error}"))
}

fn refused() -> Error {
    Error::Protocol("the peer's handshake failed: it has another secret, or replayed an old handshake".into())
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "the encrypted stream is broken")
}

/// Writes one handshake record (a 2-byte length, then the message) by `deadline`.
fn write_record(raw: &dyn Stream, message: &[u8], deadline: Instant) -> Result<(), Error> {
    raw.set_write_timeout(Some(left(deadline)?))?;
    let mut record = (message.len() as u16).to_be_bytes().to_vec();
    record.extend_from_slice(message);
    io::Write::write_all(&mut &*raw, &record).map_err(crate::protocol::io_to_error)
}

/// Reads one handshake record by `deadline`.
fn read_record(raw: &dyn Stream, deadline: Instant) -> Result<Vec<u8>, Error> {
    let mut len = [0; 2];
    read_exact(raw, &mut len, deadline)?;
    let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
    read_exact(raw, &mut message, deadline)?;
    Ok(message)
}

fn read_exact(raw: &dyn Stream, buf: &mut [u8], deadline: Instant) -> Result<(), Error> {
    let mut filled = 0;
    while filled < buf.len() {
        raw.set_read_timeout(Some(left(deadline)?))?;
        match raw.read(&mut buf[filled..]) {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(Error::Protocol("the peer did not finish the handshake in time".into()));
            }
            Err(error) => return Err(crate::protocol::io_to_error(error)),
        }
    }
    Ok(())
}

fn left(deadline: Instant) -> Result<Duration, Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(Error::Protocol("the peer did not finish the handshake in time".into())) } else { Ok(left) }
}

impl Stream for NoiseStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut reading = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let reading = &mut *reading;
        if reading.broken {
            return Err(broken());
        }
        while reading.pos == reading.plain.len() {
            let pending = &reading.received[reading.start..reading.end];
            // A whole record here? Its length, then its bytes.
            let whole = match pending {
                [high, low, rest @ ..] => {
                    let len = usize::from(u16::from_be_bytes([*high, *low]));
                    if len == 0 {
                        // A record carries at least its tag.
                        reading.broken = true;
                        return Err(broken());
                    }
                    (rest.len() >= len).then_some(len)
                }
                _ => None,
            };
            let Some(len) = whole else {
                // Not yet: read more, as much as has come (one syscall for
                // the length and the record, often for several records).
                if reading.received.is_empty() {
                    reading.received = vec![0; RECEIVE].into_boxed_slice();
                }
                // A record fits in the buffer once what is left is moved to its start.
                if reading.start > 0 {
                    reading.received.copy_within(reading.start..reading.end, 0);
                    reading.end -= reading.start;
                    reading.start = 0;
                }
                let end = reading.end;
                match self.raw.read(&mut reading.received[end..]) {
                    // Cut in the middle of a record.
                    Ok(0) if end > 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(0) => return Ok(0),
                    Ok(n) => reading.end += n,
                    Err(error) => return Err(error),
                }
                continue;
            };
            let record = reading.start + 2..reading.start + 2 + len;
            reading.plain.resize(len, 0);
            let decrypted =
                self.keys.read_message(reading.nonce, &reading.received[record.clone()], &mut reading.plain);
            match decrypted {
                Ok(plain) => {
                    reading.plain.truncate(plain);
                    reading.pos = 0;
                    reading.nonce += 1;
                    reading.start = record.end;
                }
                Err(_) => {
                    // Tampered, reordered or forged: nothing more can be trusted.
                    reading.broken = true;
                    return Err(broken());
                }
            }
        }
        let n = buf.len().min(reading.plain.len() - reading.pos);
        buf[..n].copy_from_slice(&reading.plain[reading.pos..reading.pos + n]);
        reading.pos += n;
        Ok(n)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut writing = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let writing = &mut *writing;
        if writing.broken {
            return Err(broken());
        }
        writing.out.clear();
        let mut taken = 0;
        let mut slices = bufs.iter().map(|slice| &slice[..]).filter(|slice| !slice.is_empty()).peekable();
        let mut offset = 0;
        for _ in 0..RECORDS_PER_WRITE {
            // Gather up to one record's worth of plaintext.
            writing.plain.clear();
            while writing.plain.len() < MAX_PLAIN {
                let Some(slice) = slices.peek() else { break };
                let n = (slice.len() - offset).min(MAX_PLAIN - writing.plain.len());
                writing.plain.extend_from_slice(&slice[offset..offset + n]);
                offset += n;
                if offset == slice.len() {
                    slices.next();
                    offset = 0;
                }
            }
            if writing.plain.is_empty() {
                break;
            }
            let start = writing.out.len();
            writing.out.resize(start + 2 + writing.plain.len() + TAG, 0);
            let len = self
                .keys
                .write_message(writing.nonce, &writing.plain, &mut writing.out[start + 2..])
                .map_err(|error| io::Error::other(error.to_string()))?;
            writing.out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
            writing.out.truncate(start + 2 + len);
            writing.nonce += 1;
            taken += writing.plain.len();
        }
        if taken == 0 {
            return Ok(0);
        }
        if let Err(error) = io::Write::write_all(&mut &*self.raw, &writing.out) {
            // Part of a record may be out: the stream can carry nothing more.
            writing.broken = true;
            return Err(error);
        }
        Ok(taken)
    }

    fn shutdown(&self) {
        self.raw.shutdown();
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.raw.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.raw.set_write_timeout(timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Read, thread};

    use super::*;

    fn connected(a: &Secret, b: &Secret) -> (Result<NoiseStream, Error>, Result<NoiseStream, Error>) {
        let (x, y) = crate::transport::tcp::loopback_pair();
        let deadline = Instant::now() + Duration::from_secs(5);
        let b = b.clone();
        let responder = thread::spawn(move || NoiseStream::respond(Box::new(y), &b, deadline));
        let initiator = NoiseStream::initiate(Box::new(x), a, deadline);
        (initiator, responder.join().unwrap())
    }

    #[test]
    fn the_same_secret_connects_and_carries_bytes_both_ways_in_records() {
        let secret = Secret::generate().unwrap();
        let (a, b) = connected(&secret, &secret);
        let (a, b) = (a.unwrap(), b.unwrap());
        let big = vec![7u8; 200_000];
        let writer = thread::spawn(move || {
            let mut written = 0;
            while written < big.len() {
                written += a.write_vectored(&[IoSlice::new(&big[written..])]).unwrap();
            }
            a
        });
        let mut received = vec![0; 200_000];
        (&b as &dyn Stream).read_exact(&mut received).unwrap();
        assert!(received.iter().all(|byte| *byte == 7));
        let a = writer.join().unwrap();
        a.shutdown();
        assert_eq!(b.read(&mut [0; 4]).unwrap(), 0, "shutdown reaches the other side");
    }

    #[test]
    fn another_secret_is_refused_on_both_sides() {
        let (a, b) = connected(&Secret::generate().unwrap(), &Secret::generate().unwrap());
        assert!(a.is_err() && b.is_err(), "{:?} {:?}", a.err(), b.err());
    }
}
