//! Groups of clients retrying against one simulated service.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::ConfigError;
use crate::retry::{
    AdaptiveThrottle, BreakerConfig, CircuitBreaker, RetryPolicy, RetryQuota, RetryRatio, RetryToken,
};
use crate::sim::{
    Arrivals, Attempt, EventQueue, Outcome, Recorder, ServiceConfig, ServiceModel, SimRng, SimTime, substream,
};

/// What guards a client's retries, shared by the clients of one instance.
#[derive(Debug, Clone, Serialize)]
pub enum Guard {
    /// Nothing: only the retry policy.
    None,
    /// A circuit breaker per instance.
    Breaker(BreakerConfig),
    /// An AWS-style retry quota per instance.
    Quota(RetryQuota),
    /// An SRE retry ratio per instance: `(ratio, window)`.
    Ratio(f64, Duration),
    /// SRE adaptive throttling per instance: `(K, window)`.
    Throttle(f64, Duration),
}

/// A retry strategy: a policy and a guard, with a name for legends.
#[derive(Debug, Clone, Serialize)]
pub struct Strategy {
    /// Legend name.
    pub name: String,
    /// Backoff and max retries.
    pub policy: RetryPolicy,
    /// Breaker or budget.
    pub guard: Guard,
}

impl Strategy {
    /// A strategy with no guard.
    pub fn new(name: impl Into<String>, policy: RetryPolicy) -> Self {
        Self { name: name.into(), policy, guard: Guard::None }
    }

    /// Adds a guard.
    pub fn guarded(mut self, guard: Guard) -> Self {
        self.guard = guard;
        self
    }
}

/// When the clients of a group start their first job.
#[derive(Debug, Clone, Serialize)]
pub enum Start {
    /// All at this time.
    At(SimTime),
    /// Spread uniformly over `[from, from + over)`.
    Uniform {
        /// Start of the spread.
        from: SimTime,
        /// Its length.
        over: Duration,
    },
    /// One client per arrival of a Poisson process (the group's `clients` is ignored);
    /// arrivals stop at the population's horizon.
    Poisson(Arrivals),
}

/// A group of identical clients.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Name (for the `group` column).
    pub name: String,
    /// How many clients.
    pub clients: u32,
    /// How many client processes they are spread over: clients `i` and `j` share a
    /// breaker or budget when `i % instances == j % instances`.
    pub instances: u32,
    /// When they start.
    pub start: Start,
    /// Jobs each client does one after the other (a closed loop); 1 for one request.
    pub jobs: u32,
    /// Pause between a client's jobs.
    pub think: Duration,
    /// How they retry.
    pub strategy: Strategy,
}

impl Group {
    /// `clients` clients, one job each, in one instance, all starting at zero.
    pub fn new(name: impl Into<String>, clients: u32, strategy: Strategy) -> Self {
        Self {
            name: name.into(),
            clients,
            instances: 1,
            start: Start::At(Duration::ZERO),
            jobs: 1,
            think: Duration::ZERO,
            strategy,
        }
    }
}

/// The most clients a population may have in all.
pub const MAX_CLIENTS: u64 = 5_000_000;

/// Groups of clients in front of one service.
#[derive(Debug, Clone, Serialize)]
pub struct Population {
    /// The client groups.
    pub groups: Vec<Group>,
    /// The service they call.
    pub service: ServiceConfig,
    /// How long a client waits for an answer before it counts the attempt as timed out.
    pub timeout: Duration,
    /// No job starts after this time (retries of started jobs still run).
    pub horizon: Duration,
}

/// The result of [`Population::run`].
#[derive(Debug, Clone)]
pub struct Run {
    /// One row per attempt, in canonical order.
    pub recorder: Recorder,
    /// Each group's name and the range of client numbers it has.
    pub groups: Vec<(String, Range<u32>)>,
    /// The service as it ended (for its capacity curve and counters).
    pub service: ServiceModel,
    /// Events processed by the discrete-event queue.
    pub events: u64,
    /// Time of the last event.
    pub end: SimTime,
}

impl Run {
    /// The name of the first group (the strategy, in the chapter 02 experiments).
    pub fn name(&self) -> &str {
        self.groups.first().map_or("", |g| g.0.as_str())
    }

    /// The group a client belongs to.
    pub fn group_of(&self, client: u32) -> &str {
        self.groups.iter().find(|(_, r)| r.contains(&client)).map_or("", |(n, _)| n.as_str())
    }

    /// Attempts that reached the server.
    pub fn server_attempts(&self) -> usize {
        self.recorder.attempts().iter().filter(|a| a.outcome.reached_server()).count()
    }

