//! Chapter 13, "Proving it": the deterministic simulation of [`unbreakable_sim`] (a
//! checkout, a leader election and a transactional outbox of real hyper services on
//! turmoil, faults from the seed, invariants from the hosts' records) as polars frames and
//! charts.
//!
//! * [`events_frame`]: a run's history, one row per event.
//! * [`mutation_table`] and [`mutation_frame`]: for every fixed bug the library can switch
//!   back on ([`Mutant::ALL`]), the lowest failing seed of the scenario that should catch
//!   it ([`caught_by`]), found with [`run_seeds`], what it broke, and whether that seed
//!   holds with the bug off (the control run).
//! * [`run_timeline`]: a run as a chart, hosts as rows, events as marks, the events the
//!   first violation names in red; [`mutation_chart`]: how many seeds each bug took.
//!
//! A mutant is switched on for the calling thread only; [`run_seeds`] runs each seed on one
//! thread, so the threads split the seeds freely and the answer is the lowest failing seed
//! whatever their number.

use std::ops::Range;

use polars::prelude::*;
use unbreakable_sim::history::Event;
use unbreakable_sim::{Mutant, Report, Scenario, caught_by, run, run_seeds};

use crate::Error;
use crate::charts::{Chart, Mark, Series};

/// A run's history as a DataFrame: columns `at_ms` (simulated), `host`, `kind`, `order`
/// (empty when the event is about no order) and `detail`, one row per event, in order.
pub fn events_frame(events: &[Event]) -> Result<DataFrame, Error> {
    let text = |f: fn(&Event) -> &str| events.iter().map(|e| f(e).to_string()).collect::<Vec<_>>();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("at_ms".into(), events.iter().map(|e| e.at_ms).collect::<Vec<_>>()),
        Column::new("host".into(), text(|e| &e.host)),
        Column::new("kind".into(), text(|e| &e.kind)),
        Column::new("order".into(), text(|e| &e.order)),
        Column::new("detail".into(), text(|e| &e.detail)),
    ])?)
}

/// One row of the mutation table: a bug switched back on, and the seed that caught it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    /// The bug.
    pub mutant: Mutant,
    /// The scenario whose invariants should catch it.
    pub scenario: Scenario,
    /// Words its violation should contain ([`caught_by`]).
    pub expected: &'static str,
    /// The seeds searched.
    pub seeds: Range<u64>,
    /// The lowest seed in `seeds` whose run broke an invariant, if any.
    pub seed: Option<u64>,
    /// That run's first violation.
    pub violation: Option<String>,
    /// Whether the same seed keeps every invariant with the mutant off (the control run):
    /// if not, the failure is the scenario's, not the bug's. False when no seed failed.
    pub holds_without: bool,
}

impl Caught {
    /// Seeds run until the first failure, counting the failing one (`None`: none failed,
    /// or a hand-built row whose seed is below the range's start).
    pub fn seeds_it_took(&self) -> Option<u64> {
        self.seed.and_then(|s| s.checked_sub(self.seeds.start)).map(|n| n.saturating_add(1))
    }

    /// Whether a seed failed with the violation [`caught_by`] names and the same seed holds
    /// with the mutant off (a failure for another reason, or one the control run shares, is
    /// a finding, but not this bug caught).
    pub fn caught(&self) -> bool {
        self.holds_without && self.violation.as_deref().is_some_and(|v| v.contains(self.expected))
    }
}

