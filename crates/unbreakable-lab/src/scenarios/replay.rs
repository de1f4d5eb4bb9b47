//! Replay at scale (chapter 10): how much work a rebuild does with and without
//! snapshots, and what it costs in time on each store.
//!
//! [`RebuildWork`] counts events applied, which is deterministic (the chart command
//! draws it). [`time_rebuilds`] measures wall-clock time, which is not: the notebook
//! draws that chart from its own run, and the chart command leaves it out.

use std::time::Instant;

use rand::Rng;

use crate::error::Error;
use crate::events::bank::{Account, Movement};
use crate::events::{
    EventStore, EventStoreError, Expected, MemoryEventStore, MemorySnapshots, Repository, SnapshotPolicy,
    SnapshotStore,
};
use crate::sim::rng;

impl From<EventStoreError> for Error {
    fn from(e: EventStoreError) -> Self {
        Error::Data(e.to_string())
    }
}

/// `n` seeded bank movements that never overdraw: deposits of 1-1000, withdrawals of
/// up to the balance.
pub fn movements(n: u64, seed: u64) -> Vec<Movement> {
    let mut r = rng(seed);
    let mut balance = 0i64;
    (0..n)
        .map(|_| {
            if balance > 0 && r.random_bool(0.4) {
                let amount = r.random_range(1..=balance.min(1000));
                balance -= amount;
                Movement::Withdrawn { amount, memo: String::new() }
            } else {
                let amount = r.random_range(1..=1000);
                balance += amount;
                Movement::Deposited { amount, memo: String::new() }
            }
        })
        .collect()
}

/// Appends `events` to `stream` in batches of `batch`, saving a snapshot whenever an
/// append passes one of `policy`'s points, as `Repository::execute` does. Returns how
/// many snapshots it saved.
///
/// # Errors
/// Store errors.
pub fn fill<St, Sn>(
    store: &mut St,
    snaps: &mut Sn,
    policy: SnapshotPolicy,
    stream: &str,
    events: &[Movement],
    batch: usize,
) -> Result<u64, Error>
where
    St: EventStore<Movement>,
    Sn: SnapshotStore<Account>,
{
    use crate::events::Aggregate;
    let mut state = Account::default();
    let mut saved = 0;
    for chunk in events.chunks(batch.max(1)) {
        let v = store.version(stream)?;
        let after = store.append(stream, Expected::Exactly(v), chunk.to_vec(), v)?.version;
        for e in chunk {
            state.apply(e);
        }
        if policy.due(v, after) {
            snaps.save(stream, after, Account::SNAPSHOT_VERSION, &state)?;
            saved += 1;
        }
    }
    Ok(saved)
}

/// The rebuild-work experiment: one account of `length` movements, rebuilt as of
/// `loads` random versions, under each snapshot interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildWork {
    /// Events in the stream.
    pub length: u64,
    /// Rebuilds, each as of a random version.
    pub loads: usize,
    /// Snapshot intervals (`None`: no snapshots).
    pub intervals: Vec<Option<u64>>,
}

impl Default for RebuildWork {
    /// 100,000 events, 300 rebuilds, no snapshots and every 10, 100 and 1,000 events.
    fn default() -> Self {
        Self { length: 100_000, loads: 300, intervals: vec![None, Some(10), Some(100), Some(1000)] }
    }
}

/// One rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rebuild {
    /// The snapshot interval (`None`: no snapshots).
    pub interval: Option<u64>,
    /// The version rebuilt.
    pub version: u64,
    /// Events applied to get there.
    pub events_applied: u64,
    /// Whether it started from a snapshot.
    pub from_snapshot: bool,
}

impl RebuildWork {
    /// Runs it: every rebuild under every interval, checking that each gives the same
    /// state as a full replay.
    ///
    /// # Errors
    /// A configuration error for an interval of 0; store errors.
    pub fn run(&self, seed: u64) -> Result<Vec<Rebuild>, Error> {
        let events = movements(self.length, seed);
        let mut r = rng(seed ^ 0x5eed);
        let versions: Vec<u64> = (0..self.loads).map(|_| r.random_range(1..=self.length.max(1))).collect();
        let mut out = Vec::new();
        let mut store = MemoryEventStore::new();
        store.append("acct", Expected::Exactly(0), events, 0)?;
        let full =
            Repository::<Account, _, _>::new(store.clone(), MemorySnapshots::new(), SnapshotPolicy::never());
        for &interval in &self.intervals {
            let policy = match interval {
                Some(n) => SnapshotPolicy::every(n)?,
                None => SnapshotPolicy::never(),
            };
            let mut snaps = MemorySnapshots::new();
            if let Some(n) = interval {
                // Snapshots at every multiple of n, as appends one by one would have made.
                let mut state = Account::default();
                for rec in store.stream("acct") {
                    crate::events::Aggregate::apply(&mut state, &rec.event);
                    if rec.version % n == 0 {
                        snaps.save(
                            "acct",
                            rec.version,
                            <Account as crate::events::Aggregate>::SNAPSHOT_VERSION,
                            &state,
                        )?;
                    }
                }
            }
            let repo = Repository::<Account, _, _>::new(store.clone(), snaps, policy);
            for &v in &versions {
                let l = repo.state_at("acct", v)?;
                if interval.is_some() && l.state != full.state_at("acct", v)?.state {
                    return Err(Error::Data(format!(
                        "snapshot + tail differs from a full replay at version {v}"
                    )));
                }
                out.push(Rebuild {
                    interval,
                    version: v,
                    events_applied: l.events_applied,
                    from_snapshot: l.from_snapshot.is_some(),
                });
            }
        }
        Ok(out)
    }
}

