//! # unbreakable-sim
//!
//! Deterministic simulation of a small real system built on `unbreakable`: real hyper
//! services with the crate's tower layers, idempotency edge, election and fence, on
//! turmoil's simulated network (every host on one thread, a seeded network, hosts crashed
//! and restarted), with faults drawn from the seed and invariants checked from the hosts'
//! own records after every run. One seed always replays the same history.
//!
//! * [`run`] runs one seed of one [`Scenario`], optionally with a [`Mutant`] (a fixed bug
//!   switched back on, on this thread only), and answers a [`Report`]: its violations and
//!   its history ([`history::Event`] rows, written as CSV and an SVG timeline).
//! * [`checkout`]: gateway, payments, provider, ledger and a client sending orders; as
//!   scenarios `checkout` (with faults) and `checkout-calm` (none).
//! * [`election`]: three nodes on `lock::election::Campaign` through a lock service that
//!   forgets its last grants when it crashes, writing to a fenced resource; as scenarios
//!   `election` and `election-calm`.
//! * [`outbox`]: orders committed with the transactional outbox (SQLite), relayed by
//!   `AsyncRelay` over TCP to a projection that applies each event once, the published
//!   rows pruned, and each order billed through an event-sourced `Repository` whose
//!   snapshot store sometimes fails; as scenarios `outbox` and `outbox-calm`.
//! * The `unbreakable-simulate` binary runs many seeds with a progress bar and the rate;
//!   the `sim_bench` example compares each scenario with the same one without faults.
//!
//! | invariant | checked from |
//! |---|---|
//! | the provider never charges one order twice | the provider's log of charges |
//! | every payment the gateway acknowledged is in the ledger after recovery | the gateway's acknowledgements, the ledger's synced writes |
//! | no call runs more than 50 ms past its deadline | the gateway's record of each payment call |
//! | the resource never accepts an older term, nor two writers with one term | the resource's log of accepted writes |
//! | the gateway's audit breaker lets no call out while a breaker counting every failure would be open (2 failures within 10 s open it for 2 s; a failed probe reopens it), and refuses none such a breaker would let through | the gateway's record of its audit calls (start, end, failed, refused), replayed through the library's pure `CircuitBreaker` ([`check_audit_breaker`]) |
//! | every committed outbox event reaches the projection exactly once (none lost, none applied twice), with its amount | the orders table (each order commits with its event) and the projection's table of applied events |
//! | every committed order is billed exactly once (one `Charged` event), for its amount, and no uncommitted order is billed | the billing event store |
//!
//! Those say nothing wrong happened; these (liveness) say something did, so a gateway that
//! never acknowledges anything, or an election in which nobody ever writes, fails:
//!
//! | liveness | scenario | checked from |
//! |---|---|---|
//! | the client finishes (each order paid or given up) within 120 s simulated | both checkouts | whether the client's task returned |
//! | every order is acknowledged | `checkout-calm` | the gateway's acknowledgements |
//! | at least one order is acknowledged | `checkout` | the gateway's acknowledgements |
//! | the resource accepts at least one write in the run's 12 s | both elections | the resource's log of accepted writes |
//! | the client finishes (each order placed or given up, then 5 s past the last fault) within 60 s simulated | both outboxes | whether the client's task returned |
//! | every order is committed (and so, by the invariant, projected and billed) | `outbox-calm` | the orders table |
//! | at least one order reaches the projection | `outbox` | the projection's table |
//!
//! Under faults only one acknowledgement is required: a seed whose faults last long enough
//! makes the client give up on an order (its 12 attempts all fail), which is the system
//! working as designed, not a bug. Over seeds 0..500, measured on 2026-12-06 from each
//! run's records: the faulty checkout's client always finished (in at most 49 s), at
//! least 5 of its 6 orders were acknowledged, and 19 seeds gave up on one; the faulty
//! election accepted at least 6 writes a seed, the calm one at least 49; the faulty
//! outbox's client finished within 21 s (each run's simulated time, rounded up to whole
//! seconds). These figures, and the following, are enforced by
//! `cargo test -p unbreakable-sim` (its 500-seed tests count them and fail when one
//! changes): the gateway's audit
//! breaker refused a call (it had opened) in 266 of those checkout seeds, so its
//! invariant is exercised in the open state, not only while closed; at least 9 of the
//! faulty outbox's 10 orders were committed and projected (3 seeds gave up on one), the
//! projection skipped a redelivered event in 17 seeds, and the relay's published rows
//! were pruned in every seed; the calm outbox committed and projected all 10 in every
//! seed (its liveness invariant).
//! Finishing is required of the faulty checkout too, but alone it would prove little: a
//! client that gives up on every order finishes.
//!
//! # What is simulated, and what is not
//! Real code on a simulated clock: every line of the services, hyper's HTTP/1 on both
//! sides, the library's layers, edge, election and fence; turmoil's TCP (latency 1 to
//! 10 ms, 300 ms on a slow link; a partition drops a link's messages, so a new connection
//! is refused at once and an open one stalls; a hold keeps them until it ends, so a
//! connection attempt hangs); crashes (a host's tasks and sockets vanish) and restarts
//! (its software starts again on the same clock).
//!
//! Modelled, not real: the ledger's disk is a model of fsync (a write is pending until
//! synced; a crash loses what is pending), not turmoil's `unstable-fs` file system; the
//! lock service's counter is written to its "disk" every 2 s, so a crash loses its last
//! increments (as a Redis `INCR` that had not reached the replica). Not crashed: payments
//! (its idempotency keys are in a `MemoryStore`: a crash would lose them, which is a
//! design bug of its own, not the library's), the provider (someone else's service), the
//! audit service (it hangs instead, in half the checkout runs) and the fenced resource
//! (the protected database). Time moves in 10 ms steps: faults start and end on those
//! boundaries, while a host's own timers fire at their exact instant. Nothing here
//! exercises a real kernel, disk or database: that is what the loopback, PostgreSQL,
//! Redis and SIGKILL tests are for.
//!
//! The outbox (see [`outbox`] for its hosts): its SQLite files are real files, one
//! directory per run under the system's temp directory, removed when the run ends; a
//! host's connections are opened when its software starts and dropped when it crashes,
//! so a crash keeps what was committed. Dropping a `Connection` closes it cleanly: a
//! crash here is not a killed process, and SQLite's recovery of a hot journal or WAL is
//! never exercised (with `synchronous = OFF`, power loss, where an unsynced commit is
//! lost, is not simulated either).
//! A crash never lands inside a SQLite transaction (none spans an await), so SQLite's own
//! atomicity is taken as given, not tested. The relay's `AsyncRelay` runs its reads and
//! position stores on tokio's blocking pool, on real threads: tokio's paused clock does
//! not move while a blocking task runs, and turmoil's crashes fall between its steps, when
//! none is running, so a seed still replays exactly. The orders host's and projection's
//! SQLite calls run in place on the host's task (short, and a simulation has no other
//! request to stall). The billing account's event store and snapshots are kept by the
//! run, outside the orders host (a database server that outlives it); the order's
//! commit and its billing are two writes with no await between them, so no crash
//! separates them here (a real service would bill from the outbox).
//!
//! The gateway's audit breaker is checked against the library's own pure
//! `CircuitBreaker`: the check proves that the `RetryLayer` feeds its breaker every
//! failure (what the `final-counted-as-success` mutant breaks), not that the breaker's
//! state machine is right, which its own unit and property tests cover.
//!
//! Not exercised: the idempotency edge's worker-thread path. Payments' `MemoryStore` does
//! not block, so the edge calls it in place, under its mutex, on the host's own task; the
//! path a blocking store takes (such as the SQLite store, on a thread of its own,
//! called through a bounded queue, with its queue bound, its wait bound and storing the
//! response on that thread) never runs here, and the simulation says nothing about it.
//! The `KeyReleasedOnCancel` mutant, likewise, acts on the in-place path only (it releases
//! the key through the store held in place); the edge's own tests cover the thread.