/// The mutation table: for every mutant in [`Mutant::ALL`] (new ones included, with no
/// change here), the lowest seed in `seeds` at which the scenario [`caught_by`] names fails,
/// searched with [`run_seeds`] on `threads` threads (the answer does not depend on them).
pub fn mutation_table(seeds: Range<u64>, threads: usize) -> Vec<Caught> {
    Mutant::ALL
        .into_iter()
        .map(|mutant| {
            let (scenario, expected) = caught_by(mutant);
            let report = run_seeds(scenario, seeds.clone(), Some(mutant), threads, &|| {});
            // The control run: the same seed with the mutant off.
            let holds_without =
                report.as_ref().is_some_and(|r| run(scenario, r.seed, None).violations.is_empty());
            Caught {
                mutant,
                scenario,
                expected,
                seeds: seeds.clone(),
                seed: report.as_ref().map(|r| r.seed),
                // The violation the bug should cause, or else the first (a finding of its own).
                violation: report.and_then(|r| {
                    let v = &r.violations;
                    v.iter().find(|v| v.contains(expected)).or(v.first()).cloned()
                }),
                holds_without,
            }
        })
        .collect()
}

/// The mutation table as a DataFrame: columns `mutant`, `scenario`, `seed` (the lowest
/// failing one, null if none), `seeds_it_took`, `caught` ([`Caught::caught`]: the
/// violation is the one [`caught_by`] names and the seed holds with the bug off) and
/// `violation`.
pub fn mutation_frame(rows: &[Caught]) -> Result<DataFrame, Error> {
    Ok(DataFrame::new_infer_height(vec![
        Column::new("mutant".into(), rows.iter().map(|r| r.mutant.name()).collect::<Vec<_>>()),
        Column::new("scenario".into(), rows.iter().map(|r| r.scenario.name()).collect::<Vec<_>>()),
        Column::new("seed".into(), rows.iter().map(|r| r.seed).collect::<Vec<_>>()),
        Column::new("seeds_it_took".into(), rows.iter().map(Caught::seeds_it_took).collect::<Vec<_>>()),
        Column::new("caught".into(), rows.iter().map(Caught::caught).collect::<Vec<_>>()),
        Column::new("violation".into(), rows.iter().map(|r| r.violation.clone()).collect::<Vec<_>>()),
    ])?)
}

/// Whether `event` is one that `violation` is about: an event of the order it names, or
/// the resource's acceptance of a write in the term and from a holder it names.
pub fn involved(event: &Event, violation: &str) -> bool {
    let words: Vec<&str> = violation
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    if !event.order.is_empty() {
        return words.contains(&event.order.as_str());
    }
    // The election's resource: "term 2 from node-a".
    match event.detail.strip_prefix("term ").and_then(|d| d.split_once(" from ")) {
        Some((term, holder)) if event.kind == "accepted" => {
            // Whole words: "term 1" is not "term 12".
            words.windows(2).any(|w| w == ["term", term]) && words.contains(&holder)
        }
        _ => false,
    }
}

/// The colour class of an event on the timeline.
fn mark_of(event: &Event) -> Mark {
    match event.kind.as_str() {
        _ if event.host == "sim" => Mark::Reference,
        "charge" => Mark::Hollow,
        "ack" | "synced" | "accepted" => Mark::LineDots,
        _ => Mark::Line,
    }
}

/// A run's timeline: one row per host (`sim` is the simulator's faults), one mark per event
/// at its simulated time, coloured by what it was; the events the run's first violation is
/// about are red, and the caption quotes it. Rows are in order of each host's first event
/// that is not red; a host whose every event is red comes last (the red series are drawn
/// last, over the rest, and a chart's rows follow its series).
pub fn run_timeline(report: &Report) -> Chart {
    let violation = report.violations.first();
    let mutant = report.mutant.map(|m| format!(", bug `{m}` switched on")).unwrap_or_default();
    let mut c = Chart::gantt(
        format!(
            "{} seed {}: {}",
            report.scenario.name(),
            report.seed,
            violation.map_or("invariants held", |_| "broken")
        ),
        "simulated time (s)",
    )
    .caption(format!(
        "{} events{mutant}; {}",
        report.events.len(),
        violation.map_or("every invariant held".to_string(), |v| format!("red: {v}"))
    ))
    .key(Mark::Line, "request, answer, write")
    .key(Mark::Hollow, "charge at the provider")
    .key(Mark::LineDots, "acknowledged, synced, accepted")
    .key(Mark::Reference, "fault injected")
    .key(Mark::Dots, "what the violation is about");
    // One series per (host, mark), in order of first appearance.
    let mut series: Vec<Series> = Vec::new();
    for e in &report.events {
        let mark = if violation.is_some_and(|v| involved(e, v)) { Mark::Dots } else { mark_of(e) };
        let t = e.at_ms as f64 / 1000.0;
        match series.iter_mut().find(|s| s.name == e.host && s.mark == mark) {
            Some(s) => s.points.push((t, t)),
            None => series.push(Series::line(e.host.clone(), vec![(t, t)]).with_mark(mark)),
        }
    }
    // Red last, so it is drawn over the rest.
    series.sort_by_key(|s| s.mark == Mark::Dots);
    c.series.extend(series);
    c
}

