//! Wasted work down a call chain: independent per-hop timeouts against a propagated
//! deadline (chapter 04).
//!
//! A client calls service A, A calls B, B calls C (the article's chain). Each service
//! other than the last does `hop_work` and then calls the next; the last does
//! `leaf_work`, which becomes `slowdown.2` times slower during a slowdown window.
//!
//! * **Independent timeouts.** Every hop waits up to `hop_timeout` for the next one (the
//!   article's "Service C might have a 30-second timeout even though only 20 seconds
//!   remain"). Nobody tells a callee that its caller has left, so C finishes its work
//!   even when the client gave up long ago, and B and A keep a thread waiting for it.
//! * **Propagated deadline.** The client's budget travels as a [`Deadline`]; each hop
//!   passes on what is left (minus a `reserve` for answering), stops its own work when
//!   the deadline passes, and refuses to start when nothing is left.
//!
//! The services run as async tasks on tokio's paused clock, through the crate's
//! [`Deadline`] and [`within`] edge: the code a real service would run. Each callee is a
//! separate task, as a remote server would be, so a caller that stops waiting does not
//! cancel it. *Wasted work* is the time a service spends (working, or holding a thread
//! while it waits for the next hop) on a request whose client has already given up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::{sleep, timeout};

use crate::deadline::{Deadline, within};
use crate::error::ConfigError;
use crate::sim::{Arrivals, Latency, SimClock, SimTime, bins, rng, run_paused, substream};

/// How the chain bounds its waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Propagation {
    /// Each hop has its own timeout on the next; callees never learn the caller left.
    Independent,
    /// The client's deadline travels with the request.
    Deadline,
}

impl Propagation {
    /// Both, in the order the notebook shows them.
    pub const ALL: [Propagation; 2] = [Propagation::Independent, Propagation::Deadline];

    /// A name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            Propagation::Independent => "independent timeouts",
            Propagation::Deadline => "propagated deadline",
        }
    }
}

/// The experiment's settings.
///
/// # Default
/// The article's chain: a 30 s client budget, services A -> B -> C; A and B each work 5 s
/// before calling on (so C sees 20 s left), and independent hops wait 30 s each. C's
/// work is log-normal with a median of 8 s (sigma 0.5), five times slower from 200 s to
/// 400 s. One request per second for 600 s; no reserve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WastedWork {
    /// Services in the chain (A, B, C, ...), at least 1 and at most 26.
    pub hops: u32,
    /// Requests per second (Poisson).
    pub rate: f64,
    /// When requests stop arriving.
    pub horizon: Duration,
    /// The client's budget: it gives up after this long.
    pub budget: Duration,
    /// With independent timeouts, how long each hop waits for the next.
    pub hop_timeout: Duration,
    /// Work each hop but the last does before calling the next.
    pub hop_work: Latency,
    /// Work the last hop does.
    pub leaf_work: Latency,
    /// `(start, end, factor)`: the last hop's work takes `factor` times longer for
    /// requests arriving in the window.
    pub slowdown: (SimTime, SimTime, f64),
    /// With a propagated deadline, what each hop keeps back for answering its caller.
    pub reserve: Duration,
}

impl Default for WastedWork {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            hops: 3,
            rate: 1.0,
            horizon: s(600),
            budget: s(30),
            hop_timeout: s(30),
            hop_work: Latency::Fixed(s(5)),
            leaf_work: Latency::LogNormal { median: s(8), sigma: 0.5 },
            slowdown: (s(200), s(400), 5.0),
            reserve: Duration::ZERO,
        }
    }
}

/// The most hops a chain may have.
pub const MAX_HOPS: u32 = 26;

/// One stretch of time a service spent on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Busy {
    /// Which request.
    pub request: u32,
    /// Which hop (0 = A).
    pub hop: u32,
    /// Holding a thread while waiting for the next hop (`true`), or working (`false`).
    pub waiting: bool,
    /// From.
    pub start: SimTime,
    /// To.
    pub end: SimTime,
}

