//! Chapter 08's charts. The ones in the chart command ([`book::catalog`](super::book::catalog))
//! are exact: simulations and compressed sizes. The rest draw times measured on this
//! machine and appear only in the notebook (they differ from run to run).

use crate::perf::compression::{Codec, Measured};
use crate::perf::pagination::{DepthPoint, Drift};
use crate::perf::pool::SizePoint;
use crate::scenarios::conn_pool::{ConnPool, PoolRun, SweepPoint};
use crate::scenarios::db_contention::{DbContention, SimPoint as DbPoint};

use super::{Chart, Mark, Series};

/// The article's widget as a timeline: connections busy and requests waiting, every
/// 100 ms, with the pool size as a line.
pub fn pool_widget(run: &PoolRun, x: &ConnPool, seed: u64) -> Chart {
    let tl = run.timeline(std::time::Duration::from_millis(100));
    let s = run.summary();
    let (from, to) = (x.burst.0.as_secs_f64(), x.burst.1.as_secs_f64());
    Chart::lines(format!("A pool of {}: busy connections and the waiting queue", x.size), "time (s)", "requests")
        .caption(format!(
            "{} req/s, +{} req/s in the burst, {} ms mean hold; {} completed, avg wait {:.1} ms, longest queue {}; seed {seed}",
            x.per_second,
            x.burst_per_second,
            (x.hold.mean_secs() * 1e3).round(),
            s.requests - s.timed_out,
            s.mean_wait_ms,
            s.max_queue
        ))
        .shade(from, to, "burst")
        .with(Series::line("busy", tl.iter().map(|p| (p.t, f64::from(p.busy))).collect()))
        .with(Series::line("waiting", tl.iter().map(|p| (p.t, f64::from(p.waiting))).collect()))
        .with(Series::line("pool size", vec![(0.0, f64::from(x.size)), (x.horizon.as_secs_f64(), f64::from(x.size))]).with_mark(Mark::Reference))
}

/// Mean wait for a connection against pool size, simulated and by Erlang C (log scale).
pub fn pool_sweep(points: &[SweepPoint], x: &ConnPool, seed: u64) -> Chart {
    let pos = |v: f64| v.max(1e-3);
    Chart::lines("Wait for a connection against pool size", "connections in the pool", "mean wait (ms, log)")
        .caption(format!(
            "Poisson {} req/s, exponential hold {} ms mean ({:.1} busy on average), {} s; seed {seed}",
            x.per_second,
            (x.hold.mean_secs() * 1e3).round(),
            x.per_second * x.hold.mean_secs(),
            x.horizon.as_secs()
        ))
        .log_y()
        .with(
            Series::line(
                "simulated",
                points.iter().map(|p| (f64::from(p.size), pos(p.mean_wait_ms))).collect(),
            )
            .with_mark(Mark::Dots),
        )
        .with(
            Series::line(
                "Erlang C",
                points.iter().filter_map(|p| p.erlang_wait_ms.map(|w| (f64::from(p.size), pos(w)))).collect(),
            )
            .with_mark(Mark::Reference),
        )
}

/// Share of bytes saved against level, per payload and codec (exact sizes).
pub fn compression_saved(rows: &[(String, Codec, i32, f64)]) -> Chart {
    let mut c = Chart::lines("How much JSON shrinks, by codec and level", "level", "bytes saved (%)")
        .caption("the chapter's payloads, built from seed 42; sizes are exact, the same on every machine");
    let mut keys: Vec<(String, Codec)> = Vec::new();
    for (p, codec, _, _) in rows {
        if !keys.contains(&(p.clone(), *codec)) {
            keys.push((p.clone(), *codec));
        }
    }
    for (p, codec) in keys {
        let pts =
            rows.iter().filter(|r| r.0 == p && r.1 == codec).map(|r| (f64::from(r.2), r.3 * 100.0)).collect();
        c = c.with(Series::line(format!("{p}, {}", codec.name()), pts).with_mark(Mark::LineDots));
    }
    c
}

/// Delivery time against bandwidth (log y), uncompressed and for each measurement.
pub fn compression_delivery(ms: &[Measured], payload: &str) -> Chart {
    let Some(first) = ms.first() else { return Chart::lines("no data", "", "") };
    let bws: Vec<f64> = (0..=40).map(|k| 1e5 * 10f64.powf(f64::from(k) / 10.0)).collect(); // 0.8 Mbit/s .. 8 Gbit/s
    let mbit = |b: f64| (b * 8.0 / 1e6).log10();
    let mut c = Chart::lines(
        format!("When compression pays: {payload}"),
        "bandwidth (log10 Mbit/s)",
        "time to deliver (ms, log)",
    )
    .caption("compress + send + decompress, measured CPU times on this machine; round trips left out")
    .log_y()
    .with(
        Series::line(
            "uncompressed",
            bws.iter().map(|&b| (mbit(b), first.original as f64 / b * 1e3)).collect(),
        )
        .with_mark(Mark::Reference),
    );
    for m in ms {
        c = c.with(Series::line(
            format!("{} {}", m.codec.name(), m.level),
            bws.iter().map(|&b| (mbit(b), m.delivery(b).as_secs_f64() * 1e3)).collect(),
        ));
    }
    c
}