/// The costs the chart command draws [`cost_per_command`] with, in microseconds:
/// `(replay one event, read a snapshot, write a snapshot, where they come from)`.
/// Measured on SQLite with `examples/replay_bench.rs` of the core crate (release build,
/// 28 November 2026, the workbook's 2-core build machine: 0.40 us per event read, decoded
/// and applied; a snapshot read 5.2 us; a snapshot written in its own durable commit 70 us);
/// the notebook measures its own and draws the same chart from them.
pub const SNAPSHOT_COSTS: (f64, f64, f64, &str) =
    (0.40, 5.2, 70.0, "SQLite costs measured by replay_bench (release) on the workbook machine");

/// Expected cost of one command (load + append) per snapshot interval `n`, in the units
/// of the inputs: reading a snapshot, replaying on average `(n - 1) / 2` events after it,
/// and writing a snapshot every `n` events.
///
/// Least at `n* = sqrt(2 × snapshot_write / per_event)`.
pub fn cost_per_command(n: u64, per_event: f64, snapshot_read: f64, snapshot_write: f64) -> f64 {
    let n = n.max(1) as f64;
    snapshot_read + per_event * (n - 1.0) / 2.0 + snapshot_write / n
}

/// The interval that minimises [`cost_per_command`] (at least 1).
pub fn best_interval(per_event: f64, snapshot_write: f64) -> f64 {
    (2.0 * snapshot_write / per_event).sqrt().max(1.0)
}

/// One timed rebuild.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Timed {
    /// `"memory"` or `"sqlite"`.
    pub store: &'static str,
    /// Snapshot interval.
    pub interval: Option<u64>,
    /// Stream length.
    pub length: u64,
    /// Events applied.
    pub events_applied: u64,
    /// Wall-clock time of the rebuild, in microseconds (best of `repeats`).
    pub micros: f64,
}

/// Times rebuilding the latest state of streams of each length in `lengths` from `store`
/// and `snaps` (filled with [`fill`] beforehand, one stream per length named
/// `len-{length}`), best of `repeats`. Wall-clock: not deterministic.
///
/// # Errors
/// Store errors.
pub fn time_rebuilds<St, Sn>(
    name: &'static str,
    repo: &Repository<Account, St, Sn>,
    lengths: &[u64],
    repeats: usize,
) -> Result<Vec<Timed>, Error>
where
    St: EventStore<Movement>,
    Sn: SnapshotStore<Account>,
{
    let mut out = Vec::new();
    for &length in lengths {
        let stream = format!("len-{length}");
        let mut best = f64::INFINITY;
        let mut applied = 0;
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            let l = repo.load(&stream)?;
            best = best.min(t.elapsed().as_secs_f64() * 1e6);
            applied = l.events_applied;
            if l.version != length {
                return Err(Error::Data(format!("{stream} is at version {}, not {length}", l.version)));
            }
        }
        out.push(Timed {
            store: name,
            interval: repo.policy().interval(),
            length,
            events_applied: applied,
            micros: best,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_the_distance_to_the_latest_snapshot() {
        let w = RebuildWork { length: 5000, loads: 50, intervals: vec![None, Some(10), Some(100)] };
        let runs = w.run(1).unwrap();
        for r in &runs {
            let want = match r.interval {
                None => r.version,
                Some(n) => r.version % n,
            };
            assert_eq!(r.events_applied, want, "{r:?}");
        }
        assert_eq!(runs, w.run(1).unwrap());
    }

    #[test]
    fn the_best_interval_minimises_the_cost() {
        let (e, w) = (1.0, 50.0);
        let best = best_interval(e, w);
        assert!((best - 10.0).abs() < 1e-9);
        let c = |n| cost_per_command(n, e, 5.0, w);
        assert!(c(10) <= c(9) && c(10) <= c(11) && c(10) < c(100) && c(10) < c(1));
    }
}
