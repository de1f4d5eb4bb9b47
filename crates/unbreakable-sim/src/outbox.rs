//! An outbox relay feeding a projection: orders committed with the crate's transactional
//! outbox (SQLite), published by the crate's `AsyncRelay` over turmoil's TCP to a
//! projection that applies each event once with the crate's `relay::project`.
//!
//! | host | what it runs |
//! |---|---|
//! | `orders` | takes `POST /orders` (an order id, an account, an amount): in one SQLite transaction, inserts the order (a repeat of a known id changes nothing) and records `OrderPlaced` with `outbox::record`; then bills the account through `events::Repository` (an event-sourced account over `MemoryEventStore`, snapshots every event in a store that fails 30% of saves with a transient error), retrying transient errors up to 3 times; every 500 ms, `outbox::prune` deletes the rows the relay has published (its stored position) |
//! | `relay` | `AsyncRelay` (batches of 8, its position stored in the orders database) reading the orders database with a connection of its own, its sink a `POST /apply` to `projection` bounded by 1 s; polls every 200 ms, and 200 ms after a failed run |
//! | `projection` | a read model in its own SQLite file: `relay::project` inserts a row per applied event into `applied` and stores its position in the same transaction; a repeat is skipped; answers 200 (applied or skipped), 409 for an event beyond the next |
//! | `client` | sends each order until it is answered 200 (same id, 2 s per attempt, up to 8 attempts), then waits for the faults to end and 5 s more |
//!
//! **Durable disks.** Each run has a directory of its own under the system's temp
//! directory (a `tempfile::TempDir`: an unpredictable name, removed when the run ends or
//! panics) with two SQLite files, `orders.db` (the orders,
//! the outbox and the relay's position) and `projection.db`. A host's connections are
//! opened when its software starts and dropped when it crashes, so a crash keeps what was
//! committed. Dropping a `Connection` is a clean close, not a killed process: SQLite's
//! crash recovery is never exercised (`synchronous = OFF`: a commit reaches the operating
//! system, not the platter; power loss is not simulated). The billing
//! account's event store and snapshots are owned by the run, outside the host, as a
//! database server would keep them.
//!
//! Invariants, from the hosts' databases after the run: every order in the orders table
//! (every committed `OrderPlaced`) was applied by the projection exactly once, and every
//! order was billed exactly once (one `Charged` event in the account streams), each with
//! the amount the order was committed with.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::Request;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rusqlite::{Connection, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use tower::service_fn;
use unbreakable::cqrs::outbox::{self, OutboxEvent};
use unbreakable::cqrs::relay::{self, AsyncRelay, Relay};
use unbreakable::events::{
    Aggregate, EventStore, EventStoreError, EventType, ExecuteError, MemoryEventStore, MemorySnapshots,
    Repository, SnapshotPolicy, SnapshotStore,
};
use unbreakable::tower::BoxError;

use crate::checkout::rng;
use crate::history::{Log, now_ms};
use crate::net::{header, send, serve, status_of, text};
use crate::{Action, LIMIT_SLACK, fault_windows};

/// Orders the client sends per run.
pub const ORDERS: usize = 10;
/// The relay's name (its checkpoint row in the orders database).
pub const RELAY: &str = "projection";
/// The projection's name (its checkpoint row in the projection database).
pub const PROJECTION: &str = "orders-view";
/// How often the orders host prunes published outbox rows.
pub const PRUNE_EVERY: Duration = Duration::from_millis(500);
/// Events a relay run publishes at most.
pub const BATCH: usize = 8;
/// How long the client waits after the last fault ended (and after its last order),
/// for the relay to catch up, before the run's records are checked.
pub const SETTLE: Duration = Duration::from_secs(5);
/// The longest a run may take, in simulated time.
pub const LIMIT: Duration = Duration::from_secs(60);
/// The share of snapshot saves that fail.
pub const SNAPSHOT_FAILURES: f64 = 0.3;

/// The event the orders host records in its outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order id.
    pub order: String,
    /// The account billed.
    pub account: String,
    /// The amount, in cents.
    pub cents: u64,
}

impl EventType for OrderPlaced {
    fn event_type(&self) -> &'static str {
        "OrderPlaced"
    }
}

