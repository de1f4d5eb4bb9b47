//! One instance runs the migration (chapter 11): a new release starts on several
//! instances within seconds of each other, and the database schema must be migrated once
//! before any of them serves.
//!
//! Each instance, when it starts, checks the schema. Without a lock, every instance that
//! finds the old schema runs the migration, so several run it at once (in a real database
//! the second `ALTER TABLE` fails, waits on the first, or adds a column twice). With a
//! lease lock, the instance that gets the lock checks the schema again *while holding it*,
//! migrates, renews the lease while it works, marks the schema done and releases; the
//! others wait, check the schema at each poll, and serve as soon as it is done.
//!
//! If the migrating instance crashes, its migration is rolled back (migrations run in a
//! transaction, as PostgreSQL's DDL does) and its lease expires a lease after its last
//! renewal; the next instance to ask gets the lock, finds the old schema and runs the
//! migration from the start. A lock without expiry blocks every instance for ever.
//!
//! Start times are random (seeded); everything else is on the pure
//! [`Lease`](unbreakable::lock::Lease).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::ConfigError;
use crate::sim::rng;
use unbreakable::lock::{Lease, Token};

/// How the instances coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Guard {
    /// Each instance checks the schema and migrates if it is old.
    NoLock,
    /// A lease lock around check-and-migrate; the holder renews while it works.
    Lease,
}

impl Guard {
    /// A name for tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Guard::NoLock => "no lock",
            Guard::Lease => "lease lock",
        }
    }
}

/// The experiment's settings.
///
/// # Default
/// 5 instances starting uniformly within 3 s; a 20 s migration; a 10 s lease renewed
/// every 3 s; waiting instances poll every 2 s; no crash (`crash_after: None`); the lease
/// expires (`ttl: Some`); 60 s horizon.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Migration {
    /// Instances of the new release (1 to 50).
    pub instances: u8,
    /// Instances start uniformly at random within this.
    pub start_spread: Duration,
    /// How long the migration takes.
    pub duration: Duration,
    /// The lease; `None` is a lock that never expires.
    pub ttl: Option<Duration>,
    /// The holder renews its lease this often while it migrates (shorter than the lease).
    pub renew_every: Duration,
    /// A waiting instance checks the schema and asks for the lock this often.
    pub poll: Duration,
    /// The first instance to start migrating crashes this long after it started.
    pub crash_after: Option<Duration>,
    /// When the experiment ends.
    pub horizon: Duration,
}

impl Default for Migration {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            instances: 5,
            start_spread: s(3),
            duration: s(20),
            ttl: Some(s(10)),
            renew_every: s(3),
            poll: s(2),
            crash_after: None,
            horizon: s(60),
        }
    }
}

/// What a bar of the timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpanKind {
    /// Started, waiting: the lock is held by another instance.
    Waiting,
    /// Running the migration.
    Migrating,
    /// Crashed (the rest of the run).
    Crashed,
    /// Serving requests on the new schema.
    Serving,
}

/// A bar of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Instance 1, 2, ...
    pub instance: u8,
    /// What it shows.
    pub kind: SpanKind,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationRun {
    /// The coordination.
    pub guard: Guard,
    /// When each instance started, seconds.
    pub starts: Vec<f64>,
    /// The timeline.
    pub spans: Vec<Span>,
    /// Migrations started.
    pub started: u32,
    /// Migrations that completed (more than one: the schema was changed twice).
    pub completed: u32,
    /// The most migrations running at one time.
    pub most_at_once: u32,
    /// When the schema first reached the new version, seconds.
    pub ready_at: Option<f64>,
    /// When the last instance started serving, if all did.
    pub all_serving_at: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    // Ordered so that at one instant a migration finishes before anyone checks the schema.
    Finish,
    Crash,
    Renew,
    Start,
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Waiting { since: Duration },
    Migrating { since: Duration, token: Token },
    Crashed,
    Serving,
}

