//! TCP: a stream is a TCP connection, encrypted and authenticated by
//! [`noise`](super::noise); a channel is one more connection to the same
//! address ([`dial`](super::dial)).

use std::{
    io::{self, IoSlice, Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    time::Duration,
};

use super::{
    Stream,
    dial::{Acceptor, Dial},
};
use crate::Error;
use crate::protocol::Source;

impl Stream for TcpStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        <&TcpStream as Read>::read(&mut &*self, buf)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        <&TcpStream as Write>::write_vectored(&mut &*self, bufs)
    }

    fn shutdown(&self) {
        let _ = TcpStream::shutdown(self, Shutdown::Both);
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

impl Source for &TcpStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

/// Two ends of a loopback connection, for tests that play the peer by hand
/// on any platform.
#[cfg(test)]
pub(crate) fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let ours = TcpStream::connect(listener.local_addr().expect("bound")).expect("connect loopback");
    let (theirs, _) = listener.accept().expect("accept loopback");
    (ours, theirs)
}

/// A transport whose control stream's other end is returned, for tests.
#[cfg(test)]
pub(crate) fn test_transport() -> (Box<dyn super::Transport>, TcpStream) {
    let (control, peer) = loopback_pair();
    let tickets = std::sync::Arc::default();
    (Box::new(super::dial::DialTransport::server(Box::new(control), tickets, Duration::from_secs(10))), peer)
}

/// Parses `HOST:PORT`, with IPv6 hosts in brackets (`[::1]:8080`).
pub(crate) fn socket_address(address: &str, host_port: &str) -> Result<SocketAddr, Error> {
    let bad = |message: String| Error::Address { address: address.to_owned(), message };
    if host_port.is_empty() {
        return Err(bad("expected tcp:HOST:PORT, such as tcp:127.0.0.1:8332 or tcp:[::1]:8332".into()));
    }
    let mut resolved = host_port
        .to_socket_addrs()
        .map_err(|error| bad(format!("expected tcp:HOST:PORT (IPv6 hosts in brackets): {error}")))?;
    resolved.next().ok_or_else(|| bad("the host has no address".into()))
}

/// Dials a TCP address, for a connection or one of its channels.
pub(crate) struct TcpDial {
    pub(crate) address: SocketAddr,
    pub(crate) timeout: Duration,
}

impl Dial for TcpDial {
    fn dial(&self) -> io::Result<Box<dyn Stream>> {
        let stream = TcpStream::connect_timeout(&self.address, self.timeout)?;
        // Calls are small messages that wait for their answer.
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }

    fn describe(&self) -> String {
        format!("tcp:{}", self.address)
    }
}

/// A TCP port being listened on.
pub(crate) struct TcpAcceptor {
    listener: TcpListener,
    /// Where the listener itself can be reached, to wake its `accept`.
    local: SocketAddr,
}

impl TcpAcceptor {
    pub(crate) fn bind(address: SocketAddr) -> io::Result<TcpAcceptor> {
        TcpAcceptor::new(TcpListener::bind(address)?)
    }

    /// Accepts on a socket that is already listening.
    pub(crate) fn new(listener: TcpListener) -> io::Result<TcpAcceptor> {
        listener.set_nonblocking(false)?;
        let mut local = listener.local_addr()?;
        // A listener on every interface is reached through loopback.
        if local.ip().is_unspecified() {
            local.set_ip(match local.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        Ok(TcpAcceptor { listener, local })
    }

    /// The address the listener is bound to (with the port it picked).
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Acceptor for TcpAcceptor {
    fn accept(&self) -> io::Result<Box<dyn Stream>> {
        let (stream, _) = self.listener.accept()?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }

    fn wake(&self) {
        let _ = TcpStream::connect_timeout(&self.local, Duration::from_secs(1));
    }
}
