//! Two clients and one lock around an account (chapter 11): a double spend without a
//! lock, the pause that breaks a lease, fencing that makes it harmless, and a holder that
//! crashes without an expiry.
//!
//! Both clients do the same read-check-write: read the balance, and if it covers the
//! debit, write the new balance and pay the money out (only once the write is accepted).
//! Client 1 takes the lock at 0 s, reads, checks that its lease is valid and is about to
//! write when it stops (a garbage-collection pause, or a crash). Client 2 asks for the
//! lock every `poll`; once it has it, it reads, writes and pays after `work`, and
//! releases. When client 1 wakes it writes the balance it computed before the pause.
//!
//! Everything is on the pure [`Lease`] and [`FencedResource`]: no randomness, so the
//! result is a function of the settings alone.

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;
use unbreakable::lock::{FencedResource, Lease, Token};

/// What protects the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Protection {
    /// Nothing: client 2 does not wait for anyone.
    NoLock,
    /// A lease lock; the account accepts any write.
    Lease,
    /// A lease lock, and the account refuses writes with an older fencing token.
    LeaseAndFencing,
}

impl Protection {
    /// All three, in order.
    pub const ALL: [Protection; 3] = [Protection::NoLock, Protection::Lease, Protection::LeaseAndFencing];

    /// A name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Protection::NoLock => "no lock",
            Protection::Lease => "lease only",
            Protection::LeaseAndFencing => "lease + fencing token",
        }
    }
}

/// What happens to client 1 after it read the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Stop {
    /// It pauses this long, then writes.
    Pause(Duration),
    /// It crashes and never comes back.
    Crash,
}

/// The experiment's settings.
///
/// # Default
/// Balance 100; client 1 debits 80, client 2 debits 50; a 10 s lease (`None`: a lock
/// without expiry); client 1 stops at 1 s for a 15 s pause; client 2 asks every 1 s from
/// 0.5 s and needs 1 s from read to write; 60 s horizon.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PauseRace {
    /// Opening balance.
    pub balance: u64,
    /// Client 1's debit.
    pub debit1: u64,
    /// Client 2's debit.
    pub debit2: u64,
    /// The lease; `None` is a lock that never expires.
    pub ttl: Option<Duration>,
    /// When client 1 stops (after reading).
    pub stop_at: Duration,
    /// How it stops.
    pub stop: Stop,
    /// Client 2's first request.
    pub first_poll: Duration,
    /// Client 2's time between requests.
    pub poll: Duration,
    /// Client 2's time from read to write.
    pub work: Duration,
    /// When the experiment ends.
    pub horizon: Duration,
}

impl Default for PauseRace {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            balance: 100,
            debit1: 80,
            debit2: 50,
            ttl: Some(s(10)),
            stop_at: s(1),
            stop: Stop::Pause(s(15)),
            first_poll: Duration::from_millis(500),
            poll: s(1),
            work: s(1),
            horizon: s(60),
        }
    }
}

/// What a bar of the timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpanKind {
    /// The lock service counts this client as the holder.
    Holds,
    /// The client is stopped (paused or crashed).
    Stopped,
    /// The client asks for the lock and is refused.
    Waiting,
    /// A write was accepted and the money paid out.
    Paid,
    /// A write was refused (stale token).
    Refused,
}

/// A bar of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Client 1 or 2.
    pub client: u8,
    /// What it shows.
    pub kind: SpanKind,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaceRun {
    /// The protection.
    pub protection: Protection,
    /// The timeline.
    pub spans: Vec<Span>,
    /// Money paid out.
    pub paid_out: u64,
    /// The balance at the end.
    pub final_balance: u64,
    /// When client 2 got the lock, if it did.
    pub client2_acquired: Option<Duration>,
    /// Writes refused for a stale token.
    pub refused: u32,
}

impl RaceRun {
    /// Money paid out beyond what the account held: the double spend.
    pub fn overdrawn(&self, opening: u64) -> u64 {
        self.paid_out.saturating_sub(opening)
    }

    /// Whether the books balance: opening balance = final balance + money paid out.
    pub fn consistent(&self, opening: u64) -> bool {
        opening == self.final_balance + self.paid_out
    }
}

/// Writes `debit` with `token` for client `who`: the account refuses an older token if
/// `fenced`.
fn pay(
    account: &mut FencedResource<u64>,
    fenced: bool,
    (token, who): (Token, u8),
    seen: u64,
    debit: u64,
) -> bool {
    let holder = format!("client-{who}");
    if fenced && account.check(token, &holder).is_err() {
        return false;
    }
    // Without fencing the write goes through whatever the token: the account is a plain
    // value, written with the balance the client computed from what it read.
    let (token, holder) = match (account.newest(), account.newest_holder()) {
        (Some(n), Some(h)) if n >= token => (n, h.to_string()),
        _ => (token, holder),
    };
    let _ = account.write(token, &holder, |b| *b = seen - debit);
    true
}

