//! Every chart of the workbook, built from its scenario: the notebooks call these
//! functions on the runs they make, and the chart command ([`catalog`]) runs the same
//! scenarios with the same seeds and writes the same charts to files.

use crate::error::Error;
use crate::retry::expected_attempts;
use crate::scenarios::amplification::Amplification;
use crate::scenarios::chain::{Chain, FailureType};
use crate::scenarios::contention::{self, Algorithm, Point};
use crate::scenarios::expectation;
use crate::scenarios::flash_sale::FlashSale;
use crate::scenarios::herd::Herd;
use crate::scenarios::widget::Widget;
use crate::scenarios::Run;
use crate::sim::Recorder;

use super::{Chart, Mark, Series};

/// The seed every chart of the workbook uses unless a reader changes it.
pub const SEED: u64 = 42;

/// Share of successful rows per bin of `bin` seconds, as `(bin middle, share)`; bins with
/// no rows are left out (empty for a bin that is not a positive number).
pub fn success_share(rec: &Recorder, bin: f64, horizon: f64) -> Vec<(f64, f64)> {
    let all = rec.count_per_bin(bin, horizon, |_| true);
    let ok = rec.count_per_bin(bin, horizon, |a| a.outcome.is_success());
    all.iter()
        .zip(&ok)
        .enumerate()
        .filter(|(_, (n, _))| **n > 0)
        .map(|(i, (n, k))| ((i as f64 + 0.5) * bin, *k as f64 / *n as f64))
        .collect()
}

/// Rows per second in bins of `bin` seconds (only rows that match `keep`; empty for a bin
/// that is not a positive number).
pub fn rate(rec: &Recorder, bin: f64, horizon: f64, keep: impl Fn(&crate::sim::Attempt) -> bool) -> Vec<(f64, f64)> {
    rec.count_per_bin(bin, horizon, keep).iter().enumerate().map(|(i, &k)| (i as f64 * bin, k as f64 / bin)).collect()
}

/// Chapter 01: the share of user requests that succeed over time, one line per failure.
pub fn chain_success(runs: &[(FailureType, Recorder)], seed: u64) -> Chart {
    let mut c = Chart::lines("What each kind of failure does to the user", "time (s)", "share of requests that succeed")
        .caption(format!("gateway -> service -> database, 20 requests/s for 10 min, 30 s bins; seed {seed}"));
    for (kind, rec) in runs {
        c = c.with(Series::line(kind.name(), success_share(rec, 30.0, 600.0)));
    }
    c
}

/// Chapter 02: the widget's attempts over time, with and without backoff.
pub fn widget_timeline(with: &Run, without: &Run, seed: u64) -> Chart {
    let times = |r: &Run| r.recorder.attempts().iter().map(|a| (a.sent.as_secs_f64(), 0.0)).collect();
    Chart::timeline("One failing request, 5 retries, base 1000 ms", "time since the first try (s)")
        .caption(format!("each dot is an attempt; the endpoint always answers HTTP 500; seed {seed}"))
        .with(Series::line("without backoff", times(without)))
        .with(Series::line("with backoff", times(with)))
}

/// Chapter 02: requests per second reaching the server, per strategy, with its capacity.
pub fn herd_load(runs: &[Run], herd: &Herd, seed: u64) -> Chart {
    let horizon = 60.0;
    let mut c = Chart::lines("The thundering herd: load on the server", "time (s)", "requests per second reaching the server")
        .caption(format!(
            "{} clients, server down 0-{} s, then {} req/s recovering from {:.0}%; 0.5 s bins; seed {seed}",
            herd.clients,
            herd.outage.as_secs(),
            herd.capacity,
            herd.recovery_from * 100.0
        ))
        .log_y();
    for r in runs {
        let pts = rate(&r.recorder, 0.5, horizon, |a| a.outcome.reached_server());
        c = c.with(Series::line(r.name(), pts));
    }
    if let Some(r) = runs.first() {
        let cap = (0..=(horizon as usize * 2)).map(|i| i as f64 / 2.0).map(|t| (t, r.service.capacity_at(crate::sim::secs(t)).unwrap_or(0.0)));
        let cap = cap.map(|(t, v)| (t, if r.service.is_down(crate::sim::secs(t)) { 0.0 } else { v })).collect();
        c = c.with(Series::line("capacity", cap).with_mark(Mark::Reference));
    }
    c
}

