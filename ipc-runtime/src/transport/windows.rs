//! Windows named pipes: a stream is one pipe instance, opened and accepted
//! through `interprocess`, and read and written here with overlapped I/O, so
//! that every blocked read or write waits on two things, its own completion
//! and the stream's shutdown event, with a timeout. That is what lets
//! [`Stream::shutdown`] wake every blocked thread, as `shutdown(2)` does on a
//! socket. A channel is one more pipe instance ([`dial`](super::dial)).

use std::{
    io::{self, IoSlice},
    os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle},
    ptr,
    sync::{
        Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use interprocess::{
    ConnectWaitMode,
    os::windows::named_pipe::{DuplexPipeStream, PipeListener, PipeListenerOptions, PipeMode, pipe_mode},
};
use windows_sys::Win32::{
    Foundation::{
        ERROR_BROKEN_PIPE, ERROR_IO_PENDING, ERROR_NO_DATA, ERROR_OPERATION_ABORTED, ERROR_PIPE_NOT_CONNECTED,
        GetLastError, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT,
    },
    Storage::FileSystem::{ReadFile, WriteFile},
    System::{
        IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED},
        Pipes::GetNamedPipeServerProcessId,
        Threading::{CreateEventW, INFINITE, SetEvent, WaitForMultipleObjects},
    },
};

use super::{
    Stream,
    dial::{Acceptor, Dial},
};

/// Pipe buffers: one record of the encrypted stream, or a typical frame.
const BUFFER: u32 = 64 << 10;

/// Small slices of a vectored write are gathered into one `WriteFile` up to this size.
const GATHER: usize = 64 << 10;

/// `\\.\pipe\NAME` for `NAME`; a full pipe path stays as it is.
pub(crate) fn pipe_path(name: &str) -> String {
    if name.starts_with(r"\\") { name.to_owned() } else { format!(r"\\.\pipe\{name}") }
}

/// A manual-reset event.
struct Event(OwnedHandle);

impl Event {
    fn new() -> io::Result<Event> {
        // SAFETY: no attributes and no name; a null result is an error.
        let handle = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new event handle that nothing else owns.
        Ok(Event(unsafe { OwnedHandle::from_raw_handle(handle) }))
    }

    fn raw(&self) -> HANDLE {
        self.0.as_raw_handle() as HANDLE
    }
}

/// One end of a named pipe.
pub(crate) struct PipeStream {
    /// `None` once shut down: closing the handle is what the peer sees.
    handle: RwLock<Option<OwnedHandle>>,
    /// Set once, by `shutdown`; every wait includes it.
    shut: Event,
    reading: Mutex<Event>,
    writing: Mutex<(Event, Vec<u8>)>,
    /// Milliseconds; `u64::MAX` for none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl PipeStream {
    /// Wraps a connected pipe handle opened for overlapped I/O (as
    /// `interprocess` opens every pipe).
    pub(crate) fn new(handle: OwnedHandle) -> io::Result<PipeStream> {
        Ok(PipeStream {
            handle: RwLock::new(Some(handle)),
            shut: Event::new()?,
            reading: Mutex::new(Event::new()?),
            writing: Mutex::new((Event::new()?, Vec::new())),
            read_timeout: AtomicU64::new(u64::MAX),
            write_timeout: AtomicU64::new(u64::MAX),
        })
    }

    /// Runs one overlapped operation that `start` begins, waiting for it, for
    /// the shutdown event and for `timeout` milliseconds, whichever is first.
    /// `Err(None)`: the stream was shut down.
    fn overlapped(
        &self,
        event: &Event,
        timeout: u64,
        start: impl FnOnce(HANDLE, *mut OVERLAPPED) -> i32,
    ) -> Result<usize, Option<io::Error>> {
        let handle = self.handle.read().unwrap_or_else(|p| p.into_inner());
        let Some(handle) = handle.as_ref() else { return Err(None) };
        let handle = handle.as_raw_handle() as HANDLE;
        // SAFETY: OVERLAPPED is plain data; all zeroes is its initial state.
        let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
        overlapped.hEvent = event.raw();
        let started = start(handle, &mut overlapped);
        // SAFETY: reads the calling thread's last error.
        if started == 0 && unsafe { GetLastError() } != ERROR_IO_PENDING {
            return Err(Some(io::Error::last_os_error()));
        }
        let mut waited = WAIT_OBJECT_0;
        if started == 0 {
            let waits = [event.raw(), self.shut.raw()];
            let millis = if timeout == u64::MAX { INFINITE } else { timeout.clamp(1, u64::from(INFINITE - 1)) as u32 };
            // SAFETY: two valid event handles.
            waited = unsafe { WaitForMultipleObjects(2, waits.as_ptr(), 0, millis) };
            if waited != WAIT_OBJECT_0 {
                // SAFETY: cancels only this operation, which is still ours.
                unsafe { CancelIoEx(handle, &overlapped) };
            }
        }
        let mut transferred = 0;
        // Waits until the operation is over, cancelled or not: only then may
        // its buffer and OVERLAPPED go.
        // SAFETY: `overlapped` belongs to the operation started above.
        if unsafe { GetOverlappedResult(handle, &overlapped, &mut transferred, 1) } == 0 {
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error().map(|code| code as u32) {
                Some(ERROR_OPERATION_ABORTED) if waited == WAIT_TIMEOUT => Some(io::ErrorKind::TimedOut.into()),
                Some(ERROR_OPERATION_ABORTED) => None,
                _ => Some(error),
            });
        }
        Ok(transferred as usize)
    }
}

