//! The shared secret that authenticates a TCP connection (and keys its
//! encryption), kept in a file as bitcoind keeps its RPC cookie.

use std::{fmt, fs, io::Write, path::Path};

use crate::Error;

/// A 32-byte secret shared by both ends of a TCP connection. Both prove that
/// they know it without sending it: it is the pre-shared key of a Noise
/// handshake, whose keys then encrypt and authenticate every byte.
///
/// A listener writes one to a file only its user can read (like bitcoind's
/// RPC cookie); a client reads it from there.
///
/// ```
/// use multiprocess::Secret;
///
/// let dir = std::env::temp_dir().join(format!("secret-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("ipc.cookie");
/// let secret = Secret::generate()?;
/// secret.write_to(&path)?;
/// assert_eq!(Secret::from_file(&path)?, secret);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the bytes themselves, not even in a log line.
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A new random secret, from the operating system's random source.
    ///
    /// ```
    /// let a = multiprocess::Secret::generate()?;
    /// let b = multiprocess::Secret::generate()?;
    /// assert_ne!(format!("{a:?}"), "", "Debug never shows the bytes");
    /// # let _ = b;
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn generate() -> Result<Secret, Error> {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes)
            .map_err(|error| Error::Io(std::sync::Arc::new(std::io::Error::other(error.to_string()))))?;
        Ok(Secret(bytes))
    }

    /// A secret from its 32 bytes (from a key store of your own, say).
    ///
    /// ```
    /// let secret = multiprocess::Secret::from_bytes([7; 32]);
    /// let options = multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() };
    /// # let _ = options;
    /// ```
    pub fn from_bytes(bytes: [u8; 32]) -> Secret {
        Secret(bytes)
    }

    /// Reads a secret that [`Secret::write_to`] wrote: 64 hexadecimal digits.
    /// A missing file or anything else in it is an error.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("multiprocess-doc-cookie-{}", std::process::id()));
    /// let cookie = dir.join("ipc.cookie");
    /// let secret = multiprocess::Secret::generate()?;
    /// secret.write_to(&cookie)?;
    /// let read = multiprocess::Secret::from_file(&cookie)?;
    /// # let _ = read;
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, Error> {
        let path = path.as_ref();
        let text = fs::read_to_string(path)?;
        Secret::from_hex(text.trim()).ok_or_else(|| Error::Address {
            address: path.display().to_string(),
            message: "not a secret: expected 64 hexadecimal digits".into(),
        })
    }

    /// Writes the secret to `path` as 64 hexadecimal digits, in a file that
    /// only this user may read (mode 0600 on Unix) from the moment it exists:
    /// it is written beside `path` and renamed into place. Missing parent
    /// directories are created (mode 0700 on Unix).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("multiprocess-doc-write-{}", std::process::id()));
    /// let cookie = dir.join("ipc.cookie");
    /// multiprocess::Secret::generate()?.write_to(&cookie)?;
    /// assert_eq!(std::fs::read_to_string(&cookie)?.trim().len(), 64);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            let mut dirs = fs::DirBuilder::new();
            dirs.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
            dirs.create(parent)?;
        }
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = (|| {
            let mut file = options.open(&temporary)?;
            writeln!(file, "{}", self.to_hex())?;
            file.sync_all()?;
            fs::rename(&temporary, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written.map_err(Error::from)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub(crate) fn from_hex(text: &str) -> Option<Secret> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Secret(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_round_trip_through_hex_and_never_print() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(Secret::from_hex(&a.to_hex()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "Secret(..)");
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"é".repeat(32)] {
            assert!(Secret::from_hex(bad).is_none(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_written_secret_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cookie");
        let secret = Secret::generate().unwrap();
        secret.write_to(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Secret::from_file(&path).unwrap(), secret);
        // Replacing it keeps the mode, and leaves no temporary file behind.
        Secret::generate().unwrap().write_to(&path).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