/// An account billed for orders, event-sourced: it holds no memory of which orders it
/// charged, so a command executed twice charges twice (as a real ledger's "add a line").
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Cents billed so far.
    pub cents: u64,
}

/// The account's command: charge an order's amount.
#[derive(Debug, Clone)]
pub struct Charge {
    /// The order.
    pub order: String,
    /// The amount, in cents.
    pub cents: u64,
}

/// The account's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charged {
    /// The order.
    pub order: String,
    /// The amount, in cents.
    pub cents: u64,
}

impl Aggregate for Account {
    type Command = Charge;
    type Event = Charged;
    type Error = &'static str;

    fn handle(&self, c: &Charge) -> Result<Vec<Charged>, Self::Error> {
        if c.cents == 0 {
            return Err("nothing to charge");
        }
        Ok(vec![Charged { order: c.order.clone(), cents: c.cents }])
    }

    fn apply(&mut self, e: &Charged) {
        self.cents += e.cents;
    }
}

/// A snapshot store whose saves fail now and then with a transient error (a busy
/// database): a snapshot is a cache, so a correct repository reports it and goes on.
#[derive(Debug)]
pub struct FlakySnapshots {
    inner: MemorySnapshots<Account>,
    rng: ChaCha8Rng,
}

impl SnapshotStore<Account> for FlakySnapshots {
    fn save(
        &mut self,
        stream: &str,
        version: u64,
        snapshot_version: u32,
        state: &Account,
    ) -> Result<(), EventStoreError> {
        if self.rng.random_bool(SNAPSHOT_FAILURES) {
            return Err(EventStoreError::Busy { source: "the snapshot table is locked".into() });
        }
        self.inner.save(stream, version, snapshot_version, state)
    }

    fn load(
        &self,
        stream: &str,
        at_most: u64,
        snapshot_version: u32,
    ) -> Result<Option<(u64, Account)>, EventStoreError> {
        self.inner.load(stream, at_most, snapshot_version)
    }
}

/// The billing repository: kept by the run, outside the orders host (a database server).
pub type Billing = Repository<Account, MemoryEventStore<Charged>, FlakySnapshots>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared state of one outbox run.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The hosts' records.
    pub log: Log,
    /// The run's directory: `orders.db` and `projection.db`.
    pub dir: PathBuf,
    /// The billing account's event store and snapshots.
    pub billing: Arc<Mutex<Billing>>,
    /// The client's draws.
    pub client_rng: Arc<Mutex<ChaCha8Rng>>,
    /// When the last fault ends (simulated ms): the client waits past it.
    pub quiet_at_ms: u64,
}

impl Outbox {
    fn orders_db(&self) -> PathBuf {
        self.dir.join("orders.db")
    }

    fn projection_db(&self) -> PathBuf {
        self.dir.join("projection.db")
    }
}

/// A connection to a run's SQLite file, as a service opens one when it starts.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(1))?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(conn)
}

fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> Box<dyn std::error::Error> {
    Box::new(e)
}

/// A host's database as its software opens it when it starts: the outbox and checkpoint
/// tables (`outbox::install`) and the host's own `table`.
fn start(
    world: &Outbox,
    host: &str,
    path: &Path,
    table: &str,
) -> Result<Arc<Mutex<Connection>>, Box<dyn std::error::Error>> {
    let conn = open(path).map_err(boxed)?;
    outbox::install(&conn).map_err(boxed)?;
    conn.execute_batch(table).map_err(boxed)?;
    world.log.event(host, "start", "", "");
    Ok(Arc::new(Mutex::new(conn)))
}

/// Inserts the order and records its event in one transaction; answers the event's
/// position, or `None` if the order was known (a client's retry).
fn place(conn: &mut Connection, e: &OrderPlaced) -> Result<Option<u64>, BoxError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let new = tx.execute(
        "INSERT INTO orders (id, account, cents) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
        params![e.order, e.account, e.cents as i64],
    )? == 1;
    let position = if new { Some(outbox::record(&tx, e, now_ms())?) } else { None };
    tx.commit()?;
    Ok(position)
}