    /// For each job, whether it ended in success and when: `(client, finished, ok)` of the
    /// last row of each job, in order of finishing.
    pub fn jobs(&self) -> Vec<(u32, SimTime, bool)> {
        let mut out = Vec::new();
        let mut open: BTreeMap<u32, (SimTime, bool)> = BTreeMap::new();
        for a in self.recorder.attempts() {
            if a.attempt == 0 {
                if let Some((t, ok)) = open.remove(&a.client) {
                    out.push((a.client, t, ok));
                }
            }
            open.insert(a.client, (a.finished, a.outcome.is_success()));
        }
        out.extend(open.into_iter().map(|(c, (t, ok))| (c, t, ok)));
        out.sort_by_key(|j| (j.1, j.0));
        out
    }

    /// The rows as a DataFrame (see [`Recorder::to_frame`]) with a `group` column added.
    #[cfg(feature = "frames")]
    pub fn to_frame(&self) -> Result<polars::prelude::DataFrame, crate::Error> {
        use polars::prelude::*;
        let mut df = self.recorder.to_frame()?;
        let g: Vec<&str> = self.recorder.attempts().iter().map(|a| self.group_of(a.client)).collect();
        df.with_column(Column::new("group".into(), g))?;
        Ok(df)
    }
}

enum GuardState {
    None,
    Breaker(CircuitBreaker),
    Quota(RetryQuota),
    Ratio(RetryRatio),
    Throttle(AdaptiveThrottle),
}

struct Client {
    group: usize,
    guard: usize,
    jobs_left: u32,
    attempt: u32,
    previous: Duration,
    token: Option<RetryToken>,
    rng: SimRng,
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Start(u32),
    Send(u32),
    Reply { client: u32, sent: SimTime, outcome: Outcome },
}

