//! The checkout: four hosts, each a real hyper service over turmoil's TCP, and a client.
//!
//! | host | what it runs |
//! |---|---|
//! | `gateway` | `DeadlineLayer` (2 s per order); the call to payments behind `FallbackLayer` (a marked 202 "pending"), `BreakerLayer` and `RetryLayer` (`HttpRetry`, 700 ms per attempt, the order's deadline), on a task of its own so a client that hangs up does not abandon a payment half way; for every request, a report to `audit` on a task of its own (not awaited), a POST without an idempotency key behind a `RetryLayer` with a breaker of its own ([`audit_breaker`]: 2 failures within 10 s open it for 2 s) and 300 ms per attempt: never retried, so every failure is a `Failed` verdict |
//! | `audit` | a second service on the payments host (port [`AUDIT_PORT`]: one runtime fewer to step than a host of its own), taking reports: answers at once, except while it hangs (a fault window), when it never answers |
//! | `payments` | `DeadlineLayer` trusting the gateway's header; the idempotency edge (`Idempotent` over `MemoryStore`, keys scoped to the account, 15 s lock timeout) around: charge at the provider with the key, then append to the ledger |
//! | `provider` | an external card processor: charges after 5 ms to 5 s, sometimes after its caller gave up; answers a repeat of a key it has *finished* with the first charge, but charges a repeat that arrives while the first is still running (no in-flight lock) |
//! | `ledger` | an append-only record of payments, acknowledged only after an fsync; crashes lose unsynced writes |
//! | `client` | sends orders with retries (same key), each attempt bounded by 3 s |

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Request, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use unbreakable::idempotency::edge::Idempotent;
use unbreakable::idempotency::{IdempotencyKey, KeyError, MemoryStore, Policy, RunError, StoreError};
use unbreakable::retry::{Backoff, Breaker, BreakerConfig, BreakerOpen, Jitter, RetryPolicy};
use unbreakable::time::Clock;
use unbreakable::tower::http::{
    HttpRetry, IDEMPOTENCY_KEY, error_status, is_server_failure, marked, request_deadline,
    set_deadline_header,
};
use unbreakable::tower::{
    BoxError, BreakerLayer, DeadlineLayer, FallbackLayer, FallbackServed, GaveUp, GiveUpReason, RetryLayer,
    TimeoutHeader, TrustHeader,
};

use crate::history::{AuditCall, Bounded, Charge, Entry, Log, now_ms};
use crate::net::{header, send, send_to, serve, serve_on, status_of, text};

/// Orders the client sends per run.
pub const ORDERS: usize = 6;
/// The gateway's deadline for one order.
pub const GATEWAY_DEADLINE: Duration = Duration::from_secs(2);
/// How long payments' idempotency key stays in flight after a run whose outcome is unknown.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest the provider takes to charge (from the request's arrival).
pub const PROVIDER_MAX: Duration = Duration::from_secs(5);
/// How far past its deadline a handler may end: one attempt is cut *at* the deadline,
/// so only the simulation's tick and the task's last steps remain.
pub const DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// The gateway's breaker for its calls to `audit`: 2 failures within 10 s open it for
/// 2 s, then one probe.
pub fn audit_breaker() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 2,
        window: Duration::from_secs(10),
        cool_down: Duration::from_secs(2),
        probes: 1,
        ..Default::default()
    }
}
/// The port of the audit service, on the payments host.
pub const AUDIT_PORT: u16 = 81;
/// The gateway's attempt timeout for a call to `audit`.
pub const AUDIT_ATTEMPT: Duration = Duration::from_millis(300);

/// A random stream for one part of a run, from the run's seed.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// What the provider keeps (it is never crashed: it is someone else's service).
#[derive(Debug)]
pub struct Provider {
    done: std::collections::BTreeMap<String, String>,
    next: u64,
    rng: ChaCha8Rng,
    /// While set, a new request hangs: never answered, never charged.
    pub hanging: bool,
}

impl Provider {
    /// A provider drawing its delays from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self { done: Default::default(), next: 1, rng, hanging: false }
    }
}