/// Chapter 02: share of clients served by each time, per strategy.
pub fn herd_served(runs: &[Run], herd: &Herd, seed: u64) -> Chart {
    let mut c = Chart::lines("The thundering herd: clients served over time", "time (s)", "share of clients served")
        .caption(format!("{} clients; a client is served when its request succeeds; seed {seed}", herd.clients));
    for r in runs {
        let mut done: Vec<f64> = r.jobs().iter().filter(|j| j.2).map(|j| j.1.as_secs_f64()).collect();
        done.sort_by(f64::total_cmp);
        let n = f64::from(herd.clients);
        let mut pts = vec![(0.0, 0.0)];
        pts.extend(done.iter().enumerate().step_by(10).map(|(i, &t)| (t, (i + 1) as f64 / n)));
        if let Some(&t) = done.last() {
            pts.push((t, done.len() as f64 / n));
        }
        pts.push((60.0, done.len() as f64 / n));
        c = c.with(Series::line(r.name(), pts));
    }
    c
}

/// Chapter 02: the flash sale, with and without backoff.
pub fn flash_sale(without: &Run, with: &Run, sale: &FlashSale, seed: u64) -> Chart {
    let h = sale.horizon.as_secs_f64();
    let mut c = Chart::lines("Flash sale: does the payment gateway recover?", "time (s)", "per second")
        .caption(format!(
            "gateway fails {}-{} s; {} workers; {} req/s capacity; 1 s bins; seed {seed}",
            sale.incident.0.as_secs(),
            sale.incident.1.as_secs(),
            sale.workers,
            sale.capacity
        ));
    for (name, r) in [("without backoff", without), ("with backoff", with)] {
        let ours = r.groups.first().map_or(0..0, |g| g.1.clone());
        c = c.with(Series::line(format!("our requests, {name}"), rate(&r.recorder, 1.0, h, |a| ours.contains(&a.client))));
        c = c.with(Series::line(format!("payments served, {name}"), rate(&r.recorder, 1.0, h, |a| a.outcome.is_success())));
    }
    c
}

/// Chapter 02: the contention sweep, `calls` (true) or completion time (false) against N.
pub fn contention(points: &[Point], calls: bool, runs: u32, seed: u64) -> Chart {
    let (title, y) = if calls {
        ("Contention: total write calls", "write calls (mean of runs)")
    } else {
        ("Contention: time to finish", "completion time, ms (mean of runs)")
    };
    let mut c = Chart::lines(title, "clients", y)
        .caption(format!("optimistic concurrency on one row, |N(10 ms, 2 ms)| legs, base 5 ms, cap 2 s; {runs} runs per point; seed {seed}"));
    for a in Algorithm::ALL {
        let pts = points
            .iter()
            .filter(|p| p.algorithm == a)
            .map(|p| (f64::from(p.clients), if calls { p.calls } else { p.time_ms }))
            .collect();
        c = c.with(Series::line(a.name(), pts).with_mark(Mark::LineDots));
    }
    c
}

/// Chapter 02: calls per user request at each layer, with and without a budget.
pub fn amplification(a: &Amplification, none: &[f64], budget: &[f64], seed: u64) -> Chart {
    let layer = |v: &[f64]| v.iter().enumerate().map(|(k, &c)| (k as f64, c)).collect::<Vec<_>>();
    Chart::lines("Retry amplification down a call chain", "layer (0 = the user's call)", "calls per user request")
        .caption(format!("{} layers, {} tries each, the bottom always fails; seed {seed}", a.layers, a.tries))
        .log_y()
        .with(Series::line("3 tries per layer", layer(none)).with_mark(Mark::LineDots))
        .with(Series::line("with a 10% retry budget per layer", layer(budget)).with_mark(Mark::LineDots))
        .with(Series::line("tries^layer (formula)", layer(&a.predicted())).with_mark(Mark::Reference))
}

