//! Applies keyed transfers from a file to a durable SQLite ledger, printing
//! `ack <key> <tx_id> <replayed>` after each one commits.
//!
//! `tests/sigkill.rs` runs it, kills it with SIGKILL at random moments, restarts it on the
//! same database and sends every request again, then checks that no acknowledged transfer
//! was lost and none was applied twice.
//!
//! ```text
//! ledger-worker <database> <requests>
//! ```
//!
//! The requests file starts with one line of accounts, `accounts name=cents ...`, then has
//! one transfer per line: `key from to cents`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use unbreakable_lab::idempotency::ledger::{Ledger, Transfer};
use unbreakable_lab::idempotency::sqlite::SqliteLedger;
use unbreakable_lab::idempotency::{IdempotencyKey, Policy};

/// The one client whose requests the file holds: the scope of every key.
const CLIENT: &str = "client";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, requests] = args.as_slice() else {
        eprintln!("usage: ledger-worker <database> <requests>");
        return ExitCode::from(2);
    };
    match run(Path::new(db), Path::new(requests)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-worker: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(db: &Path, requests: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(requests)?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("the requests file is empty")?;
    let accounts = header
        .strip_prefix("accounts ")
        .ok_or("the first line must be `accounts name=cents ...`")?
        .split_whitespace()
        .map(|a| {
            let (name, cents) = a.split_once('=').ok_or_else(|| format!("`{a}` is not name=cents"))?;
            Ok((name, cents.parse::<i64>()?))
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let mut ledger = SqliteLedger::open(db, &accounts, Policy::default())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [key, from, to, cents] = f.as_slice() else {
            return Err(format!("`{line}` is not `key from to cents`").into());
        };
        let key = IdempotencyKey::new(CLIENT, *key)?;
        let transfer = Transfer::new(*from, *to, cents.parse()?)?;
        // The durable ledger times its keys on the wall clock itself; `now` is unused.
        let applied = ledger.transfer(Some(&key), &transfer, Duration::ZERO)?;
        writeln!(out, "ack {} {} {}", key.as_str(), applied.receipt.tx_id, applied.replayed)?;
        out.flush()?;
    }
    Ok(())
}