/// Shared state of one checkout run.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The hosts' records.
    pub log: Log,
    /// The provider's state.
    pub provider: Arc<Mutex<Provider>>,
    /// The ledger's fsync delays and the client's jitter.
    pub ledger_rng: Arc<Mutex<ChaCha8Rng>>,
    /// The client's jitter.
    pub client_rng: Arc<Mutex<ChaCha8Rng>>,
    /// The seed (for the retry layer's jitter).
    pub seed: u64,
    /// While set, the audit service never answers.
    pub audit_hanging: Arc<Mutex<bool>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Checkout {
    /// The state of a run with `seed`.
    pub fn new(seed: u64, log: Log) -> Self {
        Self {
            log,
            provider: Arc::new(Mutex::new(Provider::new(rng(seed, 1)))),
            ledger_rng: Arc::new(Mutex::new(rng(seed, 2))),
            client_rng: Arc::new(Mutex::new(rng(seed, 3))),
            seed,
            audit_hanging: Arc::new(Mutex::new(false)),
        }
    }
}

/// Turns a service's error into a status, as axum's `HandleErrorLayer` would.
async fn answer<S>(service: S, req: Request<Bytes>) -> Result<Response<Bytes>, Infallible>
where
    S: tower::Service<Request<Bytes>, Response = Response<Bytes>, Error = BoxError>,
{
    Ok(match service.oneshot(req).await {
        Ok(response) => response,
        Err(e) => text(error_status(&e).as_u16(), e.to_string()),
    })
}

/// The gateway host.
pub async fn gateway(world: Checkout) -> turmoil::Result {
    let clock = Clock::start();
    let log = world.log.clone();
    let breaker = Breaker::new(BreakerConfig {
        failure_threshold: 5,
        cool_down: Duration::from_secs(1),
        ..Default::default()
    })?;
    let backoff = Backoff::exponential(Duration::from_millis(100))
        .with_cap(Duration::from_secs(1))
        .with_jitter(Jitter::Full)
        .build()?;
    let retry = RetryLayer::new(RetryPolicy::new(backoff, 4)?, HttpRetry)
        .seeded(world.seed)
        .with_attempt_timeout(Duration::from_millis(700))?;
    let (audit, audit_breaker) = audit_client(&world).map_err(|e| e as Box<dyn std::error::Error>)?;
    let payments = ServiceBuilder::new()
        .layer(FallbackLayer::new(marked(|_: &BoxError| text(202, "payment pending: ask again"))))
        .layer(BreakerLayer::new(breaker, is_server_failure::<Bytes, BoxError>))
        .layer(retry)
        .service(service_fn(|req: Request<Bytes>| send("payments", req)));
    let handler = service_fn(move |req: Request<Bytes>| {
        let (payments, log, audit, audit_breaker) =
            (payments.clone(), log.clone(), audit.clone(), audit_breaker.clone());
        async move {
            let order = header(&req, "x-order").to_string();
            // Reported to audit on a task of its own: the order does not wait for it.
            let report = Request::post("/reports").header("x-order", &order).body(Bytes::new())?;
            tokio::task::spawn_local({
                let (log, order) = (log.clone(), order.clone());
                async move {
                    if let Err(e) = audit.oneshot(report).await {
                        if refused(&e) {
                            log.lock().audit.push(AuditCall::Refused { at: audit_breaker.now() });
                        }
                        log.event("gateway", "audit-failed", &order, e.to_string());
                    }
                }
            });
            let (deadline, clock) = request_deadline(&req).ok_or("no deadline")?;
            let mut out = Request::post("/charge")
                .header("x-order", &order)
                .header("x-account", header(&req, "x-account"))
                .header(IDEMPOTENCY_KEY, header(&req, IDEMPOTENCY_KEY))
                .body(req.body().clone())?;
            set_deadline_header(&mut out, &TimeoutHeader::default(), deadline, &clock)?;
            out.extensions_mut().insert(deadline);
            out.extensions_mut().insert(clock);
            let deadline_ms = now_ms() + deadline.remaining(clock.now()).as_millis() as u64;
            // The payment call runs on; a client that hangs up does not cut it half way.
            let call = tokio::task::spawn_local({
                let (log, order) = (log.clone(), order.clone());
                async move {
                    let outcome = payments.oneshot(out).await;
                    let ended_ms = now_ms();
                    let detail = format!(
                        "deadline {deadline_ms} ms, {}",
                        if outcome.is_ok() { "answered" } else { "failed" }
                    );
                    log.event_at(ended_ms, "gateway", "call-ended", &order, detail);
                    log.lock().bounded.push(Bounded { host: "gateway".into(), order, deadline_ms, ended_ms });
                    outcome
                }
            });
            let outcome = call.await.map_err(|e| format!("payment task: {e}"))?;
            let response = outcome?;
            if response.extensions().get::<FallbackServed>().is_some() {
                log.event("gateway", "fallback", &order, "202 pending");
                return Ok::<_, BoxError>(text(202, "payment pending: ask again"));
            }
            if response.status() == 200 {
                let at = now_ms();
                log.lock().acks.entry(order.clone()).or_insert(at);
                log.event_at(at, "gateway", "ack", &order, String::from_utf8_lossy(response.body()));
            }
            Ok(response)
        }
    });
    let app = ServiceBuilder::new()
        .layer(DeadlineLayer::new(clock).with_default_timeout(GATEWAY_DEADLINE)?)
        .service(handler);
    serve(service_fn(move |req| answer(app.clone(), req))).await
}

