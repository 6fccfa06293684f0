//! Spawning on Windows: a named pipe with a random name and a new secret,
//! both given to the child, which connects to it.

use std::{
    process::{Child, Command},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use super::{FD_VARIABLE, finish_launch, release, take};
use crate::{
    Error, Interface,
    bootstrap::{connect_transport, serve_made},
    conn::Config,
    dialled::{Handler, Hub, HubOptions, open_connection},
    interface::connection_of,
    secret::Secret,
    transport::{
        dial::DialTransport,
        windows::{PipeAcceptor, PipeDial},
    },
};

/// How often the parent looks whether the child has exited while it waits
/// for the child to connect.
const POLL: Duration = Duration::from_millis(10);

/// Starts the child with the pipe's name and secret, and accepts its connection.
pub(super) fn launch<I: ?Sized + Interface>(
    mut command: Command,
    config: Config,
    program: &str,
) -> Result<(Child, Box<I>), Error> {
    let secret = Secret::generate()?;
    let name = format!("multiprocess-{}-{}", std::process::id(), &Secret::generate()?.to_hex()[..16]);
    let path = crate::transport::windows::pipe_path(&name);
    let acceptor = PipeAcceptor::bind(&path)?;
    let (sender, connected) = mpsc::sync_channel::<Result<Box<I>, Error>>(1);
    let sender = Mutex::new(Some(sender));
    let connection_config = config.clone();
    // The hub's thread says Hello to the child and hands back the proxy.
    let handler: Handler = Box::new(move |control, entry| {
        let Some(sender) = sender.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        let timeout = connection_config.handshake_timeout;
        let transport = Box::new(DialTransport::server(control, entry.tickets.clone(), timeout));
        let remote = connect_transport::<I>(transport, connection_config.clone());
        if let Ok(remote) = &remote {
            let connection = connection_of::<I>(&**remote).expect("a fresh connection gives a proxy");
            entry.attach(&connection.inner);
        }
        let _ = sender.send(remote);
    });
    let options = HubOptions {
        address: format!("unix:{name}"),
        secret: Some(secret.clone()),
        handshake_timeout: config.handshake_timeout,
        max_connections: 1,
    };
    let hub = Hub::start(Arc::new(acceptor), options, handler)?;
    command.env(FD_VARIABLE, format!("pipe:{name}:{}:{}", secret.to_hex(), std::process::id()));
    let mut child =
        command.spawn().map_err(|error| Error::Spawn { path: program.to_owned(), message: error.to_string() })?;
    // The child has the handshake timeout to connect, unless it exits first.
    let deadline = Instant::now() + config.handshake_timeout;
    let outcome = loop {
        match connected.recv_timeout(POLL) {
            Ok(outcome) => break outcome,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err(Error::Disconnected),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Ok(Some(_)) = child.try_wait() {
            break Err(Error::Disconnected);
        }
        if Instant::now() >= deadline {
            break Err(Error::Protocol(format!(
                "the child did not connect within {:?}: is it a multiprocess program that calls serve_process?",
                config.handshake_timeout
            )));
        }
    };
    // No other connection: the pipe serves this child's channels only.
    drop(hub);
    finish_launch(child, outcome)
}

/// `pipe:NAME:SECRET:PID` from [`FD_VARIABLE`].
fn parse_variable(value: &str) -> Option<(String, Secret, u32)> {
    let rest = value.strip_prefix("pipe:")?;
    let mut parts = rest.split(':');
    let (name, secret, pid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    Some((name.to_owned(), Secret::from_hex(secret)?, pid.parse().ok()?))
}

/// Whether [`FD_VARIABLE`] is well formed. Whether the pipe it names is
/// really the parent's is checked when connecting.
pub(super) fn is_child() -> bool {
    std::env::var(FD_VARIABLE).ok().and_then(|value| parse_variable(&value)).is_some()
}

/// Connects to the parent's pipe and serves `init` over it.
pub(super) fn serve<I: ?Sized + Interface>(init: Box<I>) -> Result<(), Error> {
    let value = std::env::var(FD_VARIABLE).map_err(|_| Error::NotSpawned)?;
    let Some((name, secret, parent)) = parse_variable(&value) else {
        tracing::warn!(target: "ipc", "{FD_VARIABLE} is not `pipe:NAME:SECRET:PID`");
        return Err(Error::NotSpawned);
    };
    if !take() {
        return Err(Error::NotSpawned);
    }
    let config = Config::default();
    // Every pipe we open must be served by the parent: a squatter on the
    // name, even one that knew the secret, is not.
    let dial = Arc::new(PipeDial {
        path: crate::transport::windows::pipe_path(&name),
        timeout: config.handshake_timeout,
        server: Some(parent),
    });
    let opened = open_connection(&*dial, Some(&secret), config.handshake_timeout);
    let (control, token) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            tracing::warn!(target: "ipc", %error, "could not reach the parent's pipe");
            release();
            return Err(Error::NotSpawned);
        }
    };
    let transport = DialTransport::client(control, dial, Some(secret), token, config.handshake_timeout);
    serve_made(Box::new(transport), config, || init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_a_pipe_a_secret_and_a_parent() {
        let secret = Secret::generate().unwrap();
        let value = format!("pipe:multiprocess-1-ab:{}:42", secret.to_hex());
        assert_eq!(
            parse_variable(&value).map(|(name, s, pid)| (name, s == secret, pid)),
            Some(("multiprocess-1-ab".into(), true, 42))
        );
        for bad in [
            "5:1234",
            "pipe:",
            "pipe:a:b:1",
            &format!("pipe::{}:1", secret.to_hex()),
            &format!("pipe:a\\b:{}:1", secret.to_hex()),
        ] {
            assert!(parse_variable(bad).is_none(), "{bad}");
        }
    }
}
