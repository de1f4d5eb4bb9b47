//! Appends batches of events to a durable SQLite event store, printing
//! `ack <stream> <version>` after each append commits.
//!
//! `tests/event_sigkill.rs` runs it, kills it with SIGKILL at random moments and starts
//! it again on the same file; it carries on from the versions it finds. Each event
//! records the batch it belongs to (`first` version and `size`), so a reader can tell a
//! whole batch from a half-written one.
//!
//! ```text
//! event-writer <database> <events per stream>
//! ```

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use unbreakable_lab::events::sqlite::SqliteEventStore;
use unbreakable_lab::events::{EventStore, EventType, Expected};

/// One event of a batch: the batch's first version, its size, and this event's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    first: u64,
    size: u32,
    index: u32,
}

impl EventType for Mark {
    fn event_type(&self) -> &'static str {
        "Mark"
    }
}

const STREAMS: [&str; 3] = ["s-a", "s-b", "s-c"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, per_stream] = args.as_slice() else {
        eprintln!("usage: event-writer <database> <events per stream>");
        return ExitCode::from(2);
    };
    match per_stream
        .parse()
        .map_err(|e| format!("{e}"))
        .and_then(|n| run(Path::new(db), n).map_err(|e| e.to_string()))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(db: &Path, per_stream: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut store = SqliteEventStore::<Mark>::open(db)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut i = 0u64;
    loop {
        let mut open = STREAMS
            .iter()
            .filter_map(|s| store.version(s).ok().filter(|v| *v < per_stream).map(|v| (*s, v)))
            .collect::<Vec<_>>();
        if open.is_empty() {
            return Ok(());
        }
        i += 1;
        let (stream, v) = open.swap_remove((i as usize) % open.len());
        let size = (1 + (v + i) % 5).min(per_stream - v) as u32;
        let batch = (0..size).map(|index| Mark { first: v + 1, size, index }).collect();
        let appended = store.append(stream, Expected::Exactly(v), batch, 0)?;
        writeln!(out, "ack {stream} {}", appended.version)?;
        out.flush()?;
    }
}