/// A call to `audit` in flight, as the gateway records it: its end is recorded when it
/// answers, or as a failure when its future is dropped (cut by the attempt timeout).
struct AuditCallGuard {
    log: Log,
    breaker: Breaker,
    call: u64,
    ended: bool,
}

impl AuditCallGuard {
    fn end(&mut self, failed: bool) {
        if !self.ended {
            self.ended = true;
            let at = self.breaker.now();
            self.log.lock().audit.push(AuditCall::End { call: self.call, at, failed });
        }
    }
}

impl Drop for AuditCallGuard {
    fn drop(&mut self) {
        // A crash drops the host's tasks with no runtime entered: the breaker's clock
        // would read the wall clock, and the breaker vanishes with the host anyway.
        if tokio::runtime::Handle::try_current().is_err() {
            if !self.ended {
                self.ended = true;
                self.log.lock().audit.push(AuditCall::Cancelled { call: self.call });
            }
            return;
        }
        self.end(true);
    }
}

/// Whether the audit client's error is its breaker refusing the call.
fn refused(e: &BoxError) -> bool {
    e.downcast_ref::<BreakerOpen>().is_some()
        || e.downcast_ref::<GaveUp>().is_some_and(|g| matches!(g.reason(), GiveUpReason::CircuitOpen { .. }))
}

/// The gateway's client for `audit`: a `RetryLayer` with its own breaker
/// ([`audit_breaker`]) and a [`AUDIT_ATTEMPT`] attempt timeout, recording each call
/// the breaker lets through, on the breaker's clock; and the breaker (its caller records
/// the calls it refuses).
fn audit_client(
    world: &Checkout,
) -> Result<
    (
        impl tower::Service<Request<Bytes>, Response = Response<Bytes>, Error = BoxError, Future: 'static>
        + Clone
        + 'static,
        Breaker,
    ),
    BoxError,
> {
    let breaker = Breaker::new(audit_breaker())?;
    let log = world.log.clone();
    log.lock().audit.push(AuditCall::Boot);
    let backoff = Backoff::exponential(Duration::from_millis(100)).build()?;
    let retry = RetryLayer::new(RetryPolicy::new(backoff, 2)?, HttpRetry)
        .seeded(world.seed.wrapping_add(1))
        .with_attempt_timeout(AUDIT_ATTEMPT)?
        .with_breaker(breaker.clone());
    let handle = breaker.clone();
    let service = ServiceBuilder::new().layer(retry).service(service_fn(move |req: Request<Bytes>| {
        let (log, breaker) = (log.clone(), breaker.clone());
        let call = {
            let mut r = log.lock();
            let call = r.audit.len() as u64;
            r.audit.push(AuditCall::Start { call, at: breaker.now() });
            call
        };
        let mut guard = AuditCallGuard { log, breaker, call, ended: false };
        async move {
            let outcome = send_to("payments", AUDIT_PORT, req).await;
            guard.end(is_server_failure(&outcome));
            outcome
        }
    }));
    Ok((service, handle))
}

