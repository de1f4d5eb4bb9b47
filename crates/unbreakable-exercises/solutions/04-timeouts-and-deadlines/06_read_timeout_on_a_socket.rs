// Exercise 04.6: a read timeout on a real socket, reset by every byte.
//
// What to do: write `ask(addr, request, read_timeout)`: connect to a server on loopback,
// send the request, and read the reply until the server closes the connection. A server
// that goes quiet for longer than `read_timeout` (sends nothing at all, or stops in the
// middle of the reply) must not keep you waiting: give up with `AskError::TimedOut`
// and the bytes received so far. A slow server that keeps sending must be waited for,
// even when the whole reply takes longer than `read_timeout`.
// Why it matters: a socket without a read timeout waits for ever on a server that
// accepted the connection and then hung (a full GC, a deadlock, a lost packet), holding
// a connection, a thread or a task per request until the caller runs out of them.
// Chapter: 04-timeouts-and-deadlines, "Two timeouts, two phases" and "On real sockets".
// Hint: `tokio::time::timeout` around which future: the whole `read_to_end`, or each
//   single `read`? A `read` that returns 0 bytes means the server closed the connection.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, PartialEq, Eq)]
pub enum AskError {
    /// The connection or the request failed.
    Io(std::io::ErrorKind),
    /// Nothing arrived for `read_timeout`; `partial` is what had arrived before.
    TimedOut { partial: Vec<u8> },
}

pub async fn ask(addr: SocketAddr, request: &[u8], read_timeout: Duration) -> Result<Vec<u8>, AskError> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| AskError::Io(e.kind()))?;
    stream.write_all(request).await.map_err(|e| AskError::Io(e.kind()))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // The timeout is on each read: it measures silence, not the length of the reply.
        match tokio::time::timeout(read_timeout, stream.read(&mut buf)).await {
            Err(_) => return Err(AskError::TimedOut { partial: reply }),
            Ok(Err(e)) => return Err(AskError::Io(e.kind())),
            Ok(Ok(0)) => return Ok(reply),
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio::time::{Instant, sleep};

    /// What the loopback server does after reading the request.
    #[derive(Clone, Copy)]
    enum Server {
        /// "pong", then close.
        Answer,
        /// One byte of "abcdefghij" every 50 ms, then close (500 ms in all).
        Trickle,
        /// "par", then nothing for an hour.
        StallMidway,
        /// Nothing at all for an hour.
        Silent,
    }

    async fn serve(behaviour: Server) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 4];
            s.read_exact(&mut req).await.unwrap();
            match behaviour {
                Server::Answer => s.write_all(b"pong").await.unwrap(),
                Server::Trickle => {
                    for b in b"abcdefghij" {
                        sleep(Duration::from_millis(50)).await;
                        s.write_all(&[*b]).await.unwrap();
                    }
                }
                Server::StallMidway => {
                    s.write_all(b"par").await.unwrap();
                    sleep(Duration::from_secs(3600)).await;
                }
                Server::Silent => sleep(Duration::from_secs(3600)).await,
            }
        });
        addr
    }

    /// `ask` with a guard: a client without a read timeout would wait the full hour.
    async fn ask_guarded(behaviour: Server) -> (Result<Vec<u8>, AskError>, Duration) {
        let addr = serve(behaviour).await;
        let start = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(60), ask(addr, b"ping", Duration::from_millis(200)))
            .await
            .expect("still waiting after 60 s: the client has no read timeout");
        (r, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_prompt_answer() {
        let (r, _) = ask_guarded(Server::Answer).await;
        assert_eq!(r, Ok(b"pong".to_vec()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_given_up_on() {
        let (r, waited) = ask_guarded(Server::Silent).await;
        assert_eq!(r, Err(AskError::TimedOut { partial: vec![] }));
        assert_eq!(waited, Duration::from_millis(200), "given up after the read timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_stops_midway_keeps_what_arrived() {
        let (r, waited) = ask_guarded(Server::StallMidway).await;
        assert_eq!(r, Err(AskError::TimedOut { partial: b"par".to_vec() }));
        assert_eq!(waited, Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_server_is_waited_for() {
        // 500 ms in all, but never 200 ms without a byte: not a timeout.
        let (r, waited) = ask_guarded(Server::Trickle).await;
        assert_eq!(r, Ok(b"abcdefghij".to_vec()));
        assert_eq!(waited, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_listening() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let r = ask(addr, b"ping", Duration::from_millis(200)).await;
        assert_eq!(r, Err(AskError::Io(std::io::ErrorKind::ConnectionRefused)));
    }
}
