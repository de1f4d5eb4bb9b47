//! Connection timeout and read timeout: the two timeouts every network call needs.
//!
//! * The **connection timeout** bounds establishing the connection (the TCP handshake,
//!   and TLS where there is one). It fires when nobody completes the handshake: the host
//!   is gone, a firewall drops packets, or the server's accept queue is full.
//! * The **read timeout** bounds the wait for the first byte of the answer once the
//!   request is sent (and then each further wait for data). It fires when the server
//!   accepted the connection but is slow, stuck, or never answers.
//! * The **total timeout** bounds the whole call. A read timeout alone does not: a
//!   server that sends one byte just before each read timeout would hold the call open
//!   for ever. (A [`Deadline`](super::Deadline) passed down a chain is the same bound
//!   set by the caller; [`within`](super::within) applies it to any future.)
//!
//! Common guidance is 5-10 s to connect and 15-30 s to read; [`Timeouts`] uses the low
//! end of each ([`DEFAULT_CONNECT`], [`DEFAULT_READ`]). Set them from your dependency's
//! measured latency: a connect on a healthy network takes milliseconds.
//!
//! [`Timeouts::decide`] is the pure core: given how long the handshake and the first byte
//! take, which timeout fires and when the caller gets its answer. [`call`] is the async
//! edge: it runs one request over any connection future (a real [`TcpStream`], or an
//! in-memory stream on the paused clock), so the same code is measured on real loopback
//! sockets and in simulation.

use std::future::Future;
use std::io;
#[cfg(feature = "net")]
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
#[cfg(feature = "net")]
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::error::ConfigError;

/// The default connection timeout: 5 s (the low end of the usual 5-10 s).
pub const DEFAULT_CONNECT: Duration = Duration::from_secs(5);
/// The default read timeout: 15 s (the low end of the usual 15-30 s).
pub const DEFAULT_READ: Duration = Duration::from_secs(15);
/// The default bound on a whole call: a minute.
pub const DEFAULT_TOTAL: Duration = Duration::from_secs(60);

/// The longest timeout [`Timeouts::new`] accepts: one hour. A longer one is, in practice,
/// no timeout at all.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The largest answer [`call`] reads; more is an error, so a runaway server cannot fill
/// memory.
pub const MAX_REPLY: usize = 1 << 20;

/// The two timeouts of a network call.
///
/// # Default
/// 5 s to connect, 15 s to read, 60 s for the whole call ([`DEFAULT_CONNECT`],
/// [`DEFAULT_READ`], [`DEFAULT_TOTAL`]).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::deadline::timeouts::{Fired, Timeouts};
///
/// let s = Duration::from_secs;
/// let t = Timeouts::default();
/// // The handshake never completes: the connection timeout fires after 5 s.
/// assert_eq!(t.decide(None, Some(s(1))).fired, Fired::Connect);
/// // Connected in 1 ms, but the answer would take a minute: the read timeout fires at 15 s.
/// let d = t.decide(Some(Duration::from_millis(1)), Some(s(60)));
/// assert_eq!((d.fired, d.returns_after), (Fired::Read, Duration::from_millis(15_001)));
/// // A zero timeout would fail every call; it is refused when built.
/// assert!(Timeouts::new(Duration::ZERO, s(15)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    connect: Duration,
    read: Duration,
    total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: DEFAULT_CONNECT, read: DEFAULT_READ, total: DEFAULT_TOTAL }
    }
}

/// Which timeout ended a call, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Fired {
    /// None: the answer arrived in time.
    Neither,
    /// The connection timeout.
    Connect,
    /// The read timeout.
    Read,
    /// The bound on the whole call.
    Total,
}

impl Fired {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Fired::Neither => "answered",
            Fired::Connect => "connect timeout",
            Fired::Read => "read timeout",
            Fired::Total => "total timeout",
        }
    }
}

/// What [`Timeouts::decide`] predicts for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Which timeout fired.
    pub fired: Fired,
    /// When the caller has its answer or its error, from the start of the call.
    pub returns_after: Duration,
}