impl PauseRace {
    /// Checks the settings.
    ///
    /// # Errors
    /// A debit larger than the balance, a zero poll, or a horizon before client 1 stops.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.debit1 > self.balance || self.debit2 > self.balance {
            return Err(ConfigError::new(
                "debit1",
                "each debit must fit in the opening balance, or nothing is at stake",
            ));
        }
        if self.poll.is_zero() {
            return Err(ConfigError::new("poll", "client 2 needs a time between requests above zero"));
        }
        if self.horizon <= self.stop_at {
            return Err(ConfigError::new(
                "horizon",
                "the experiment must run past the moment client 1 stops",
            ));
        }
        Ok(())
    }

    /// Runs the race under `protection`.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn run(&self, protection: Protection) -> Result<RaceRun, ConfigError> {
        self.validate()?;
        let secs = |d: Duration| d.as_secs_f64();
        let ttl = self.ttl.unwrap_or(Duration::MAX);
        let locked = protection != Protection::NoLock;
        let fenced = protection == Protection::LeaseAndFencing;
        let mut lock = Lease::new();
        let mut account = FencedResource::new(self.balance);
        let mut spans = Vec::new();
        let (mut paid_out, mut refused) = (0, 0);

        // Client 1: lock at 0, read at 0, stop at `stop_at` with its write pending.
        let t1 =
            if locked { lock.acquire("client-1", ttl, Duration::ZERO).unwrap_or(Token(0)) } else { Token(0) };
        let seen1 = *account.value();
        let wake = match self.stop {
            Stop::Pause(p) => Some(self.stop_at + p),
            Stop::Crash => None,
        };
        let stop_end = wake.unwrap_or(self.horizon).min(self.horizon);
        spans.push(Span {
            client: 1,
            kind: SpanKind::Stopped,
            start: secs(self.stop_at),
            end: secs(stop_end),
        });

        // Client 2: ask until granted.
        let mut t = self.first_poll;
        let mut acquired = None;
        while t < self.horizon {
            let got = if locked { lock.acquire("client-2", ttl, t).ok() } else { Some(Token(0)) };
            if let Some(token) = got {
                acquired = Some((t, token));
                break;
            }
            spans.push(Span {
                client: 2,
                kind: SpanKind::Waiting,
                start: secs(t),
                end: secs(t + self.poll / 4),
            });
            t += self.poll;
        }
        // Client 1's lease, as the lock service counts it.
        if locked {
            let end = acquired.map_or(self.horizon, |(at, _)| at).min(ttl).min(self.horizon);
            spans.push(Span { client: 1, kind: SpanKind::Holds, start: 0.0, end: secs(end) });
        }
        let mut events: Vec<(Duration, u8)> = Vec::new();
        if let Some((at, _)) = acquired {
            events.push((at + self.work, 2));
        }
        if let Some(w) = wake.filter(|w| *w < self.horizon) {
            events.push((w, 1));
        }
        events.sort();
        let mut seen2 = None;
        if let Some((at, _)) = acquired {
            // Client 2 reads when it gets the lock: before client 1's late write, or after.
            if wake.is_none_or(|w| at < w) {
                seen2 = Some(*account.value());
            }
        }
        for (at, who) in events {
            let (token, seen, debit) = match who {
                1 => (t1, seen1, self.debit1),
                _ => {
                    let token = acquired.map_or(Token(0), |a| a.1);
                    let seen = seen2.unwrap_or(*account.value());
                    (token, seen, self.debit2)
                }
            };
            let enough = seen >= debit;
            let ok = enough && pay(&mut account, fenced, (token, who), seen, debit);
            if ok {
                paid_out += debit;
            } else if enough {
                refused += 1;
            }
            let kind = if ok { SpanKind::Paid } else { SpanKind::Refused };
            spans.push(Span { client: who, kind, start: secs(at), end: secs(at) + 0.4 });
            if who == 2 && locked {
                let (from, token) = acquired.unwrap_or((at, Token(0)));
                spans.push(Span { client: 2, kind: SpanKind::Holds, start: secs(from), end: secs(at) });
                lock.release("client-2", token, at);
            }
        }
        Ok(RaceRun {
            protection,
            spans,
            paid_out,
            final_balance: *account.value(),
            client2_acquired: acquired.map(|a| a.0),
            refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_lock_both_pay_and_the_books_do_not_balance() {
        let r = PauseRace::default().run(Protection::NoLock).unwrap();
        assert_eq!(r.paid_out, 130);
        assert_eq!(r.overdrawn(100), 30);
        assert!(!r.consistent(100));
    }

    #[test]
    fn a_pause_past_the_lease_double_spends_unless_fenced() {
        let x = PauseRace::default();
        let lease = x.run(Protection::Lease).unwrap();
        assert_eq!(lease.client2_acquired, Some(Duration::from_millis(10_500)));
        assert_eq!(lease.paid_out, 130, "client 1 wakes at 16 s and writes its stale balance");
        assert_eq!(lease.final_balance, 20);
        let fenced = x.run(Protection::LeaseAndFencing).unwrap();
        assert_eq!((fenced.paid_out, fenced.final_balance, fenced.refused), (50, 50, 1));
        assert!(fenced.consistent(100));
    }

    #[test]
    fn a_short_pause_is_harmless_and_a_lock_without_expiry_blocks_forever() {
        let short = PauseRace { stop: Stop::Pause(Duration::from_secs(2)), ..PauseRace::default() };
        let r = short.run(Protection::Lease).unwrap();
        assert_eq!((r.paid_out, r.final_balance), (80, 20), "client 2 sees 20 and cannot pay 50");
        assert!(r.consistent(100));
        let forever = PauseRace { ttl: None, stop: Stop::Crash, ..PauseRace::default() };
        let r = forever.run(Protection::Lease).unwrap();
        assert_eq!(r.client2_acquired, None);
        assert_eq!(r.paid_out, 0);
        let expiring = PauseRace { stop: Stop::Crash, ..PauseRace::default() };
        assert_eq!(
            expiring.run(Protection::Lease).unwrap().client2_acquired,
            Some(Duration::from_millis(10_500))
        );
    }
}
