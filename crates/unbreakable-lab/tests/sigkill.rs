//! Durability of the idempotent SQLite ledger under SIGKILL.
//!
//! A worker process applies 400 keyed transfers; we kill it with SIGKILL at random
//! points (a random number of acknowledgements in, plus up to 0.5 ms), restart it on the
//! same file and send every request again, then let it finish. Afterwards every transfer is
//! applied exactly once, every acknowledgement names the transaction that is on disk, and
//! no money was created or lost.

#![cfg(unix)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;
use unbreakable_lab::idempotency::ledger::Ledger;
use unbreakable_lab::idempotency::sqlite::SqliteLedger;
use unbreakable_lab::idempotency::{IdempotencyKey, Policy};
use unbreakable_lab::sim::rng;

const ACCOUNTS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
const OPENING: i64 = 1_000_000;
const TRANSFERS: usize = 400;
const KILLS: usize = 25;

/// Runs the worker on `requests`. With `kill` = `(n, pause)`, kills it with SIGKILL
/// `pause` after its `n`-th acknowledgement, while it is working on the next transfer.
/// Returns the acknowledgements it printed, and whether the kill landed before it had
/// finished.
fn worker(db: &Path, requests: &Path, kill: Option<(usize, Duration)>) -> (Vec<(String, u64)>, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-worker"))
        .arg(db)
        .arg(requests)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the worker starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut acks = Vec::new();
    let mut killed = false;
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split_whitespace().collect();
        if let ["ack", key, tx, _] = f.as_slice() {
            if let Ok(tx) = tx.parse() {
                acks.push((key.to_string(), tx));
            }
        }
        if let Some((n, pause)) = kill {
            if acks.len() >= n && !killed {
                std::thread::sleep(pause);
                killed = child.kill().is_ok(); // SIGKILL on Unix
            }
        }
    }
    let status = child.wait().expect("the worker ends");
    if !killed {
        let mut err = String::new();
        child.stderr.take().expect("piped").read_to_string(&mut err).ok();
        assert!(status.success(), "the worker failed: {err}");
    }
    (acks, killed && !status.success())
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_applies_nothing_twice() {
    let dir = std::env::temp_dir().join(format!("unbreakable-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (db, requests) = (dir.join("ledger.db"), dir.join("requests.txt"));

    let mut r = rng(2024);
    let mut expected: BTreeMap<&str, i64> = ACCOUNTS.iter().map(|a| (*a, OPENING)).collect();
    let mut text = format!("accounts {}\n", ACCOUNTS.map(|a| format!("{a}={OPENING}")).join(" "));
    for i in 0..TRANSFERS {
        let from = ACCOUNTS[r.random_range(0..ACCOUNTS.len())];
        let to = ACCOUNTS[(ACCOUNTS.iter().position(|a| *a == from).unwrap()
            + r.random_range(1..ACCOUNTS.len()))
            % ACCOUNTS.len()];
        let cents = r.random_range(1..=100i64);
        *expected.get_mut(from).unwrap() -= cents;
        *expected.get_mut(to).unwrap() += cents;
        text.push_str(&format!("transfer-{i:04} {from} {to} {cents}\n"));
    }
    let lines: Vec<String> = text.lines().map(String::from).collect();
    let key_of = |l: &str| l.split_whitespace().next().unwrap_or_default().to_string();
    // Each round sends every request again: first, in a new order, those not yet
    // acknowledged (the client is unsure of them), then the acknowledged ones. The kill
    // lands a random number of acknowledgements into the first part, while the worker is
    // applying transfers for the first time.
    let write_round = |r: &mut unbreakable_lab::sim::SimRng, acked: &HashMap<String, u64>| -> usize {
        let (mut unsure, mut done): (Vec<&String>, Vec<&String>) =
            lines[1..].iter().partition(|l| !acked.contains_key(&key_of(l)));
        for part in [&mut unsure, &mut done] {
            for i in (1..part.len()).rev() {
                part.swap(i, r.random_range(0..=i));
            }
        }
        let all: Vec<&str> = std::iter::once(lines[0].as_str())
            .chain(unsure.iter().chain(&done).map(|s| s.as_str()))
            .collect();
        std::fs::write(&requests, all.join("\n") + "\n").unwrap();
        unsure.len()
    };

    let mut acked: HashMap<String, u64> = HashMap::new();
    let record = |acked: &mut HashMap<String, u64>, acks: Vec<(String, u64)>| {
        for (key, tx) in acks {
            // Every acknowledgement of a key names the same transaction.
            if let Some(before) = acked.insert(key.clone(), tx) {
                assert_eq!(before, tx, "{key} was acknowledged as two different transactions");
            }
        }
    };
    let (mut rounds, mut cut_short) = (0, 0);
    for _ in 0..KILLS {
        let unsure = write_round(&mut r, &acked);
        if unsure == 0 {
            break;
        }
        rounds += 1;
        let kill = (r.random_range(0..unsure.min(40)), Duration::from_micros(r.random_range(0..500)));
        let (acks, killed) = worker(&db, &requests, Some(kill));
        cut_short += usize::from(killed && acks.len() < TRANSFERS);
        record(&mut acked, acks);
    }
    eprintln!(
        "{cut_short} of {rounds} kills landed mid-way; {} keys acknowledged before the last run",
        acked.len()
    );
    // Nearly every kill must land mid-way, or the test proves little.
    assert!(
        rounds >= 5 && cut_short * 10 >= rounds * 8,
        "only {cut_short} of {rounds} kills landed before the worker finished"
    );
    write_round(&mut r, &acked);
    let (last, _) = worker(&db, &requests, None);
    record(&mut acked, last);

    let ledger = SqliteLedger::open(&db, &[("unused", 0)], Policy::default()).unwrap();
    assert_eq!(ledger.integrity_check().unwrap(), "ok");
    assert_eq!(ledger.applied().unwrap(), TRANSFERS as u64, "each transfer applied exactly once");
    assert_eq!(acked.len(), TRANSFERS);
    for (key, tx) in &acked {
        let k = IdempotencyKey::new("client", key.as_str()).unwrap();
        assert_eq!(
            ledger.tx_for(&k).unwrap(),
            Some(*tx),
            "acknowledged {key} is on disk as the same transaction"
        );
    }
    for (name, cents) in &expected {
        assert_eq!(ledger.balance(name).unwrap(), *cents, "{name}");
    }
    assert_eq!(ledger.total().unwrap(), OPENING * ACCOUNTS.len() as i64);
    let _ = std::fs::remove_dir_all(&dir);
}
