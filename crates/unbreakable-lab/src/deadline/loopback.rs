//! Small misbehaving servers on loopback, to watch each timeout fire on real sockets, and
//! the same servers in simulation.
//!
//! Every server binds `127.0.0.1` on a port the operating system picks, is started by the
//! code that needs it and stops when dropped. Nothing here dials any other address.
//!
//! * [`Server::Answers`] accepts, reads the request and answers after a delay.
//! * [`Server::Silent`] accepts and reads the request, then never answers: only a read
//!   timeout gets the caller out.
//! * [`Server::FullBacklog`] never accepts, and its accept queue is already full, so the
//!   kernel drops the caller's handshake and a connect hangs: only a connection timeout
//!   gets the caller out. (This is how to make a connect hang on loopback, without
//!   dialling an unroutable address.)
//!
//! One request handler ([`serve`]) runs both behind real TCP sockets ([`Running`]) and
//! behind in-memory streams on the paused clock ([`simulate`]), and one client
//! ([`call`](super::timeouts::call)) talks to both; [`compare`] puts the prediction of
//! the pure core, the simulation and the real sockets side by side.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use super::timeouts::{Decision, Fired, Timeouts, call, call_tcp};
use crate::sim::run_paused;

/// The request the demonstrations send.
pub const REQUEST: &[u8] = b"GET /weather\n";
/// The answer a server gives when it answers.
pub const ANSWER: &[u8] = b"sunny, 21 C\n";
/// The most connections [`Running::start`] opens to fill an accept queue before giving up.
pub const MAX_FILLERS: usize = 64;

/// How a demonstration server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Server {
    /// Accepts, reads the request and answers [`ANSWER`] after `after`, then closes.
    Answers {
        /// How long it takes to answer.
        after: Duration,
    },
    /// Accepts and reads the request, then never answers (holds the connection open).
    Silent,
    /// Never accepts; its accept queue is full, so a connect never completes.
    FullBacklog,
}

impl Server {
    /// A name for tables.
    pub fn name(&self) -> String {
        match self {
            Server::Answers { after } => format!("answers after {after:?}"),
            Server::Silent => "accepts, never answers".into(),
            Server::FullBacklog => "accept queue full".into(),
        }
    }

    /// `(handshake, first byte)` as the pure core sees them, taking a loopback handshake
    /// as instant; `None` for a phase that never completes.
    pub fn phases(&self) -> (Option<Duration>, Option<Duration>) {
        match *self {
            Server::Answers { after } => (Some(Duration::ZERO), Some(after)),
            Server::Silent => (Some(Duration::ZERO), None),
            Server::FullBacklog => (None, None),
        }
    }
}

/// The server side of one connection: reads the request (one line, at most 1 KiB), then
/// answers after a delay or never. Used behind real sockets and in simulation alike.
///
/// # Errors
/// I/O errors on the stream (a caller that hung up, say).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, server: Server) -> io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 256];
    while !request.contains(&b'\n') && request.len() < 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    match server {
        Server::Answers { after } => {
            sleep(after).await;
            stream.write_all(ANSWER).await?;
            stream.shutdown().await
        }
        // Hold the connection open until the caller hangs up or the server stops.
        Server::Silent | Server::FullBacklog => {
            while stream.read(&mut buf).await? > 0 {}
            Ok(())
        }
    }
}

/// A demonstration server running on `127.0.0.1`; it stops (and closes every connection)
/// when dropped.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    /// The accept loop and its connections (abort on drop).
    tasks: JoinSet<()>,
    /// For [`Server::FullBacklog`]: the listener nobody accepts on, and the connections
    /// that fill its queue.
    _held: Option<(TcpListener, Vec<TcpStream>)>,
}

impl Running {
    /// Starts `server` on a free port of `127.0.0.1`. Needs a tokio runtime with I/O and
    /// time enabled (see [`run_real`]).
    ///
    /// # Errors
    /// The operating system refuses a socket, or (for [`Server::FullBacklog`]) the accept
    /// queue could not be filled with [`MAX_FILLERS`] connections.
    pub async fn start(server: Server) -> io::Result<Self> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut tasks = JoinSet::new();
        if server == Server::FullBacklog {
            let socket = TcpSocket::new_v4()?;
            socket.bind(loopback)?;
            // Backlog 0: the kernel queues at most one finished handshake.
            let listener = socket.listen(0)?;
            let addr = listener.local_addr()?;
            let mut fillers = Vec::new();
            while fillers.len() < MAX_FILLERS {
                match timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                    Ok(stream) => fillers.push(stream?),
                    // A handshake that does not complete: the queue is full.
                    Err(_) => return Ok(Self { addr, tasks, _held: Some((listener, fillers)) }),
                }
            }
            return Err(io::Error::other(format!(
                "the accept queue still took connections after {MAX_FILLERS}; this kernel does not drop handshakes to a full queue"
            )));
        }
        let listener = TcpListener::bind(loopback).await?;
        let addr = listener.local_addr()?;
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(async move {
                    let _ = serve(stream, server).await;
                });
            }
        });
        Ok(Self { addr, tasks, _held: None })
    }

    /// Where it listens (always on `127.0.0.1`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Runs `fut` on a fresh single-threaded tokio runtime with real time and I/O: for the
