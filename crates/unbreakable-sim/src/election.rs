//! A leader-elected job: three nodes campaign with `lock::election::Campaign` through a
//! lock service on another host, and the leader writes to a fenced resource with its term.
//!
//! | host | what it runs |
//! |---|---|
//! | `locks` | a lock service over HTTP: `MemoryLocks` for the leases, and its own token counter, written to its disk lazily (every 2 s), as a Redis `INCR` reaches a replica late. A crash loses the leases and the counter's last increments: after a restart it hands out a token it gave before |
//! | `node-a`, `node-b`, `node-c` | `Campaign` (2 s leases) over a `LockStore` that calls `locks`; while the leadership channel says it leads, a worker writes to `resource` every 100 to 300 ms with its term |
//! | `resource` | the protected store: a `FencedResource` that logs every write it accepts |
//!
//! Invariants, from the resource's log: it never accepts a term older than one it
//! accepted, and never two different writers with one term.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::Request;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tower::service_fn;
use unbreakable::lock::election::{Campaign, Config};
use unbreakable::lock::{FencedResource, Grant, LockError, LockStore, MemoryLocks, Token};
use unbreakable::time::Clock;

use crate::checkout::rng;
use crate::history::{FencedWrite, Log, Records, now_ms};
use crate::net::{send, serve, text};

/// The nodes.
pub const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];
/// How long one run lasts, in simulated time.
pub const DURATION: Duration = Duration::from_secs(12);
/// The lease.
pub const TTL: Duration = Duration::from_secs(2);
/// How often the lock service writes its counter to disk.
pub const COUNTER_SYNC: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared state of one election run.
#[derive(Debug, Clone)]
pub struct Election {
    /// The hosts' records.
    pub log: Log,
    /// The lock service's counter as last written to its disk.
    pub counter_on_disk: Arc<Mutex<u64>>,
    /// The workers' pauses.
    pub rng: Arc<Mutex<ChaCha8Rng>>,
}

/// The lock service host.
pub async fn locks(world: Election) -> turmoil::Result {
    let clock = Clock::start();
    let leases = MemoryLocks::with_clock(clock);
    let counter = Arc::new(Mutex::new(*lock(&world.counter_on_disk)));
    world.log.event("locks", "start", "", format!("counter {}", *lock(&counter)));
    // The counter reaches the disk late.
    tokio::task::spawn_local({
        let (counter, disk) = (counter.clone(), world.counter_on_disk.clone());
        async move {
            loop {
                tokio::time::sleep(COUNTER_SYNC).await;
                *lock(&disk) = *lock(&counter);
            }
        }
    });
    let log = world.log.clone();
    serve(service_fn(move |req: Request<Bytes>| {
        let (leases, counter, log) = (leases.clone(), counter.clone(), log.clone());
        async move {
            let body = String::from_utf8_lossy(req.body()).into_owned();
            let parts: Vec<&str> = body.split(' ').collect();
            let now = clock.now();
            let answer = match (req.uri().path(), parts.as_slice()) {
                ("/acquire", [key, owner, ttl]) => {
                    let ttl = Duration::from_millis(ttl.parse().unwrap_or(0));
                    match leases.holder_at(key, now) {
                        Some(_) => text(409, "held"),
                        None => {
                            let token = {
                                let mut c = lock(&counter);
                                *c += 1;
                                Token(*c)
                            };
                            match leases.acquire_given_at(key, owner, ttl, token, now) {
                                Ok(grant) => {
                                    log.event(
                                        "locks",
                                        "grant",
                                        "",
                                        format!("{owner} term {}", grant.token.0),
                                    );
                                    text(200, grant.token.0.to_string())
                                }
                                Err(e) => text(409, e.to_string()),
                            }
                        }
                    }
                }
                ("/renew", [key, owner, token, ttl]) => {
                    let grant = grant(key, owner, token, ttl);
                    match leases.renew_at(&grant, now) {
                        Ok(()) => text(200, "renewed"),
                        Err(e) => text(410, e.to_string()),
                    }
                }
                ("/release", [key, owner, token, ttl]) => {
                    let grant = grant(key, owner, token, ttl);
                    text(200, leases.release_at(&grant, now).to_string())
                }
                _ => text(400, "unknown request"),
            };
            Ok::<_, Infallible>(answer)
        }
    }))
    .await
}