/// Chapter 02: simulated mean attempts against the formula, for several max retries.
pub fn expectation(checks: &[expectation::Check], seed: u64) -> Chart {
    let mut c = Chart::lines("Expected attempts: simulation against the formula", "failure probability p", "attempts per request")
        .caption(format!("dots: simulation; dashed: (1 - p^(n+1)) / (1 - p); seed {seed}"));
    let mut ns: Vec<u32> = checks.iter().map(|k| k.n).collect();
    ns.dedup();
    for n in ns {
        let pts = checks.iter().filter(|k| k.n == n).map(|k| (k.p, k.simulated)).collect();
        c = c.with(Series::line(format!("n = {n} retries, simulated"), pts).with_mark(Mark::Dots));
        let formula = (0..=95).map(|i| f64::from(i) / 100.0).map(|p| (p, expected_attempts(p, n))).collect();
        c = c.with(Series::line(format!("n = {n}, formula"), formula).with_mark(Mark::Reference));
    }
    c
}

/// The failure probabilities and retry counts of the expectation chart.
pub fn expectation_grid() -> Vec<(f64, u32)> {
    [1u32, 3, 5].iter().flat_map(|&n| (0..=9).map(move |i| (f64::from(i) / 10.0, n))).collect()
}

/// One scenario of the catalogue and the charts drawn from it.
pub struct Entry {
    /// File name stems of its charts, such as `02-herd-load`, in the order `build`
    /// returns them.
    pub ids: &'static [&'static str],
    /// Runs the scenario with the seed and draws its charts.
    pub build: fn(u64) -> Result<Vec<Chart>, Error>,
}

/// Every chart of the workbook, in chapter order.
pub fn catalog() -> Vec<Entry> {
    vec![
        Entry {
            ids: &["01-chain-success"],
            build: |seed| {
                let chain = Chain::default();
                let runs = FailureType::ALL.iter().map(|&k| Ok((k, chain.run(k, seed)?))).collect::<Result<Vec<_>, Error>>()?;
                Ok(vec![chain_success(&runs, seed)])
            },
        },
        Entry {
            ids: &["02-widget-timeline"],
            build: |seed| {
                let w = Widget::default();
                Ok(vec![widget_timeline(&w.run(true, seed)?, &w.run(false, seed)?, seed)])
            },
        },
        Entry {
            ids: &["02-herd-load", "02-herd-served"],
            build: |seed| {
                let h = Herd::default();
                let runs = h.run_all(seed)?;
                Ok(vec![herd_load(&runs, &h, seed), herd_served(&runs, &h, seed)])
            },
        },
        Entry {
            ids: &["02-flash-sale"],
            build: |seed| {
                let s = FlashSale::default();
                Ok(vec![flash_sale(&s.run(false, seed)?, &s.run(true, seed)?, &s, seed)])
            },
        },
        Entry {
            ids: &["02-contention-calls", "02-contention-time"],
            build: |seed| {
                let points = contention::sweep(&contention::blog_clients(), 100, seed)?;
                Ok(vec![contention(&points, true, 100, seed), contention(&points, false, 100, seed)])
            },
        },
        Entry {
            ids: &["02-amplification"],
            build: |seed| {
                let a = Amplification::default();
                let none = a.run(None, seed)?.calls_per_request;
                let budget = a.run(Some(0.1), seed)?.calls_per_request;
                Ok(vec![amplification(&a, &none, &budget, seed)])
            },
        },
        Entry {
            ids: &["02-expected-attempts"],
            build: |seed| {
                let checks = expectation_grid()
                    .into_iter()
                    .map(|(p, n)| expectation::check(p, n, 2000, seed))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(vec![expectation(&checks, seed)])
            },
        },
    ]
}
