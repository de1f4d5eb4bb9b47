//! What the hosts write down while a seed runs: a history of events (for the CSV and
//! the lab's frames) and each host's own records, which the invariants read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// One event of a run, as a row of its history CSV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Simulated time since the start, in milliseconds.
    pub at_ms: u64,
    /// The host that wrote it (or `sim` for a fault the simulator injected).
    pub host: String,
    /// What happened: `charge`, `ack`, `ledger-sync`, `crash`, `partition`, ...
    pub kind: String,
    /// The order it is about, or "".
    pub order: String,
    /// The rest, free text.
    pub detail: String,
}

/// A charge the provider made, from its own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Charge {
    /// When, in simulated ms.
    pub at_ms: u64,
    /// The order charged.
    pub order: String,
    /// The idempotency key the provider was sent.
    pub key: String,
    /// The provider's charge id.
    pub charge: String,
}

/// A payment the ledger recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The order paid.
    pub order: String,
    /// The provider's charge id.
    pub charge: String,
}

/// The ledger's disk: a write is `pending` until an fsync moves it to `synced`; a crash
/// loses what is pending. (A model of fsync, not a file system: see the crate docs.)
#[derive(Debug, Clone, Default)]
pub struct Disk {
    /// Written and synced: survives a crash.
    pub synced: Vec<Entry>,
    /// Written, not yet synced: lost by a crash.
    pub pending: Vec<Entry>,
}

/// A handler's run measured against its deadline (simulated ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounded {
    /// The host that ran it.
    pub host: String,
    /// The order it served.
    pub order: String,
    /// Its deadline.
    pub deadline_ms: u64,
    /// When it ended.
    pub ended_ms: u64,
}

/// A write the fenced resource accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FencedWrite {
    /// When, in simulated ms.
    pub at_ms: u64,
    /// The writer's term (fencing token).
    pub term: u64,
    /// The writer.
    pub holder: String,
}

/// What the gateway records of its calls to the audit service, in the order they
/// happened, on its audit breaker's clock: what a reference breaker is replayed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditCall {
    /// The gateway (re)started, with a new, closed breaker.
    Boot,
    /// A call went out to the audit service (the breaker had let it through).
    Start {
        /// The call's number in the run.
        call: u64,
        /// When, on the breaker's clock.
        at: Duration,
    },
    /// A call ended: `failed` if it failed (an error, a 5xx, or cut by the attempt
    /// timeout).
    End {
        /// The call's number in the run.
        call: u64,
        /// When, on the breaker's clock.
        at: Duration,
        /// Whether it failed.
        failed: bool,
    },
    /// The breaker refused a call: it never went out.
    Refused {
        /// When, on the breaker's clock.
        at: Duration,
    },
    /// A call in flight vanished with its host (a crash drops its tasks with no runtime
    /// to read a clock from): its outcome was never reported to the breaker, which
    /// vanished with it.
    Cancelled {
        /// The call's number in the run.
        call: u64,
    },
}

/// Everything the hosts of one run record.
#[derive(Debug, Default)]
pub struct Records {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// The provider's log of charges.
    pub charges: Vec<Charge>,
    /// Orders the gateway answered 200 (paid) for, with when.
    pub acks: BTreeMap<String, u64>,
    /// The ledger's disk.
    pub disk: Disk,
    /// Handlers measured against their deadlines.
    pub bounded: Vec<Bounded>,
    /// Writes the fenced resource accepted.
    pub fenced: Vec<FencedWrite>,
    /// The gateway's calls to the audit service.
    pub audit: Vec<AuditCall>,
}

/// The records of one run, shared by its hosts (all on one thread; the mutex is there
/// because the tower layers want `Send` futures).
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Records>>);

/// The simulated time now, as the current host sees it.
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or(Duration::ZERO).as_millis() as u64
}

impl Log {
    /// The records, locked.
    pub fn lock(&self) -> MutexGuard<'_, Records> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes an event at `at_ms`.
    pub fn event_at(&self, at_ms: u64, host: &str, kind: &str, order: &str, detail: impl Into<String>) {
        self.lock().events.push(Event {
            at_ms,
            host: host.into(),
            kind: kind.into(),
            order: order.into(),
            detail: detail.into(),
        });
    }

    /// Writes an event now.
    pub fn event(&self, host: &str, kind: &str, order: &str, detail: impl Into<String>) {
        self.event_at(now_ms(), host, kind, order, detail);
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }
}

/// Writes `events` as CSV to `path` (its directory created), and answers the path.
pub fn write_csv(events: &[Event], path: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut writer = csv::Writer::from_path(path)?;
    for event in events {
        writer.serialize(event)?;
    }
    writer.flush()?;
    Ok(path.to_path_buf())
}

/// The colour of an event's mark on the timeline.
fn colour(kind: &str) -> &'static str {
    match kind {
        "charge" => "#d62728",
        "ack" | "accepted" | "synced" => "#2ca02c",
        "crash" | "lost" | "hang" | "partition" | "hold" | "slow" => "#000000",
        "restart" | "repair" | "release" | "fast" | "unhang" => "#7f7f7f",
        "refused" | "unknown" | "fallback" | "gave-up" => "#ff7f0e",
        _ => "#1f77b4",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A timeline of `events` as SVG: one row per host, one mark per event (hover for what
/// it was), charges red, acknowledgements green, faults black. Plain SVG text: no
/// charting dependency.
pub fn timeline_svg(events: &[Event], title: &str) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    for e in events {
        if !hosts.contains(&e.host.as_str()) {
            hosts.push(&e.host);
        }
    }
    let end = events.iter().map(|e| e.at_ms).max().unwrap_or(0).max(1) as f64;
    let (left, width, row) = (90.0, 900.0, 28.0);
    let height = 50.0 + row * hosts.len() as f64 + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"10\" y=\"20\" font-size=\"14\">{}</text>\n",
        left + width + 20.0,
        escape(title)
    );
    for (i, host) in hosts.iter().enumerate() {
        let y = 50.0 + row * i as f64;
        svg += &format!(
            "<text x=\"10\" y=\"{}\">{}</text><line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/>\n",
            y + 4.0,
            escape(host),
            left + width
        );
    }
    for e in events {
        let row_of = hosts.iter().position(|h| *h == e.host).unwrap_or(0);
        let (x, y) = (left + width * e.at_ms as f64 / end, 50.0 + row * row_of as f64);
        svg += &format!(
            "<circle cx=\"{x:.1}\" cy=\"{y}\" r=\"4\" fill=\"{}\"><title>{} ms {} {} {}: {}</title></circle>\n",
            colour(&e.kind),
            e.at_ms,
            escape(&e.host),
            escape(&e.kind),
            escape(&e.order),
            escape(&e.detail)
        );
    }
    let axis = 50.0 + row * hosts.len() as f64;
    svg += &format!(
        "<text x=\"{left}\" y=\"{axis}\">0 ms</text><text x=\"{}\" y=\"{axis}\" text-anchor=\"end\">{end} ms</text>\n</svg>\n",
        left + width
    );
    svg
}

/// Writes [`timeline_svg`] of `events` to `path`.
pub fn write_svg(events: &[Event], title: &str, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, timeline_svg(events, title))
}
