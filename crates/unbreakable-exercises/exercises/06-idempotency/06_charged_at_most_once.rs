// Exercise 06.6: the capstone: charge a card at most once through a flaky network.
//
// What to do: write `Client::charge(cents)` against the payment server on loopback. The
// network loses replies, the server is sometimes busy or hangs, and sometimes it is down.
// Your client must:
//   - send one idempotency key per charge, the same on every retry of it (the server
//     charges a key once and answers its retries with the same charge id);
//   - retry what may succeed next time (`AttemptError::Lost`, `Busy`, `TimedOut`),
//     waiting 100 ms, 200 ms, 400 ms, ... (doubling) between attempts;
//   - give each attempt at most `attempt_timeout`, and never run past `deadline` (measured
//     from the start of the charge): cut the last attempt short, and return
//     `ChargeError::DeadlineExceeded` when time is up;
//   - ask `breaker` before each attempt and record each attempt's outcome in it; when it
//     refuses, stop at once with `ChargeError::Unavailable` (no connection made).
// Why it matters: this is the whole first part of the book in one client. Retries without
// a key charge twice; a key without retries loses sales; retries without a deadline or a
// breaker hammer a server that is down and keep the user waiting.
// Chapter: 06-idempotency, "Many clients on a lossy network" (and chapters 02 to 04).
// Hint: where must `self.new_key()` be called so that retries share it? How long may an
//   attempt take when 0.3 s of the deadline is left? `Breaker::acquire` gives a permit:
//   what do you do with it when the attempt fails, and when it succeeds?

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use unbreakable::retry::Breaker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// No answer: the connection failed, or closed before the reply (it may have been
    /// charged).
    Lost,
    /// The server said BUSY (nothing was charged).
    Busy,
    /// The attempt ran out of time (it may have been charged).
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeError {
    /// The breaker is open: the payment service is known to be down.
    Unavailable,
    /// The deadline passed before a charge was confirmed.
    DeadlineExceeded,
}

pub struct Client {
    pub addr: SocketAddr,
    pub breaker: Breaker,
    pub attempt_timeout: Duration,
    pub deadline: Duration,
    keys: AtomicU64,
}

impl Client {
    pub fn new(addr: SocketAddr, breaker: Breaker, attempt_timeout: Duration, deadline: Duration) -> Self {
        Client { addr, breaker, attempt_timeout, deadline, keys: AtomicU64::new(0) }
    }

    /// A fresh idempotency key.
    pub fn new_key(&self) -> String {
        format!("key-{}", self.keys.fetch_add(1, Ordering::Relaxed))
    }

