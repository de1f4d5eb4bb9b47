//! Chapter 09's charts: projection lag, and query latency against catalogue size.

use crate::cqrs::lag::{LagRun, LagSim};

use super::{Chart, Mark, Series};

/// The lag distribution per poll interval: the lag (log y) at each percentile.
/// Deterministic.
pub fn lag_percentiles(runs: &[LagRun], sim: &LagSim, seed: u64) -> Chart {
    let mut c = Chart::lines("Projection lag after a write: the whole distribution", "percentile of writes", "lag until the read model shows it (ms, log scale)")
        .caption(format!(
            "relay polls the outbox every P ms, {:.1} ms per event, {:.0} writes/s (Poisson), {:.0} min virtual time; seed {seed}",
            sim.per_event.as_secs_f64() * 1e3,
            sim.writes_per_second,
            sim.horizon.as_secs_f64() / 60.0
        ))
        .log_y();
    let qs: Vec<f64> = (1..=99).map(f64::from).chain([99.9]).collect();
    for r in runs {
        let pts = qs.iter().map(|&q| (q, r.quantile(q / 100.0))).collect();
        c = c.with(Series::line(format!("poll every {:.0} ms", r.poll_ms), pts));
    }
    c
}

/// Mean and 99th-percentile lag against the poll interval, with the closed form
/// `P/2 + c(1 + rate P/2)`. Deterministic.
pub fn lag_vs_poll(runs: &[LagRun], sim: &LagSim, seed: u64) -> Chart {
    let formula = runs
        .iter()
        .map(|r| {
            (
                r.poll_ms,
                LagSim { poll: std::time::Duration::from_secs_f64(r.poll_ms / 1e3), ..*sim }
                    .predicted_mean_ms(),
            )
        })
        .collect();
    Chart::lines(
        "Lag grows with the poll interval: mean, p99 and the formula",
        "poll interval P (ms)",
        "lag (ms)",
    )
    .caption(format!(
        "{:.0} writes/s, {:.1} ms per event; seed {seed}",
        sim.writes_per_second,
        sim.per_event.as_secs_f64() * 1e3
    ))
    .with(
        Series::line("mean, simulated", runs.iter().map(|r| (r.poll_ms, r.mean())).collect())
            .with_mark(Mark::Dots),
    )
    .with(
        Series::line("p99, simulated", runs.iter().map(|r| (r.poll_ms, r.quantile(0.99))).collect())
            .with_mark(Mark::Hollow),
    )
    .with(Series::line("P/2 + c(1 + rate P/2)", formula).with_mark(Mark::Reference))
}

/// Query latency against catalogue size for both models (log y): `(products, write-side
/// join ms, read-model ms)`, with the article's 5 ms line. Wall clock: drawn by the
/// notebook from its own run, not by the chart command.
pub fn query_latency(points: &[(u64, f64, f64)], build: &str) -> Chart {
    let xs = |f: fn(&(u64, f64, f64)) -> f64| {
        points.iter().map(|p| ((p.0 as f64).log10(), f(p))).collect::<Vec<_>>()
    };
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), p| (a.min((p.0 as f64).log10()), b.max((p.0 as f64).log10())));
    Chart::lines("The same query on each model, by catalogue size", "products, log10 (3 = 1,000; 6 = 1,000,000)", "median latency (ms, log scale)")
        .caption(format!("search by name, filter by category, sort by price, top 20; {build}; wall clock, differs from run to run"))
        .log_y()
        .with(Series::line("write side: SQL join of 3 tables", xs(|p| p.1)).with_mark(Mark::LineDots))
        .with(Series::line("read model: polars frame, no join", xs(|p| p.2)).with_mark(Mark::LineDots))
        .with(Series::line("the article's 5 ms", vec![(lo, 5.0), (hi, 5.0)]).with_mark(Mark::Reference))
}