/// Duplicates and skipped rows against inserts between page reads, offsets and cursors.
pub fn offset_drift(points: &[(u32, Drift, Drift)], seed: u64) -> Chart {
    let s = |f: fn(&(u32, Drift, Drift)) -> f64| {
        points.iter().map(|p| (f64::from(p.0), f(p))).collect::<Vec<_>>()
    };
    Chart::lines(
        "Paging while the list changes: offsets against a cursor",
        "new rows between two page reads",
        "rows",
    )
    .caption(format!(
        "20 pages of 20 from 2,000 rows newest first, 1 random delete between reads; seed {seed}"
    ))
    .with(Series::line("offset: shown twice", s(|p| f64::from(p.1.duplicates))).with_mark(Mark::LineDots))
    .with(Series::line("offset: skipped", s(|p| f64::from(p.1.skipped))).with_mark(Mark::Hollow))
    .with(
        Series::line("cursor: shown twice or skipped", s(|p| f64::from(p.2.duplicates + p.2.skipped)))
            .with_mark(Mark::Reference),
    )
}

/// Page latency against depth (measured).
pub fn pagination_depth(points: &[DepthPoint], what: &str) -> Chart {
    Chart::lines(
        format!("Page latency against depth: {what}"),
        "page number (20 rows a page)",
        "median time (ms, log)",
    )
    .caption("measured on this machine; median of repeated queries")
    .log_y()
    .with(
        Series::line("offset", points.iter().map(|p| (p.page as f64, p.offset_ms.max(1e-3))).collect())
            .with_mark(Mark::LineDots),
    )
    .with(
        Series::line(
            "keyset (cursor)",
            points.iter().map(|p| (p.page as f64, p.keyset_ms.max(1e-3))).collect(),
        )
        .with_mark(Mark::LineDots),
    )
}

/// Throughput and latency against pool size on the real database (measured).
pub fn pool_size_real(points: &[SizePoint], clients: usize, cores: usize) -> Chart {
    Chart::lines(
        "A CPU-bound query against pool size, real PostgreSQL",
        "connections in the pool",
        "per second / ms",
    )
    .caption(format!("{clients} clients in a closed loop, {cores} cores; measured on this machine"))
    .with(
        Series::line("queries per second", points.iter().map(|p| (p.pool as f64, p.per_second)).collect())
            .with_mark(Mark::LineDots),
    )
    .with(
        Series::line(
            "query time inside the database, p50 (ms)",
            points.iter().map(|p| (p.pool as f64, p.query_p50_ms)).collect(),
        )
        .with_mark(Mark::Hollow),
    )
    .with(
        Series::line("request time, p50 (ms)", points.iter().map(|p| (p.pool as f64, p.p50_ms)).collect())
            .with_mark(Mark::Dots),
    )
}

/// Chapter 08's "too large" pool in simulation: throughput, time inside the database and
/// request time (median and 99th percentile) against pool size, with the closed form `min(N, cores) / (cpu f(N))` as a
/// reference line. The same axes as [`pool_size_real`].
pub fn pool_too_large_sim(points: &[DbPoint], x: &DbContention, seed: u64) -> Chart {
    let at = |f: fn(&DbPoint) -> f64| points.iter().map(|p| (f64::from(p.pool), f(p))).collect::<Vec<_>>();
    Chart::lines("A CPU-bound query against pool size, simulated", "connections in the pool", "per second / ms")
        .caption(format!(
            "{} clients in a closed loop, {} cores, {} ms of CPU per query, σ = {}, κ = {}; {} s per size; seed {seed}",
            x.clients,
            x.cores,
            x.cpu.as_secs_f64() * 1e3,
            x.sigma,
            x.kappa,
            x.horizon.as_secs()
        ))
        .with(Series::line("queries per second", at(|p| p.sim.per_second)).with_mark(Mark::LineDots))
        .with(Series::line("queries per second, closed form", at(|p| p.theory.per_second)).with_mark(Mark::Reference))
        .with(Series::line("query time inside the database, p50 (ms)", at(|p| p.sim.in_db_p50_ms)).with_mark(Mark::Hollow))
        .with(Series::line("request time, p50 (ms)", at(|p| p.sim.p50_ms)).with_mark(Mark::Dots))
        .with(Series::line("request time, p99 (ms)", at(|p| p.sim.p99_ms)).with_mark(Mark::Line))
}