pub mod checkout;
pub mod election;
pub mod history;
pub mod net;
pub mod outbox;

use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
pub use unbreakable::mutants::Mutant;

use crate::checkout::{Checkout, DEADLINE_SLACK};
use crate::history::{Event, Log, Records};

/// A scenario: a system and the faults it suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Scenario {
    /// The checkout under partitions, slow links, crashes and a hanging provider.
    Checkout,
    /// The checkout with no injected faults (the provider is still sometimes slow): the
    /// baseline for the benchmark.
    CheckoutCalm,
    /// Leader election over a lock service that crashes and forgets, writing to a
    /// fenced resource.
    Election,
    /// The election with no injected faults: the benchmark's baseline.
    ElectionCalm,
    /// Orders committed with a transactional outbox, relayed to a projection, under
    /// crashes of all three hosts and partitions and holds on their links.
    Outbox,
    /// The outbox with no injected faults (snapshot saves still fail now and then): the
    /// benchmark's baseline.
    OutboxCalm,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 6] = [
        Scenario::Checkout,
        Scenario::CheckoutCalm,
        Scenario::Election,
        Scenario::ElectionCalm,
        Scenario::Outbox,
        Scenario::OutboxCalm,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Checkout => "checkout",
            Scenario::CheckoutCalm => "checkout-calm",
            Scenario::Election => "election",
            Scenario::ElectionCalm => "election-calm",
            Scenario::Outbox => "outbox",
            Scenario::OutboxCalm => "outbox-calm",
        }
    }

    /// The scenario called `name`.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What one seed came to.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// The mutant switched on, if any.
    pub mutant: Option<&'static str>,
    /// Invariants broken, one line each; empty when the run is correct.
    pub violations: Vec<String>,
    /// The run's history.
    pub events: Vec<Event>,
    /// The gateway's record of its audit calls (checkout scenarios; empty otherwise).
    pub audit: Vec<history::AuditCall>,
    /// Simulated time the run took.
    pub simulated: Duration,
}

