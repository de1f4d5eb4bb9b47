//! Every chart of the workbook, built from its scenario: the notebooks call these
//! functions on the runs they make, and the chart command ([`catalog`]) runs the same
//! scenarios with the same seeds and writes the same charts to files.

use crate::deadline::choice::{empirical_false_timeout_rate, empirical_timeout_at, false_timeout_rate};
use crate::degrade::Status;
use crate::error::Error;
use crate::retry::expected_attempts;
use crate::scenarios::Run;
use crate::scenarios::amplification::Amplification;
use crate::scenarios::bimodal::Bimodal;
use crate::scenarios::chain::{Chain, FailureType};
use crate::scenarios::checkout::{Choice, StockOutage};
use crate::scenarios::contention::{self, Algorithm, Point};
use crate::scenarios::expectation;
use crate::scenarios::flash_sale::FlashSale;
use crate::scenarios::herd::Herd;
use crate::scenarios::order_saga::{OrderSaga, SagaRun, Snapshot, SpanKind};
use crate::scenarios::payments::{LossyPayments, Tally};
use crate::scenarios::shop_day::{Day, ShopDay};
use crate::scenarios::two_pc::{Blocked, Blocking, CrashAt};
use crate::scenarios::wasted::{Propagation, WastedRun, WastedWork};
use crate::scenarios::weather::{Answer, Protection, Weather, WeatherRun};
use crate::scenarios::widget::Widget;
use crate::sim::{Latency, Recorder, rng};

use super::{Chart, Mark, Series};
use crate::scenarios::replay::{RebuildWork, SNAPSHOT_COSTS};

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
pub fn rate(
    rec: &Recorder,
    bin: f64,
    horizon: f64,
    keep: impl Fn(&crate::sim::Attempt) -> bool,
) -> Vec<(f64, f64)> {
    rec.count_per_bin(bin, horizon, keep)
        .iter()
        .enumerate()
        .map(|(i, &k)| (i as f64 * bin, k as f64 / bin))
        .collect()
}

/// Chapter 01: the share of user requests that succeed over time, one line per failure.
pub fn chain_success(runs: &[(FailureType, Recorder)], seed: u64) -> Chart {
    let mut c = Chart::lines(
        "What each kind of failure does to the user",
        "time (s)",
        "share of requests that succeed",
    )
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
    let mut c = Chart::lines(
        "The thundering herd: load on the server",
        "time (s)",
        "requests per second reaching the server",
    )
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
        let cap = (0..=(horizon as usize * 2))
            .map(|i| i as f64 / 2.0)
            .map(|t| (t, r.service.capacity_at(crate::sim::secs(t)).unwrap_or(0.0)));
        let cap =
            cap.map(|(t, v)| (t, if r.service.is_down(crate::sim::secs(t)) { 0.0 } else { v })).collect();
        c = c.with(Series::line("capacity", cap).with_mark(Mark::Reference));
    }
    c
}