fn grant(key: &str, owner: &str, token: &str, ttl: &str) -> Grant {
    Grant {
        key: key.to_string(),
        owner: owner.to_string(),
        token: Token(token.parse().unwrap_or(0)),
        ttl: Duration::from_millis(ttl.parse().unwrap_or(0)),
    }
}

/// A `LockStore` on the `locks` host, over HTTP.
#[derive(Debug, Clone, Copy)]
pub struct RemoteLocks;

async fn ask(path: &str, body: String) -> Result<(u16, String), LockError> {
    let req = Request::post(path).body(Bytes::from(body)).map_err(|e| LockError::Backend(e.to_string()))?;
    let response = send("locks", req).await.map_err(|e| LockError::Backend(e.to_string()))?;
    Ok((response.status().as_u16(), String::from_utf8_lossy(response.body()).into_owned()))
}

impl LockStore for RemoteLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
        match ask("/acquire", format!("{key} {owner} {}", ttl.as_millis())).await? {
            (200, token) => Ok(Grant {
                key: key.into(),
                owner: owner.into(),
                token: Token(token.parse().map_err(|_| LockError::Backend(format!("bad token {token}")))?),
                ttl,
            }),
            (409, _) => Err(LockError::Held { key: key.into(), remaining: ttl }),
            (status, body) => Err(LockError::Backend(format!("{status}: {body}"))),
        }
    }

    async fn acquire_given(&self, _: &str, _: &str, _: Duration, _: Token) -> Result<Grant, LockError> {
        Err(LockError::Backend("this lock service hands out its own tokens".into()))
    }

    async fn renew(&self, g: &Grant) -> Result<(), LockError> {
        match ask("/renew", format!("{} {} {} {}", g.key, g.owner, g.token.0, g.ttl.as_millis())).await? {
            (200, _) => Ok(()),
            (410, _) => Err(LockError::Lost { key: g.key.clone(), token: g.token.0 }),
            (status, body) => Err(LockError::Backend(format!("{status}: {body}"))),
        }
    }

    async fn release(&self, g: &Grant) -> Result<bool, LockError> {
        match ask("/release", format!("{} {} {} {}", g.key, g.owner, g.token.0, g.ttl.as_millis())).await? {
            (200, released) => Ok(released == "true"),
            (status, body) => Err(LockError::Backend(format!("{status}: {body}"))),
        }
    }
}