impl Report {
    /// The command line that runs this seed again.
    pub fn reproduce(&self) -> String {
        let mutant = self.mutant.map(|m| format!(" --mutant {m}")).unwrap_or_default();
        format!(
            "cargo run -p unbreakable-sim --bin unbreakable-simulate -- --scenario {} --seed {}{mutant}",
            self.scenario.name(),
            self.seed
        )
    }

    /// Writes the history CSV (see [`failure_line`](Self::failure_line)) and answers a line
    /// that says where, with the run's outcome.
    pub fn history_line(&self, dir: Option<PathBuf>) -> String {
        let written = self.write_history(dir);
        let verdict =
            if self.violations.is_empty() { "held".to_string() } else { self.violations.join(" | ") };
        format!(
            "seed {} of {}: {} events, {:.1} s simulated, invariants: {verdict}; {written}",
            self.seed,
            self.scenario.name(),
            self.events.len(),
            self.simulated.as_secs_f64()
        )
    }

    /// Writes the history CSV and its timeline (SVG, next to it); answers where.
    fn write_history(&self, dir: Option<PathBuf>) -> String {
        let path = self.csv_path(dir);
        let title = format!(
            "{} seed {}: {}",
            self.scenario.name(),
            self.seed,
            self.violations.first().map_or("invariants held", String::as_str)
        );
        match history::write_csv(&self.events, &path) {
            Ok(p) => match history::write_svg(&self.events, &title, &p.with_extension("svg")) {
                Ok(()) => format!("history {} (timeline .svg beside it)", p.display()),
                Err(e) => format!("history {} (timeline not written: {e})", p.display()),
            },
            Err(e) => format!("history not written: {e}"),
        }
    }

    fn csv_path(&self, dir: Option<PathBuf>) -> PathBuf {
        let dir = dir
            .or_else(|| std::env::var_os("UNBREAKABLE_SIM_OUT").map(PathBuf::from))
            .unwrap_or_else(|| std::env::temp_dir().join("unbreakable-sim"));
        let mutant = self.mutant.map(|m| format!("-{m}")).unwrap_or_default();
        dir.join(format!("{}{mutant}-{}.csv", self.scenario.name(), self.seed))
    }

    /// Writes the history CSV (under `dir`, or `$UNBREAKABLE_SIM_OUT`, or the system's temp
    /// directory) and answers one line: what failed, how to run it again, where the history is.
    pub fn failure_line(&self, dir: Option<PathBuf>) -> String {
        let written = self.write_history(dir);
        format!(
            "seed {} of {} broke: {}; reproduce: {}; {written}",
            self.seed,
            self.scenario.name(),
            self.violations.join(" | "),
            self.reproduce()
        )
    }
}

/// The scenario whose invariants catch `mutant`, and the words its violation contains.
/// Every mutant the library defines has one: the simulation's tests check each of them.
pub fn caught_by(mutant: Mutant) -> (Scenario, &'static str) {
    match mutant {
        Mutant::KeyReleasedOnCancel => (Scenario::Checkout, "charged twice"),
        Mutant::RetryIgnoresDeadline => (Scenario::Checkout, "past its deadline"),
        Mutant::EqualTokenFenceAccepted => (Scenario::Election, "two writers"),
        Mutant::OutboxRowIdReuse => (Scenario::Outbox, "never reached the projection"),
        Mutant::ErrorAfterCommit => (Scenario::Outbox, "committed once and billed"),
        Mutant::FinalCountedAsSuccess => (Scenario::Checkout, "breaker should be open"),
        // `Mutant` is non-exhaustive: a mutant added to the library without a scenario here
        // is reported by the tests, which run every mutant in `Mutant::ALL`.
        _ => (Scenario::Checkout, "(no scenario yet)"),
    }
}

/// Switches a mutant on for this thread while alive.
struct Mutated;

impl Mutated {
    fn on(mutant: Option<Mutant>) -> Self {
        unbreakable::mutants::set(mutant);
        Mutated
    }
}

impl Drop for Mutated {
    fn drop(&mut self) {
        unbreakable::mutants::set(None);
    }
}

/// Runs one seed of `scenario`, with `mutant` switched on (on this thread) if given.
pub fn run(scenario: Scenario, seed: u64, mutant: Option<Mutant>) -> Report {
    let _mutated = Mutated::on(mutant);
    let log = Log::default();
    let (violations, simulated) = match scenario {
        Scenario::Checkout => run_checkout(seed, &log, true),
        Scenario::CheckoutCalm => run_checkout(seed, &log, false),
        Scenario::Election => election::run(seed, &log, true),
        Scenario::ElectionCalm => election::run(seed, &log, false),
        Scenario::Outbox => outbox::run(seed, &log, true),
        Scenario::OutboxCalm => outbox::run(seed, &log, false),
    };
    let audit = log.lock().audit.clone();
    Report {
        scenario,
        seed,
        mutant: mutant.map(Mutant::name),
        violations,
        events: log.events(),
        audit,
        simulated,
    }
}