impl Migration {
    /// Checks the settings.
    ///
    /// # Errors
    /// No instances or more than 50, a zero migration, poll or renewal, a renewal not
    /// shorter than the lease, or a horizon not past the starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.instances == 0 || self.instances > 50 {
            return Err(ConfigError::new("instances", "use 1 to 50 instances"));
        }
        if self.duration.is_zero() || self.poll.is_zero() || self.renew_every.is_zero() {
            return Err(ConfigError::new(
                "duration",
                "the migration, the poll and the renewal interval must all be above zero",
            ));
        }
        if self.ttl.is_some_and(|t| self.renew_every >= t) {
            return Err(ConfigError::new(
                "renew_every",
                "renew more often than the lease lasts, or the lease runs out while the holder works",
            ));
        }
        if self.horizon <= self.start_spread {
            return Err(ConfigError::new("horizon", "the experiment must run past the last start"));
        }
        Ok(())
    }

    /// Runs the deployment under `guard` with start times drawn from `seed`.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn run(&self, guard: Guard, seed: u64) -> Result<MigrationRun, ConfigError> {
        self.validate()?;
        let mut r = rng(seed);
        let n = usize::from(self.instances);
        let starts: Vec<Duration> = (0..n).map(|_| self.start_spread.mul_f64(r.random::<f64>())).collect();
        let ttl = self.ttl.unwrap_or(Duration::MAX);
        let mut lock = Lease::new();
        let mut state = vec![State::NotStarted; n];
        let mut spans = Vec::new();
        let (mut started, mut completed, mut running, mut most_at_once) = (0u32, 0u32, 0u32, 0u32);
        let mut ready: Option<Duration> = None;
        let mut crash_used = self.crash_after.is_none();
        let mut queue: BinaryHeap<Reverse<(Duration, Step, usize)>> =
            starts.iter().enumerate().map(|(i, &t)| Reverse((t, Step::Start, i))).collect();
        let secs = |d: Duration| d.as_secs_f64();
        let owner = |i: usize| format!("instance-{}", i + 1);
        let id = |i: usize| u8::try_from(i + 1).unwrap_or(u8::MAX);

        while let Some(Reverse((now, step, i))) = queue.pop() {
            if now >= self.horizon {
                break;
            }
            match (step, state[i]) {
                (Step::Start | Step::Poll, State::NotStarted | State::Waiting { .. }) => {
                    let since = match state[i] {
                        State::Waiting { since } => since,
                        _ => now,
                    };
                    if ready.is_some() {
                        if since < now {
                            spans.push(Span {
                                instance: id(i),
                                kind: SpanKind::Waiting,
                                start: secs(since),
                                end: secs(now),
                            });
                        }
                        state[i] = State::Serving;
                        spans.push(Span {
                            instance: id(i),
                            kind: SpanKind::Serving,
                            start: secs(now),
                            end: secs(self.horizon),
                        });
                        continue;
                    }
                    let token = match guard {
                        Guard::NoLock => Some(Token(0)),
                        Guard::Lease => lock.acquire(&owner(i), ttl, now).ok(),
                    };
                    match token {
                        Some(token) => {
                            if since < now {
                                spans.push(Span {
                                    instance: id(i),
                                    kind: SpanKind::Waiting,
                                    start: secs(since),
                                    end: secs(now),
                                });
                            }
                            state[i] = State::Migrating { since: now, token };
                            started += 1;
                            running += 1;
                            most_at_once = most_at_once.max(running);
                            queue.push(Reverse((now + self.duration, Step::Finish, i)));
                            if guard == Guard::Lease {
                                queue.push(Reverse((now + self.renew_every, Step::Renew, i)));
                            }
                            if !crash_used {
                                crash_used = true;
                                queue.push(Reverse((
                                    now + self.crash_after.unwrap_or_default(),
                                    Step::Crash,
                                    i,
                                )));
                            }
                        }
                        None => {
                            state[i] = State::Waiting { since };
                            queue.push(Reverse((now + self.poll, Step::Poll, i)));
                        }
                    }
                }
                (Step::Renew, State::Migrating { token, .. })
                    if lock.renew(&owner(i), token, ttl, now).is_ok() =>
                {
                    queue.push(Reverse((now + self.renew_every, Step::Renew, i)));
                }
                (Step::Crash, State::Migrating { since, .. }) => {
                    // The transaction is rolled back; the lease is left to expire.
                    running -= 1;
                    state[i] = State::Crashed;
                    spans.push(Span {
                        instance: id(i),
                        kind: SpanKind::Migrating,
                        start: secs(since),
                        end: secs(now),
                    });
                    spans.push(Span {
                        instance: id(i),
                        kind: SpanKind::Crashed,
                        start: secs(now),
                        end: secs(self.horizon),
                    });
                }
                (Step::Finish, State::Migrating { since, token }) => {
                    running -= 1;
                    completed += 1;
                    ready.get_or_insert(now);
                    if guard == Guard::Lease {
                        lock.release(&owner(i), token, now);
                    }
                    state[i] = State::Serving;
                    spans.push(Span {
                        instance: id(i),
                        kind: SpanKind::Migrating,
                        start: secs(since),
                        end: secs(now),
                    });
                    spans.push(Span {
                        instance: id(i),
                        kind: SpanKind::Serving,
                        start: secs(now),
                        end: secs(self.horizon),
                    });
                }
                // A renewal or finish of an instance that crashed, and so on: nothing.
                _ => {}
            }
        }
        // Instances still waiting at the horizon.
        for (i, s) in state.iter().enumerate() {
            if let State::Waiting { since } = *s {
                spans.push(Span {
                    instance: id(i),
                    kind: SpanKind::Waiting,
                    start: secs(since),
                    end: secs(self.horizon),
                });
            }
        }
        let serving: Vec<f64> =
            spans.iter().filter(|s| s.kind == SpanKind::Serving).map(|s| s.start).collect();
        let crashed = state.iter().filter(|s| **s == State::Crashed).count();
        let all_serving_at =
            (serving.len() + crashed == n).then(|| serving.iter().copied().fold(0.0, f64::max));
        Ok(MigrationRun {
            guard,
            starts: starts.iter().map(|&d| secs(d)).collect(),
            spans,
            started,
            completed,
            most_at_once,
            ready_at: ready.map(secs),
            all_serving_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: u64 = 42;

    #[test]
    fn without_a_lock_every_instance_migrates_at_once() {
        let m = Migration::default();
        let r = m.run(Guard::NoLock, SEED).unwrap();
        // All five start within 3 s, long before a 20 s migration ends.
        assert_eq!((r.started, r.completed, r.most_at_once), (5, 5, 5));
    }

    #[test]
    fn with_a_lease_one_migrates_and_all_serve_soon_after() {
        let m = Migration::default();
        let r = m.run(Guard::Lease, SEED).unwrap();
        assert_eq!((r.started, r.completed, r.most_at_once), (1, 1, 1));
        let first = r.starts.iter().copied().fold(f64::INFINITY, f64::min);
        let ready = r.ready_at.unwrap();
        assert!((ready - (first + 20.0)).abs() < 1e-9, "the first to start migrates: ready at {ready}");
        // Every waiting instance serves at its first poll after the schema is ready.
        assert!(r.all_serving_at.unwrap() <= ready + 2.0 + 1e-9);
    }

    #[test]
    fn a_crash_costs_a_lease_and_a_restart_and_no_expiry_costs_everything() {
        let m = Migration { crash_after: Some(Duration::from_secs(8)), ..Migration::default() };
        let r = m.run(Guard::Lease, SEED).unwrap();
        assert_eq!((r.started, r.completed, r.most_at_once), (2, 1, 1));
        let first = r.starts.iter().copied().fold(f64::INFINITY, f64::min);
        // The crash at first + 8 s; the last renewal at first + 6 s, so the lease ends at
        // first + 16 s; the next poll after that takes the lock and migrates for 20 s.
        let ready = r.ready_at.unwrap();
        assert!(ready >= first + 16.0 + 20.0 && ready <= first + 16.0 + 2.0 + 20.0, "ready at {ready}");
        assert_eq!(r.spans.iter().filter(|s| s.kind == SpanKind::Crashed).count(), 1);

        let forever = Migration { ttl: None, ..m };
        let r = forever.run(Guard::Lease, SEED).unwrap();
        assert_eq!((r.started, r.completed, r.ready_at, r.all_serving_at), (1, 0, None, None));
        assert_eq!(
            r.spans.iter().filter(|s| s.kind == SpanKind::Waiting).count(),
            4,
            "the other four wait to the end"
        );
    }

    #[test]
    fn same_seed_same_run_and_bad_settings_are_refused() {
        let m = Migration::default();
        assert_eq!(m.run(Guard::Lease, 7).unwrap(), m.run(Guard::Lease, 7).unwrap());
        assert_ne!(m.run(Guard::Lease, 7).unwrap().starts, m.run(Guard::Lease, 8).unwrap().starts);
        assert!(
            Migration { instances: 0, ..m }
                .run(Guard::Lease, 1)
                .unwrap_err()
                .to_string()
                .contains("instances")
        );
        assert!(
            Migration { renew_every: Duration::from_secs(10), ..m }
                .validate()
                .unwrap_err()
                .to_string()
                .contains("renew")
        );
        assert!(Migration { poll: Duration::ZERO, ..m }.validate().is_err());
    }
}