/// The audit service (on the payments host, port [`AUDIT_PORT`]): answers every report
/// at once, except while it hangs.
pub async fn audit(world: Checkout) -> turmoil::Result {
    let handler = service_fn(move |_req: Request<Bytes>| {
        let hanging = *lock(&world.audit_hanging);
        async move {
            if hanging {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(text(200, "noted"))
        }
    });
    serve_on(AUDIT_PORT, handler).await
}

/// The payments host.
pub async fn payments(world: Checkout) -> turmoil::Result {
    tokio::task::spawn_local(audit(world.clone()));
    let clock = Clock::start();
    let log = world.log.clone();
    let policy = Policy::new(Duration::from_secs(3600))?.with_lock_timeout(LOCK_TIMEOUT)?;
    let keys = Idempotent::new(MemoryStore::<String>::new(policy).with_clock(clock))?;
    let handler = service_fn(move |req: Request<Bytes>| {
        let (keys, log) = (keys.clone(), log.clone());
        async move {
            let order = header(&req, "x-order").to_string();
            let Ok(key) = IdempotencyKey::new(header(&req, "x-account"), header(&req, IDEMPOTENCY_KEY))
            else {
                return Ok::<_, BoxError>(text(400, "send an Idempotency-Key and an account"));
            };
            let wire_key = format!("{}/{}", key.scope(), key.as_str());
            let answer = keys
                .run(&key, &req.body()[..], || {
                    let (log, order) = (log.clone(), order.clone());
                    async move {
                        log.event("payments", "handler", &order, "charging");
                        let charge = call(
                            "provider",
                            Request::post("/charge")
                                .header("x-order", &order)
                                .header(IDEMPOTENCY_KEY, &wire_key)
                                .body(Bytes::new())
                                .map_err(|e| e.to_string())?,
                        )
                        .await?;
                        call(
                            "ledger",
                            Request::post("/append")
                                .header("x-order", &order)
                                .body(Bytes::from(charge.clone()))
                                .map_err(|e| e.to_string())?,
                        )
                        .await?;
                        Ok::<String, String>(charge)
                    }
                })
                .await;
            Ok(match answer {
                Ok(served) => text(200, served.response),
                Err(RunError::Store(StoreError::Key(KeyError::InProgress { .. }))) => {
                    text(409, "the first request with this key is still running")
                }
                Err(RunError::Store(StoreError::Key(KeyError::Mismatch { .. }))) => {
                    text(422, "this key was used for another request")
                }
                Err(RunError::Unrecorded { response, .. }) => text(200, response),
                Err(other) => {
                    let why = match &other {
                        RunError::Handler(e) => format!("outcome unknown: {e}"),
                        other => other.to_string(),
                    };
                    log.event("payments", "unknown", &order, why);
                    text(502, other.to_string())
                }
            })
        }
    });
    let app = ServiceBuilder::new()
        .layer(
            DeadlineLayer::new(clock)
                .with_default_timeout(Duration::from_secs(5))?
                .trust_header(TrustHeader::Always),
        )
        .service(handler);
    serve(service_fn(move |req| answer(app.clone(), req))).await
}

/// One call from payments: a 200's body, or the failure as text.
async fn call(host: &'static str, req: Request<Bytes>) -> Result<String, String> {
    match send(host, req).await {
        Ok(r) if r.status() == 200 => Ok(String::from_utf8_lossy(r.body()).into_owned()),
        Ok(r) => Err(format!("{host} answered {}", r.status())),
        Err(e) => Err(format!("{host}: {e}")),
    }
}

/// The provider host.
pub async fn provider(world: Checkout) -> turmoil::Result {
    let handler = service_fn(move |req: Request<Bytes>| {
        let world = world.clone();
        async move {
            let key = header(&req, IDEMPOTENCY_KEY).to_string();
            let order = header(&req, "x-order").to_string();
            let delay = {
                let mut p = lock(&world.provider);
                if let Some(charge) = p.done.get(&key) {
                    return Ok::<_, Infallible>(text(200, charge.clone()));
                }
                if p.hanging {
                    None
                } else {
                    let draw: f64 = p.rng.random();
                    let ms = if draw < 0.8 {
                        p.rng.random_range(5..40)
                    } else if draw < 0.95 {
                        p.rng.random_range(300..1500)
                    } else {
                        p.rng.random_range(2000..PROVIDER_MAX.as_millis() as u64)
                    };
                    Some(Duration::from_millis(ms))
                }
            };
            let Some(delay) = delay else {
                world.log.event("provider", "hang", &order, key);
                std::future::pending::<()>().await;
                unreachable!("a pending future never completes");
            };
            // Charged after `delay` whether or not the caller is still there.
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(delay).await;
                let at_ms = now_ms();
                let charge = {
                    let mut p = lock(&world.provider);
                    let charge = format!("ch_{}", p.next);
                    p.next += 1;
                    p.done.insert(key.clone(), charge.clone());
                    charge
                };
                let mut r = world.log.lock();
                r.charges.push(Charge {
                    at_ms,
                    order: order.clone(),
                    key: key.clone(),
                    charge: charge.clone(),
                });
                r.events.push(crate::history::Event {
                    at_ms,
                    host: "provider".into(),
                    kind: "charge".into(),
                    order,
                    detail: format!("{charge} key {key}"),
                });
                drop(r);
                let _ = tx.send(charge);
            });
            Ok(match rx.await {
                Ok(charge) => text(200, charge),
                Err(_) => text(500, "lost"),
            })
        }
    });
    serve(handler).await
}