/// Bills `e` through the repository, retrying transient errors (up to 3 retries), as a
/// service's command handler does.
fn bill(world: &Outbox, e: &OrderPlaced) {
    let command = Charge { order: e.order.clone(), cents: e.cents };
    for attempt in 1..=4 {
        let outcome = lock(&world.billing).execute(&e.account, &command, now_ms());
        match outcome {
            Ok(done) => {
                let detail = format!("version {}, snapshot {:?}", done.version, done.snapshot);
                world.log.event("orders", "billed", &e.order, detail);
                return;
            }
            Err(ExecuteError::Store(err)) if err.is_transient() && attempt < 4 => {
                world.log.event("orders", "bill-retry", &e.order, format!("attempt {attempt}: {err}"));
            }
            Err(err) => {
                world.log.event("orders", "bill-failed", &e.order, err.to_string());
                return;
            }
        }
    }
}

/// The orders host.
pub async fn orders(world: Outbox) -> turmoil::Result {
    let db = start(
        &world,
        "orders",
        &world.orders_db(),
        "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, account TEXT NOT NULL, cents INTEGER NOT NULL)",
    )?;
    tokio::task::spawn_local({
        let (db, log) = (db.clone(), world.log.clone());
        async move {
            loop {
                tokio::time::sleep(PRUNE_EVERY).await;
                let conn = lock(&db);
                let pruned = outbox::load_checkpoint(&conn, RELAY)
                    .and_then(|up_to| outbox::prune(&conn, up_to).map(|n| (up_to, n)));
                match pruned {
                    Ok((_, 0)) => {}
                    Ok((up_to, n)) => log.event("orders", "pruned", "", format!("{n} rows up to {up_to}")),
                    Err(e) => log.event("orders", "prune-failed", "", e.to_string()),
                }
            }
        }
    });
    let handler = service_fn(move |req: Request<Bytes>| {
        let (world, db) = (world.clone(), db.clone());
        async move {
            let e = OrderPlaced {
                order: header(&req, "x-order").to_string(),
                account: header(&req, "x-account").to_string(),
                cents: String::from_utf8_lossy(req.body()).parse().unwrap_or(0),
            };
            let placed = place(&mut lock(&db), &e);
            Ok::<_, Infallible>(match placed {
                Ok(Some(position)) => {
                    world.log.event("orders", "committed", &e.order, format!("position {position}"));
                    bill(&world, &e);
                    text(200, position.to_string())
                }
                Ok(None) => text(200, "known"),
                Err(err) => {
                    world.log.event("orders", "failed", &e.order, err.to_string());
                    text(500, err.to_string())
                }
            })
        }
    });
    serve(handler).await
}