impl Population {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.service.validate()?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "a client timeout of zero fails every request; try 1 s"));
        }
        let mut total = 0u64;
        for g in &self.groups {
            if g.instances == 0 {
                return Err(ConfigError::new(
                    "instances",
                    format!("group `{}` needs at least one instance", g.name),
                ));
            }
            if g.jobs == 0 {
                return Err(ConfigError::new(
                    "jobs",
                    format!("group `{}` needs at least one job per client", g.name),
                ));
            }
            match g.strategy.guard {
                Guard::Breaker(b) => drop(b.build()?),
                Guard::Ratio(r, w) => drop(RetryRatio::new(r, w)?),
                Guard::Throttle(k, w) => drop(AdaptiveThrottle::new(k, w)?),
                Guard::None | Guard::Quota(_) => {}
            }
            let n = match &g.start {
                Start::Poisson(a) => (a.peak_per_sec * self.horizon.as_secs_f64()) as u64,
                _ => u64::from(g.clients),
            };
            total += n.saturating_mul(u64::from(g.jobs));
        }
        if total > MAX_CLIENTS {
            return Err(ConfigError::new(
                "groups",
                format!(
                    "about {total} jobs is more than {MAX_CLIENTS}; use fewer clients, jobs or a shorter horizon"
                ),
            ));
        }
        Ok(())
    }

    /// Runs the population with `seed` until every job has finished.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn run(&self, seed: u64) -> Result<Run, ConfigError> {
        self.validate()?;
        let mut service = self.service.clone().build()?;
        let mut q = EventQueue::new();
        let mut clients: Vec<Client> = Vec::new();
        let mut guards: Vec<GuardState> = Vec::new();
        let mut ranges = Vec::new();
        let mut start_rng = substream(seed, u64::MAX);
        for (gi, g) in self.groups.iter().enumerate() {
            let first_guard = guards.len();
            for _ in 0..g.instances {
                guards.push(match g.strategy.guard {
                    Guard::None => GuardState::None,
                    Guard::Breaker(b) => GuardState::Breaker(b.build()?),
                    Guard::Quota(qu) => GuardState::Quota(qu),
                    Guard::Ratio(r, w) => GuardState::Ratio(RetryRatio::new(r, w)?),
                    Guard::Throttle(k, w) => GuardState::Throttle(AdaptiveThrottle::new(k, w)?),
                });
            }
            let starts: Vec<SimTime> = match &g.start {
                Start::At(t) => vec![*t; g.clients as usize],
                Start::Uniform { from, over } => {
                    (0..g.clients).map(|_| *from + over.mul_f64(start_rng.random::<f64>())).collect()
                }
                Start::Poisson(a) => a.sample(self.horizon, &mut start_rng)?,
            };
            let lo = clients.len() as u32;
            for (i, t) in starts.into_iter().enumerate() {
                let id = clients.len() as u32;
                clients.push(Client {
                    group: gi,
                    guard: first_guard + i % g.instances as usize,
                    jobs_left: g.jobs,
                    attempt: 0,
                    previous: Duration::ZERO,
                    token: None,
                    rng: substream(seed, u64::from(id)),
                });
                q.schedule(t, Ev::Start(id));
            }
            ranges.push((g.name.clone(), lo..clients.len() as u32));
        }

        let mut rec = Recorder::new();
        while let Some((now, ev)) = q.pop() {
            match ev {
                Ev::Start(id) => {
                    let c = &mut clients[id as usize];
                    c.attempt = 0;
                    c.token = None;
                    c.previous = Duration::ZERO;
                    if let GuardState::Ratio(r) = &mut guards[c.guard] {
                        r.record_request(now);
                    }
                    q.schedule(now, Ev::Send(id));
                }
                Ev::Send(id) => {
                    let c = &mut clients[id as usize];
                    let refused = match &mut guards[c.guard] {
                        GuardState::Breaker(b) => b.try_acquire(now).err().map(|_| Outcome::BreakerOpen),
                        GuardState::Throttle(t) => {
                            let u = c.rng.random::<f64>();
                            (!t.should_send(now, u)).then_some(Outcome::Throttled)
                        }
                        _ => None,
                    };
                    if let Some(outcome) = refused {
                        rec.record(Attempt {
                            client: id,
                            attempt: c.attempt,
                            sent: now,
                            finished: now,
                            outcome,
                        });
                        self.after_failure(id, now, outcome, &mut clients, &mut guards, &mut q, &mut rec);
                        continue;
                    }
                    let resp = service.call(now, &mut c.rng);
                    let (outcome, after) = match resp.latency {
                        Some(l) if l <= self.timeout => (resp.outcome, l),
                        _ => (Outcome::TimedOut, self.timeout),
                    };
                    q.schedule(now + after, Ev::Reply { client: id, sent: now, outcome });
                }
                Ev::Reply { client: id, sent, outcome } => {
                    let c = &mut clients[id as usize];
                    rec.record(Attempt { client: id, attempt: c.attempt, sent, finished: now, outcome });
                    if outcome.is_success() {
                        match &mut guards[c.guard] {
                            GuardState::Breaker(b) => b.record_success(now),
                            GuardState::Quota(qu) => qu.on_success(c.token.take()),
                            GuardState::Throttle(t) => t.record_accept(now),
                            _ => {}
                        }
                        self.next_job(id, now, &mut clients, &mut q);
                    } else {
                        if let GuardState::Breaker(b) = &mut guards[c.guard] {
                            b.record_failure(now);
                        }
                        self.after_failure(id, now, outcome, &mut clients, &mut guards, &mut q, &mut rec);
                    }
                }
            }
        }
        rec.sort();
        Ok(Run { recorder: rec, groups: ranges, service, events: q.processed(), end: q.now() })
    }

    #[allow(clippy::too_many_arguments)]
    fn after_failure(
        &self,
        id: u32,
        now: SimTime,
        outcome: Outcome,
        clients: &mut [Client],
        guards: &mut [GuardState],
        q: &mut EventQueue<Ev>,
        rec: &mut Recorder,
    ) {
        let c = &mut clients[id as usize];
        let policy = self.groups[c.group].strategy.policy;
        if c.attempt >= policy.max_retries() {
            return self.next_job(id, now, clients, q);
        }
        let allowed = match &mut guards[c.guard] {
            GuardState::Quota(qu) => match qu.try_acquire(outcome == Outcome::TimedOut) {
                Ok(t) => {
                    c.token = Some(t);
                    true
                }
                Err(_) => false,
            },
            GuardState::Ratio(r) => r.try_retry(now),
            _ => true,
        };
        if !allowed {
            rec.record(Attempt {
                client: id,
                attempt: c.attempt + 1,
                sent: now,
                finished: now,
                outcome: Outcome::BudgetExhausted,
            });
            return self.next_job(id, now, clients, q);
        }
        let backoff = policy.backoff();
        let u = if backoff.jitter().is_some_and(|j| j != crate::retry::Jitter::None) {
            c.rng.random::<f64>()
        } else {
            0.0
        };
        let delay = backoff.delay(c.attempt, c.previous, u);
        c.previous = delay;
        c.attempt += 1;
        q.schedule(now + delay, Ev::Send(id));
    }

    fn next_job(&self, id: u32, now: SimTime, clients: &mut [Client], q: &mut EventQueue<Ev>) {
        let c = &mut clients[id as usize];
        c.jobs_left = c.jobs_left.saturating_sub(1);
        let think = self.groups[c.group].think;
        if c.jobs_left > 0 && now + think < self.horizon {
            q.schedule(now + think, Ev::Start(id));
        }
    }
}