/// Runs `seeds` of `scenario` on `threads` threads (each seed is its own simulation, so the
/// seeds split freely) and answers the report of the **lowest** failing seed, or `None` if
/// every seed held: the same answer whatever the number of threads. `progress` is called
/// once per finished seed, from the worker threads. Once a seed fails, seeds above it are
/// no longer started.
pub fn run_seeds(
    scenario: Scenario,
    seeds: std::ops::Range<u64>,
    mutant: Option<Mutant>,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Option<Report> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    let next = AtomicU64::new(seeds.start);
    // The lowest failing seed so far (u64::MAX: none).
    let stop = AtomicU64::new(u64::MAX);
    let failed: Mutex<Option<Report>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    // Take the next seed, never moving the counter past `seeds.end` (so it
                    // cannot wrap when the range ends at `u64::MAX`).
                    let taken = next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                        (s < seeds.end).then(|| s + 1)
                    });
                    let Ok(seed) = taken else { break };
                    if seed >= stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let report = run(scenario, seed, mutant);
                    progress();
                    if !report.violations.is_empty() {
                        stop.fetch_min(seed, Ordering::Relaxed);
                        let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                        if failed.as_ref().is_none_or(|f| f.seed > seed) {
                            *failed = Some(report);
                        }
                    }
                }
            });
        }
    });
    failed.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// How far simulated time moves per step: faults start and end on these boundaries (a
/// host's own timers still fire at their exact instant within a step). Turmoil's default
/// is 1 ms; at 10 ms a checkout seed runs about 1.5 times faster than at 5 ms, and every
/// mutant is still found within the first three seeds.
pub const TICK: Duration = Duration::from_millis(TICK_MS);
const TICK_MS: u64 = 10;

/// The longest a checkout run may take, in simulated time.
const CHECKOUT_LIMIT: Duration = Duration::from_secs(120);
/// How much longer than a scenario's limit the simulation itself may run.
pub(crate) const LIMIT_SLACK: Duration = Duration::from_secs(10);

/// A host's software, boxed (hosts of one scenario in one table).
pub(crate) type HostFuture = std::pin::Pin<Box<dyn std::future::Future<Output = turmoil::Result>>>;

/// A fault, applied at a moment of simulated time.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Partition(&'static str, &'static str),
    Repair(&'static str, &'static str),
    Hold(&'static str, &'static str),
    Release(&'static str, &'static str),
    Slow(&'static str, &'static str),
    Fast(&'static str, &'static str),
    Crash(&'static str),
    Restart(&'static str),
    Hang,
    Unhang,
    /// The checkout's audit service stops answering (its own stream of faults).
    AuditHang,
    AuditUnhang,
}

/// 1 to 8 windows of faults, each starting in the first 12 s and 0.2 to 4 s long, sorted
/// by time: `pick` draws each window's start and end actions, after its times, from the
/// same generator (the order of draws is part of every seed's history).
pub(crate) fn fault_windows(
    rng: &mut rand_chacha::ChaCha8Rng,
    mut pick: impl FnMut(&mut rand_chacha::ChaCha8Rng) -> (Action, Action),
) -> Vec<(Duration, Action)> {
    let mut plan = Vec::new();
    for _ in 0..rng.random_range(1..=8) {
        let at = Duration::from_millis(rng.random_range(0..12_000));
        let long = Duration::from_millis(rng.random_range(200..4_000));
        let (start, end) = pick(rng);
        plan.push((at, start));
        plan.push((at + long, end));
    }
    plan.sort_by_key(|(at, _)| *at);
    plan
}

/// The links between the checkout's hosts.
const LINKS: [(&str, &str); 4] =
    [("client", "gateway"), ("gateway", "payments"), ("payments", "provider"), ("payments", "ledger")];

/// The faults of a checkout run, drawn from the seed: partitions (turmoil drops the
/// link's messages: a new connection is refused at once, an open one stalls), holds (a
/// black hole: messages wait until the window ends, so a connection attempt hangs), slow
/// links (up to 300 ms a message), crashes of the ledger or the gateway, a provider that
/// hangs: 1 to 8 windows starting in the first 12 s, each 0.2 to 4 s long; and, in half
/// the runs, an audit service that hangs for 2 to 8 s from a moment in the first 8 s.
fn checkout_faults(seed: u64) -> Vec<(Duration, Action)> {
    let mut plan = fault_windows(&mut checkout::rng(seed, 9), |rng| {
        let (a, b) = LINKS[rng.random_range(0..LINKS.len())];
        match rng.random_range(0..9) {
            0 | 1 => (Action::Partition(a, b), Action::Repair(a, b)),
            2 | 3 => (Action::Hold(a, b), Action::Release(a, b)),
            4 => (Action::Slow(a, b), Action::Fast(a, b)),
            5 => (Action::Crash("ledger"), Action::Restart("ledger")),
            6 => (Action::Crash("gateway"), Action::Restart("gateway")),
            _ => (Action::Hang, Action::Unhang),
        }
    });
    // The audit service's hang, from a stream of its own (the faults above stay as
    // they were): in half the runs, one window starting in the first 8 s, 2 to 8 s long.
    let mut audit = checkout::rng(seed, 10);
    if audit.random_bool(0.5) {
        let at = Duration::from_millis(audit.random_range(0..8_000));
        let long = Duration::from_millis(audit.random_range(2_000..8_000));
        plan.push((at, Action::AuditHang));
        plan.push((at + long, Action::AuditUnhang));
    }
    plan.sort_by_key(|(at, _)| *at);
    plan
}

/// A simulation with the crate's settings: seeded, [`TICK`] steps, 1 to 10 ms per message.
pub(crate) fn builder(seed: u64, duration: Duration) -> turmoil::Builder {
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .simulation_duration(duration)
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(10));
    builder
}