thread_local! {
    static LEDGER_WRITES_BACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test-only: while on (on this thread), the ledger answers an append before its fsync and
/// syncs every 500 ms instead (a write-back cache): a durability bug of the simulated
/// service, not of the library, to show that the ledger invariant catches one.
#[doc(hidden)]
pub fn ledger_writes_back(on: bool) {
    LEDGER_WRITES_BACK.with(|w| w.set(on));
}

fn sync(log: &Log) {
    let mut r = log.lock();
    let pending = std::mem::take(&mut r.disk.pending);
    r.disk.synced.extend(pending);
}

/// The ledger host: appends once per order, answers after the fsync.
pub async fn ledger(world: Checkout) -> turmoil::Result {
    world.log.event("ledger", "start", "", "");
    let writes_back = LEDGER_WRITES_BACK.with(|w| w.get());
    if writes_back {
        let log = world.log.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                sync(&log);
            }
        });
    }
    let handler = service_fn(move |req: Request<Bytes>| {
        let world = world.clone();
        async move {
            let order = header(&req, "x-order").to_string();
            let charge = String::from_utf8_lossy(req.body()).into_owned();
            {
                let mut r = world.log.lock();
                let known = r.disk.synced.iter().chain(&r.disk.pending).any(|e| e.order == order);
                if !known {
                    r.disk.pending.push(Entry { order: order.clone(), charge: charge.clone() });
                }
            }
            if writes_back {
                world.log.event("ledger", "written", &order, charge);
                return Ok(text(200, "recorded"));
            }
            let fsync = Duration::from_millis(lock(&world.ledger_rng).random_range(1..20));
            tokio::time::sleep(fsync).await;
            sync(&world.log);
            world.log.event("ledger", "synced", &order, charge);
            Ok::<_, Infallible>(text(200, "recorded"))
        }
    });
    serve(handler).await
}

/// The client: sends every order until it is paid or it gives up.
pub async fn client(world: Checkout) -> turmoil::Result {
    let mut tasks = Vec::new();
    for i in 0..ORDERS {
        let world = world.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let order = format!("order-{i}");
            let account = format!("acct-{}", i % 3);
            let start = lock(&world.client_rng).random_range(0..8000);
            tokio::time::sleep(Duration::from_millis(start)).await;
            let mut pause = Duration::from_millis(250);
            for attempt in 1..=12 {
                let req = Request::post("/orders")
                    .header("x-order", &order)
                    .header("x-account", &account)
                    .header(IDEMPOTENCY_KEY, &order)
                    .body(Bytes::from(format!("{}", 100 * (i + 1))))
                    .expect("a valid request");
                let status = status_of("gateway", req, Duration::from_secs(3)).await;
                world.log.event("client", "answer", &order, format!("attempt {attempt}: {status}"));
                if status == "200" {
                    return;
                }
                let jitter = lock(&world.client_rng).random_range(0..pause.as_millis() as u64);
                tokio::time::sleep(pause / 2 + Duration::from_millis(jitter)).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            world.log.event("client", "gave-up", &order, "");
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}