/// One client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Request {
    /// When the client sent it.
    pub sent: SimTime,
    /// When the client had its answer, or gave up.
    pub done: SimTime,
    /// Whether it got a successful answer in time.
    pub ok: bool,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct WastedRun {
    /// How the chain bounded its waiting.
    pub propagation: Propagation,
    /// Every client request, in order of sending.
    pub requests: Vec<Request>,
    /// Every stretch of time any service spent on a request.
    pub busy: Vec<Busy>,
}

/// The name of hop `i`: A, B, C, ...
pub fn hop_name(i: u32) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}

impl WastedRun {
    /// The part of `b` spent after its client had given up (or had its answer).
    pub fn wasted(&self, b: &Busy) -> Duration {
        let gone = self.requests[b.request as usize].done;
        b.end.saturating_sub(b.start.max(gone))
    }

    /// Requests that failed (the client gave up or got an error).
    pub fn failed(&self) -> usize {
        self.requests.iter().filter(|r| !r.ok).count()
    }

    /// Per hop: `(name, seconds working, seconds waiting)` spent after the client gave up.
    pub fn wasted_per_hop(&self, hops: u32) -> Vec<(String, f64, f64)> {
        (0..hops)
            .map(|h| {
                let sum = |waiting: bool| {
                    // `+ 0.0`: an empty float sum is -0.0, which prints as "-0".
                    self.busy
                        .iter()
                        .filter(|b| b.hop == h && b.waiting == waiting)
                        .map(|b| self.wasted(b).as_secs_f64())
                        .sum::<f64>()
                        + 0.0
                };
                (hop_name(h), sum(false), sum(true))
            })
            .collect()
    }

    /// Wasted service-seconds per second of time (working and waiting, all hops), in
    /// bins of `bin` seconds from 0 to `until`, as `(bin start, value)`; empty for a bin
    /// that is not a positive number or more than a million bins.
    pub fn wasted_per_bin(&self, bin: f64, until: f64) -> Vec<(f64, f64)> {
        let Some(n) = bins(bin, until) else { return Vec::new() };
        let mut acc = vec![0.0; n];
        for b in &self.busy {
            let gone = self.requests[b.request as usize].done.as_secs_f64();
            let (from, to) = (b.start.as_secs_f64().max(gone), b.end.as_secs_f64().min(until));
            let mut t = from;
            while t < to {
                let i = (t / bin) as usize;
                let edge = ((i + 1) as f64 * bin).min(to);
                acc[i] += edge - t;
                t = edge;
            }
        }
        acc.iter().enumerate().map(|(i, s)| (i as f64 * bin, s / bin)).collect()
    }
}

/// Shared state of the running chain.
struct Chain {
    cfg: WastedWork,
    propagation: Propagation,
    clock: SimClock,
    busy: Mutex<Vec<Busy>>,
    /// Hop tasks still running.
    live: AtomicUsize,
}

/// Why a hop answered with an error.
#[derive(Debug, Clone, Copy)]
enum HopError {
    /// The next hop did not answer within this hop's timeout or deadline.
    Timeout,
    /// No budget left: refused without working.
    FailFast,
}