/// The mutation table as a chart: one row per bug, a bar as long as the seeds it took,
/// red if the bug was [`Caught::caught`], hollow if the seed failed with another violation
/// (or failed with the bug off too), or across the whole range searched if no seed failed
/// (grey).
pub fn mutation_chart(rows: &[Caught]) -> Chart {
    let range = rows.first().map(|r| r.seeds.clone()).unwrap_or(0..0);
    let mut c = Chart::gantt("Every fixed bug, switched back on: seeds until a failure", "seeds run")
        .caption(format!(
            "seeds {} to {} searched per bug; {} of {} caught",
            range.start,
            range.end.saturating_sub(1),
            rows.iter().filter(|r| r.caught()).count(),
            rows.len()
        ))
        .key(Mark::Dots, "seeds run until the expected invariant broke")
        .key(Mark::Hollow, "seeds run until a failure that is not the bug caught")
        .key(Mark::Reference, "no failure in the range");
    for r in rows {
        let (bar, mark) = match r.seeds_it_took() {
            Some(n) if r.caught() => (n as f64, Mark::Dots),
            Some(n) => (n as f64, Mark::Hollow),
            None => (r.seeds.end.saturating_sub(r.seeds.start) as f64, Mark::Reference),
        };
        c = c.with(Series::line(r.mutant.name(), vec![(0.0, bar)]).with_mark(mark));
    }
    c
}

/// How many seeds the chart command's runs search, from its seed: every mutant has been
/// caught within the first three seeds from 0 (the simulation's own tests require 50).
pub const CHART_SEEDS: u64 = 200;