/// A node: campaigns, and writes to the resource while it leads.
pub async fn node(world: Election, name: &'static str) -> turmoil::Result {
    let clock = Clock::start();
    let mut campaign = Campaign::new(RemoteLocks, "job", name, Config::with_ttl(TTL)?, clock)?;
    let mut leadership = campaign.leadership();
    tokio::task::spawn_local(async move { campaign.run().await });
    loop {
        let Some(term) = *leadership.wait_for(Option::is_some).await? else { continue };
        let req = Request::post("/write").body(Bytes::from(format!("{} {name}", term.0)))?;
        let outcome = tokio::select! {
            outcome = send("resource", req) => outcome.map(|r| r.status().as_u16()).map_err(|e| e.to_string()),
            _ = leadership.wait_for(|t| *t != Some(term)) => Err("stepped down".into()),
        };
        world.log.event(name, "write", "", format!("term {}: {outcome:?}", term.0));
        let pause = lock(&world.rng).random_range(100..300);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// The fenced resource.
pub async fn resource(world: Election) -> turmoil::Result {
    let fenced = Arc::new(Mutex::new(FencedResource::new(0u64)));
    serve(service_fn(move |req: Request<Bytes>| {
        let (fenced, log) = (fenced.clone(), world.log.clone());
        async move {
            let body = String::from_utf8_lossy(req.body()).into_owned();
            let Some((term, holder)) = body.split_once(' ') else { return Ok(text(400, "term holder")) };
            let term: u64 = term.parse().unwrap_or(0);
            let written = lock(&fenced).write(Token(term), holder, |v| *v += 1);
            Ok::<_, Infallible>(match written {
                Ok(()) => {
                    let at_ms = now_ms();
                    log.lock().fenced.push(FencedWrite { at_ms, term, holder: holder.into() });
                    log.event_at(at_ms, "resource", "accepted", "", format!("term {term} from {holder}"));
                    text(200, "written")
                }
                Err(stale) => {
                    log.event("resource", "refused", "", stale.to_string());
                    text(409, stale.to_string())
                }
            })
        }
    }))
    .await
}

/// The resource's invariants, from its log of accepted writes: never an older term, never
/// two writers with one term, and (liveness) at least one write accepted in the run.
pub fn check(r: &Records) -> Vec<String> {
    let mut violations = Vec::new();
    if r.fenced.is_empty() {
        violations.push(format!("the resource accepted no write in {} s", DURATION.as_secs()));
    }
    let mut newest = 0;
    let mut writers: BTreeMap<u64, &str> = BTreeMap::new();
    let mut doubled = Vec::new();
    for w in &r.fenced {
        if w.term < newest {
            violations.push(format!(
                "the resource accepted term {} from {} at {} ms after term {newest}",
                w.term, w.holder, w.at_ms
            ));
        }
        newest = newest.max(w.term);
        match writers.get(&w.term) {
            Some(first) if *first != w.holder && !doubled.contains(&w.term) => {
                doubled.push(w.term);
                violations.push(format!(
                    "term {} has two writers: {first} and {} (at {} ms)",
                    w.term, w.holder, w.at_ms
                ));
            }
            Some(_) => {}
            None => {
                writers.insert(w.term, &w.holder);
            }
        }
    }
    violations
}

/// The faults of an election run: the lock service crashes (1 to 3 times), partitions and
/// holds between a node and the lock service or the resource.
fn faults(seed: u64) -> Vec<(Duration, crate::Action)> {
    use crate::Action;
    let mut rng = rng(seed, 19);
    let mut plan = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let at = Duration::from_millis(rng.random_range(500..9_000));
        plan.push((at, Action::Crash("locks")));
        plan.push((at + Duration::from_millis(rng.random_range(100..1_500)), Action::Restart("locks")));
    }
    for _ in 0..rng.random_range(0..=3) {
        let at = Duration::from_millis(rng.random_range(0..9_000));
        let node = NODES[rng.random_range(0..NODES.len())];
        let other = if rng.random_bool(0.5) { "locks" } else { "resource" };
        let (start, end) = if rng.random_bool(0.5) {
            (Action::Partition(node, other), Action::Repair(node, other))
        } else {
            (Action::Hold(node, other), Action::Release(node, other))
        };
        plan.push((at, start));
        plan.push((at + Duration::from_millis(rng.random_range(200..4_000)), end));
    }
    plan.sort_by_key(|(at, _)| *at);
    plan
}

/// Runs one seed, with the faults drawn from it or none: its violations and the
/// simulated time.
pub fn run(seed: u64, log: &Log, with_faults: bool) -> (Vec<String>, Duration) {
    let world = Election {
        log: log.clone(),
        counter_on_disk: Arc::new(Mutex::new(0)),
        rng: Arc::new(Mutex::new(rng(seed, 18))),
    };
    let mut sim = crate::builder(seed, DURATION + Duration::from_secs(5)).build();
    {
        let world = world.clone();
        sim.host("locks", move || locks(world.clone()));
    }
    {
        let world = world.clone();
        sim.host("resource", move || resource(world.clone()));
    }
    for name in NODES {
        let world = world.clone();
        sim.host(name, move || node(world.clone(), name));
    }
    sim.client("clock", async {
        tokio::time::sleep(DURATION).await;
        Ok(())
    });
    let plan = if with_faults { faults(seed) } else { Vec::new() };
    let outcome = crate::drive(&mut sim, plan, log, DURATION + Duration::from_secs(1), |_, _| {});
    let mut violations = check(&log.lock());
    if let Err(e) = outcome {
        violations.push(format!("a host failed: {e}"));
    }
    (violations, sim.elapsed())
}
