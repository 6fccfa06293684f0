//! Spawning on Unix: a socketpair, one end inherited by the child.

use std::{
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd},
        unix::{net::UnixStream, process::CommandExt},
    },
    process::{Child, Command},
};

use super::{FD_VARIABLE, finish_launch, release, take};
use crate::{
    Error, Interface,
    bootstrap::{connect_stream_with, serve_stream},
    conn::Config,
};

/// Starts the child with its end of a socketpair and connects over ours.
pub(super) fn launch<I: ?Sized + Interface>(
    mut command: Command,
    config: Config,
    program: &str,
) -> Result<(Child, Box<I>), Error> {
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    command.env(FD_VARIABLE, format!("{fd}:{}", std::process::id()));
    // SAFETY: the closure runs in the child between fork and exec and makes
    // only async-signal-safe system calls (close_range, fcntl) without
    // allocating; `theirs` keeps the descriptor open until `spawn` returns.
    unsafe {
        command.pre_exec(move || {
            seal_descriptors_except(fd);
            let fd = BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).map_err(std::io::Error::from)
        });
    }
    let spawned = command.spawn();
    drop(theirs);
    let child = spawned.map_err(|error| Error::Spawn { path: program.to_owned(), message: error.to_string() })?;
    finish_launch(child, connect_stream_with::<I>(ours, config))
}

/// Marks every descriptor above stderr but `keep` close-on-exec. Runs between
/// fork and exec: system calls only, no allocation.
fn seal_descriptors_except(keep: RawFd) {
    #[cfg(target_os = "linux")]
    {
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        let seal = |first: libc::c_uint, last: libc::c_uint| {
            if first > last {
                return true;
            }
            // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on open descriptors.
            unsafe { libc::syscall(libc::SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) == 0 }
        };
        let keep = keep as libc::c_uint;
        if seal(3, keep.saturating_sub(1)) && seal(keep + 1, libc::c_uint::MAX) {
            return;
        }
    }
    // Elsewhere, and on Linux before 5.11: one fcntl per possible descriptor,
    // up to the process's limit.
    // SAFETY: sysconf only reads a limit.
    let limit = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    let limit = if limit <= 0 { 65_536 } else { limit.min(1 << 20) as RawFd };
    for fd in 3..limit {
        if fd != keep {
            // SAFETY: fcntl on a descriptor that may not be open; EBADF is fine.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Serves `init` over the socket the parent gave us.
pub(super) fn serve<I: ?Sized + Interface>(init: Box<I>) -> Result<(), Error> {
    let stream = inherited_socket()?;
    serve_stream(stream, init)
}

/// `fd:pid` from [`FD_VARIABLE`].
fn parse_variable(value: &str) -> Option<(RawFd, u32)> {
    let (fd, pid) = value.split_once(':')?;
    Some((fd.parse().ok().filter(|fd: &RawFd| *fd > 2)?, pid.parse().ok()?))
}

/// Whether [`FD_VARIABLE`] names an open socket whose other end the named
/// parent made: what [`serve`] checks before adopting it.
pub(super) fn is_child() -> bool {
    let Some((fd, parent)) = std::env::var(FD_VARIABLE).ok().and_then(|value| parse_variable(&value)) else {
        return false;
    };
    // SAFETY: only inspected, never owned or closed here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    is_socket(borrowed) && made_by(borrowed, parent)
}

fn is_socket(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd)
        .map(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket)
        .unwrap_or(false)
}

fn inherited_socket() -> Result<UnixStream, Error> {
    let value = std::env::var(FD_VARIABLE).map_err(|_| Error::NotSpawned)?;
    let Some((fd, parent)) = parse_variable(&value) else {
        tracing::warn!(target: "ipc", value = %crate::error::sanitize(&value), "{FD_VARIABLE} is not `fd:pid`");
        return Err(Error::NotSpawned);
    };
    if !take() {
        return Err(Error::NotSpawned);
    }
    // SAFETY: the descriptor is only inspected here; it is owned below only
    // once it has shown to be an open socket whose peer is our parent.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if !is_socket(borrowed) {
        release();
        return Err(Error::NotSpawned);
    }
    if !made_by(borrowed, parent) {
        tracing::warn!(target: "ipc", fd, parent, "the inherited socket was not made by the process {FD_VARIABLE} names");
        release();
        return Err(Error::NotSpawned);
    }
    // Our own children must not inherit it.
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC).map_err(std::io::Error::from)?;
    // SAFETY: the parent handed this descriptor to us alone, it is an open
    // socket, and `take` makes sure it is owned once.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}

/// Whether the other end of socket `fd` was made by process `pid`: for a
/// socketpair, the kernel records the process that made it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn made_by(fd: BorrowedFd<'_>, pid: u32) -> bool {
    rustix::net::sockopt::socket_peercred(fd)
        .is_ok_and(|credentials| credentials.pid.as_raw_nonzero().get() as u32 == pid)
}

/// Whether the other end of socket `fd` was made by process `pid`. Without
/// peer process ids, the best sign is that `pid` is our parent.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn made_by(_fd: BorrowedFd<'_>, pid: u32) -> bool {
    rustix::process::getppid().is_some_and(|parent| parent.as_raw_nonzero().get() as u32 == pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_a_descriptor_and_a_parent() {
        assert_eq!(parse_variable("5:1234"), Some((5, 1234)));
        for bad in ["5", "x:1", "5:", ":5", "2:1", "-1:4", "5:1:2", "5:-1"] {
            assert_eq!(parse_variable(bad), None, "{bad}");
        }
    }
}