/// The chart command's two charts for `seed`: the timeline of the lowest failing checkout
/// run from `seed` with [`Mutant::KeyReleasedOnCancel`] on, and the mutation table from
/// `seed`, each over [`CHART_SEEDS`] seeds.
///
/// # Errors
/// [`Error::Data`] if no seed in the range fails (the bug was not caught).
pub fn charts(seed: u64) -> Result<Vec<Chart>, Error> {
    let seeds = seed..seed.saturating_add(CHART_SEEDS);
    let table = mutation_table(seeds.clone(), 1);
    // The table has searched for the lowest failing seed already: run that one seed again
    // for its history rather than search a second time.
    let bug = Mutant::KeyReleasedOnCancel;
    let failing = table
        .iter()
        .find(|r| r.mutant == bug)
        .and_then(|r| r.seed.map(|s| run(r.scenario, s, Some(bug))))
        .ok_or_else(|| {
            Error::Data(format!("no checkout seed in {seeds:?} broke with the key released on cancel"))
        })?;
    Ok(vec![run_timeline(&failing), mutation_chart(&table)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(host: &str, kind: &str, order: &str, detail: &str) -> Event {
        Event { at_ms: 1, host: host.into(), kind: kind.into(), order: order.into(), detail: detail.into() }
    }

    #[test]
    fn a_violation_is_about_its_order_or_term_only() {
        let v = "order-1 charged twice: ch_1 at 10 ms and ch_2 at 30 ms";
        assert!(involved(&ev("provider", "charge", "order-1", "ch_1"), v));
        assert!(!involved(&ev("provider", "charge", "order-10", "ch_3"), v), "order-10 is another order");
        assert!(!involved(&ev("sim", "crash", "", "ledger"), v));
        let v = "term 2 has two writers: node-a and node-c";
        assert!(involved(&ev("resource", "accepted", "", "term 2 from node-c"), v));
        assert!(!involved(&ev("resource", "accepted", "", "term 3 from node-c"), v));
        assert!(!involved(&ev("resource", "accepted", "", "term 2 from node-b"), v));
        let v = "term 12 has two writers: node-a and node-c";
        assert!(!involved(&ev("resource", "accepted", "", "term 1 from node-a"), v), "term 1 is not term 12");
        assert!(involved(&ev("resource", "accepted", "", "term 12 from node-a"), v));
    }

    #[test]
    fn the_timeline_points_at_the_double_charge() {
        let r = run_seeds(Scenario::Checkout, 0..50, Some(Mutant::KeyReleasedOnCancel), 1, &|| {})
            .expect("a failing seed within 50");
        let c = run_timeline(&r);
        let red: Vec<&Series> = c.series.iter().filter(|s| s.mark == Mark::Dots).collect();
        let charges = red.iter().filter(|s| s.name == "provider").map(|s| s.points.len()).sum::<usize>();
        assert!(charges >= 2, "both charges of the order are red: {red:?}");
        assert!(c.caption.contains("charged twice"), "{}", c.caption);
        // Without the bug the same seed holds, and nothing is red.
        let fixed = run(Scenario::Checkout, r.seed, None);
        assert!(fixed.violations.is_empty(), "{:?}", fixed.violations);
        assert!(run_timeline(&fixed).series.iter().all(|s| s.mark != Mark::Dots));
    }

    #[test]
    fn the_events_frame_has_a_row_per_event() {
        let r = run(Scenario::Checkout, 3, None);
        let df = events_frame(&r.events).unwrap();
        assert_eq!(df.height(), r.events.len());
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["at_ms", "host", "kind", "order", "detail"]);
    }

    #[test]
    fn every_mutant_is_caught_and_a_miss_shows() {
        let rows = mutation_table(0..50, 2);
        assert_eq!(rows.len(), Mutant::ALL.len());
        for r in &rows {
            assert!(r.caught(), "{r:?}");
        }
        let df = mutation_frame(&rows).unwrap();
        assert_eq!(df.height(), rows.len());
        // A row with no failing seed is not caught, and is drawn across the range.
        let missed = Caught { seed: None, violation: None, holds_without: false, ..rows[0].clone() };
        assert!(!missed.caught());
        // The expected violation on a seed that fails with the mutant off too is not caught.
        assert!(!Caught { holds_without: false, ..rows[0].clone() }.caught());
        let c = mutation_chart(&[missed]);
        assert_eq!((c.series[0].mark, c.series[0].points[0].1), (Mark::Reference, 50.0));
        // A seed that failed with another violation is drawn apart from a catch.
        let other = Caught { violation: Some("something else broke".into()), ..rows[0].clone() };
        assert!(!other.caught());
        let c = mutation_chart(&[rows[0].clone(), other]);
        assert_eq!((c.series[0].mark, c.series[1].mark), (Mark::Dots, Mark::Hollow));
        // Hand-built rows out of order do not panic.
        // A reversed range (end below start) and a seed below it.
        let odd = Caught { seeds: Range { start: 10, end: 5 }, seed: Some(3), ..rows[0].clone() };
        assert_eq!(odd.seeds_it_took(), None);
        assert_eq!(mutation_chart(&[odd]).series[0].points[0].1, 0.0);
    }

    #[test]
    fn same_seed_same_svg() {
        let a = charts(7).unwrap();
        let b = charts(7).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.to_svg(crate::charts::SIZE).unwrap(), y.to_svg(crate::charts::SIZE).unwrap());
        }
        assert_eq!(a.len(), 2);
    }
}
