//! The widgets: each a scenario of the laboratory with its parameters, turned into the
//! scenario's typed configuration and run with a seed, drawn with the chart functions the
//! chart command uses.
//!
//! Every range is a cap: at the largest values a run still ends in well under a second
//! (the `every_widget_runs_at_its_corners` test runs each at its least and largest
//! values), so nothing a client sends runs unbounded work.

use std::time::Duration;

use serde::Serialize;

use super::params::{Param, Values};
use crate::charts::{Chart, Series};
use crate::error::Error;

/// One number a run reports beside its chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Number {
    /// What it counts.
    pub name: String,
    /// Its value; `None` (served as `null`, shown as a dash) when it does not apply.
    pub value: Option<f64>,
    /// Its unit (empty for a count or a share).
    pub unit: &'static str,
}

fn n(name: impl Into<String>, value: f64, unit: &'static str) -> Number {
    Number { name: name.into(), value: Some(value), unit }
}

/// What a run gives: a chart and its key numbers.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The chart (drawn as SVG, and written as CSV, by the server).
    pub chart: Chart,
    /// The key numbers.
    pub numbers: Vec<Number>,
}

/// A widget's run: checked parameters and a seed in, a chart and numbers out.
pub type RunFn = fn(&Values, u64) -> Result<Outcome, Error>;

