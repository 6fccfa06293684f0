//! Confining a spawned child: the parent says what the child may touch, and
//! the child confines itself in [`serve_process`](crate::serve_process),
//! before it serves its first call.
//!
//! On Linux, landlock restricts the file system (writes only beneath the
//! writable directories, reads anywhere or only beneath the readable ones,
//! no program executed) and TCP, and a seccomp filter on every thread makes
//! `execve`, sockets other than Unix ones and `io_uring` fail with `EPERM`.
//! A confined child that tries any of these gets an error, and keeps serving.
//! Elsewhere (and on a Linux kernel without landlock) confining is
//! unsupported: [`Sandbox::supported`] says so, and a child refuses to start
//! unconfined unless the sandbox is [`best_effort`](Sandbox::best_effort).
//!
//! ```no_run
//! use std::process::Command;
//! # use multiprocess::ipc_interface;
//! # #[ipc_interface]
//! # pub trait Store: Send + Sync { fn put(&self, key: String, value: String) -> bool; }
//!
//! let mut command = Command::new("./store-child");
//! multiprocess::Sandbox::new().writable("/var/lib/store").apply_to(&mut command)?;
//! let child = multiprocess::spawn_process::<dyn Store>(command)?;
//! // In the child, `multiprocess::sandbox::is_confined()` is now true.
//! # Ok::<(), multiprocess::Error>(())
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;

/// The environment variable through which a parent hands its child the
/// sandbox (one directive per line).
pub const SANDBOX_VARIABLE: &str = "MULTIPROCESS_SANDBOX";

/// The first line of the variable's value.
const FORMAT: &str = "multiprocess-sandbox 1";

/// Whether this process has confined itself.
static CONFINED: AtomicBool = AtomicBool::new(false);

/// What a child may touch. By default: reads anywhere, writes nowhere, no
/// program executed, no socket but Unix ones.
///
/// ```
/// let sandbox = multiprocess::Sandbox::new().writable(std::env::temp_dir()).best_effort();
/// let mut command = std::process::Command::new("true");
/// sandbox.apply_to(&mut command)?;
/// assert!(command.get_envs().any(|(name, _)| name == multiprocess::sandbox::SANDBOX_VARIABLE));
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    writable: Vec<PathBuf>,
    readable: Option<Vec<PathBuf>>,
    exec: bool,
    network: bool,
    best_effort: bool,
}

fn invalid(message: String) -> Error {
    Error::Sandbox(message)
}

impl Sandbox {
    /// Reads anywhere, writes nowhere, executes nothing, no network.
    ///
    /// ```
    /// assert_eq!(multiprocess::Sandbox::new(), multiprocess::Sandbox::default());
    /// ```
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// Lets the child write beneath `dir` (and read there), which must exist.
    ///
    /// ```
    /// let sandbox = multiprocess::Sandbox::new().writable("/srv/data").writable("/srv/logs");
    /// # let _ = sandbox;
    /// ```
    pub fn writable(mut self, dir: impl Into<PathBuf>) -> Sandbox {
        self.writable.push(dir.into());
        self
    }

    /// Restricts reading to beneath `dir` and the writable directories (and
    /// any other `readable` one). Without it the child reads anywhere.
    ///
    /// ```
    /// let sandbox = multiprocess::Sandbox::new().readable("/usr/share/zoneinfo");
    /// # let _ = sandbox;
    /// ```
    pub fn readable(mut self, dir: impl Into<PathBuf>) -> Sandbox {
        self.readable.get_or_insert_with(Vec::new).push(dir.into());
        self
    }

    /// Lets the child execute programs.
    ///
    /// ```
    /// let sandbox = multiprocess::Sandbox::new().allow_exec();
    /// # let _ = sandbox;
    /// ```
    pub fn allow_exec(mut self) -> Sandbox {
        self.exec = true;
        self
    }

    /// Lets the child open network sockets.
    ///
    /// ```
    /// let sandbox = multiprocess::Sandbox::new().allow_network();
    /// # let _ = sandbox;
    /// ```
    pub fn allow_network(mut self) -> Sandbox {
        self.network = true;
        self
    }

    /// Where confining is unsupported, runs the child unconfined (it logs a
    /// warning, and [`is_confined`] says `false`) rather than refusing.
    ///
    /// ```
    /// let sandbox = multiprocess::Sandbox::new().best_effort();
    /// # let _ = sandbox;
    /// ```
    pub fn best_effort(mut self) -> Sandbox {
        self.best_effort = true;
        self
    }

