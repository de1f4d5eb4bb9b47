//! Two-phase commit when the coordinator crashes: how long locks are held and how many
//! requests they block (chapter 07).
//!
//! One transaction over `participants` services starts at time 0; each participant
//! locks the rows it touches while it works and keeps them until the decision arrives.
//! Meanwhile other requests for those rows arrive at `request_rate` per second per
//! participant and wait. The coordinator (the crate's pure [`Coordinator`]) crashes at a
//! chosen point and restarts `downtime` later:
//!
//! * after sending the prepares: the votes are lost; on restart it finds no decision in
//!   its log and aborts (presumed abort);
//! * after logging its decision, before sending it: on restart it sends the logged
//!   decision.
//!
//! Either way, prepared participants hold their locks for the whole downtime: they voted
//! yes, so they may not decide alone. The expected number of blocked requests is
//! `request_rate * participants * lock time`.

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;
use crate::scenarios::order_saga::{OrderSaga, SpanKind};
use crate::sim::{Arrivals, Latency, SimTime, rng};
use crate::transactions::two_phase::{Coordinator, Msg, Outcome, Participant, Vote};

/// Where the coordinator crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CrashAt {
    /// It does not.
    Never,
    /// Right after sending the prepares.
    AfterPrepare,
    /// Right after logging its decision, before telling anyone.
    AfterDecision,
}

impl CrashAt {
    /// A name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            CrashAt::Never => "no crash",
            CrashAt::AfterPrepare => "crash after prepare",
            CrashAt::AfterDecision => "crash after logging the decision",
        }
    }
}

/// The experiment's settings.
///
/// # Default
/// 3 participants, all voting yes; messages take 2-8 ms; the coordinator crashes after
/// the prepares and is down 30 s; 10 other requests per second per participant need the
/// locked rows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Blocking {
    /// Participants.
    pub participants: usize,
    /// Whether one participant votes no.
    pub one_votes_no: bool,
    /// One-way message time.
    pub message_delay: Latency,
    /// Where the coordinator crashes.
    pub crash: CrashAt,
    /// How long it is down.
    pub downtime: Duration,
    /// Other requests per second per participant that need the locked rows.
    pub request_rate: f64,
}

impl Default for Blocking {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Self {
            participants: 3,
            one_votes_no: false,
            message_delay: Latency::Uniform { lo: ms(2), hi: ms(8) },
            crash: CrashAt::AfterPrepare,
            downtime: Duration::from_secs(30),
            request_rate: 10.0,
        }
    }
}

/// What one transaction cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocked {
    /// The decision every participant applied.
    pub decision: Outcome,
    /// How long each participant held its locks.
    pub lock_held: Vec<Duration>,
    /// Other requests that had to wait for a lock.
    pub blocked: u64,
    /// Their mean wait, in seconds.
    pub mean_wait_s: f64,
}

impl Blocked {
    /// The longest lock hold.
    pub fn max_lock(&self) -> Duration {
        self.lock_held.iter().copied().max().unwrap_or_default()
    }
}

impl Blocking {
    /// Checks the settings.
    ///
    /// # Errors
    /// Fewer than 2 or more than 100 participants, or a rate or latency the samplers refuse.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=100).contains(&self.participants) {
            return Err(ConfigError::new("participants", "two-phase commit needs 2 to 100 participants"));
        }
        self.message_delay.validate()
    }

    /// Runs one transaction.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn run(&self, seed: u64) -> Result<Blocked, ConfigError> {
        self.validate()?;
        let mut r = rng(seed);
        let n = self.participants;
        let mut parts: Vec<Participant> = (0..n)
            .map(|i| Participant::new(i, if self.one_votes_no && i == n - 1 { Vote::No } else { Vote::Yes }))
            .collect();
        let mut coord = Coordinator::new(n);
        let mut d = || self.message_delay.sample(&mut r);
        let prepares = coord.start();
        // Votes, in order of arrival at the coordinator.
        let mut votes: Vec<(SimTime, Msg)> = prepares
            .iter()
            .filter_map(|m| match m {
                Msg::Prepare(p) => Some(*p),
                _ => None,
            })
            .map(|p| {
                let at_participant = d();
                (at_participant + d(), parts[p].on_prepare())
            })
            .collect();
        votes.sort_by_key(|v| v.0);
        let mut decisions: Vec<(SimTime, Msg)> = Vec::new();
        let mut crashed_at = SimTime::ZERO;
        if self.crash == CrashAt::AfterPrepare {
            coord.crash();
        }
        for (at, v) in &votes {
            if let Msg::Voted(p, vote) = v {
                let out = coord.on_vote(*p, *vote);
                if !out.is_empty() && decisions.is_empty() && coord.is_up() {
                    if self.crash == CrashAt::AfterDecision {
                        coord.crash(); // logged, not sent
                        crashed_at = *at;
                    } else {
                        decisions = out.into_iter().map(|m| (*at, m)).collect();
                    }
                }
            }
        }
        if !coord.is_up() {
            let back = crashed_at + self.downtime;
            decisions = coord.recover().into_iter().map(|m| (back, m)).collect();
        }
        let mut lock_held = vec![SimTime::ZERO; n];
        let mut decision = Outcome::Abort;
        for (sent, m) in decisions {
            if let Msg::Decide(p, out) = m {
                let arrives = sent + d();
                parts[p].on_decide(out).map_err(|e| ConfigError::new("protocol", e.to_string()))?;
                lock_held[p] = arrives;
                decision = out;
            }
        }
        // A participant that voted no released its locks when it voted.
        for (p, part) in parts.iter().enumerate() {
            if part.vote == Vote::No {
                lock_held[p] = lock_held[p].min(
                    votes
                        .iter()
                        .find(|v| matches!(v.1, Msg::Voted(q, _) if q == p))
                        .map_or(SimTime::ZERO, |v| v.0),
                );
            }
        }
        let (mut blocked, mut waited) = (0u64, 0.0);
        let arrivals = Arrivals::flat(self.request_rate);
        for held in &lock_held {
            for t in arrivals.sample(*held, &mut r)? {
                blocked += 1;
                waited += (*held - t).as_secs_f64();
            }
        }
        Ok(Blocked {
            decision,
            lock_held,
            blocked,
            mean_wait_s: if blocked > 0 { waited / blocked as f64 } else { 0.0 },
        })
    }

    /// The downtimes the blocking chart sweeps: 0 to 120 s.
    pub fn downtimes() -> Vec<Duration> {
        (0..=12).map(|i| Duration::from_secs(i * 10)).collect()
    }
}