/// One widget.
#[derive(Debug, Clone)]
pub struct Widget {
    /// Its id in the API's paths (`/api/run/retry-timeline`).
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The chapter whose page shows it (notebook file stem).
    pub chapter: &'static str,
    /// Its parameters.
    pub params: Vec<Param>,
    /// The run.
    pub run: RunFn,
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn secs(v: i64) -> Duration {
    Duration::from_secs(u64::try_from(v).unwrap_or(0))
}

const JITTERS: &[&str] = &["none", "full", "equal", "decorrelated"];

fn jitter(name: &str) -> crate::retry::Jitter {
    use crate::retry::Jitter;
    match name {
        "full" => Jitter::Full,
        "equal" => Jitter::Equal,
        "decorrelated" => Jitter::Decorrelated,
        _ => Jitter::None,
    }
}

/// Every widget, in chapter order.
pub fn all() -> Vec<Widget> {
    vec![
        Widget {
            id: "retry-timeline",
            title: "A failing request, retried",
            chapter: "02-retries-and-backoff",
            params: vec![
                Param::choice("strategy", "strategy", &["immediate", "exponential"], "exponential"),
                Param::int("base_ms", "base delay", "ms", 10, 5000, 1000),
                Param::int("cap_ms", "cap", "ms", 10, 120_000, 64_000),
                Param::int("max_retries", "max retries", "", 0, 10, 5),
                Param::choice("jitter", "jitter", JITTERS, "none"),
                Param::int("clients", "clients", "", 1, 20, 1),
            ],
            run: retry_timeline,
        },
        Widget {
            id: "herd",
            title: "The thundering herd",
            chapter: "02-retries-and-backoff",
            params: vec![
                Param::choice(
                    "strategy",
                    "strategy",
                    &[
                        "immediate",
                        "no jitter",
                        "full jitter",
                        "equal jitter",
                        "decorrelated jitter",
                        "full jitter + breaker",
                        "full jitter + budget",
                    ],
                    "full jitter",
                ),
                Param::int("clients", "clients", "", 10, 5000, 1000),
                Param::int("outage_s", "outage", "s", 1, 30, 10),
                Param::int("capacity", "capacity", "requests/s", 20, 1000, 200),
                Param::int("max_retries", "max retries", "", 0, 10, 8),
                Param::int("base_ms", "base delay", "ms", 10, 2000, 250),
            ],
            run: herd,
        },
        Widget {
            id: "breaker",
            title: "A circuit breaker in front of a service that fails from 10 s to 40 s (60 s of simulated requests)",
            chapter: "03-circuit-breakers-and-budgets",
            params: vec![
                Param::num("failure_rate", "the service fails (10-40 s)", "share", (0.0, 1.0, 0.05), 0.5),
                Param::num(
                    "background_failure",
                    "the service fails (otherwise)",
                    "share",
                    (0.0, 0.5, 0.01),
                    0.01,
                ),
                Param::choice("trips_on", "the breaker opens on", TRIPS, "a count of failures"),
                Param::int("failure_threshold", "failures that open it (count)", "", 1, 100, 5),
                Param::num(
                    "failure_ratio",
                    "share of failed calls that opens it (ratio)",
                    "share",
                    (0.05, 1.0, 0.05),
                    0.5,
                ),
                Param::int("minimum_throughput", "calls before the ratio counts (ratio)", "", 1, 1000, 20),
                Param::int("window_s", "window", "s", 1, 60, 10),
                Param::int("cool_down_s", "cool-down (open for)", "s", 1, 60, 5),
                Param::int("probes", "probes in half-open", "", 1, 10, 1),
                Param::num("per_second", "requests", "requests/s", (1.0, 500.0, 1.0), 20.0),
            ],
            run: breaker,
        },
        Widget {
            id: "timeouts",
            title: "A hanging dependency, with and without a read timeout",
            chapter: "04-timeouts-and-deadlines",
            params: vec![
                Param::int("read_timeout_ms", "read timeout (0: none)", "ms", 0, 10_000, 5000),
                Param::int("threads", "threads", "", 10, 400, 200),
                Param::int("hang_s", "the weather service hangs for", "s", 0, 240, 180),
                Param::int("patience_s", "users give up after", "s", 1, 30, 10),
            ],
            run: timeouts,
        },
        Widget {
            id: "degradation",
            title: "A simulated day of shop traffic: untick a service to take it down for the hours below, and see the sales per hour",
            chapter: "05-graceful-degradation",
            params: vec![
                Param::bool("gateway", "API gateway up", true),
                Param::bool("database", "database up", true),
                Param::bool("cache", "Redis cache up", true),
                Param::bool("search", "search service up", true),
                Param::bool("recommendations", "recommendations up", false),
                Param::bool("image_cdn", "image CDN up", true),
                Param::bool("payments", "payment processor up", true),
                Param::choice("mode", "the pages handle a failure with", MODES, "graceful degradation"),
                Param::int("outage_from_h", "the services are down from", "hour", 0, 23, 10),
                Param::int("outage_hours", "for", "hours", 1, 24, 6),
                Param::num("peak_per_second", "visits at the 20:00 peak", "visits/s", (0.05, 3.0, 0.05), 0.5),
            ],
            run: degradation,
        },
        Widget {
            id: "idempotent-transfer",
            title: "Payments over a lossy network",
            chapter: "06-idempotency",
            params: vec![
                Param::num("loss", "messages lost", "share", (0.0, 0.9, 0.05), 0.1),
                Param::bool("keyed", "idempotency key", false),
                Param::int("payments", "payments", "", 100, 5000, 1000),
                Param::int("max_retries", "max retries", "", 0, 10, 5),
            ],
            run: payments,
        },
        Widget {
            id: "order-saga",
            title: "An order saga",
            chapter: "07-distributed-transactions",
            params: vec![
                Param::choice("fail_step", "failing step", SAGA_STEPS, "4 ship"),
                Param::int("compensation_failures", "failures per compensation", "", 0, 5, 1),
                Param::num("lost_acks", "answers lost", "share", (0.0, 0.5, 0.05), 0.2),
                Param::bool("idempotent", "idempotent services", true),
            ],
            run: saga,
        },
        Widget {
            id: "two-pc",
            title: "Two-phase commit with a crashing coordinator",
            chapter: "07-distributed-transactions",
            params: vec![
                Param::choice(
                    "crash",
                    "the coordinator crashes",
                    &["never", "after prepare", "after decision"],
                    "after prepare",
                ),
                Param::int("downtime_s", "coordinator down for", "s", 0, 120, 30),
                Param::int("participants", "participants", "", 2, 10, 3),
                Param::num(
                    "request_rate",
                    "other requests per participant",
                    "requests/s",
                    (1.0, 100.0, 1.0),
                    10.0,
                ),
            ],
            run: two_pc,
        },
        Widget {
            id: "conn-pool",
            title: "A pool of connections",
            chapter: "08-performance",
            params: vec![
                Param::int("size", "pool size", "connections", 1, 50, 5),
                Param::num("per_second", "arrivals", "requests/s", (1.0, 200.0, 1.0), 30.0),
                Param::num(
                    "burst_per_second",
                    "extra arrivals in the burst",
                    "requests/s",
                    (0.0, 200.0, 1.0),
                    30.0,
                ),
                Param::int("hold_ms", "mean hold time", "ms", 1, 1000, 100),
            ],
            run: conn_pool,
        },
        Widget {
            id: "compression",
            title: "How much JSON shrinks",
            chapter: "08-performance",
            params: vec![
                Param::choice(
                    "payload",
                    "payload",
                    &["product page", "list of 20", "list of 1,000"],
                    "list of 20",
                ),
                Param::choice("codec", "codec", &["gzip", "br", "zstd"], "gzip"),
                Param::int("level", "level", "", 1, 9, 6),
            ],
            run: compression,
        },
        Widget {
            id: "pagination",
            title: "Paging while the list changes",
            chapter: "08-performance",
            params: vec![
                Param::int("inserts_per_page", "new rows between page reads", "rows", 0, 20, 3),
                Param::int("deletes_per_page", "rows deleted between page reads", "rows", 0, 5, 1),
            ],
            run: pagination,
        },
        Widget {
            id: "cqrs-lag",
            title: "How stale is the read model?",
            chapter: "09-cqrs",
            params: vec![
                Param::int("poll_ms", "relay polls every", "ms", 1, 2000, 100),
                Param::num("writes_per_second", "writes", "writes/s", (1.0, 500.0, 1.0), 50.0),
                Param::int("per_event_us", "time to apply one event", "µs", 1, 1000, 200),
            ],
            run: cqrs_lag,
        },
        Widget {
            id: "replay",
            title: "Rebuilding from events, with and without snapshots",
            chapter: "10-event-sourcing",
            params: vec![
                Param::int("length", "events in the stream", "", 100, 50_000, 20_000),
                Param::int("interval", "snapshot every (0: none)", "events", 0, 10_000, 100),
                Param::int("loads", "rebuilds", "", 10, 300, 100),
            ],
            run: replay,
        },
        Widget {
            id: "lease-fencing",
            title: "A pause past the lease",
            chapter: "11-locks-and-leader-election",
            params: vec![
                Param::int("pause_s", "client 1's pause", "s", 0, 40, 15),
                Param::int("ttl_s", "lease TTL", "s", 1, 40, 10),
                Param::bool("fencing", "fencing tokens", false),
            ],
            run: lease,
        },
        Widget {
            id: "election",
            title: "Raft's randomised election timeouts",
            chapter: "11-locks-and-leader-election",
            params: vec![
                Param::int("min_timeout_ms", "shortest timeout", "ms", 20, 1000, 150),
                Param::int("range_ms", "random range", "ms", 0, 1000, 150),
                Param::int("servers", "servers", "", 3, 9, 5),
                Param::int("trials", "crashes simulated", "", 50, 1000, 300),
            ],
            run: election,
        },
    ]
}

fn retry_timeline(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::retry::{Backoff, RetryPolicy};
    use crate::scenarios::{Group, Population, Strategy};
    use crate::sim::{Latency, ServiceConfig};
    let (base, cap) = (ms(v.int("base_ms")), ms(v.int("cap_ms")));
    let backoff = match v.choice("strategy") {
        "immediate" => Backoff::immediate(),
        _ => Backoff::exponential(base)
            .with_cap(cap.max(base))
            .with_jitter(jitter(v.choice("jitter")))
            .build()?,
    };
    let policy = RetryPolicy::new(backoff, v.u32("max_retries"))?;
    let clients = v.u32("clients");
    let name = v.choice("strategy").to_string();
    let run = Population {
        groups: vec![Group::new(name.clone(), clients, Strategy::new(name, policy))],
        service: ServiceConfig::new(Latency::Normal { mean: ms(50), sd: ms(10) }).with_failure_rate(1.0),
        timeout: Duration::from_secs(10),
        horizon: Duration::from_secs(1),
    }
    .run(seed)?;
    let attempts = run.recorder.attempts();
    let mut chart = Chart::timeline(
        format!(
            "One failing request per client, {} retries, base {} ms",
            v.int("max_retries"),
            v.int("base_ms")
        ),
        "time since the first try (s)",
    )
    .caption(format!(
        "{}, jitter {}, cap {} ms; each dot is an attempt; the endpoint always answers HTTP 500; seed {seed}",
        v.choice("strategy"),
        v.choice("jitter"),
        v.int("cap_ms")
    ));
    for c in 0..clients {
        let pts = attempts.iter().filter(|a| a.client == c).map(|a| (a.sent.as_secs_f64(), 0.0)).collect();
        chart = chart.with(Series::line(format!("client {}", c + 1), pts));
    }
    let last = attempts.iter().map(|a| a.sent.as_secs_f64()).fold(0.0, f64::max);
    let per_second = attempts.iter().filter(|a| a.sent < Duration::from_secs(1)).count();
    Ok(Outcome {
        chart,
        numbers: vec![
            n("attempts", attempts.len() as f64, ""),
            n("last attempt", last, "s"),
            n("attempts in the first second", per_second as f64, ""),
        ],
    })
}

fn herd(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::{herd_load, herd_served};
    use crate::scenarios::herd::Herd;
    let h = Herd {
        clients: v.u32("clients"),
        outage: secs(v.int("outage_s")),
        capacity: v.num("capacity").max(v.int("capacity") as f64),
        max_retries: v.u32("max_retries"),
        base: ms(v.int("base_ms")),
        ..Herd::default()
    };
    let want = v.choice("strategy");
    let strategy = h
        .strategies()?
        .into_iter()
        .find(|s| s.name == want || format!("{} jitter", s.name) == want)
        .ok_or_else(|| crate::error::ConfigError::new("strategy", format!("no strategy `{want}`")))?;
    let run = h.run(strategy, seed)?;
    let served = herd_served(std::slice::from_ref(&run), &h, seed);
    let share = served.series.first().and_then(|s| s.points.last()).map_or(0.0, |p| p.1);
    let reached = run.server_attempts();
    let mut chart = herd_load(std::slice::from_ref(&run), &h, seed);
    chart.title = format!("The thundering herd: {want}");
    Ok(Outcome {
        chart,
        numbers: vec![
            n("clients served by 60 s", share, "share"),
            n("requests that reached the server", reached as f64, ""),
            n("attempts per client", run.recorder.attempts().len() as f64 / f64::from(h.clients.max(1)), ""),
        ],
    })
}

fn payments(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::double_charges;
    use crate::scenarios::payments::LossyPayments;
    let x = LossyPayments {
        payments: v.u32("payments"),
        loss: v.num("loss"),
        max_retries: v.u32("max_retries"),
        ..LossyPayments::default()
    };
    let t = x.run(v.bool("keyed"), seed)?;
    // The sweep behind the chart: 10 loss rates, 200 payments each (the chosen run above
    // gives the numbers).
    let sweep = LossyPayments { payments: 200, ..x };
    let points = (0..10)
        .map(|i| {
            let at = LossyPayments { loss: f64::from(i) * 0.1, ..sweep };
            Ok((at.loss, at.run(true, seed)?, at.run(false, seed)?))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut chart = double_charges(&points, &sweep, seed);
    let per_k = t.extra_charges as f64 * 1000.0 / f64::from(t.payments.max(1));
    let label = if t.keyed { "this run: with keys" } else { "this run: without keys" };
    chart =
        chart.with(Series::line(label, vec![(x.loss * 100.0, per_k)]).with_mark(crate::charts::Mark::Hollow));
    Ok(Outcome {
        chart,
        numbers: vec![
            n("extra charges", t.extra_charges as f64, ""),
            n("customers charged twice or more", f64::from(t.double_charged), ""),
            n("payments never applied", f64::from(t.never_applied), ""),
            n("extra charges per 1,000 payments", per_k, ""),
            n("money conserved", if t.money_conserved { 1.0 } else { 0.0 }, "yes/no"),
        ],
    })
}

const SAGA_STEPS: &[&str] = &["none", "1 create order", "2 reserve stock", "3 charge payment", "4 ship"];

fn saga(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::saga_timeline;
    use crate::scenarios::order_saga::OrderSaga;
    let fail_step =
        SAGA_STEPS.iter().position(|s| *s == v.choice("fail_step")).and_then(|i| i.checked_sub(1));
    let saga = OrderSaga {
        fail_step,
        compensation_failures: v.u32("compensation_failures"),
        lost_acks: v.num("lost_acks"),
        idempotent: v.bool("idempotent"),
        ..OrderSaga::default()
    };
    let run = saga.run(seed)?;
    let yes = |b: bool| if b { 1.0 } else { 0.0 };
    Ok(Outcome {
        numbers: vec![
            n("order confirmed", yes(run.confirmed), "yes/no"),
            n("shipped", yes(run.shipped), "yes/no"),
            n("customer's balance change", run.customer_change as f64 / 100.0, "$"),
            n("money created", run.money_created as f64 / 100.0, "$"),
            n("stock missing", run.stock_missing as f64, "units"),
            n("action attempts", run.spans.len() as f64, ""),
        ],
        chart: saga_timeline(&run, &saga, seed),
    })
}

fn conn_pool(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::perf::pool_widget;
    use crate::scenarios::conn_pool::ConnPool;
    use crate::sim::{Latency, erlang_c};
    let x = ConnPool {
        size: v.u32("size"),
        per_second: v.num("per_second"),
        burst_per_second: v.num("burst_per_second"),
        hold: Latency::Exponential { mean: ms(v.int("hold_ms")) },
        ..ConnPool::widget()
    };
    let run = x.run(seed)?;
    let s = run.summary();
    let mut numbers = vec![
        n("requests", s.requests as f64, ""),
        n("share that waited", s.p_wait, "share"),
        n("mean wait", s.mean_wait_ms, "ms"),
        n("p99 wait", s.p99_wait_ms, "ms"),
        n("longest queue", f64::from(s.max_queue), "requests"),
    ];
    // Erlang C for the steady traffic alone (the burst is not Poisson-steady).
    match erlang_c(x.per_second, 1.0 / x.hold.mean_secs(), x.size) {
        Some((p, w)) => {
            numbers.push(n("Erlang C: share that waits (steady traffic)", p, "share"));
            numbers.push(n("Erlang C: mean wait (steady traffic)", w * 1e3, "ms"));
        }
        None => numbers.push(n(
            "Erlang C: steady traffic needs more connections than the pool has",
            1.0,
            "unstable=1",
        )),
    }
    Ok(Outcome { chart: pool_widget(&run, &x, seed), numbers })
}

fn lease(v: &Values, _seed: u64) -> Result<Outcome, Error> {
    use crate::charts::locks::race_timeline;
    use crate::scenarios::locks::{PauseRace, Protection, Stop};
    let race = PauseRace {
        ttl: Some(secs(v.int("ttl_s"))),
        stop: Stop::Pause(secs(v.int("pause_s"))),
        ..PauseRace::default()
    };
    let protection = if v.bool("fencing") { Protection::LeaseAndFencing } else { Protection::Lease };
    let run = race.run(protection)?;
    Ok(Outcome {
        numbers: vec![
            n("paid out", run.paid_out as f64, "$"),
            n("overdrawn", run.overdrawn(race.balance) as f64, "$"),
            n("final balance", run.final_balance as f64, "$"),
            n("writes refused (stale token)", f64::from(run.refused), ""),
        ],
        chart: race_timeline(&run, &race),
    })
}

fn election(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::locks::election_cdf;
    use crate::scenarios::election::{RaftElection, summary};
    let x = RaftElection {
        servers: v.u32("servers") as usize,
        min_timeout: ms(v.int("min_timeout_ms")),
        range: ms(v.int("range_ms")),
        ..RaftElection::default()
    };
    let trials = x.run(v.u32("trials") as usize, seed)?;
    let (median, p99, worst, split) = summary(&trials, x.give_up);
    Ok(Outcome {
        chart: election_cdf(&[(v.u64("range_ms"), trials)], &x, seed),
        numbers: vec![
            n("median time without a leader", median, "ms"),
            n("p99 time without a leader", p99, "ms"),
            n("worst", worst, "ms"),
            n("trials with a split vote", split, "share"),
        ],
    })
}

fn timeouts(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::weather;
    use crate::scenarios::weather::{Answer, Protection, Weather};
    let d = Weather::default();
    let w = Weather {
        threads: v.u32("threads"),
        hang: (d.hang.0, d.hang.0 + secs(v.int("hang_s"))),
        patience: secs(v.int("patience_s")),
        ..d
    };
    let protection = match v.int("read_timeout_ms") {
        0 => Protection::NoTimeout,
        t => Protection::ReadTimeout(ms(t)),
    };
    let run = w.run(protection, seed)?;
    let total = run.requests.len().max(1) as f64;
    Ok(Outcome {
        numbers: vec![
            n("requests", run.requests.len() as f64, ""),
            n("served live weather", run.count(Answer::Live) as f64 / total, "share"),
            n("served cached weather", run.count(Answer::Cached) as f64 / total, "share"),
            n("served \"weather unavailable\"", run.count(Answer::Unavailable) as f64 / total, "share"),
            n("failed (user gave up)", run.count(Answer::Failed) as f64 / total, "share"),
        ],
        chart: weather(&run, &w, seed),
    })
}

fn two_pc(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::blocking;
    use crate::scenarios::two_pc::{Blocking, CrashAt};
    let crash = match v.choice("crash") {
        "never" => CrashAt::Never,
        "after decision" => CrashAt::AfterDecision,
        _ => CrashAt::AfterPrepare,
    };
    let b = Blocking {
        participants: v.u32("participants") as usize,
        request_rate: v.num("request_rate"),
        downtime: secs(v.int("downtime_s")),
        crash,
        ..Blocking::default()
    };
    let run = b.run(seed)?;
    // The chart: the chapter's sweep over the downtime with these participants and rate,
    // and this run as a hollow dot.
    let points = Blocking::downtimes()
        .into_iter()
        .map(|d| {
            let prepare = Blocking { downtime: d, crash: CrashAt::AfterPrepare, ..b }.run(seed)?;
            let decision = Blocking { downtime: d, crash: CrashAt::AfterDecision, ..b }.run(seed)?;
            Ok((d.as_secs_f64(), prepare, decision))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let chart = blocking(&points, &b, seed).with(
        Series::line(
            format!("this run: {}", crash.name()),
            vec![(b.downtime.as_secs_f64(), run.blocked as f64)],
        )
        .with_mark(crate::charts::Mark::Hollow),
    );
    Ok(Outcome {
        chart,
        numbers: vec![
            n("requests blocked", run.blocked as f64, ""),
            n("longest lock held", run.max_lock().as_secs_f64(), "s"),
            n("mean wait of a blocked request", run.mean_wait_s, "s"),
        ],
    })
}

fn cqrs_lag(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::cqrs::lag_percentiles;
    use crate::cqrs::lag::LagSim;
    let sim = LagSim {
        poll: ms(v.int("poll_ms")),
        writes_per_second: v.num("writes_per_second"),
        per_event: Duration::from_micros(v.u64("per_event_us")),
        // 2 minutes of virtual time: up to 60,000 writes at the largest rate.
        horizon: Duration::from_secs(120),
    };
    let run = sim.run(seed)?;
    Ok(Outcome {
        numbers: vec![
            n("writes", run.lags_ms.len() as f64, ""),
            n("mean lag", run.mean(), "ms"),
            n("median lag", run.quantile(0.5), "ms"),
            n("p99 lag", run.quantile(0.99), "ms"),
            n("mean lag, formula", sim.predicted_mean_ms(), "ms"),
        ],
        chart: lag_percentiles(std::slice::from_ref(&run), &sim, seed),
    })
}

fn replay(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::replay::rebuild_work;
    use crate::scenarios::replay::RebuildWork;
    let interval = match v.u64("interval") {
        0 => None,
        i => Some(i),
    };
    let mut intervals = vec![None];
    if interval.is_some() {
        intervals.push(interval);
    }
    let w = RebuildWork { length: v.u64("length"), loads: v.u32("loads") as usize, intervals };
    let runs = w.run(seed)?;
    let mean = |i: Option<u64>| {
        let r: Vec<_> = runs.iter().filter(|r| r.interval == i).collect();
        r.iter().map(|r| r.events_applied as f64).sum::<f64>() / r.len().max(1) as f64
    };
    let mut numbers = vec![n("events applied per rebuild, no snapshots", mean(None), "")];
    if interval.is_some() {
        numbers.push(n("events applied per rebuild, with snapshots", mean(interval), ""));
    }
    Ok(Outcome { chart: rebuild_work(&runs, &w, seed), numbers })
}

fn compression(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::perf::compression_saved;
    use crate::perf::compression::{Codec, size};
    use crate::perf::payloads::Payload;
    let payload = [Payload::ProductPage, Payload::List20, Payload::List1000]
        .into_iter()
        .find(|p| p.name() == v.choice("payload"))
        .unwrap_or(Payload::List20);
    let codec = Codec::ALL.into_iter().find(|c| c.name() == v.choice("codec")).unwrap_or(Codec::Gzip);
    let json = payload.json(seed)?;
    // The chart: every level from 1 to 9 of the chosen codec (exact sizes).
    let rows = (1..=9)
        .map(|level| {
            Ok((
                payload.name().to_string(),
                codec,
                level,
                1.0 - size(&json, codec, level)? as f64 / json.len() as f64,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let level = i32::try_from(v.int("level")).unwrap_or(6);
    let compressed = size(&json, codec, level)?;
    let mut chart = compression_saved(&rows);
    chart.caption =
        format!("{}, built from seed {seed}; sizes are exact, the same on every machine", payload.name());
    Ok(Outcome {
        chart: chart.with(
            Series::line(
                format!("level {level}"),
                vec![(f64::from(level), (1.0 - compressed as f64 / json.len() as f64) * 100.0)],
            )
            .with_mark(crate::charts::Mark::Hollow),
        ),
        numbers: vec![
            n("JSON", json.len() as f64, "bytes"),
            n("compressed", compressed as f64, "bytes"),
            n("saved", 1.0 - compressed as f64 / json.len() as f64, "share"),
        ],
    })
}

fn pagination(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::perf::offset_drift;
    use crate::perf::pagination::Churn;
    let x = Churn {
        inserts_per_page: v.u32("inserts_per_page"),
        deletes_per_page: v.u32("deletes_per_page"),
        ..Churn::default()
    };
    let offset = x.run(false, seed)?;
    let cursor = x.run(true, seed)?;
    // The chart: the chapter's sweep of 0 to 8 new rows per page, with these deletes.
    let points = (0..=8)
        .map(|k| {
            let at = Churn { inserts_per_page: k, ..x };
            Ok((k, at.run(false, seed)?, at.run(true, seed)?))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut chart = offset_drift(&points, seed);
    chart.caption = format!(
        "20 pages of 20 from 2,000 rows newest first, {} random delete(s) between reads; seed {seed}",
        x.deletes_per_page
    );
    Ok(Outcome {
        chart,
        numbers: vec![
            n("offset: rows shown twice", f64::from(offset.duplicates), "rows"),
            n("offset: rows skipped", f64::from(offset.skipped), "rows"),
            n("cursor: rows shown twice or skipped", f64::from(cursor.duplicates + cursor.skipped), "rows"),
            n("offset: rows shown", f64::from(offset.shown), "rows"),
        ],
    })
}

const TRIPS: &[&str] = &["a count of failures", "a ratio of failed calls"];

fn breaker(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::breaker_timeline;
    use crate::retry::BreakerConfig;
    use crate::scenarios::breaker::BreakerRun;
    let ratio = v.choice("trips_on") == TRIPS[1];
    let d = BreakerRun::default();
    let x = BreakerRun {
        breaker: BreakerConfig {
            failure_threshold: v.u32("failure_threshold"),
            failure_ratio: ratio.then(|| v.num("failure_ratio")),
            minimum_throughput: v.u32("minimum_throughput"),
            window: secs(v.int("window_s")),
            cool_down: secs(v.int("cool_down_s")),
            probes: v.u32("probes"),
            ..BreakerConfig::default()
        },
        per_second: v.num("per_second"),
        failure_rate: v.num("failure_rate"),
        background_failure: v.num("background_failure"),
        ..d
    };
    let run = x.run(seed)?;
    let in_incident = |a: &crate::sim::Attempt| x.incident.0 <= a.sent && a.sent < x.incident.1;
    let reached_failing =
        run.recorder.attempts().iter().filter(|a| in_incident(a) && a.outcome.reached_server()).count();
    let refused_failing = run
        .recorder
        .attempts()
        .iter()
        .filter(|a| in_incident(a) && a.outcome == crate::sim::Outcome::BreakerOpen)
        .count();
    Ok(Outcome {
        numbers: vec![
            n("requests", run.recorder.len() as f64, ""),
            n("refused by the breaker", run.refused() as f64, ""),
            n("refused while the service was failing", refused_failing as f64, ""),
            n("reached the service while it was failing", reached_failing as f64, ""),
            n("failed at the service", run.failed() as f64, ""),
            n("times the breaker opened", run.open.len() as f64, ""),
            n("time open", run.time_open().as_secs_f64(), "s"),
        ],
        chart: breaker_timeline(&run, &x, seed),
    })
}

/// The degradation widget's choices: every [`Mode`](crate::degrade::Mode), by its name.
const MODES: &[&str] = &{
    use crate::degrade::Mode;
    let mut names = [""; Mode::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Mode::ALL[i].name();
        i += 1;
    }
    names
};

fn degradation(v: &Values, seed: u64) -> Result<Outcome, Error> {
    use crate::charts::book::shop_sales;
    use crate::degrade::{Dependency, Health, Mode, Status, storefront};
    use crate::scenarios::shop_day::ShopDay;
    use crate::sim::Arrivals;
    let toggles = [
        ("gateway", Dependency::Gateway),
        ("database", Dependency::Database),
        ("cache", Dependency::Cache),
        ("search", Dependency::Search),
        ("recommendations", Dependency::Recommendations),
        ("image_cdn", Dependency::ImageCdn),
        ("payments", Dependency::Payments),
    ];
    let health = toggles.iter().fold(Health::all_up(), |h, &(name, d)| h.set(d, v.bool(name)));
    let mode = Mode::ALL
        .into_iter()
        .find(|m| m.name() == v.choice("mode"))
        .ok_or_else(|| crate::error::ConfigError::new("mode", format!("no mode `{}`", v.choice("mode"))))?;
    let d = ShopDay::default();
    let from = secs(v.int("outage_from_h") * 3600);
    let to = secs(((v.int("outage_from_h") + v.int("outage_hours")).min(24)) * 3600);
    let x =
        ShopDay { traffic: Arrivals::daily(v.num("peak_per_second"), 20.0, 0.15), outage: (from, to), ..d };
    let normal = x.run_with(&health, None, seed)?;
    let day = x.run_with(&health, Some(mode), seed)?;
    let down: Vec<&str> = health.down().map(Dependency::name).collect();
    let down_text = if down.is_empty() { "nothing".to_string() } else { down.join(", ") };
    let (a, b) = (from.as_secs() / 3600, to.as_secs() / 3600);
    let mut chart = shop_sales(&[normal.clone(), day.clone()], &x, seed);
    chart.title = format!("A day of sales with {down_text} down from {a}:00 to {b}:00");
    chart.caption = format!(
        "{}; Poisson visits peaking at {} per second at 20:00; {}% of visits buy; {}% of sales via recommendations, popular items recover {}%; seed {seed}",
        mode.name(),
        x.traffic.peak_per_sec,
        x.conversion * 100.0,
        x.via_recommendations * 100.0,
        x.popular_recovers * 100.0
    );
    for band in &mut chart.bands {
        band.label = format!("{down_text} down");
    }
    let [product, _] = storefront();
    let page = product.render(&health, mode);
    let during = |day: &crate::scenarios::shop_day::Day, keep: fn(&Status) -> bool| {
        day.visits.iter().filter(|v| from <= v.at && v.at < to && keep(&v.status)).count() as f64
    };
    let (sold, normal_sold) = (day.sales_between(from, to) as f64, normal.sales_between(from, to) as f64);
    Ok(Outcome {
        numbers: vec![
            n("product page during the outage: response", page.latency.as_secs_f64() * 1e3, "ms"),
            n(
                "product page during the outage: served",
                if matches!(page.status, Status::Error(_)) { 0.0 } else { 1.0 },
                "yes/no",
            ),
            n("sales during the outage", sold, ""),
            n("sales in the same hours of a normal day", normal_sold, ""),
            // Not applicable when a normal day sold nothing in those hours.
            Number {
                name: "share of normal sales kept".into(),
                value: (normal_sold > 0.0).then(|| sold / normal_sold),
                unit: "share",
            },
            n("error pages during the outage", during(&day, |s| matches!(s, Status::Error(_))), ""),
            n("degraded pages during the outage", during(&day, |s| *s == Status::Degraded), ""),
        ],
        chart,
    })
}