    /// Whether this system can confine a child; why not, if it cannot.
    ///
    /// ```
    /// match multiprocess::Sandbox::supported() {
    ///     Ok(()) => println!("children can be confined"),
    ///     Err(why) => println!("children run unconfined: {why}"),
    /// }
    /// ```
    pub fn supported() -> Result<(), Error> {
        platform::supported()
    }

    /// Has the child that `command` starts confine itself so, once
    /// [`spawn_process`](crate::spawn_process) starts it. Checks the
    /// directories (they must exist; they are made absolute) and, unless the
    /// sandbox is best effort, that this system can confine.
    ///
    /// ```no_run
    /// let mut command = std::process::Command::new("./child");
    /// multiprocess::Sandbox::new().writable("data").apply_to(&mut command)?;
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn apply_to(&self, command: &mut Command) -> Result<(), Error> {
        if !self.best_effort {
            Self::supported()?;
        }
        command.env(SANDBOX_VARIABLE, self.encode()?);
        Ok(())
    }

    fn encode(&self) -> Result<String, Error> {
        let mut text = String::from(FORMAT);
        let mut line = |kind: &str, dir: &PathBuf| -> Result<(), Error> {
            let absolute = std::fs::canonicalize(dir)
                .map_err(|error| invalid(format!("sandbox directory {}: {error}", dir.display())))?;
            match absolute.to_str() {
                Some(path) if !path.contains('\n') => {
                    text.push_str(&format!("\n{kind} {path}"));
                    Ok(())
                }
                _ => Err(invalid(format!("sandbox directory {} is not valid UTF-8 on one line", dir.display()))),
            }
        };
        for dir in &self.writable {
            line("write", dir)?;
        }
        for dir in self.readable.iter().flatten() {
            line("read", dir)?;
        }
        for (flag, name) in [(self.exec, "exec"), (self.network, "network"), (self.best_effort, "best-effort")] {
            if flag {
                text.push_str(&format!("\n{name}"));
            }
        }
        Ok(text)
    }