/// loopback demonstrations (the simulations use [`run_paused`]).
///
/// # Errors
/// Only if the operating system refuses to build a runtime.
pub fn run_real<F: std::future::Future>(fut: F) -> io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(fut))
}

/// One call's result: which timeout fired (or none) and how long the caller waited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trial {
    /// Which timeout fired.
    pub fired: Fired,
    /// How long the caller waited for its answer or error.
    pub waited: Duration,
    /// The error, if the call failed for another reason.
    pub error: Option<String>,
}

impl Trial {
    fn from_result(
        result: Result<super::timeouts::Reply, super::timeouts::CallError>,
        waited: Duration,
    ) -> Self {
        match result {
            Ok(_) => Trial { fired: Fired::Neither, waited, error: None },
            Err(e) => match e.fired() {
                Some(fired) => Trial { fired, waited, error: None },
                None => Trial { fired: Fired::Neither, waited, error: Some(e.to_string()) },
            },
        }
    }
}

/// Calls a real `server` on loopback once.
///
/// # Errors
/// The server could not be started.
pub async fn trial_real(timeouts: Timeouts, server: Server) -> io::Result<Trial> {
    let running = Running::start(server).await?;
    let start = Instant::now();
    let result = call_tcp(timeouts, running.addr(), REQUEST).await;
    Ok(Trial::from_result(result, start.elapsed()))
}

/// Calls `server` once in simulation: the same client and the same request handler over
/// an in-memory stream on the paused clock, with a handshake taking `handshake` of
/// virtual time.
///
/// # Errors
/// Only if the operating system refuses to build a runtime.
pub fn simulate(timeouts: Timeouts, server: Server, handshake: Duration) -> io::Result<Trial> {
    run_paused(async move {
        let connect = async move {
            if server == Server::FullBacklog {
                // The kernel drops the handshake: nothing ever comes back.
                std::future::pending::<()>().await;
            }
            sleep(handshake).await;
            let (client, server_end) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let _ = serve(server_end, server).await;
            });
            Ok(client)
        };
        let start = Instant::now();
        let result = call(timeouts, connect, REQUEST).await;
        Trial::from_result(result, start.elapsed())
    })
}

/// One server, three ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The server.
    pub server: Server,
    /// What the pure core predicts.
    pub predicted: Decision,
    /// The simulation on the paused clock (instant handshake).
    pub simulated: Trial,
    /// Real sockets on loopback.
    pub real: Trial,
}

/// Runs every server in `servers` three ways: [`Timeouts::decide`], [`simulate`] and a
/// real call on loopback. Takes real time: about the longer timeout per silent server.
///
/// # Errors
/// A runtime or a server could not be started.
pub fn compare(timeouts: Timeouts, servers: &[Server]) -> io::Result<Vec<Comparison>> {
    let mut out = Vec::with_capacity(servers.len());
    for &server in servers {
        let (connect, first_byte) = server.phases();
        let predicted = timeouts.decide(connect, first_byte);
        let simulated = simulate(timeouts, server, Duration::ZERO)?;
        let real = run_real(trial_real(timeouts, server))??;
        out.push(Comparison { server, predicted, simulated, real });
    }
    Ok(out)
}

/// The four servers of chapter 04's demonstration, for timeouts of `timeouts`: one that
/// answers well in time, one that answers after twice the read timeout, one that never
/// answers and one whose accept queue is full.
pub fn demo_servers(timeouts: Timeouts) -> [Server; 4] {
    [
        Server::Answers { after: timeouts.read() / 10 },
        Server::Answers { after: timeouts.read() * 2 },
        Server::Silent,
        Server::FullBacklog,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    /// The simulation agrees exactly with the pure core, on virtual time.
    #[test]
    fn simulation_matches_the_pure_core() {
        let t = Timeouts::new(ms(5000), ms(15000)).unwrap();
        for server in demo_servers(t) {
            let (c, b) = server.phases();
            let want = t.decide(c, b);
            let got = simulate(t, server, Duration::ZERO).unwrap();
            assert_eq!(
                (got.fired, got.waited, got.error),
                (want.fired, want.returns_after, None),
                "{server:?}"
            );
        }
        // A slow handshake counts against the connection timeout only.
        let slow = simulate(t, Server::Answers { after: ms(100) }, ms(4000)).unwrap();
        assert_eq!((slow.fired, slow.waited), (Fired::Neither, ms(4100)));
        let too_slow = simulate(t, Server::Answers { after: ms(100) }, ms(6000)).unwrap();
        assert_eq!((too_slow.fired, too_slow.waited), (Fired::Connect, ms(5000)));
    }

    /// Real sockets on 127.0.0.1: each timeout fires where it should, not before it, and
    /// (with a wide margin for a busy machine) not long after.
    #[test]
    fn real_loopback_sockets_fire_the_right_timeout() {
        let t = Timeouts::new(ms(300), ms(500)).unwrap();
        for c in compare(t, &demo_servers(t)).unwrap() {
            assert_eq!(c.real.error, None, "{:?}", c.server);
            assert_eq!(c.real.fired, c.predicted.fired, "{:?}", c.server);
            assert!(
                c.real.waited + ms(2) >= c.predicted.returns_after,
                "{:?} fired early: {:?}",
                c.server,
                c.real.waited
            );
            assert!(
                c.real.waited < c.predicted.returns_after + ms(5000),
                "{:?} took {:?}",
                c.server,
                c.real.waited
            );
        }
    }
}