fn millis(timeout: Option<Duration>) -> u64 {
    timeout.map_or(u64::MAX, |timeout| u64::try_from(timeout.as_millis().max(1)).unwrap_or(u64::MAX - 1))
}

/// The peer closed its end.
fn is_closed(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error().map(|code| code as u32),
        Some(ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED | ERROR_NO_DATA)
    )
}

impl Stream for PipeStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let event = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let timeout = self.read_timeout.load(Ordering::Relaxed);
        // SAFETY: the buffer outlives the operation, which `overlapped` waits out.
        let read = self.overlapped(&event, timeout, |handle, overlapped| unsafe {
            ReadFile(handle, buf.as_mut_ptr(), len, ptr::null_mut(), overlapped)
        });
        match read {
            Ok(n) => Ok(n),
            // Shut down here, or closed there: the end of the stream.
            Err(None) => Ok(0),
            Err(Some(error)) if is_closed(&error) => Ok(0),
            Err(Some(error)) => Err(error),
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let (event, gathered) = &mut *writing;
        // One WriteFile per call: small slices are gathered, a large one goes alone.
        let mut slices = bufs.iter().map(|slice| &slice[..]).filter(|slice| !slice.is_empty());
        let Some(first) = slices.next() else { return Ok(0) };
        let out: &[u8] = if first.len() >= GATHER {
            first
        } else {
            gathered.clear();
            gathered.extend_from_slice(first);
            for slice in slices {
                let room = GATHER - gathered.len();
                if room == 0 {
                    break;
                }
                gathered.extend_from_slice(&slice[..slice.len().min(room)]);
            }
            gathered
        };
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let timeout = self.write_timeout.load(Ordering::Relaxed);
        // SAFETY: the buffer outlives the operation, which `overlapped` waits out.
        let written = self.overlapped(event, timeout, |handle, overlapped| unsafe {
            WriteFile(handle, out.as_ptr(), len, ptr::null_mut(), overlapped)
        });
        match written {
            Ok(n) => Ok(n),
            Err(None) => Err(io::ErrorKind::BrokenPipe.into()),
            Err(Some(error)) if is_closed(&error) => Err(io::ErrorKind::BrokenPipe.into()),
            Err(Some(error)) => Err(error),
        }
    }

    fn shutdown(&self) {
        // SAFETY: a valid event handle.
        unsafe { SetEvent(self.shut.raw()) };
        // Blocked operations see the event, cancel and let go of the handle;
        // then it closes, which ends the stream for the peer too.
        let closed = self.handle.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(closed);
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.store(millis(timeout), Ordering::Relaxed);
        Ok(())
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.store(millis(timeout), Ordering::Relaxed);
        Ok(())
    }
}

fn pipe_stream(stream: DuplexPipeStream<pipe_mode::Bytes>) -> io::Result<PipeStream> {
    let handle =
        OwnedHandle::try_from(stream).map_err(|_| io::Error::other("interprocess kept a shared handle to the pipe"))?;
    PipeStream::new(handle)
}

/// Dials a named pipe, for a connection or one of its channels.
pub(crate) struct PipeDial {
    pub(crate) path: String,
    pub(crate) timeout: Duration,
    /// The process that must serve the pipe, if we know it.
    pub(crate) server: Option<u32>,
}

impl Dial for PipeDial {
    fn dial(&self) -> io::Result<Box<dyn Stream>> {
        let stream = DuplexPipeStream::<pipe_mode::Bytes>::connect_by_path_with_wait_mode(
            self.path.as_str(),
            ConnectWaitMode::Timeout(self.timeout),
        )?;
        if let Some(expected) = self.server {
            let mut server = 0;
            // SAFETY: a valid pipe handle and a place for the id.
            let known = unsafe { GetNamedPipeServerProcessId(stream.as_raw_handle() as HANDLE, &mut server) } != 0;
            if !known || server != expected {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("the pipe is served by process {server}, not {expected}"),
                ));
            }
        }
        Ok(Box::new(pipe_stream(stream)?))
    }

    fn describe(&self) -> String {
        format!("unix:{}", self.path)
    }
}

/// A named pipe being listened on. Only this user (and administrators) may
/// open it: that is the default security of a new pipe.
pub(crate) struct PipeAcceptor {
    listener: PipeListener<pipe_mode::Bytes, pipe_mode::Bytes>,
    path: String,
}

impl PipeAcceptor {
    /// Creates the pipe; fails if another process already listens on `path`.
    pub(crate) fn bind(path: &str) -> io::Result<PipeAcceptor> {
        let listener = PipeListenerOptions::new()
            .path(path)
            .mode(PipeMode::Bytes)
            .input_buffer_size_hint(BUFFER)
            .output_buffer_size_hint(BUFFER)
            .create_duplex::<pipe_mode::Bytes>()?;
        Ok(PipeAcceptor { listener, path: path.to_owned() })
    }
}

impl Acceptor for PipeAcceptor {
    fn accept(&self) -> io::Result<Box<dyn Stream>> {
        Ok(Box::new(pipe_stream(self.listener.accept()?)?))
    }

    fn wake(&self) {
        let _ = PipeDial { path: self.path.clone(), timeout: Duration::from_secs(1), server: None }.dial();
    }
}