impl Timeouts {
    /// Timeouts of `connect` and `read`, and the default bound on the whole call
    /// ([`DEFAULT_TOTAL`], raised to `connect + read` if that is longer; see
    /// [`with_total`](Timeouts::with_total)).
    ///
    /// # Errors
    /// Either is zero (every call would fail) or longer than [`MAX_TIMEOUT`] (no real
    /// bound; use a [`Deadline`](super::Deadline) if the caller truly can wait that long).
    pub fn new(connect: Duration, read: Duration) -> Result<Self, ConfigError> {
        for (field, d) in [("connect", connect), ("read", read)] {
            if d.is_zero() {
                return Err(ConfigError::new(
                    field,
                    "a zero timeout fails every call; use at least a few milliseconds",
                ));
            }
            if d > MAX_TIMEOUT {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{d:?} is longer than {MAX_TIMEOUT:?}, which is no bound at all; pick a timeout from the latency you observe"
                    ),
                ));
            }
        }
        Ok(Self { connect, read, total: DEFAULT_TOTAL.max(connect + read) })
    }

    /// The same timeouts with `total` as the bound on the whole call: connecting,
    /// sending and reading the full answer.
    ///
    /// # Errors
    /// `total` is zero or longer than [`MAX_TIMEOUT`].
    pub fn with_total(self, total: Duration) -> Result<Self, ConfigError> {
        if total.is_zero() || total > MAX_TIMEOUT {
            return Err(ConfigError::new(
                "total",
                format!(
                    "{total:?} is outside (0, {MAX_TIMEOUT:?}]; bound the whole call by what the caller can wait"
                ),
            ));
        }
        Ok(Self { total, ..self })
    }

    /// The bound on the whole call.
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The connection timeout.
    pub fn connect(&self) -> Duration {
        self.connect
    }

    /// The read timeout.
    pub fn read(&self) -> Duration {
        self.read
    }

    /// The pure core: a call whose handshake takes `connect` (`None`: never completes)
    /// and whose first byte arrives `first_byte` after the request is sent (`None`:
    /// never). Ties go to the answer: a byte arriving exactly at the timeout is in time.
    pub fn decide(&self, connect: Option<Duration>, first_byte: Option<Duration>) -> Decision {
        let d = self.decide_phases(connect, first_byte);
        if d.returns_after > self.total {
            return Decision { fired: Fired::Total, returns_after: self.total };
        }
        d
    }

    fn decide_phases(&self, connect: Option<Duration>, first_byte: Option<Duration>) -> Decision {
        let connected = match connect {
            Some(c) if c <= self.connect => c,
            _ => return Decision { fired: Fired::Connect, returns_after: self.connect },
        };
        match first_byte {
            Some(b) if b <= self.read => {
                Decision { fired: Fired::Neither, returns_after: connected.saturating_add(b) }
            }
            _ => Decision { fired: Fired::Read, returns_after: connected.saturating_add(self.read) },
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No connection within the connection timeout.
    ///
    /// ### Handling
    /// Safe to retry (nothing reached the server), with backoff; count it towards a
    /// circuit breaker.
    #[error("no connection after {after:?} (connection timeout)")]
    ConnectTimeout {
        /// The connection timeout that fired.
        after: Duration,
    },
    /// Connected and sent, but no data within the read timeout.
    ///
    /// ### Handling
    /// The server may have acted on the request: retry only if it is idempotent (or
    /// carries an idempotency key, see [`idempotency`](crate::idempotency)).
    #[error("no answer {after:?} after sending (read timeout)")]
    ReadTimeout {
        /// The read timeout that fired.
        after: Duration,
    },
    /// The whole call took longer than its total bound (a server dripping its answer).
    ///
    /// ### Handling
    /// As for a read timeout: the request may have been acted on.
    #[error("the call took longer than {after:?} in all (total timeout)")]
    TotalTimeout {
        /// The total bound that fired.
        after: Duration,
    },
    /// The server closed the connection without answering.
    ///
    /// ### Handling
    /// As for a read timeout: the request may have been acted on.
    #[error("the server closed the connection without answering")]
    Closed,
    /// The answer was larger than [`MAX_REPLY`].
    ///
    /// ### Handling
    /// A misbehaving server; do not retry.
    #[error("the answer exceeded {MAX_REPLY} bytes")]
    TooLarge,
    /// Any other I/O error: connection refused, reset, ...
    ///
    /// ### Handling
    /// Refused: nothing listens there (retry later, or fail over). Reset: as for a read
    /// timeout.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

impl CallError {
    /// Which timeout this error is, if it is one.
    pub fn fired(&self) -> Option<Fired> {
        match self {
            CallError::ConnectTimeout { .. } => Some(Fired::Connect),
            CallError::ReadTimeout { .. } => Some(Fired::Read),
            CallError::TotalTimeout { .. } => Some(Fired::Total),
            _ => None,
        }
    }
}

/// A successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The answer's bytes, up to the server closing the connection.
    pub body: Vec<u8>,
    /// How long the handshake took.
    pub connected_after: Duration,
    /// How long after sending the first byte arrived.
    pub first_byte_after: Duration,
}

/// The async edge: connects with `connect` under the connection timeout, sends
/// `request`, and reads the answer until the server closes the connection, with the read
/// timeout on the first byte and on every later wait for data, and the total timeout
/// over all of it.
///
/// `connect` is any future that yields a stream: `TcpStream::connect(addr)` for real
/// sockets ([`call_tcp`]), or an in-memory stream on the paused clock in simulation.
/// Times come from `tokio::time::Instant`, so they are virtual under a paused clock.
///
/// # Errors
/// [`CallError`]: which timeout fired, a closed connection, an oversized answer or an I/O
/// error.
///
/// # Cancellation
/// Dropping the future drops the connection; the server sees it closed.
pub async fn call<S, C>(timeouts: Timeouts, connect: C, request: &[u8]) -> Result<Reply, CallError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Future<Output = io::Result<S>>,
{
    let total = timeouts.total;
    timeout(total, call_phases(timeouts, connect, request))
        .await
        .map_err(|_| CallError::TotalTimeout { after: total })?
}

async fn call_phases<S, C>(timeouts: Timeouts, connect: C, request: &[u8]) -> Result<Reply, CallError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Future<Output = io::Result<S>>,
{
    let started = Instant::now();
    let mut stream = timeout(timeouts.connect, connect)
        .await
        .map_err(|_| CallError::ConnectTimeout { after: timeouts.connect })??;
    let connected_after = started.elapsed();
    stream.write_all(request).await?;
    stream.flush().await?;
    let sent = Instant::now();
    let mut body = Vec::new();
    let mut buf = [0u8; 8192];
    let mut first_byte_after = None;
    loop {
        let n = timeout(timeouts.read, stream.read(&mut buf))
            .await
            .map_err(|_| CallError::ReadTimeout { after: timeouts.read })??;
        if n == 0 {
            break;
        }
        first_byte_after.get_or_insert_with(|| sent.elapsed());
        if body.len().saturating_add(n) > MAX_REPLY {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&buf[..n]);
    }
    let first_byte_after = first_byte_after.ok_or(CallError::Closed)?;
    Ok(Reply { body, connected_after, first_byte_after })
}

/// [`call`] over a real TCP connection to `addr`.
///
/// # Errors
/// As [`call`].
#[cfg(feature = "net")]
pub async fn call_tcp(timeouts: Timeouts, addr: SocketAddr, request: &[u8]) -> Result<Reply, CallError> {
    call(timeouts, TcpStream::connect(addr), request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_timeouts_are_refused_with_the_field_named() {
        let s = Duration::from_secs;
        assert_eq!(Timeouts::new(s(5), Duration::ZERO).unwrap_err().field, "read");
        assert_eq!(Timeouts::new(s(7200), s(5)).unwrap_err().field, "connect");
        assert!(Timeouts::new(s(5), s(15)).is_ok());
    }

    #[test]
    fn decide_covers_every_phase() {
        let ms = Duration::from_millis;
        let t = Timeouts::new(ms(100), ms(300)).unwrap();
        assert_eq!(
            t.decide(Some(ms(10)), Some(ms(20))),
            Decision { fired: Fired::Neither, returns_after: ms(30) }
        );
        assert_eq!(t.decide(Some(ms(100)), Some(ms(300))).fired, Fired::Neither);
        assert_eq!(
            t.decide(Some(ms(101)), Some(ms(1))),
            Decision { fired: Fired::Connect, returns_after: ms(100) }
        );
        assert_eq!(t.decide(Some(ms(10)), None), Decision { fired: Fired::Read, returns_after: ms(310) });
        let short = t.with_total(ms(200)).unwrap();
        assert_eq!(
            short.decide(Some(ms(10)), Some(ms(250))),
            Decision { fired: Fired::Total, returns_after: ms(200) }
        );
        assert_eq!(t.with_total(Duration::ZERO).unwrap_err().field, "total");
    }

    /// Bug: the read timeout applied to each read with no bound on the whole reply, so
    /// a server sending one byte per interval held the call open indefinitely.
    #[test]
    fn a_dripping_server_is_cut_by_the_total_timeout() {
        let ms = Duration::from_millis;
        let (r, took) = crate::time::run_paused(async {
            let (client, mut server) = tokio::io::duplex(64);
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                let _ = server.read(&mut buf).await;
                // One byte every 900 ms, just inside the 1 s read timeout, for ever.
                loop {
                    tokio::time::sleep(ms(900)).await;
                    if server.write_all(b".").await.is_err() {
                        break;
                    }
                }
            });
            let t = Timeouts::new(ms(100), ms(1000)).unwrap().with_total(ms(5000)).unwrap();
            let start = Instant::now();
            let r = call(t, async { Ok(client) }, b"GET").await;
            (r, start.elapsed())
        })
        .unwrap();
        assert!(matches!(r, Err(CallError::TotalTimeout { after }) if after == ms(5000)), "{r:?}");
        assert_eq!(took, ms(5000));
    }
}