    /// One exchange, without a time limit: `CHARGE <key> <cents>` and the reply
    /// `OK <charge id>` or `BUSY`.
    pub async fn attempt(&self, key: &str, cents: u64) -> Result<String, AttemptError> {
        let mut stream = TcpStream::connect(self.addr).await.map_err(|_| AttemptError::Lost)?;
        stream
            .write_all(format!("CHARGE {key} {cents}\n").as_bytes())
            .await
            .map_err(|_| AttemptError::Lost)?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).await.map_err(|_| AttemptError::Lost)?;
        match line.trim().split_once(' ') {
            Some(("OK", id)) => Ok(id.to_string()),
            _ if line.trim() == "BUSY" => Err(AttemptError::Busy),
            _ => Err(AttemptError::Lost),
        }
    }

    /// Charges `cents` once, whatever the network does.
    pub async fn charge(&self, cents: u64) -> Result<String, ChargeError> {
        // TODO: a new key per attempt charges twice when a reply is lost; and nothing here
        // stops: no attempt timeout, no deadline, no breaker.
        let mut wait = Duration::from_millis(100);
        loop {
            let key = self.new_key();
            match self.attempt(&key, cents).await {
                Ok(id) => return Ok(id),
                Err(_) => {
                    sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use unbreakable::retry::BreakerConfig;

    /// What the server does with one connection.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Then {
        Answer,
        /// Charges, then closes without replying (the reply is lost on the way).
        LoseReply,
        Busy,
        /// Reads the request and never answers.
        Hang,
    }

    #[derive(Default)]
    struct Ledger {
        /// key -> (charge id, times charged)
        charges: HashMap<String, (String, u32)>,
        connections: usize,
    }

    /// The payment server: connection i follows script[i] (then `Answer`). It honours
    /// idempotency keys: a key already charged gets the same id, and no new charge.
    async fn server(script: Vec<Then>) -> (SocketAddr, Arc<Mutex<Ledger>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let l = ledger.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let then = {
                    let mut g = l.lock().unwrap();
                    g.connections += 1;
                    script.get(g.connections - 1).copied().unwrap_or(Then::Answer)
                };
                let l = l.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 256];
                    let mut n = 0;
                    while !buf[..n].contains(&b'\n') {
                        match s.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => n += k,
                        }
                    }
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let key = req.split_whitespace().nth(1).unwrap_or("").to_string();
                    if then == Then::Busy {
                        let _ = s.write_all(b"BUSY\n").await;
                        return;
                    }
                    if then == Then::Hang {
                        sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    let id = {
                        let mut g = l.lock().unwrap();
                        let next = format!("ch_{}", g.charges.len() + 1);
                        let e = g.charges.entry(key).or_insert((next, 0));
                        if e.1 == 0 {
                            e.1 = 1; // a key is charged once; its retries get the same id
                        }
                        e.0.clone()
                    };
                    if then == Then::Answer {
                        let _ = s.write_all(format!("OK {id}\n").as_bytes()).await;
                    }
                });
            }
        });
        (addr, ledger)
    }

    fn client(addr: SocketAddr) -> Client {
        let breaker = Breaker::new(BreakerConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
            ..Default::default()
        })
        .unwrap();
        Client::new(addr, breaker, Duration::from_millis(500), Duration::from_secs(3))
    }

    /// `charge`, with a guard: a client without a deadline could wait for ever.
    async fn charge(c: &Client, cents: u64) -> (Result<String, ChargeError>, Duration) {
        let start = Instant::now();
        let r = timeout(Duration::from_secs(600), c.charge(cents))
            .await
            .expect("no answer after 600 s: is there a deadline?");
        (r, start.elapsed())
    }

    fn charged(ledger: &Arc<Mutex<Ledger>>) -> Vec<(String, u32)> {
        let mut v: Vec<_> = ledger.lock().unwrap().charges.values().cloned().collect();
        v.sort();
        v
    }

    #[tokio::test(start_paused = true)]
    async fn lost_replies_are_retried_and_charged_once() {
        let (addr, ledger) = server(vec![Then::LoseReply, Then::LoseReply]).await;
        let (r, _) = charge(&client(addr), 1999).await;
        assert_eq!(r, Ok("ch_1".to_string()), "the id of the one charge");
        assert_eq!(charged(&ledger), [("ch_1".to_string(), 1)], "charged at most once");
        assert_eq!(ledger.lock().unwrap().connections, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn two_charges_are_two_payments() {
        let (addr, ledger) = server(vec![]).await;
        let c = client(addr);
        assert_eq!(charge(&c, 500).await.0, Ok("ch_1".to_string()));
        assert_eq!(charge(&c, 500).await.0, Ok("ch_2".to_string()), "the same amount twice is two payments");
        assert_eq!(charged(&ledger).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_attempt_is_cut_and_retried() {
        let (addr, ledger) = server(vec![Then::Hang, Then::Busy]).await;
        let (r, took) = charge(&client(addr), 700).await;
        assert_eq!(r, Ok("ch_1".to_string()));
        // 500 ms attempt timeout, 100 ms wait, BUSY, 200 ms wait, then the charge.
        assert_eq!(took, Duration::from_millis(800));
        assert_eq!(charged(&ledger), [("ch_1".to_string(), 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_cuts_the_last_attempt_short() {
        let (addr, ledger) = server(vec![Then::Hang; 100]).await;
        let breaker = Breaker::new(BreakerConfig { failure_threshold: 100, ..Default::default() }).unwrap();
        let c = Client::new(addr, breaker, Duration::from_secs(2), Duration::from_secs(3));
        let (r, took) = charge(&c, 300).await;
        assert_eq!(r, Err(ChargeError::DeadlineExceeded));
        // 2 s, 100 ms wait, then 0.9 s left: the second attempt gets 0.9 s, not 2 s.
        assert_eq!(took, Duration::from_secs(3), "returned at the deadline");
        assert!(charged(&ledger).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_stays_busy_opens_the_breaker() {
        let (addr, ledger) = server(vec![Then::Busy; 100]).await;
        let breaker = Breaker::new(BreakerConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
            ..Default::default()
        })
        .unwrap();
        let c = Client::new(addr, breaker, Duration::from_millis(500), Duration::from_secs(10));
        // Five failures (0.1 + 0.2 + 0.4 + 0.8 s of waits) open the breaker: stop there.
        let (r, took) = charge(&c, 100).await;
        assert_eq!(r, Err(ChargeError::Unavailable));
        assert_eq!(ledger.lock().unwrap().connections, 5);
        assert_eq!(
            took,
            Duration::from_millis(1500 + 1600),
            "the wait after the fifth failure, then refused"
        );
        // The next charge is refused without a connection.
        let (r, took) = charge(&c, 100).await;
        assert_eq!((r, took), (Err(ChargeError::Unavailable), Duration::ZERO));
        assert_eq!(ledger.lock().unwrap().connections, 5);
        assert!(charged(&ledger).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_day_of_flaky_network_charges_each_payment_at_most_once() {
        use rand::Rng;
        let mut rng = unbreakable::retry::seeded_rng(2024, 0);
        let script: Vec<Then> = (0..400)
            .map(|_| match rng.random_range(0..10) {
                0..=1 => Then::LoseReply,
                2 => Then::Busy,
                3 => Then::Hang,
                _ => Then::Answer,
            })
            .collect();
        let (addr, ledger) = server(script).await;
        let breaker = Breaker::new(BreakerConfig { failure_threshold: 50, ..Default::default() }).unwrap();
        let c = Client::new(addr, breaker, Duration::from_millis(500), Duration::from_secs(10));
        let mut confirmed = Vec::new();
        for i in 0..60 {
            if let Ok(id) = charge(&c, 100 + i).await.0 {
                confirmed.push(id);
            }
        }
        let charges = charged(&ledger);
        assert!(charges.iter().all(|(_, n)| *n == 1), "a key charged twice");
        assert_eq!(confirmed.len(), 60, "with 10 s each, every payment gets through");
        let mut ids: Vec<String> = charges.into_iter().map(|(id, _)| id).collect();
        confirmed.sort();
        ids.sort();
        assert_eq!(confirmed, ids, "every charge confirmed, none charged without the client knowing");
    }
}