/// One design under a coordinator (or orchestrator) outage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The design.
    pub design: &'static str,
    /// The longest time any service held locks for the transaction.
    pub lock_s: f64,
    /// Other requests that waited for those locks.
    pub blocked: u64,
    /// How long a user could see a half-done order (charged but not shipped, say); for 2PC,
    /// a reader that waits for its locks.
    pub intermediate_visible_s: f64,
}

/// 2PC against the saga, the coordinator or orchestrator down for `downtime` halfway:
/// 2PC holds locks (and blocks others) for the outage, and shows no half-done order to
/// readers that wait for those locks (readers that take none can see one: atomic
/// commitment is not atomic visibility);
/// the saga holds no cross-service locks but shows its intermediate state for the outage.
///
/// # Errors
/// Invalid settings.
pub fn compare(downtime: Duration, seed: u64) -> Result<Vec<Comparison>, ConfigError> {
    let twopc = Blocking { downtime, ..Blocking::default() }.run(seed)?;
    let saga = OrderSaga::default().run(seed)?;
    let steps: Vec<_> = saga.spans.iter().filter(|s| s.kind == SpanKind::Step).collect();
    let visible = match (steps.first(), steps.last()) {
        (Some(a), Some(b)) => (b.start - a.end).as_secs_f64(),
        _ => 0.0,
    };
    Ok(vec![
        Comparison {
            design: "two-phase commit",
            lock_s: twopc.max_lock().as_secs_f64(),
            blocked: twopc.blocked,
            intermediate_visible_s: 0.0,
        },
        Comparison {
            design: "saga",
            lock_s: 0.0,
            blocked: 0,
            intermediate_visible_s: visible + downtime.as_secs_f64(),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_last_the_downtime_and_block_in_proportion() {
        for crash in [CrashAt::AfterPrepare, CrashAt::AfterDecision] {
            let b = Blocking { crash, ..Blocking::default() };
            let run = b.run(3).unwrap();
            let lock = run.max_lock().as_secs_f64();
            assert!((30.0..30.05).contains(&lock), "{crash:?}: {lock}");
            // Poisson: blocked ~ 10/s x 3 participants x 30 s = 900, sd 30.
            let expected: f64 = run.lock_held.iter().map(|h| h.as_secs_f64() * b.request_rate).sum();
            assert!(
                (run.blocked as f64 - expected).abs() < 4.0 * expected.sqrt(),
                "{} vs {expected}",
                run.blocked
            );
        }
        assert_eq!(
            Blocking { crash: CrashAt::AfterPrepare, ..Blocking::default() }.run(1).unwrap().decision,
            Outcome::Abort
        );
        assert_eq!(
            Blocking { crash: CrashAt::AfterDecision, ..Blocking::default() }.run(1).unwrap().decision,
            Outcome::Commit
        );
        let fine = Blocking { crash: CrashAt::Never, ..Blocking::default() }.run(1).unwrap();
        assert!(fine.max_lock() < Duration::from_millis(30) && fine.decision == Outcome::Commit);
    }

    #[test]
    fn a_no_vote_aborts_and_its_voter_does_not_wait() {
        let run = Blocking { one_votes_no: true, ..Blocking::default() }.run(2).unwrap();
        assert_eq!(run.decision, Outcome::Abort);
        assert!(run.lock_held[2] < Duration::from_millis(20));
        let c = compare(Duration::from_secs(30), 1).unwrap();
        assert!(c[0].blocked > 0 && c[1].blocked == 0 && c[1].intermediate_visible_s >= 30.0);
    }
}
