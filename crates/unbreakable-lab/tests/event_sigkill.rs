//! Durability of the SQLite event store under SIGKILL.
//!
//! A writer process appends batches of 1-5 events to three streams; we kill it with
//! SIGKILL at random points (a random number of acknowledgements in, plus up to 0.5 ms)
//! and start it again on the same file, until it finishes. Afterwards every
//! acknowledged append is on disk, every stream's versions run 1, 2, 3... without a gap,
//! and every batch is whole: nothing half-written is visible.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use unbreakable_lab::events::sqlite::SqliteEventStore;
use unbreakable_lab::events::{EventStore, EventType};
use unbreakable_lab::sim::rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Mark {
    first: u64,
    size: u32,
    index: u32,
}

impl EventType for Mark {
    fn event_type(&self) -> &'static str {
        "Mark"
    }
}

const PER_STREAM: u64 = 300;
const KILLS: usize = 25;

/// Runs the writer; with `kill` = `(n, pause)`, SIGKILLs it `pause` after its `n`-th
/// acknowledgement. Returns the acknowledged `(stream, version)`s and whether it was
/// killed before finishing.
fn writer(db: &Path, kill: Option<(usize, Duration)>) -> (Vec<(String, u64)>, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_event-writer"))
        .arg(db)
        .arg(PER_STREAM.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the writer starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let (mut acks, mut killed) = (Vec::new(), false);
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        if let ["ack", stream, v] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            acks.push((stream.to_string(), v.parse().expect("a version")));
        }
        if let Some((n, pause)) = kill {
            if acks.len() >= n && !killed {
                std::thread::sleep(pause);
                killed = child.kill().is_ok();
            }
        }
    }
    let status = child.wait().expect("the writer ends");
    if !killed {
        assert!(status.success(), "the writer failed: {status}");
    }
    (acks, killed && !status.success())
}

/// Checks the file: integrity, every acknowledged version present, versions without
/// gaps, every batch whole; with `complete`, every stream at its full length.
fn verify(db: &Path, acked: &BTreeMap<String, u64>, complete: bool) {
    let store = SqliteEventStore::<Mark>::open(db).unwrap();
    let check: String = store.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    for (stream, &max_acked) in acked {
        let events = store.read_stream(stream, 1).unwrap();
        let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{stream}: versions without gaps"
        );
        assert!(
            versions.len() as u64 >= max_acked,
            "{stream}: acknowledged version {max_acked} lost (on disk: {})",
            versions.len()
        );
        if complete {
            assert_eq!(versions.len() as u64, PER_STREAM, "{stream}: all written");
        }
        // Every batch whole: its events are versions first..first+size, indices in order.
        for e in &events {
            assert_eq!(
                e.version,
                e.event.first + u64::from(e.event.index),
                "{stream} v{}: {:?}",
                e.version,
                e.event
            );
        }
        let mut i = 0;
        while i < events.len() {
            let m = events[i].event;
            assert_eq!(m.index, 0, "{stream}: a batch starts at index 0");
            let end = i + m.size as usize;
            assert!(end <= events.len(), "{stream}: the batch at v{} is cut short", m.first);
            assert!(
                events[i..end].iter().all(|e| e.event.first == m.first && e.event.size == m.size),
                "{stream}: batch at v{} is whole",
                m.first
            );
            i = end;
        }
    }
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_append_and_shows_no_half_batch() {
    let dir = std::env::temp_dir().join(format!("unbreakable-event-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("events.db");
    let mut r = rng(2026);
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let (mut runs, mut cut_short) = (0, 0);
    for _ in 0..KILLS {
        runs += 1;
        let kill = (r.random_range(0..40), Duration::from_micros(r.random_range(0..500)));
        let (acks, killed) = writer(&db, Some(kill));
        cut_short += usize::from(killed);
        for (s, v) in acks {
            let e = acked.entry(s).or_default();
            *e = (*e).max(v);
        }
        // Right after the kill, before anything else writes: every acknowledged append
        // is there, and no batch is half-written.
        verify(&db, &acked, false);
        if !killed {
            break;
        }
    }
    eprintln!("{cut_short} of {runs} runs killed mid-way");
    assert!(cut_short >= 5, "only {cut_short} kills landed before the writer finished");
    let (last, _) = writer(&db, None);
    for (s, v) in last {
        let e = acked.entry(s).or_default();
        *e = (*e).max(v);
    }

    verify(&db, &acked, true);
    assert_eq!(acked.len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