/// Decrements the live-task count when a hop task ends, however it ends.
struct Live(Arc<Chain>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Chain {
    fn record(&self, request: u32, hop: u32, waiting: bool, start: SimTime) {
        let end = self.clock.now();
        if let Ok(mut busy) = self.busy.lock() {
            busy.push(Busy { request, hop, waiting, start, end });
        }
    }

    /// Starts hop `hop` of request `request` as its own task, as a remote service would
    /// run it: whoever called it can stop waiting, but cannot stop it.
    fn spawn(
        self: &Arc<Self>,
        request: u32,
        hop: u32,
        works: Arc<[Duration]>,
        deadline: Option<Deadline>,
    ) -> tokio::task::JoinHandle<Result<(), HopError>> {
        self.live.fetch_add(1, Ordering::SeqCst);
        let chain = Arc::clone(self);
        tokio::spawn(async move {
            let _live = Live(Arc::clone(&chain));
            chain.hop(request, hop, works, deadline).await
        })
    }

    async fn hop(
        self: Arc<Self>,
        request: u32,
        hop: u32,
        works: Arc<[Duration]>,
        deadline: Option<Deadline>,
    ) -> Result<(), HopError> {
        let now = self.clock.now();
        if let Some(d) = deadline {
            d.check(now).map_err(|_| HopError::FailFast)?;
        }
        // This hop's own work; with a deadline it stops when the deadline passes.
        let work = sleep(works[hop as usize]);
        let finished = match deadline {
            Some(d) => within(d, &self.clock, work).await.is_ok(),
            None => {
                work.await;
                true
            }
        };
        self.record(request, hop, false, now);
        if !finished {
            return Err(HopError::Timeout);
        }
        if hop + 1 == self.cfg.hops {
            return Ok(());
        }
        let start = self.clock.now();
        let answer = match deadline {
            None => {
                let child = self.spawn(request, hop + 1, works, None);
                timeout(self.cfg.hop_timeout, child).await.map_err(|_| HopError::Timeout)
            }
            Some(d) => match d.for_downstream(start, self.cfg.reserve) {
                Err(_) => Err(HopError::FailFast),
                Ok(child_deadline) => {
                    let child = self.spawn(request, hop + 1, works, Some(child_deadline));
                    within(child_deadline, &self.clock, child).await.map_err(|_| HopError::Timeout)
                }
            },
        };
        self.record(request, hop, true, start);
        match answer {
            Ok(Ok(inner)) => inner,
            Ok(Err(_panicked)) => Err(HopError::Timeout),
            Err(e) => Err(e),
        }
    }
}

impl WastedWork {
    /// Checks the settings.
    ///
    /// # Errors
    /// Hops outside 1..=26, a zero budget or hop timeout, a slowdown factor that is not a
    /// positive number, or a latency the sampler refuses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hops == 0 || self.hops > MAX_HOPS {
            return Err(ConfigError::new("hops", format!("{} hops is outside 1..={MAX_HOPS}", self.hops)));
        }
        if self.budget.is_zero() || self.hop_timeout.is_zero() {
            return Err(ConfigError::new(
                "budget",
                "the client budget and the hop timeout must be longer than zero",
            ));
        }
        if !(self.slowdown.2.is_finite() && self.slowdown.2 > 0.0) {
            return Err(ConfigError::new(
                "slowdown",
                format!("factor {} must be a positive number (1.0: no slowdown)", self.slowdown.2),
            ));
        }
        self.hop_work.validate()?;
        self.leaf_work.validate()
    }

    /// Runs the chain with `propagation`. Both settings see the same requests and the
    /// same work times for the same seed.
    ///
    /// # Errors
    /// The settings are invalid ([`validate`](Self::validate)).
    pub fn run(&self, propagation: Propagation, seed: u64) -> Result<WastedRun, ConfigError> {
        self.validate()?;
        let mut r = rng(seed);
        let arrivals = Arrivals::flat(self.rate).sample(self.horizon, &mut r)?;
        let mut work_rng = substream(seed, 1);
        let plans: Vec<(SimTime, Arc<[Duration]>)> = arrivals
            .iter()
            .map(|&t| {
                let mut works: Vec<Duration> =
                    (0..self.hops - 1).map(|_| self.hop_work.sample(&mut work_rng)).collect();
                let mut leaf = self.leaf_work.sample(&mut work_rng);
                if self.slowdown.0 <= t && t < self.slowdown.1 {
                    leaf = leaf.mul_f64(self.slowdown.2);
                }
                works.push(leaf);
                (t, works.into())
            })
            .collect();
        let cfg = *self;
        let out = run_paused(async move {
            let chain = Arc::new(Chain {
                cfg,
                propagation,
                clock: SimClock::start(),
                busy: Mutex::new(Vec::new()),
                live: AtomicUsize::new(0),
            });
            let mut clients = Vec::with_capacity(plans.len());
            for (i, (t, works)) in plans.into_iter().enumerate() {
                sleep(t.saturating_sub(chain.clock.now())).await;
                let chain = Arc::clone(&chain);
                clients.push(tokio::spawn(async move {
                    let sent = chain.clock.now();
                    let deadline = (chain.propagation == Propagation::Deadline)
                        .then(|| Deadline::after(sent, chain.cfg.budget));
                    let first = chain.spawn(i as u32, 0, works, deadline);
                    let ok = matches!(timeout(chain.cfg.budget, first).await, Ok(Ok(Ok(()))));
                    Request { sent, done: chain.clock.now(), ok }
                }));
            }
            let mut requests = Vec::with_capacity(clients.len());
            for c in clients {
                if let Ok(req) = c.await {
                    requests.push(req);
                }
            }
            // Let the work nobody waits for any more finish, so it is counted.
            while chain.live.load(Ordering::SeqCst) > 0 {
                sleep(Duration::from_secs(1)).await;
            }
            let mut busy = chain.busy.lock().map(|b| b.clone()).unwrap_or_default();
            busy.sort_by_key(|b| (b.request, b.hop, b.waiting, b.start));
            (requests, busy)
        })
        .map_err(|e| ConfigError::new("runtime", format!("could not start the simulation runtime: {e}")))?;
        Ok(WastedRun { propagation, requests: out.0, busy: out.1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_article_chain_wastes_nothing_with_a_deadline_and_plenty_without() {
        let w = WastedWork::default();
        let ind = w.run(Propagation::Independent, 1).unwrap();
        let dl = w.run(Propagation::Deadline, 1).unwrap();
        assert_eq!(ind.requests.len(), dl.requests.len());
        // Same requests, same work: the same requests succeed either way.
        let oks = |r: &WastedRun| r.requests.iter().map(|q| q.ok).collect::<Vec<_>>();
        assert_eq!(oks(&ind), oks(&dl));
        assert!(ind.failed() > 50, "the slowdown should make many requests fail: {}", ind.failed());
        let total = |r: &WastedRun| r.busy.iter().map(|b| r.wasted(b).as_secs_f64()).sum::<f64>();
        assert_eq!(total(&dl), 0.0);
        // C keeps working past the client's 30 s: its work starts at 10 s and lasts
        // about 40 s during the slowdown, so roughly 20 s wasted per failed request.
        let per_failure = total(&ind) / ind.failed() as f64;
        assert!(per_failure > 10.0, "{per_failure}");
        // Binned waste adds up to the total.
        let binned: f64 = ind.wasted_per_bin(10.0, 2000.0).iter().map(|p| p.1 * 10.0).sum();
        assert!((binned - total(&ind)).abs() < 1e-6);
    }

    #[test]
    fn a_hop_with_no_budget_left_fails_fast_without_working() {
        let s = Duration::from_secs;
        // A works 20 s, B 20 s: B's call to C would start at 40 s, past the 30 s budget.
        let w = WastedWork {
            hop_work: Latency::Fixed(s(20)),
            slowdown: (s(0), s(0), 1.0),
            horizon: s(20),
            ..WastedWork::default()
        };
        let run = w.run(Propagation::Deadline, 3).unwrap();
        assert!(run.requests.iter().all(|r| !r.ok));
        // B stops its work at the deadline; C never starts.
        assert!(run.busy.iter().all(|b| b.hop < 2));
        assert!(run.busy.iter().all(|b| b.end <= run.requests[b.request as usize].sent + s(30)));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(
            WastedWork { hops: 0, ..WastedWork::default() }.run(Propagation::Deadline, 1).unwrap_err().field,
            "hops"
        );
        let w = WastedWork { slowdown: (Duration::ZERO, Duration::ZERO, f64::NAN), ..WastedWork::default() };
        assert_eq!(w.validate().unwrap_err().field, "slowdown");
    }
}