    fn decode(text: &str) -> Result<Sandbox, Error> {
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Err(invalid(format!("{SANDBOX_VARIABLE} is not a sandbox of this version")));
        }
        let mut sandbox = Sandbox::new();
        for line in lines {
            match line.split_once(' ') {
                Some(("write", path)) => sandbox.writable.push(PathBuf::from(path)),
                Some(("read", path)) => sandbox.readable.get_or_insert_with(Vec::new).push(PathBuf::from(path)),
                None if line == "exec" => sandbox.exec = true,
                None if line == "network" => sandbox.network = true,
                None if line == "best-effort" => sandbox.best_effort = true,
                _ => return Err(invalid(format!("{SANDBOX_VARIABLE} has an unknown directive: {line:.80}"))),
            }
        }
        Ok(sandbox)
    }

    /// Confines this process now; `Ok(false)` if a best-effort sandbox
    /// could not be applied. Call it before starting threads: on kernels
    /// before landlock ABI 8 the file system rules bind the calling thread
    /// and the threads it starts afterwards (the seccomp filter binds all).
    ///
    /// ```no_run
    /// // A program confining itself, as a spawned child does in serve_process:
    /// let confined = multiprocess::Sandbox::new().writable("/var/lib/app").confine_self()?;
    /// assert!(confined && multiprocess::sandbox::is_confined());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn confine_self(&self) -> Result<bool, Error> {
        match platform::confine(self) {
            Ok(()) => {
                CONFINED.store(true, Ordering::SeqCst);
                tracing::debug!(target: "ipc", sandbox = ?self, "confined");
                Ok(true)
            }
            Err(error) if self.best_effort => {
                tracing::warn!(target: "ipc", "running unconfined: {error}");
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// Whether this process has confined itself (a child started with a
/// [`Sandbox`], once [`serve_process`](crate::serve_process) runs).
///
/// ```
/// // The test harness is not a sandboxed child.
/// assert!(!multiprocess::sandbox::is_confined());
/// ```
pub fn is_confined() -> bool {
    CONFINED.load(Ordering::SeqCst)
}

/// In a child: applies the sandbox its parent handed it, if any.
pub(crate) fn enter_from_env() -> Result<(), Error> {
    let Some(value) = std::env::var_os(SANDBOX_VARIABLE) else { return Ok(()) };
    let text = value.into_string().map_err(|_| invalid(format!("{SANDBOX_VARIABLE} is not UTF-8")))?;
    let sandbox = Sandbox::decode(&text)?;
    sandbox.confine_self().map(drop)
}

#[cfg(target_os = "linux")]
mod platform {
    use std::collections::BTreeMap;

    use landlock::{
        ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, path_beneath_rules,
    };
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };

    use super::{Sandbox, invalid};
    use crate::Error;

    /// The landlock features a sandbox needs: file writes with truncation
    /// (ABI 3) and TCP (ABI 4).
    const ABI_NEEDED: ABI = ABI::V4;

    fn landlock_error(error: impl std::fmt::Display) -> Error {
        invalid(format!("landlock: {error}"))
    }

    pub(super) fn supported() -> Result<(), Error> {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI_NEEDED))
            .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(ABI_NEEDED)))
            .and_then(|ruleset| ruleset.create())
            .map(drop)
            .map_err(|error| invalid(format!("this kernel cannot confine a process with landlock ABI 4: {error}")))
    }

    pub(super) fn confine(sandbox: &Sandbox) -> Result<(), Error> {
        let exec = if sandbox.exec { BitFlags::from(AccessFs::Execute) } else { BitFlags::EMPTY };
        let read = AccessFs::from_read(ABI_NEEDED) & !AccessFs::Execute;
        let write = AccessFs::from_write(ABI_NEEDED);
        let mut handled = write | AccessFs::Execute;
        if sandbox.readable.is_some() {
            handled |= read;
        }
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(handled)
            .map_err(landlock_error)?;
        if !sandbox.network {
            ruleset = ruleset.handle_access(AccessNet::from_all(ABI_NEEDED)).map_err(landlock_error)?;
        }
        let mut created = ruleset.create().map_err(landlock_error)?;
        for dir in &sandbox.writable {
            if !dir.exists() {
                return Err(invalid(format!("sandbox directory {} does not exist", dir.display())));
            }
        }
        // A rule may grant only rights the ruleset handles.
        created = created
            .add_rules(path_beneath_rules(&sandbox.writable, (write | read | exec) & handled))
            .map_err(landlock_error)?;
        if sandbox.exec && sandbox.readable.is_none() {
            created = created.add_rules(path_beneath_rules(["/"], exec)).map_err(landlock_error)?;
        }
        if let Some(readable) = &sandbox.readable {
            created =
                created.add_rules(path_beneath_rules(readable, (read | exec) & handled)).map_err(landlock_error)?;
        }
        let status = created.restrict_self().map_err(landlock_error)?;
        if status.ruleset != RulesetStatus::FullyEnforced {
            return Err(invalid(format!("landlock enforced the sandbox only partly ({:?})", status.ruleset)));
        }
        seccomp(sandbox)
    }

    /// A filter on every thread: `execve`, non-Unix sockets and `io_uring`
    /// (which could do either) fail with `EPERM`.
    fn seccomp(sandbox: &Sandbox) -> Result<(), Error> {
        let failed = |error: seccompiler::BackendError| invalid(format!("seccomp: {error}"));
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        rules.insert(libc::SYS_io_uring_setup, Vec::new());
        if !sandbox.exec {
            rules.insert(libc::SYS_execve, Vec::new());
            rules.insert(libc::SYS_execveat, Vec::new());
        }
        if !sandbox.network {
            let not_unix = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, libc::AF_UNIX as u64)
                .map_err(failed)?;
            rules.insert(libc::SYS_socket, vec![SeccompRule::new(vec![not_unix]).map_err(failed)?]);
        }
        let arch = std::env::consts::ARCH.try_into().map_err(failed)?;
        let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
            .map_err(failed)?;
        let program: BpfProgram = filter.try_into().map_err(failed)?;
        seccompiler::apply_filter_all_threads(&program).map_err(|error| invalid(format!("seccomp: {error}")))
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use super::{Sandbox, invalid};
    use crate::Error;

    pub(super) fn supported() -> Result<(), Error> {
        Err(invalid("confining a child is unsupported on this system (it needs Linux landlock and seccomp)".into()))
    }

    pub(super) fn confine(_sandbox: &Sandbox) -> Result<(), Error> {
        supported()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_crosses_the_environment_unchanged() {
        let dir = std::fs::canonicalize(std::env::temp_dir()).unwrap();
        let sandbox = Sandbox::new().writable(&dir).readable(&dir).allow_exec().best_effort();
        let text = sandbox.encode().unwrap();
        assert_eq!(Sandbox::decode(&text).unwrap(), sandbox);
        let plain = Sandbox::new();
        assert_eq!(Sandbox::decode(&plain.encode().unwrap()).unwrap(), plain);
        assert!(Sandbox::decode("multiprocess-sandbox 1\nrun anything").is_err());
        assert!(Sandbox::decode("something else").is_err());
        assert!(Sandbox::new().writable("/no/such/directory").encode().is_err());
    }
}