/// Steps `sim` until its clients finish or `limit`, applying `plan` on time (`hook` sees
/// each fault after it is applied, for the faults that are the scenario's own), and
/// writes each fault to the history. Answers whether the clients finished.
pub(crate) fn drive(
    sim: &mut turmoil::Sim<'_>,
    plan: Vec<(Duration, Action)>,
    log: &Log,
    limit: Duration,
    mut hook: impl FnMut(&Action, &dyn Fn(&str, String)),
) -> Result<bool, String> {
    let mut plan = plan.into_iter().peekable();
    let mut crashed: Vec<&str> = Vec::new();
    while sim.elapsed() < limit {
        while let Some((_, action)) = plan.next_if(|(at, _)| *at <= sim.elapsed()) {
            let at = sim.elapsed().as_millis() as u64;
            let note = |kind: &str, detail: String| log.event_at(at, "sim", kind, "", detail);
            match &action {
                Action::Partition(a, b) => {
                    sim.partition(*a, *b);
                    note("partition", format!("{a} x {b}"));
                }
                Action::Repair(a, b) => {
                    sim.repair(*a, *b);
                    note("repair", format!("{a} - {b}"));
                }
                Action::Hold(a, b) => {
                    sim.hold(*a, *b);
                    note("hold", format!("{a} ... {b}"));
                }
                Action::Release(a, b) => {
                    sim.release(*a, *b);
                    note("release", format!("{a} - {b}"));
                }
                Action::Slow(a, b) => {
                    sim.set_link_max_message_latency(*a, *b, Duration::from_millis(300));
                    note("slow", format!("{a} ~ {b}"));
                }
                Action::Fast(a, b) => {
                    sim.set_link_max_message_latency(*a, *b, Duration::from_millis(10));
                    note("fast", format!("{a} - {b}"));
                }
                Action::Crash(host) if !crashed.contains(host) => {
                    sim.crash(*host);
                    crashed.push(host);
                    note("crash", host.to_string());
                }
                Action::Restart(host) if crashed.contains(host) => {
                    sim.bounce(*host);
                    crashed.retain(|h| h != host);
                    note("restart", host.to_string());
                }
                Action::Crash(_) | Action::Restart(_) => continue,
                Action::Hang | Action::Unhang | Action::AuditHang | Action::AuditUnhang => {}
            }
            hook(&action, &note);
        }
        if sim.step().map_err(|e| e.to_string())? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn run_checkout(seed: u64, log: &Log, faults: bool) -> (Vec<String>, Duration) {
    let world = Checkout::new(seed, log.clone());
    let mut sim = builder(seed, CHECKOUT_LIMIT + LIMIT_SLACK).build();
    type Host = fn(Checkout) -> HostFuture;
    let hosts: [(&str, Host); 4] = [
        ("gateway", |w| Box::pin(checkout::gateway(w))),
        ("payments", |w| Box::pin(checkout::payments(w))),
        ("provider", |w| Box::pin(checkout::provider(w))),
        ("ledger", |w| Box::pin(checkout::ledger(w))),
    ];
    for (name, host) in hosts {
        let world = world.clone();
        sim.host(name, move || host(world.clone()));
    }
    sim.client("client", checkout::client(world.clone()));
    let plan = if faults { checkout_faults(seed) } else { Vec::new() };
    let (provider, audit_hanging) = (world.provider.clone(), world.audit_hanging.clone());
    let outcome = drive(&mut sim, plan, log, CHECKOUT_LIMIT, |action, note| match action {
        Action::Crash("ledger") => {
            let lost = std::mem::take(&mut log.lock().disk.pending);
            note("lost", format!("ledger: {} unsynced writes", lost.len()));
        }
        Action::Hang | Action::Unhang => {
            let hang = matches!(action, Action::Hang);
            provider.lock().unwrap_or_else(std::sync::PoisonError::into_inner).hanging = hang;
            note(if hang { "hang" } else { "unhang" }, "provider".into());
        }
        Action::AuditHang | Action::AuditUnhang => {
            let hang = matches!(action, Action::AuditHang);
            *audit_hanging.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = hang;
            note(if hang { "hang" } else { "unhang" }, "audit".into());
        }
        _ => {}
    });
    let simulated = sim.elapsed();
    if outcome == Ok(false) {
        log.event_at(simulated.as_millis() as u64, "sim", "limit", "", "the client had not finished");
    }
    let records = log.lock();
    let mut violations = check_checkout(&records);
    match outcome {
        Err(e) => violations.push(format!("a host failed: {e}")),
        Ok(finished) => violations.extend(check_checkout_progress(&records, finished, faults)),
    }
    (violations, simulated)
}

/// The checkout's invariants, from the hosts' own records.
pub fn check_checkout(r: &Records) -> Vec<String> {
    let mut violations = Vec::new();
    // The provider never charges one order twice: each later charge is reported against
    // the order's first.
    let mut seen: std::collections::BTreeMap<&str, &history::Charge> = Default::default();
    for charge in &r.charges {
        let first = *seen.entry(&charge.order).or_insert(charge);
        if !std::ptr::eq(first, charge) {
            violations.push(format!(
                "{} charged twice: {} at {} ms and {} at {} ms",
                charge.order, first.charge, first.at_ms, charge.charge, charge.at_ms
            ));
        }
    }
    // Every payment the gateway acknowledged is in the ledger (its synced writes).
    for (order, at) in &r.acks {
        if !r.disk.synced.iter().any(|e| &e.order == order) {
            violations.push(format!("{order} acknowledged at {at} ms is not in the ledger"));
        }
    }
    // No handler runs more than the slack past its deadline.
    let slack = DEADLINE_SLACK.as_millis() as u64;
    for b in &r.bounded {
        if b.ended_ms > b.deadline_ms + slack {
            violations.push(format!(
                "{}'s call for {} ended at {} ms, {} ms past its deadline (slack {slack} ms)",
                b.host,
                b.order,
                b.ended_ms,
                b.ended_ms - b.deadline_ms
            ));
        }
    }
    violations.extend(check_audit_breaker(&r.audit));
    violations
}

/// The gateway's audit breaker, checked against a reference: the library's pure
/// `CircuitBreaker` with the same settings ([`checkout::audit_breaker`]), fed the outcome
/// of every call the gateway made as the gateway recorded it (an error, a 5xx or a cut
/// attempt is a failure), in the order the calls started and ended, on the breaker's
/// clock. A call that went out while the reference refuses it (open, or its probe slot
/// taken) went out while the breaker, counting every failure, would have been open:
/// after 2 failures within 10 s, nothing may reach `audit` for 2 s, and a failed probe
/// opens it again. A call the gateway's breaker refused while the reference would let
/// it through is a breaker that opens too often or never closes. A call cancelled by its
/// host's crash is not reported. Reported once per run (the first such call); settings
/// the reference rejects are a violation too.
pub fn check_audit_breaker(calls: &[history::AuditCall]) -> Vec<String> {
    check_breaker_against(&checkout::audit_breaker(), calls)
}

/// [`check_audit_breaker`] with the reference built from `config`.
fn check_breaker_against(
    config: &unbreakable::retry::BreakerConfig,
    calls: &[history::AuditCall],
) -> Vec<String> {
    use history::AuditCall;
    use unbreakable::retry::CircuitBreaker;
    let mut reference: Option<CircuitBreaker> = None;
    let mut admitted = std::collections::BTreeMap::new();
    for event in calls {
        match *event {
            AuditCall::Boot => {
                match config.build() {
                    Ok(b) => reference = Some(b),
                    Err(e) => return vec![format!("the audit breaker's settings are rejected: {e}")],
                }
                admitted.clear();
            }
            AuditCall::Start { call, at } => {
                let Some(b) = reference.as_mut() else { continue };
                match b.try_acquire(at) {
                    Ok(a) => {
                        admitted.insert(call, a);
                    }
                    Err(open) => {
                        return vec![format!(
                            "an audit call went out at {} ms (gateway's clock) while its breaker should be open ({} ms more of cool-down): the failures before it were not all counted",
                            at.as_millis(),
                            open.retry_after.as_millis()
                        )];
                    }
                }
            }
            AuditCall::End { call, at, failed } => {
                if let (Some(b), Some(a)) = (reference.as_mut(), admitted.remove(&call)) {
                    if failed { b.on_failure(a, at) } else { b.on_success(a, at) }
                }
            }
            AuditCall::Refused { at } => {
                if let Some(b) = reference.as_mut()
                    && b.try_acquire(at).is_ok()
                {
                    return vec![format!(
                        "an audit call was refused at {} ms (gateway's clock) while its breaker should have let it through: it opened too often or did not close",
                        at.as_millis()
                    )];
                }
            }
            // Its host crashed with it: the outcome reached no breaker (the next `Boot`
            // starts a new one).
            AuditCall::Cancelled { call } => {
                admitted.remove(&call);
            }
        }
    }
    Vec::new()
}

/// The checkout's liveness: what a run must get done, beyond never doing wrong. The client
/// must finish (every order paid or given up) within the run's limit of 120 s simulated;
/// without injected faults every order must be acknowledged; with faults at least one
/// must be. (Finishing alone would not do: a client that gives up on every order finishes
/// too, so a gateway that never acknowledges anything would pass.) `finished` says whether
/// the client finished; `faults` whether faults were injected.
pub fn check_checkout_progress(r: &Records, finished: bool, faults: bool) -> Vec<String> {
    let mut violations = Vec::new();
    if !finished {
        violations
            .push(format!("the client had not finished after {} s simulated", CHECKOUT_LIMIT.as_secs()));
    }
    if faults {
        if r.acks.is_empty() {
            violations.push("no order was acknowledged".to_string());
        }
    } else {
        for order in (0..checkout::ORDERS).map(|i| format!("order-{i}")) {
            if !r.acks.contains_key(&order) {
                violations.push(format!("{order} was never acknowledged, with no fault injected"));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Bounded, Charge, Entry};

    fn charge(order: &str, charge: &str, at_ms: u64) -> Charge {
        Charge { at_ms, order: order.into(), key: format!("acct-0/{order}"), charge: charge.into() }
    }

    #[test]
    fn a_clean_record_breaks_nothing() {
        let mut r = Records::default();
        r.charges.push(charge("order-1", "ch_1", 10));
        r.acks.insert("order-1".into(), 20);
        r.disk.synced.push(Entry { order: "order-1".into(), charge: "ch_1".into() });
        r.bounded.push(Bounded {
            host: "gateway".into(),
            order: "order-1".into(),
            deadline_ms: 100,
            ended_ms: 150,
        });
        assert_eq!(check_checkout(&r), Vec::<String>::new());
    }

    #[test]
    fn a_third_charge_is_reported_against_the_first() {
        let mut r = Records::default();
        r.charges.extend([
            charge("order-1", "ch_1", 10),
            charge("order-1", "ch_2", 30),
            charge("order-1", "ch_3", 50),
        ]);
        assert_eq!(
            check_checkout(&r),
            [
                "order-1 charged twice: ch_1 at 10 ms and ch_2 at 30 ms",
                "order-1 charged twice: ch_1 at 10 ms and ch_3 at 50 ms",
            ]
        );
    }

    #[test]
    fn each_checkout_invariant_can_fail() {
        let mut r = Records::default();
        r.charges.extend([charge("order-1", "ch_1", 10), charge("order-1", "ch_2", 30)]);
        // Acknowledged, but only pending on the ledger's disk: a crash loses it.
        r.acks.insert("order-2".into(), 40);
        r.disk.pending.push(Entry { order: "order-2".into(), charge: "ch_3".into() });
        r.bounded.push(Bounded {
            host: "gateway".into(),
            order: "order-3".into(),
            deadline_ms: 100,
            ended_ms: 151,
        });
        let v = check_checkout(&r);
        assert_eq!(v.len(), 3, "{v:#?}");
        assert!(v[0].contains("order-1 charged twice: ch_1 at 10 ms and ch_2 at 30 ms"), "{}", v[0]);
        assert!(v[1].contains("order-2 acknowledged at 40 ms is not in the ledger"), "{}", v[1]);
        assert!(v[2].contains("51 ms past its deadline"), "{}", v[2]);
    }

    /// Every order acknowledged, on a record otherwise empty.
    fn all_acknowledged() -> Records {
        let mut r = Records::default();
        for i in 0..checkout::ORDERS {
            r.acks.insert(format!("order-{i}"), 100 * i as u64);
        }
        r
    }

    #[test]
    fn a_checkout_that_gets_everything_done_is_live() {
        for faults in [false, true] {
            assert_eq!(check_checkout_progress(&all_acknowledged(), true, faults), Vec::<String>::new());
        }
        let mut one = Records::default();
        one.acks.insert("order-3".into(), 50);
        assert_eq!(check_checkout_progress(&one, true, true), Vec::<String>::new());
    }

    #[test]
    fn each_checkout_liveness_invariant_can_fail() {
        // A client that never finishes, with or without faults.
        for faults in [false, true] {
            let v = check_checkout_progress(&all_acknowledged(), false, faults);
            assert_eq!(v, ["the client had not finished after 120 s simulated"], "faults {faults}");
        }
        // Without faults, one order the gateway never acknowledged.
        let mut r = all_acknowledged();
        r.acks.remove("order-4");
        let v = check_checkout_progress(&r, true, false);
        assert_eq!(v, ["order-4 was never acknowledged, with no fault injected"]);
        // With faults one acknowledgement is enough, but none is not: a gateway that never
        // acknowledges, while the client gives up on every order and so finishes.
        assert_eq!(check_checkout_progress(&r, true, true), Vec::<String>::new());
        let v = check_checkout_progress(&Records::default(), true, true);
        assert_eq!(v, ["no order was acknowledged"]);
        let v = check_checkout_progress(&Records::default(), true, false);
        assert_eq!(v.len(), checkout::ORDERS, "{v:#?}");
    }

    #[test]
    fn an_election_with_no_accepted_write_is_not_live() {
        let v = election::check(&Records::default());
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0].contains("the resource accepted no write"), "{}", v[0]);
    }

    #[test]
    fn each_election_invariant_can_fail() {
        use crate::history::FencedWrite;
        let w = |at_ms, term, holder: &str| FencedWrite { at_ms, term, holder: holder.into() };
        let mut r = Records::default();
        r.fenced.extend([
            w(1, 2, "node-a"),
            w(2, 2, "node-a"),
            w(3, 1, "node-b"),
            w(4, 2, "node-c"),
            w(5, 2, "node-c"),
        ]);
        let v = election::check(&r);
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(v[0].contains("accepted term 1 from node-b at 3 ms after term 2"), "{}", v[0]);
        assert!(v[1].contains("term 2 has two writers: node-a and node-c"), "{}", v[1]);
    }

    #[test]
    fn the_audit_breaker_check_fails_on_a_call_while_it_should_be_open() {
        use crate::history::AuditCall::{Boot, End, Start};
        let ms = Duration::from_millis;
        let failed_twice = vec![
            Boot,
            Start { call: 0, at: ms(0) },
            End { call: 0, at: ms(300), failed: true },
            Start { call: 1, at: ms(400) },
            End { call: 1, at: ms(700), failed: true },
        ];
        // Opened at 700 ms for 2 s: a call at 800 ms should have been refused.
        let mut early = failed_twice.clone();
        early.push(Start { call: 2, at: ms(800) });
        let v = check_audit_breaker(&early);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("went out at 800 ms") && v[0].contains("1900 ms more"), "{}", v[0]);
        // After the cool-down one probe may go; if it fails, the breaker opens again.
        let mut probe = failed_twice.clone();
        probe.push(Start { call: 2, at: ms(2700) });
        assert_eq!(check_audit_breaker(&probe), Vec::<String>::new());
        probe.extend([End { call: 2, at: ms(3000), failed: true }, Start { call: 3, at: ms(3100) }]);
        assert_eq!(check_audit_breaker(&probe).len(), 1);
        // A successful probe closes it; a gateway restart starts a new breaker.
        let mut closed = failed_twice.clone();
        closed.extend([
            Start { call: 2, at: ms(2700) },
            End { call: 2, at: ms(2710), failed: false },
            Start { call: 3, at: ms(2720) },
        ]);
        assert_eq!(check_audit_breaker(&closed), Vec::<String>::new());
        let mut restarted = failed_twice;
        restarted.extend([Boot, Start { call: 2, at: ms(10) }]);
        assert_eq!(check_audit_breaker(&restarted), Vec::<String>::new());
    }

    #[test]
    fn the_audit_breaker_check_fails_on_a_refusal_it_should_have_let_through() {
        use crate::history::AuditCall::{Boot, End, Refused, Start};
        let ms = Duration::from_millis;
        // A closed breaker, nothing failed: a refusal is a breaker that opens too often.
        let v = check_audit_breaker(&[Boot, Refused { at: ms(5) }]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("refused at 5 ms") && v[0].contains("should have let it through"), "{}", v[0]);
        // Opened at 700 ms for 2 s: refused in the cool-down is right, refused after it
        // (the probe's turn) is a breaker that never closes.
        let mut opened = vec![
            Boot,
            Start { call: 0, at: ms(0) },
            End { call: 0, at: ms(300), failed: true },
            Start { call: 1, at: ms(400) },
            End { call: 1, at: ms(700), failed: true },
            Refused { at: ms(2600) },
        ];
        assert_eq!(check_audit_breaker(&opened), Vec::<String>::new());
        opened.push(Refused { at: ms(2700) });
        let v = check_audit_breaker(&opened);
        assert!(v.len() == 1 && v[0].contains("refused at 2700 ms"), "{v:?}");
    }

    #[test]
    fn a_reference_breaker_that_cannot_be_built_is_a_violation() {
        use crate::history::AuditCall::{Boot, Start};
        let bad = unbreakable::retry::BreakerConfig { failure_threshold: 0, ..checkout::audit_breaker() };
        let v = check_breaker_against(&bad, &[Boot, Start { call: 0, at: Duration::ZERO }]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("audit breaker's settings"), "{}", v[0]);
    }

    #[test]
    fn names_parse_back() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
    }
}
