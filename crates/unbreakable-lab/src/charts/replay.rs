//! Chapter 10's charts: replay at scale.

use crate::scenarios::replay::{Rebuild, RebuildWork, Timed, best_interval, cost_per_command};

use super::{Chart, Mark, Series};

fn interval_name(i: Option<u64>) -> String {
    match i {
        None => "no snapshots".to_string(),
        Some(n) => format!("snapshot every {n}"),
    }
}

/// Events applied per rebuild against the version rebuilt, one series per snapshot
/// interval (log y; rebuilds that land exactly on a snapshot apply 0 events and are not
/// drawn). Deterministic: counts, not times.
pub fn rebuild_work(runs: &[Rebuild], w: &RebuildWork, seed: u64) -> Chart {
    let mut c = Chart::lines(
        "Work to rebuild one account: events applied",
        "version rebuilt (events in the stream so far)",
        "events applied (log scale)",
    )
    .caption(format!(
        "{} rebuilds at random versions of a {}-event stream, memory store; seed {seed}",
        w.loads, w.length
    ))
    .log_y();
    for &i in &w.intervals {
        let mut pts: Vec<(f64, f64)> = runs
            .iter()
            .filter(|r| r.interval == i && r.events_applied > 0)
            .map(|r| (r.version as f64, r.events_applied as f64))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        c = c.with(Series::line(interval_name(i), pts).with_mark(Mark::Dots));
    }
    c
}

/// Expected cost of one command (load, decide, append) against the snapshot interval,
/// from a per-event replay cost and a snapshot's read and write costs (microseconds),
/// with the best interval marked.
pub fn snapshot_interval(per_event_us: f64, read_us: f64, write_us: f64, source: &str) -> Chart {
    let grid: Vec<u64> = (0..=30).map(|k| 10f64.powf(f64::from(k) / 10.0).round() as u64).collect();
    let cost: Vec<(f64, f64)> = grid
        .iter()
        .map(|&n| ((n as f64).log10(), cost_per_command(n, per_event_us, read_us, write_us)))
        .collect();
    let best = best_interval(per_event_us, write_us);
    let top = cost.iter().map(|p| p.1).fold(0.0, f64::max);
    Chart::lines("Which snapshot interval: cost per command", "snapshot interval N, log10 (1 = every 10 events, 2 = every 100)", "expected cost per command (us)")
        .caption(format!(
            "read snapshot {read_us:.0} us + replay (N-1)/2 events at {per_event_us:.2} us + write {write_us:.0} us every N; best N = sqrt(2 write / event) = {best:.0}; {source}"
        ))
        .with(Series::line("cost per command", cost))
        .with(Series::line(format!("best N = {best:.0}"), vec![(best.log10(), 0.0), (best.log10(), top)]).with_mark(Mark::Reference))
}

/// Wall-clock rebuild time against stream length, one series per store and interval
/// (log y). Not deterministic: drawn by the notebook from its own run, not by the chart
/// command.
pub fn rebuild_time(points: &[Timed], build: &str) -> Chart {
    let mut c = Chart::lines(
        "Rebuild time against stream length",
        "events in the stream",
        "time to load the latest state (us, log scale)",
    )
    .caption(format!("best of several loads; {build}; wall clock, so it differs from run to run"))
    .log_y();
    let mut keys: Vec<(&str, Option<u64>)> = points.iter().map(|p| (p.store, p.interval)).collect();
    keys.dedup();
    for (store, interval) in keys {
        let pts = points
            .iter()
            .filter(|p| p.store == store && p.interval == interval)
            .map(|p| (p.length as f64, p.micros))
            .collect();
        c = c.with(
            Series::line(format!("{store}, {}", interval_name(interval)), pts).with_mark(Mark::LineDots),
        );
    }
    c
}