/// Sends one event to the projection; `Ok` once it answered 200.
async fn publish(e: OutboxEvent<OrderPlaced>) -> Result<(), BoxError> {
    let req = Request::post("/apply")
        .header("x-position", e.position.to_string())
        .header("x-at", e.at_ms.to_string())
        .body(Bytes::from(serde_json::to_vec(&e.event)?))?;
    match tokio::time::timeout(Duration::from_secs(1), send("projection", req)).await {
        Ok(Ok(r)) if r.status() == 200 => Ok(()),
        Ok(Ok(r)) => Err(format!("the projection answered {}", r.status()).into()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the projection did not answer within 1 s".into()),
    }
}

/// The relay host.
pub async fn relay_host(world: Outbox) -> turmoil::Result {
    let conn = open(&world.orders_db()).map_err(boxed)?;
    let relay = AsyncRelay::new(Relay::new(RELAY).with_batch(BATCH), conn);
    world.log.event("relay", "start", "", "");
    loop {
        match relay.run_once(publish).await {
            Ok(p) if p.sent > 0 => {
                world.log.event(
                    "relay",
                    "published",
                    "",
                    format!("{} up to position {}", p.sent, p.position),
                );
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => {
                world.log.event("relay", "run-failed", "", e.to_string());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The projection host.
pub async fn projection(world: Outbox) -> turmoil::Result {
    // `install` makes its checkpoint table (the outbox table beside it stays empty).
    let db = start(
        &world,
        "projection",
        &world.projection_db(),
        "CREATE TABLE IF NOT EXISTS applied (position INTEGER NOT NULL, order_id TEXT NOT NULL, cents INTEGER NOT NULL)",
    )?;
    let handler = service_fn(move |req: Request<Bytes>| {
        let (world, db) = (world.clone(), db.clone());
        async move {
            let position = header(&req, "x-position").parse().unwrap_or(0);
            let at_ms = header(&req, "x-at").parse().unwrap_or(0);
            let Ok(event) = serde_json::from_slice::<OrderPlaced>(req.body()) else {
                return Ok::<_, Infallible>(text(400, "not an OrderPlaced"));
            };
            let order = event.order.clone();
            let e = OutboxEvent { position, at_ms, event };
            let projected = relay::project(&mut lock(&db), PROJECTION, std::slice::from_ref(&e), |tx, e| {
                tx.execute(
                    "INSERT INTO applied (position, order_id, cents) VALUES (?1, ?2, ?3)",
                    params![e.position as i64, e.event.order, e.event.cents as i64],
                )
                .map(|_| ())
            });
            Ok(match projected {
                Ok(p) if p.early > 0 => {
                    world.log.event(
                        "projection",
                        "early",
                        &order,
                        format!("position {position} after {}", p.position),
                    );
                    text(409, "an event before this one is missing")
                }
                Ok(p) => {
                    let kind = if p.applied > 0 { "applied" } else { "skipped" };
                    world.log.event("projection", kind, &order, format!("position {position}"));
                    text(200, kind)
                }
                Err(e) => text(500, e.to_string()),
            })
        }
    });
    serve(handler).await
}

/// The client: places every order until it is answered 200 or it gives up, then waits
/// for the faults to end and [`SETTLE`] more.
pub async fn client(world: Outbox) -> turmoil::Result {
    let mut tasks = Vec::new();
    for i in 0..ORDERS {
        let world = world.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let order = format!("order-{i}");
            let start = lock(&world.client_rng).random_range(0..10_000);
            tokio::time::sleep(Duration::from_millis(start)).await;
            for attempt in 1..=8 {
                let req = Request::post("/orders")
                    .header("x-order", &order)
                    .header("x-account", format!("acct-{}", i % 3))
                    .body(Bytes::from(format!("{}", 100 * (i + 1))))
                    .expect("a valid request");
                let status = status_of("orders", req, Duration::from_secs(2)).await;
                world.log.event("client", "answer", &order, format!("attempt {attempt}: {status}"));
                if status == "200" {
                    return;
                }
                let pause = lock(&world.client_rng).random_range(200..1000);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            world.log.event("client", "gave-up", &order, "");
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let settle_at =
        Duration::from_millis(world.quiet_at_ms).max(turmoil::sim_elapsed().unwrap_or_default()) + SETTLE;
    let now = turmoil::sim_elapsed().unwrap_or_default();
    tokio::time::sleep(settle_at.saturating_sub(now)).await;
    Ok(())
}

/// The hosts the faults act on.
const LINKS: [(&str, &str); 2] = [("client", "orders"), ("relay", "projection")];
const CRASHABLE: [&str; 3] = ["orders", "relay", "projection"];

/// The faults of an outbox run, drawn from the seed: 1 to 8 windows starting in the
/// first 12 s, each 0.2 to 4 s long: a partition or a hold on a link, or a crash of the
/// orders host, the relay or the projection (restarted when the window ends).
fn faults(seed: u64) -> Vec<(Duration, Action)> {
    fault_windows(&mut rng(seed, 31), |rng| {
        let (a, b) = LINKS[rng.random_range(0..LINKS.len())];
        let host = CRASHABLE[rng.random_range(0..CRASHABLE.len())];
        match rng.random_range(0..5) {
            0 => (Action::Partition(a, b), Action::Repair(a, b)),
            1 => (Action::Hold(a, b), Action::Release(a, b)),
            _ => (Action::Crash(host), Action::Restart(host)),
        }
    })
}

/// What the invariants read, from the hosts' databases after a run.
#[derive(Debug, Clone, Default)]
pub struct OutboxRecords {
    /// The orders the orders host committed (each with an `OrderPlaced` in its outbox),
    /// with their amounts in cents.
    pub committed: Vec<(String, u64)>,
    /// The projection's applied events: position, order and cents, in the order applied.
    pub applied: Vec<(u64, String, u64)>,
    /// The orders and amounts in the billing account streams' `Charged` events.
    pub charged: Vec<(String, u64)>,
}

fn read(world: &Outbox) -> Result<OutboxRecords, Box<dyn std::error::Error>> {
    let orders = Connection::open(world.orders_db())?;
    let committed = orders
        .prepare("SELECT id, cents FROM orders ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<Result<_, _>>()?;
    let projection = Connection::open(world.projection_db())?;
    let applied = projection
        .prepare("SELECT position, order_id, cents FROM applied ORDER BY rowid")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get::<_, i64>(2)? as u64)))?
        .collect::<Result<_, _>>()?;
    let charged = lock(&world.billing)
        .store()
        .read_all(1, usize::MAX)?
        .into_iter()
        .map(|r| (r.event.order, r.event.cents))
        .collect();
    Ok(OutboxRecords { committed, applied, charged })
}

/// The outbox's invariants: every committed order reached the projection exactly once
/// (none lost, none applied twice) and was billed exactly once, each with the amount it
/// was committed with, and nothing uncommitted was applied or billed; and its liveness: with
/// `faults`, at least one order reached the projection; without, every order did.
pub fn check(r: &OutboxRecords, faults: bool) -> Vec<String> {
    let mut violations = Vec::new();
    // Each order's applied (position, cents) and billed cents.
    let mut applied: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for (position, order, cents) in &r.applied {
        applied.entry(order).or_default().push((*position, *cents));
    }
    let mut charged: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (order, cents) in &r.charged {
        charged.entry(order).or_default().push(*cents);
    }
    for (order, cents) in &r.committed {
        match applied.get(order.as_str()).map(Vec::as_slice) {
            None | Some([]) => {
                violations.push(format!("{order} was committed but never reached the projection (lost)"))
            }
            Some([(_, c)]) if c == cents => {}
            Some([(_, c)]) => {
                violations.push(format!("{order} was committed for {cents} cents and applied for {c}"))
            }
            Some(applied) => {
                let positions: Vec<u64> = applied.iter().map(|(p, _)| *p).collect();
                violations
                    .push(format!("{order} was applied {} times, at positions {positions:?}", applied.len()))
            }
        }
        match charged.get(order.as_str()).map(Vec::as_slice).unwrap_or_default() {
            [c] if c == cents => {}
            [c] => violations.push(format!("{order} was committed for {cents} cents and billed {c}")),
            [] => violations.push(format!("{order} was committed but never billed")),
            billed => {
                violations.push(format!("{order} was committed once and billed {} times", billed.len()))
            }
        }
    }
    for (order, applied) in &applied {
        if !r.committed.iter().any(|(c, _)| c == order) {
            let positions: Vec<u64> = applied.iter().map(|(p, _)| *p).collect();
            violations.push(format!("{order} was applied at {positions:?} but never committed"));
        }
    }
    for order in charged.keys() {
        if !r.committed.iter().any(|(c, _)| c == order) {
            violations.push(format!("{order} was billed but never committed"));
        }
    }
    if faults {
        if r.applied.is_empty() {
            violations.push("no order reached the projection".into());
        }
    } else {
        for order in (0..ORDERS).map(|i| format!("order-{i}")) {
            if !r.committed.iter().any(|(c, _)| *c == order) {
                violations.push(format!("{order} was never committed, with no fault injected"));
            }
        }
    }
    violations
}

/// Runs one seed of the outbox scenario (`faults`: with injected faults).
pub fn run(seed: u64, log: &Log, with_faults: bool) -> (Vec<String>, Duration) {
    let dir = match tempfile::Builder::new().prefix("unbreakable-sim-outbox-").tempdir() {
        Ok(dir) => dir,
        Err(e) => return (vec![format!("the run's directory could not be made: {e}")], Duration::ZERO),
    };
    let plan = if with_faults { faults(seed) } else { Vec::new() };
    let quiet_at_ms = plan.last().map_or(0, |(at, _)| at.as_millis() as u64);
    let snapshots = FlakySnapshots { inner: MemorySnapshots::new(), rng: rng(seed, 32) };
    let every = SnapshotPolicy::every(1).expect("1 is a valid interval");
    let world = Outbox {
        log: log.clone(),
        dir: dir.path().to_path_buf(),
        billing: Arc::new(Mutex::new(Repository::new(MemoryEventStore::new(), snapshots, every))),
        client_rng: Arc::new(Mutex::new(rng(seed, 33))),
        quiet_at_ms,
    };
    let mut sim = crate::builder(seed, LIMIT + LIMIT_SLACK).build();
    type Host = fn(Outbox) -> crate::HostFuture;
    let hosts: [(&str, Host); 3] = [
        ("orders", |w| Box::pin(orders(w))),
        ("relay", |w| Box::pin(relay_host(w))),
        ("projection", |w| Box::pin(projection(w))),
    ];
    for (name, host) in hosts {
        let world = world.clone();
        sim.host(name, move || host(world.clone()));
    }
    sim.client("client", client(world.clone()));
    let outcome = crate::drive(&mut sim, plan, log, LIMIT, |_, _| {});
    let simulated = sim.elapsed();
    drop(sim);
    let mut violations = match read(&world) {
        Ok(records) => check(&records, with_faults),
        Err(e) => vec![format!("the hosts' databases could not be read: {e}")],
    };
    match outcome {
        Err(e) => violations.push(format!("a host failed: {e}")),
        Ok(false) => {
            violations.push(format!("the client had not finished after {} s simulated", LIMIT.as_secs()))
        }
        Ok(true) => {}
    }
    // The hosts' connections are closed (the simulation is dropped, `read` closed its
    // own); `dir` is removed when dropped, on a panic too.
    drop(dir);
    (violations, simulated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> OutboxRecords {
        OutboxRecords {
            committed: vec![("order-1".into(), 100), ("order-2".into(), 200)],
            applied: vec![(1, "order-1".into(), 100), (2, "order-2".into(), 200)],
            charged: vec![("order-2".into(), 200), ("order-1".into(), 100)],
        }
    }

    #[test]
    fn a_clean_outbox_record_breaks_nothing() {
        assert_eq!(check(&records(), true), Vec::<String>::new());
    }

    #[test]
    fn each_outbox_invariant_can_fail() {
        let mut r = records();
        r.committed.push(("order-3".into(), 300));
        r.charged.push(("order-3".into(), 300));
        r.applied.push((2, "order-2".into(), 200));
        r.charged.push(("order-1".into(), 100));
        r.applied.push((9, "order-9".into(), 900));
        let v = check(&r, true);
        assert_eq!(
            v,
            [
                "order-1 was committed once and billed 2 times",
                "order-2 was applied 2 times, at positions [2, 2]",
                "order-3 was committed but never reached the projection (lost)",
                "order-9 was applied at [9] but never committed",
            ]
        );
        let v = check(&OutboxRecords::default(), true);
        assert_eq!(v, ["no order reached the projection"]);
        // The right orders, once each, with a wrong amount: in the projection, the bill.
        let mut r = records();
        r.applied[0].2 = 1;
        r.charged[0].1 = 2;
        assert_eq!(
            check(&r, true),
            [
                "order-1 was committed for 100 cents and applied for 1",
                "order-2 was committed for 200 cents and billed 2",
            ]
        );
        let v = check(&OutboxRecords::default(), false);
        assert_eq!(v.len(), ORDERS, "{v:#?}");
    }

    #[test]
    fn an_order_never_billed_or_billed_uncommitted_is_named_as_such() {
        let mut r = records();
        r.charged.retain(|(o, _)| o != "order-1");
        r.charged.push(("order-7".into(), 700));
        let v = check(&r, true);
        assert_eq!(v, ["order-1 was committed but never billed", "order-7 was billed but never committed"]);
        // A path that never bills is not the double billing `caught_by` looks for.
        let (_, expected) = crate::caught_by(crate::Mutant::ErrorAfterCommit);
        assert!(v.iter().all(|v| !v.contains(expected)), "{v:?}");
    }
}