/// Chapter 02: share of clients served by each time, per strategy.
pub fn herd_served(runs: &[Run], herd: &Herd, seed: u64) -> Chart {
    let mut c =
        Chart::lines("The thundering herd: clients served over time", "time (s)", "share of clients served")
            .caption(format!(
                "{} clients; a client is served when its request succeeds; seed {seed}",
                herd.clients
            ));
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

/// Chapter 03: the flash sale, with and without backoff.
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
        c = c.with(Series::line(
            format!("our requests, {name}"),
            rate(&r.recorder, 1.0, h, |a| ours.contains(&a.client)),
        ));
        c = c.with(Series::line(
            format!("payments served, {name}"),
            rate(&r.recorder, 1.0, h, |a| a.outcome.is_success()),
        ));
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

/// Chapter 03: calls per user request at each layer, with and without a budget.
pub fn amplification(a: &Amplification, none: &[f64], budget: &[f64], seed: u64) -> Chart {
    let layer = |v: &[f64]| v.iter().enumerate().map(|(k, &c)| (k as f64, c)).collect::<Vec<_>>();
    Chart::lines(
        "Retry amplification down a call chain",
        "layer (0 = the user's call)",
        "calls per user request",
    )
    .caption(format!("{} layers, {} tries each, the bottom always fails; seed {seed}", a.layers, a.tries))
    .log_y()
    .with(Series::line("3 tries per layer", layer(none)).with_mark(Mark::LineDots))
    .with(Series::line("with a 10% retry budget per layer", layer(budget)).with_mark(Mark::LineDots))
    .with(Series::line("tries^layer (formula)", layer(&a.predicted())).with_mark(Mark::Reference))
}

/// Chapter 02: simulated mean attempts against the formula, for several max retries.
pub fn expectation(checks: &[expectation::Check], seed: u64) -> Chart {
    let mut c = Chart::lines(
        "Expected attempts: simulation against the formula",
        "failure probability p",
        "attempts per request",
    )
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

/// Chapter 04: service time spent on requests whose client had already given up, with
/// independent timeouts and with a propagated deadline.
pub fn wasted_work(runs: &[WastedRun], w: &WastedWork, seed: u64) -> Chart {
    let until = w.horizon.as_secs_f64() + 120.0;
    let mut c = Chart::lines(
        "Work nobody will read: independent timeouts vs a propagated deadline",
        "time (s)",
        "wasted service-seconds per second",
    )
    .caption(format!(
        "client -> A -> B -> C, {} s budget, {} req/s; C {}x slower {}-{} s; 10 s bins; seed {seed}",
        w.budget.as_secs(),
        w.rate,
        w.slowdown.2,
        w.slowdown.0.as_secs(),
        w.slowdown.1.as_secs()
    ));
    c = c.shade(w.slowdown.0.as_secs_f64(), w.slowdown.1.as_secs_f64(), "C slowed down");
    for r in runs {
        c = c.with(Series::line(r.propagation.name(), r.wasted_per_bin(10.0, until)));
    }
    c
}

/// Hourly counts as steps: each hour's value drawn flat from its start to its end.
fn steps(per_hour: &[(f64, f64)]) -> Vec<(f64, f64)> {
    per_hour.iter().flat_map(|&(mid, v)| [(mid - 0.5, v), (mid + 0.5, v)]).collect()
}

/// Chapter 04: the weather-service story for one protection: answers per second by kind,
/// and requests waiting for a thread.
pub fn weather(run: &WeatherRun, w: &Weather, seed: u64) -> Chart {
    let (bin, h) = (5.0, w.horizon.as_secs_f64());
    let title = format!(
        "Weather service hangs {}-{} s: {}",
        w.hang.0.as_secs(),
        w.hang.1.as_secs(),
        run.protection.name()
    );
    let c = Chart::lines(title, "time (s)", "answers per second; queued: requests waiting").caption(format!(
        "{} threads, {} req/s, users give up after {} s; {bin} s bins; seed {seed}",
        w.threads,
        w.rate,
        w.patience.as_secs()
    ));
    let queued = (0..=(h / bin) as u32)
        .map(|i| f64::from(i) * bin)
        .map(|t| (t, run.queued_at(crate::sim::secs(t)) as f64))
        .collect();
    c.shade(w.hang.0.as_secs_f64(), w.hang.1.as_secs_f64(), "weather service hangs")
        .with(Series::line("served: live weather", run.per_second(Answer::Live, bin, h)))
        .with(Series::line("served: cached weather", run.per_second(Answer::Cached, bin, h)))
        .with(Series::line("served: \"weather unavailable\"", run.per_second(Answer::Unavailable, bin, h)))
        .with(Series::line("failed (user gave up)", run.per_second(Answer::Failed, bin, h)))
        .with(Series::line("queued for a thread (count)", queued))
}

/// The latency distribution chapter 04 chooses a timeout for: log-normal, median 80 ms.
pub const OBSERVED: Latency = Latency::LogNormal { median: std::time::Duration::from_millis(80), sigma: 0.5 };

/// Chapter 04: the share of requests a timeout cuts off although they would have
/// answered, from 100,000 observed latencies and from the distribution.
pub fn timeout_choice(latency: &Latency, seed: u64) -> Result<Chart, Error> {
    let mut r = rng(seed);
    let mut samples: Vec<_> = (0..100_000).map(|_| latency.sample(&mut r)).collect();
    samples.sort_unstable();
    let grid: Vec<f64> = (1..=80).map(|i| f64::from(i) * 10.0).collect();
    let ms = |x: f64| std::time::Duration::from_secs_f64(x / 1000.0);
    let observed = grid
        .iter()
        .map(|&t| (t, empirical_false_timeout_rate(&samples, ms(t))))
        .filter(|p| p.1 > 0.0)
        .collect();
    let formula = grid.iter().map(|&t| (t, false_timeout_rate(latency, ms(t)))).collect();
    let mut c = Chart::lines("Choosing a timeout: how many good requests it cuts off", "timeout (ms)", "false-timeout rate")
        .caption(format!("latency log-normal, median 80 ms, sigma 0.5; 100,000 samples; verticals: p99 and p99.9 of the samples; seed {seed}"))
        .log_y()
        .with(Series::line("observed (100,000 samples)", observed).with_mark(Mark::Dots))
        .with(Series::line("P(latency > timeout), formula", formula).with_mark(Mark::Reference));
    for q in [0.99, 0.999] {
        let t = empirical_timeout_at(&samples, q)?.as_secs_f64() * 1000.0;
        c = c.with(Series::line(format!("timeout at p{} = {t:.0} ms", q * 100.0), vec![(t, 1e-5), (t, 1.0)]));
    }
    Ok(c)
}

/// Chapter 04: requests served per second as the share of hanging requests grows, in
/// simulation and from Erlang B.
pub fn bimodal(points: &[(f64, crate::scenarios::bimodal::Measured)], b: &Bimodal, seed: u64) -> Chart {
    let pct = |p: f64| p * 100.0;
    Chart::lines(
        "Bimodal latency: a few hanging requests eat the thread pool",
        "requests that hang (%)",
        "requests served per second",
    )
    .caption(format!(
        "{} threads, {} req/s offered, {} ms normally, hanging ones hold a thread {} s; seed {seed}",
        b.threads,
        b.rate,
        b.fast.as_millis(),
        b.hang.as_secs()
    ))
    .with(
        Series::line("simulated", points.iter().map(|(p, m)| (pct(*p), m.served_per_sec)).collect())
            .with_mark(Mark::Dots),
    )
    .with(
        Series::line(
            "Erlang B",
            points.iter().map(|(p, m)| (pct(*p), b.rate * (1.0 - m.predicted_turned_away))).collect(),
        )
        .with_mark(Mark::Reference),
    )
}

/// The hang shares the bimodal chart sweeps: 0% to 10%.
pub fn bimodal_grid() -> Vec<f64> {
    (0..=20).map(|i| f64::from(i) * 0.005).collect()
}

/// Chapter 05: purchases per hour through the day, for a normal day and each way of
/// handling the outage.
pub fn shop_sales(days: &[Day], d: &ShopDay, seed: u64) -> Chart {
    let mut c = Chart::lines("A day of sales with the recommendation engine down", "hour of the day", "purchases per hour")
        .caption(format!(
            "recommendations down {}:00-{}:00; {}% of visits buy; {}% of sales via recommendations, popular items recover {}%; seed {seed}",
            d.outage.0.as_secs() / 3600,
            d.outage.1.as_secs() / 3600,
            d.conversion * 100.0,
            d.via_recommendations * 100.0,
            d.popular_recovers * 100.0
        ));
    c = c.shade(d.outage.0.as_secs_f64() / 3600.0, d.outage.1.as_secs_f64() / 3600.0, "recommendations down");
    for day in days {
        let mark = if day.mode.is_none() { Mark::Reference } else { Mark::Line };
        c = c.with(Series::line(day.name(), steps(&day.per_hour(|v| v.bought))).with_mark(mark));
    }
    c
}

/// Chapter 05: the traffic assumption (visits per hour, sampled and the model's rate)
/// and the error pages each way of handling the outage shows.
pub fn shop_traffic(days: &[Day], d: &ShopDay, seed: u64) -> Chart {
    let model = (0..=24)
        .map(|h| (f64::from(h), d.traffic.rate_at(crate::sim::secs(f64::from(h) * 3600.0)) * 3600.0))
        .collect();
    let mut c = Chart::lines("Visits and error pages per hour", "hour of the day", "pages per hour")
        .caption(format!(
            "Poisson visits, peak {} per second at 20:00; the modes that catch the error show no error pages; seed {seed}",
            d.traffic.peak_per_sec
        ))
        .shade(d.outage.0.as_secs_f64() / 3600.0, d.outage.1.as_secs_f64() / 3600.0, "recommendations down");
    if let Some(day) = days.first() {
        c = c.with(Series::line("visits (simulated)", steps(&day.per_hour(|_| true))));
    }
    c = c.with(Series::line("visit rate of the model", model).with_mark(Mark::Reference));
    for day in days.iter().filter(|day| day.visits.iter().any(|v| matches!(v.status, Status::Error(_)))) {
        c = c.with(Series::line(
            format!("error pages: {}", day.name()),
            steps(&day.per_hour(|v| matches!(v.status, Status::Error(_)))),
        ));
    }
    c
}

/// The stock levels the checkout chart sweeps.
pub fn checkout_grid() -> Vec<u32> {
    (0..=30).map(|i| i * 50).collect()
}

/// Chapter 05: what an outage of the stock database costs at checkout, failing fast or
/// degrading, against the stock left when it went down.
pub fn checkout_cost(points: &[(u32, [f64; 2])], x: &StockOutage, runs: u32, seed: u64) -> Chart {
    let mut c = Chart::lines("Fail fast or degrade at checkout?", "units in stock when the database went down", "cost of the outage ($)")
        .caption(format!(
            "{} orders/s for {} min; {}% come back; lost sale ${}, oversold order ${}; mean of {runs} runs; dashed: formula; seed {seed}",
            x.rate,
            x.outage.as_secs() / 60,
            x.come_back * 100.0,
            x.margin,
            x.oversell_cost
        ));
    for (i, choice) in Choice::ALL.iter().enumerate() {
        let sim = points.iter().map(|(s, m)| (f64::from(*s), m[i])).collect();
        c = c.with(Series::line(choice.name(), sim).with_mark(Mark::LineDots));
    }
    // Both formulas in one dashed series, broken between them by a NaN.
    let mut f: Vec<(f64, f64)> = Vec::new();
    for choice in Choice::ALL {
        f.extend(points.iter().map(|(s, _)| (f64::from(*s), x.expected(choice, *s))));
        f.push((f64::NAN, f64::NAN));
    }
    c.with(Series::line("formulas (module documentation)", f).with_mark(Mark::Reference))
}

/// Chapter 06: extra charges per 1,000 payments against the loss rate, with and without
/// idempotency keys, and the closed form.
pub fn double_charges(points: &[(f64, Tally, Tally)], x: &LossyPayments, seed: u64) -> Chart {
    let per_k = |t: &Tally| t.extra_charges as f64 * 1000.0 / f64::from(t.payments);
    Chart::lines("Retries over a lossy network: extra charges", "messages lost (%)", "extra charges per 1,000 payments")
        .caption(format!("{} payments per point, up to {} retries, each request and response lost with the given probability; seed {seed}", x.payments, x.max_retries))
        .with(Series::line("without idempotency keys (simulated)", points.iter().map(|(p, _, b)| (p * 100.0, per_k(b))).collect()).with_mark(Mark::Dots))
        .with(Series::line("with idempotency keys (simulated)", points.iter().map(|(p, k, _)| (p * 100.0, per_k(k))).collect()).with_mark(Mark::Dots))
        .with(
            Series::line(
                "without keys, formula",
                points.iter().map(|(p, _, _)| (p * 100.0, 1000.0 * LossyPayments { loss: *p, ..*x }.expected_extra())).collect(),
            )
            .with_mark(Mark::Reference),
        )
}

/// The loss rates the double-charge chart sweeps: 0% to 90%.
pub fn loss_grid() -> Vec<f64> {
    (0..=18).map(|i| f64::from(i) * 0.05).collect()
}

/// Chapter 07: requests blocked by 2PC locks against the coordinator's downtime.
pub fn blocking(points: &[(f64, Blocked, Blocked)], b: &Blocking, seed: u64) -> Chart {
    Chart::lines("Two-phase commit: a crashed coordinator blocks everyone", "coordinator downtime (s)", "requests blocked by the locks")
        .caption(format!(
            "{} participants, {} other requests/s each need the locked rows; a crash after the decision blocks alike (see the table); seed {seed}",
            b.participants, b.request_rate
        ))
        .with(Series::line(format!("simulated, {}", CrashAt::AfterPrepare.name()), points.iter().map(|(d, a, _)| (*d, a.blocked as f64)).collect()).with_mark(Mark::Dots))
        .with(
            Series::line("rate x participants x downtime", points.iter().map(|(d, _, _)| (*d, b.request_rate * b.participants as f64 * d)).collect())
                .with_mark(Mark::Reference),
        )
}

/// Chapter 07: how long the prepared participants hold their locks, and how long the
/// blocked requests wait, against the coordinator's downtime.
pub fn lock_time(points: &[(f64, Blocked, Blocked)], b: &Blocking, seed: u64) -> Chart {
    let secs = |f: fn(&Blocked) -> f64, pick: fn(&(f64, Blocked, Blocked)) -> &Blocked| {
        points.iter().map(|p| (p.0, f(pick(p)))).collect::<Vec<_>>()
    };
    let lock = |x: &Blocked| x.max_lock().as_secs_f64();
    let wait = |x: &Blocked| x.mean_wait_s;
    Chart::lines(
        "Two-phase commit: locks held through the coordinator's outage",
        "coordinator downtime (s)",
        "seconds",
    )
    .caption(format!(
        "{} participants; the longest lock, and the mean wait of a blocked request; seed {seed}",
        b.participants
    ))
    .with(
        Series::line(format!("longest lock, {}", CrashAt::AfterPrepare.name()), secs(lock, |p| &p.1))
            .with_mark(Mark::Dots),
    )
    .with(
        Series::line(format!("longest lock, {}", CrashAt::AfterDecision.name()), secs(lock, |p| &p.2))
            .with_mark(Mark::Hollow),
    )
    .with(Series::line("mean wait of a blocked request", secs(wait, |p| &p.1)).with_mark(Mark::Dots))
    .with(
        Series::line(
            "downtime, and half of it",
            points
                .iter()
                .map(|p| (p.0, p.0))
                .chain([(f64::NAN, f64::NAN)])
                .chain(points.iter().map(|p| (p.0, p.0 / 2.0)))
                .collect(),
        )
        .with_mark(Mark::Reference),
    )
}

/// Chapter 07: a saga's steps, compensations and retries on a timeline.
pub fn saga_timeline(run: &SagaRun, saga: &OrderSaga, seed: u64) -> Chart {
    let failed = saga.fail_step.map_or("nothing fails".to_string(), |i| format!("step {} fails", i + 1));
    let mut c =
        Chart::gantt("An order saga: steps, then compensations in reverse", "time (s)").caption(format!(
            "{failed}; each compensation fails {} time(s) first; {:.0}% of answers lost; seed {seed}",
            saga.compensation_failures,
            saga.lost_acks * 100.0
        ));
    for span in &run.spans {
        let mark = match span.kind {
            SpanKind::Step => Mark::Line,
            SpanKind::Compensation => Mark::LineDots,
            SpanKind::StepFailed => Mark::Dots,
            SpanKind::Retried => Mark::Reference,
            SpanKind::AnswerLost => Mark::Hollow,
        };
        c = c.with(
            Series::line(span.label, vec![(span.start.as_secs_f64(), span.end.as_secs_f64())])
                .with_mark(mark),
        );
    }
    // What other users could see meanwhile: one row per observable state, a bar while
    // it held.
    let end = run.spans.last().map_or(0.0, |s| s.end.as_secs_f64());
    let states: [StateRow; 6] = [
        ("sees: order PENDING", |s| s.order == "PENDING"),
        ("sees: stock reserved", |s| s.reserved > 0),
        ("sees: card charged", |s| s.charged > 0),
        ("sees: order shipped", |s| s.shipped),
        ("sees: order CONFIRMED", |s| s.order == "CONFIRMED"),
        ("sees: order CANCELLED", |s| s.order == "CANCELLED"),
    ];
    for (label, holds) in states {
        let bars = state_intervals(&run.snapshots, holds, end);
        if !bars.is_empty() {
            c = c.with(Series::line(label, bars).with_mark(Mark::State));
        }
    }
    c
}

/// A row of what users can see: its label, and when it holds.
type StateRow = (&'static str, fn(&Snapshot) -> bool);

/// The `(from, to)` stretches during which `holds` was true, from snapshots in time
/// order; a stretch still open at the last snapshot runs to `end`.
fn state_intervals(snapshots: &[Snapshot], holds: fn(&Snapshot) -> bool, end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut open: Option<f64> = None;
    for s in snapshots {
        let t = s.at.as_secs_f64();
        match (open, holds(s)) {
            (None, true) => open = Some(t),
            (Some(from), false) => {
                out.push((from, t));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        out.push((from, end.max(from)));
    }
    out
}

/// The saga the chapter 07 timeline shows: shipping fails after the payment went
/// through, each compensation's service is down once, and a fifth of answers are lost.
pub fn saga_example() -> OrderSaga {
    OrderSaga { fail_step: Some(3), compensation_failures: 1, lost_acks: 0.2, ..OrderSaga::default() }
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
                let runs = FailureType::ALL.iter().map(|&k| Ok((k, chain.run(k, seed)?))).collect::<Result<
                    Vec<_>,
                    Error,
                >>(
                )?;
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
            ids: &["03-flash-sale"],
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
            ids: &["03-amplification"],
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
        Entry {
            ids: &["04-wasted-work"],
            build: |seed| {
                let w = WastedWork::default();
                let runs = Propagation::ALL.iter().map(|&p| w.run(p, seed)).collect::<Result<Vec<_>, _>>()?;
                Ok(vec![wasted_work(&runs, &w, seed)])
            },
        },
        Entry {
            ids: &["04-weather-no-timeout", "04-weather-timeout"],
            build: |seed| {
                let w = Weather::default();
                let none = w.run(Protection::NoTimeout, seed)?;
                let five = w.run(Protection::ReadTimeout(std::time::Duration::from_secs(5)), seed)?;
                Ok(vec![weather(&none, &w, seed), weather(&five, &w, seed)])
            },
        },
        Entry { ids: &["04-timeout-choice"], build: |seed| Ok(vec![timeout_choice(&OBSERVED, seed)?]) },
        Entry {
            ids: &["04-bimodal"],
            build: |seed| {
                let b = Bimodal::default();
                let points = bimodal_grid()
                    .into_iter()
                    .map(|p| Ok((p, Bimodal { hang_share: p, ..b }.run(seed)?)))
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok(vec![bimodal(&points, &b, seed)])
            },
        },
        Entry {
            ids: &["05-shop-sales", "05-shop-traffic"],
            build: |seed| {
                let d = ShopDay::default();
                let modes = [None].into_iter().chain(crate::degrade::Mode::ALL.map(Some));
                let days = modes.map(|m| d.run(m, seed)).collect::<Result<Vec<_>, _>>()?;
                Ok(vec![shop_sales(&days, &d, seed), shop_traffic(&days, &d, seed)])
            },
        },
        Entry {
            ids: &["05-checkout-cost"],
            build: |seed| {
                let x = StockOutage::default();
                let points = x.sweep(&checkout_grid(), 50, seed)?;
                Ok(vec![checkout_cost(&points, &x, 50, seed)])
            },
        },
        Entry {
            ids: &["06-double-charges"],
            build: |seed| {
                let x = LossyPayments::default();
                let points = loss_grid()
                    .into_iter()
                    .map(|p| {
                        let at = LossyPayments { loss: p, ..x };
                        Ok((p, at.run(true, seed)?, at.run(false, seed)?))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok(vec![double_charges(&points, &x, seed)])
            },
        },
        Entry {
            ids: &["07-2pc-blocking", "07-2pc-lock-time"],
            build: |seed| {
                let b = Blocking::default();
                let points = Blocking::downtimes()
                    .into_iter()
                    .map(|d| {
                        let prepare =
                            Blocking { downtime: d, crash: CrashAt::AfterPrepare, ..b }.run(seed)?;
                        let decision =
                            Blocking { downtime: d, crash: CrashAt::AfterDecision, ..b }.run(seed)?;
                        Ok((d.as_secs_f64(), prepare, decision))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok(vec![blocking(&points, &b, seed), lock_time(&points, &b, seed)])
            },
        },
        Entry {
            ids: &["07-saga-timeline"],
            build: |seed| {
                let saga = saga_example();
                Ok(vec![saga_timeline(&saga.run(seed)?, &saga, seed)])
            },
        },
        Entry {
            ids: &["08-pool-widget", "08-pool-sweep"],
            build: |seed| {
                let w = crate::scenarios::conn_pool::ConnPool::widget();
                let sweep = pool_sweep_example();
                let points = sweep.sweep(&pool_sweep_sizes(), seed)?;
                Ok(vec![
                    super::perf::pool_widget(&w.run(seed)?, &w, seed),
                    super::perf::pool_sweep(&points, &sweep, seed),
                ])
            },
        },
        Entry {
            ids: &["08-pool-too-large-sim"],
            build: |seed| {
                let x = pool_too_large_example();
                Ok(vec![super::perf::pool_too_large_sim(&x.sweep(&pool_too_large_sizes(), seed)?, &x, seed)])
            },
        },
        Entry {
            ids: &["08-compression-saved"],
            build: |seed| Ok(vec![super::perf::compression_saved(&compression_sizes(seed)?)]),
        },
        Entry {
            ids: &["08-offset-drift"],
            build: |seed| {
                let points = drift_points(seed)?;
                Ok(vec![super::perf::offset_drift(&points, seed)])
            },
        },
        Entry {
            ids: &["09-projection-lag", "09-lag-vs-poll"],
            build: |seed| {
                let sim = crate::cqrs::lag::LagSim::default();
                let runs = crate::cqrs::lag::sweep(&sim, &crate::cqrs::lag::poll_grid(), seed)?;
                Ok(vec![
                    super::cqrs::lag_percentiles(&runs, &sim, seed),
                    super::cqrs::lag_vs_poll(&runs, &sim, seed),
                ])
            },
        },
        Entry {
            ids: &["10-rebuild-work", "10-snapshot-interval"],
            build: |seed| {
                let w = RebuildWork::default();
                let (per_event, read, write, source) = SNAPSHOT_COSTS;
                Ok(vec![
                    super::replay::rebuild_work(&w.run(seed)?, &w, seed),
                    super::replay::snapshot_interval(per_event, read, write, source),
                ])
            },
        },
        Entry {
            ids: &["11-pause-lease", "11-pause-fenced", "11-no-expiry"],
            build: |_seed| {
                use crate::scenarios::locks::{PauseRace, Protection, Stop};
                let race = PauseRace::default();
                let forever = PauseRace { ttl: None, stop: Stop::Crash, ..race };
                Ok(vec![
                    super::locks::race_timeline(&race.run(Protection::Lease)?, &race),
                    super::locks::race_timeline(&race.run(Protection::LeaseAndFencing)?, &race),
                    super::locks::race_timeline(&forever.run(Protection::Lease)?, &forever),
                ])
            },
        },
        Entry {
            ids: &["11-no-lock", "11-migration-no-lock", "11-migration-lease", "11-migration-crash"],
            build: |seed| {
                use crate::scenarios::locks::{PauseRace, Protection};
                use crate::scenarios::migration::{Guard, Migration};
                let race = PauseRace::default();
                let m = Migration::default();
                let crash = Migration { crash_after: Some(std::time::Duration::from_secs(8)), ..m };
                Ok(vec![
                    super::locks::race_timeline(&race.run(Protection::NoLock)?, &race),
                    super::locks::migration_timeline(&m.run(Guard::NoLock, seed)?, &m, seed),
                    super::locks::migration_timeline(&m.run(Guard::Lease, seed)?, &m, seed),
                    super::locks::migration_timeline(&crash.run(Guard::Lease, seed)?, &crash, seed),
                ])
            },
        },
        Entry {
            ids: &["11-election-timing"],
            build: |seed| {
                let sweep = super::locks::election_sweep(super::locks::TRIALS, seed)?;
                Ok(vec![super::locks::election_cdf(
                    &sweep,
                    &crate::scenarios::election::RaftElection::default(),
                    seed,
                )])
            },
        },
        Entry {
            ids: &["11-email-leaderless", "11-email-per-user"],
            build: |seed| {
                use crate::scenarios::email_job::{Coordination, EmailJob};
                let job = EmailJob::default();
                let runs = Coordination::ALL
                    .iter()
                    .map(|&h| Ok((h, job.run(h)?)))
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok(vec![
                    super::locks::email_leaderless(&super::locks::email_sweep()?, seed),
                    super::locks::email_per_user(&runs, &job),
                ])
            },
        },
        Entry {
            ids: &["03-breaker-timeline"],
            build: |seed| {
                let x = crate::scenarios::breaker::BreakerRun::default();
                Ok(vec![breaker_timeline(&x.run(seed)?, &x, seed)])
            },
        },
        #[cfg(feature = "sim")]
        Entry { ids: &["13-run-timeline", "13-mutation-table"], build: crate::proving::charts },
    ]
}

/// Chapter 08's pool-size sweep: Poisson 40 requests/s holding a connection 100 ms on
/// average (4 busy), for 2,000 s of virtual time per size.
pub fn pool_sweep_example() -> crate::scenarios::conn_pool::ConnPool {
    crate::scenarios::conn_pool::ConnPool {
        per_second: 40.0,
        burst_per_second: 0.0,
        horizon: std::time::Duration::from_secs(2000),
        ..crate::scenarios::conn_pool::ConnPool::widget()
    }
}

/// The pool sizes of the sweep: 5 (just above the 4 busy) to 12.
pub fn pool_sweep_sizes() -> Vec<u32> {
    (5..=12).collect()
}

/// Chapter 08's "too large" pool in simulation: the 2-core database calibrated on the
/// real sweep ([`DbContention::postgres_2_cores`](crate::scenarios::db_contention::DbContention::postgres_2_cores)),
/// 64 closed-loop clients, 60 s of virtual time per pool size.
pub fn pool_too_large_example() -> crate::scenarios::db_contention::DbContention {
    crate::scenarios::db_contention::DbContention::postgres_2_cores()
}

/// The pool sizes of the simulated "too large" sweep: those of the real sweep, and 12, 24
/// and 48 between them.
pub fn pool_too_large_sizes() -> Vec<u32> {
    vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
}

/// Compressed share saved for the chapter's list payloads, per codec and level (exact):
/// `(payload, codec, level, saved)`. Brotli's 10-11 and zstd above 15 are left out: they
/// are for files compressed ahead of time, and slow.
///
/// # Errors
/// If a payload cannot be built or a codec fails.
pub fn compression_sizes(
    seed: u64,
) -> Result<Vec<(String, crate::perf::compression::Codec, i32, f64)>, Error> {
    use crate::perf::compression::{Codec, size};
    use crate::perf::payloads::Payload;
    let mut out = Vec::new();
    for p in [Payload::ProductPage, Payload::List20, Payload::List1000] {
        let json = p.json(seed)?;
        for c in Codec::ALL {
            let top = match c {
                Codec::Gzip => 9,
                Codec::Brotli => 9,
                Codec::Zstd => 15,
            };
            for level in *c.levels().start()..=top {
                let n = size(&json, c, level)?;
                out.push((p.name().to_string(), c, level, 1.0 - n as f64 / json.len() as f64));
            }
        }
    }
    Ok(out)
}

/// The drift experiment at 0 to 8 new rows between page reads: `(inserts, offset, cursor)`.
///
/// # Errors
/// What SQLite reports.
pub fn drift_points(
    seed: u64,
) -> Result<Vec<(u32, crate::perf::pagination::Drift, crate::perf::pagination::Drift)>, Error> {
    use crate::perf::pagination::Churn;
    (0..=8)
        .map(|k| {
            let x = Churn { inserts_per_page: k, ..Churn::default() };
            Ok((k, x.run(false, seed)?, x.run(true, seed)?))
        })
        .collect()
}

/// Chapter 03: a circuit breaker in front of a service that fails for a while: requests
/// sent to the service, failed there, and refused by the breaker, per second.
pub fn breaker_timeline(
    run: &crate::scenarios::breaker::BreakerOutcome,
    x: &crate::scenarios::breaker::BreakerRun,
    seed: u64,
) -> Chart {
    let h = x.horizon.as_secs_f64();
    let b = &x.breaker;
    let trips = match b.failure_ratio {
        Some(r) => format!("{:.0}% of at least {} calls", r * 100.0, b.minimum_throughput),
        None => format!("{} failures", b.failure_threshold),
    };
    let (from, to) = (x.incident.0.as_secs_f64(), x.incident.1.as_secs_f64());
    Chart::lines("A circuit breaker in front of a failing service", "time (s)", "requests per second")
        .caption(format!(
            "{} requests/s; the service fails {:.0}% of calls {from:.0}-{to:.0} s, {:.0}% otherwise; \
             the breaker opens on {trips} in {} s, for {} s; 1 s bins; seed {seed}",
            x.per_second,
            x.failure_rate * 100.0,
            x.background_failure * 100.0,
            b.window.as_secs_f64(),
            b.cool_down.as_secs_f64(),
        ))
        .shade(from, to, "service failing")
        .with(Series::line(
            "sent to the service",
            rate(&run.recorder, 1.0, h, |a| a.outcome.reached_server()),
        ))
        .with(Series::line(
            "failed at the service",
            rate(&run.recorder, 1.0, h, |a| a.outcome == crate::sim::Outcome::ServerError),
        ))
        .with(Series::line(
            "refused by the breaker",
            rate(&run.recorder, 1.0, h, |a| a.outcome == crate::sim::Outcome::BreakerOpen),
        ))
}
