//! The relay and durable projections, in SQLite (feature `sqlite`).
//!
//! * [`Relay`] publishes the outbox to any sink (a broker, a channel, an in-process
//!   read model) **at least once**: it reads after its stored position, hands each
//!   event to the sink, and stores the new position after the batch. A crash or a sink
//!   failure before that store means the batch is published again next time.
//! * [`AsyncRelay`] is the same relay for async code: it owns a connection, reads and
//!   stores its position on tokio's blocking pool, and awaits an async sink (a Kafka or
//!   NATS producer) in between, with the same at-least-once guarantee under
//!   cancellation.
//! * [`project`] runs a projection whose read model lives in a SQLite database: it reads
//!   the position stored *in that database*, applies newer events and stores the new
//!   position **in the same transaction** as the update, so a crash leaves both old or
//!   both new, and redelivered events are skipped ([`decide`]).
//! * [`catch_up`] does the same for an in-memory [`Projector`]: it reads after the
//!   projector's own position, so a projector restored from a saved copy resumes there.
//!
//! The relay's crash points can be injected through a hidden test hook
//! (`Relay::run_once_crashing`), so tests need no real kill.

use std::future::Future;
use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::outbox::{self, OutboxEvent, storage};
use super::{CqrsError, Delivery, Projection, Projector, decide};
use crate::idempotency::BoxError;

/// Where a relay run stops as if its process were killed: a test hook for
/// `Relay::run_once_crashing`, not part of the supported API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum CrashAt {
    /// Run normally.
    #[default]
    Never,
    /// Die after handing this many events of the batch to the sink, before storing the
    /// position: those events will be published again.
    AfterPublishing(usize),
}

/// What one relay run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Published {
    /// Events handed to the sink.
    pub sent: usize,
    /// The stored position after the run.
    pub position: u64,
    crashed: bool,
}

impl Published {
    /// Whether the run stopped at a crash injected through the hidden test hook (the
    /// position was not stored); always `false` in service code.
    #[doc(hidden)]
    pub fn crashed(&self) -> bool {
        self.crashed
    }
}

/// A relay from the outbox of one SQLite database, under a name (its checkpoint row).
///
/// Run one relay per name at a time (a single instance, or one holding a lease): two
/// running under the same name publish the same events twice and may store their
/// positions out of order, which republishes more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    name: String,
    batch: usize,
}

/// Default batch size of a relay run: events read and published per run.
pub const DEFAULT_BATCH: usize = 500;

impl Relay {
    /// A relay named `name` (its position is stored under that name), publishing at most
    /// [`DEFAULT_BATCH`] events per run.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), batch: DEFAULT_BATCH }
    }

    /// The same relay with another batch size (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Its stored position: the last event it has published for certain.
    ///
    /// # Errors
    /// Storage errors.
    pub fn position(&self, conn: &Connection) -> Result<u64, CqrsError> {
        outbox::load_checkpoint(conn, &self.name)
    }

    /// Publishes one batch of events after the stored position to `sink`, then stores
    /// the position of the last one.
    ///
    /// # Errors
    /// [`CqrsError::Publish`] if the sink fails (nothing of this batch is marked
    /// published); storage and decoding errors.
    pub fn run_once<E, S, X>(&self, conn: &Connection, sink: S) -> Result<Published, CqrsError>
    where
        E: DeserializeOwned,
        S: FnMut(&OutboxEvent<E>) -> Result<(), X>,
        X: Into<BoxError>,
    {
        self.run_once_crashing(conn, sink, CrashAt::Never)
    }

    /// [`run_once`](Self::run_once) with a death injected before the position is stored:
    /// a test hook (the relay's crash points without a real kill), not part of the
    /// supported API.
    ///
    /// # Errors
    /// As [`run_once`](Self::run_once).
    #[doc(hidden)]
    pub fn run_once_crashing<E, S, X>(
        &self,
        conn: &Connection,
        mut sink: S,
        crash: CrashAt,
    ) -> Result<Published, CqrsError>
    where
        E: DeserializeOwned,
        S: FnMut(&OutboxEvent<E>) -> Result<(), X>,
        X: Into<BoxError>,
    {
        let from = self.position(conn)?;
        let events: Vec<OutboxEvent<E>> = outbox::read_after(conn, from, self.batch)?;
        let mut sent = 0;
        for e in &events {
            if crash == CrashAt::AfterPublishing(sent) {
                return Ok(Published { sent, position: from, crashed: true });
            }
            sink(e).map_err(|x| CqrsError::Publish { position: e.position, source: x.into() })?;
            sent += 1;
        }
        if crash == CrashAt::AfterPublishing(sent) && sent > 0 {
            return Ok(Published { sent, position: from, crashed: true });
        }
        let position = events.last().map_or(from, |e| e.position);
        outbox::store_checkpoint(conn, &self.name, position)?;
        Ok(Published { sent, position, crashed: false })
    }

    /// Runs until the outbox has nothing after the stored position; returns the events
    /// sent in all.
    ///
    /// # Errors
    /// As [`run_once`](Self::run_once).
    pub fn drain<E, S, X>(&self, conn: &Connection, mut sink: S) -> Result<usize, CqrsError>
    where
        E: DeserializeOwned,
        S: FnMut(&OutboxEvent<E>) -> Result<(), X>,
        X: Into<BoxError>,
    {
        let mut total = 0;
        loop {
            let p = self.run_once(conn, &mut sink)?;
            if p.sent == 0 {
                return Ok(total);
            }
            total += p.sent;
        }
    }
}

/// A [`Relay`] for async code, publishing to an async sink (a broker client) without
/// blocking a runtime worker: it owns its connection (open one of its own to the
/// database file) behind an async mutex, reads a batch and stores its position on
/// tokio's blocking pool (`spawn_blocking`), and awaits the sink in between. Runs are
/// one at a time; a run waiting for another holds no thread. Cheap to clone (the clones
/// share the connection and the relay). As with [`Relay`], run one per name at a time
/// (a single instance, or one holding a lease).
///
/// # Cancellation
/// Dropping a run's future at any await (a shutdown, a timeout around it) loses and
/// skips nothing: the position is stored only after every event of the batch was
/// published, so the events of a cut batch, including one whose publish was cut, are
/// published again by the next run (**at least once**; consumers skip repeats by
/// position). A run dropped while its position is being stored finishes that store.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use rusqlite::Connection;
/// use unbreakable::cqrs::outbox::{self, OutboxEvent};
/// use unbreakable::cqrs::relay::{AsyncRelay, Relay};
/// # let dir = std::env::temp_dir().join(format!("async-relay-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("app.db");
/// # let _ = std::fs::remove_file(&path);
///
/// let conn = Connection::open(&path).unwrap();
/// outbox::install(&conn).unwrap();
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Shipped(u32);
/// # impl unbreakable::events::EventType for Shipped {
/// #     fn event_type(&self) -> &'static str { "Shipped" }
/// # }
/// outbox::record(&conn, &Shipped(7), 0).unwrap(); // on the write's transaction, really
///
/// let relay = AsyncRelay::new(Relay::new("broker"), Connection::open(&path).unwrap());
/// let (tx, mut rx) = tokio::sync::mpsc::channel(16); // stands for a broker client
/// let sent = relay
///     .drain(|e: OutboxEvent<Shipped>| {
///         let tx = tx.clone();
///         async move { tx.send(e.event.0).await }
///     })
///     .await
///     .unwrap();
/// assert_eq!((sent, rx.recv().await), (1, Some(7)));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncRelay {
    relay: Relay,
    conn: Arc<Mutex<Connection>>,
}

fn join(e: tokio::task::JoinError) -> CqrsError {
    CqrsError::Storage { source: Box::new(e) }
}

impl AsyncRelay {
    /// `relay` reading the outbox through `conn`.
    pub fn new(relay: Relay, conn: Connection) -> Self {
        Self { relay, conn: Arc::new(Mutex::new(conn)) }
    }

    /// Runs `f` on the connection on tokio's blocking pool, once no other run holds it.
    async fn blocking<T, F>(&self, f: F) -> Result<T, CqrsError>
    where
        T: Send + 'static,
        F: FnOnce(&Relay, &Connection) -> Result<T, CqrsError> + Send + 'static,
    {
        let conn: OwnedMutexGuard<Connection> = Arc::clone(&self.conn).lock_owned().await;
        let relay = self.relay.clone();
        tokio::task::spawn_blocking(move || f(&relay, &conn)).await.map_err(join)?
    }

    /// Its stored position: the last event it has published for certain.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn position(&self) -> Result<u64, CqrsError> {
        self.blocking(|relay, conn| relay.position(conn)).await
    }

    /// Publishes one batch of events after the stored position, awaiting `sink` for each
    /// in order, then stores the position of the last one.
    ///
    /// # Errors
    /// [`CqrsError::Publish`] if the sink fails (nothing of this batch is marked
    /// published); storage and decoding errors.
    pub async fn run_once<E, S, F, X>(&self, mut sink: S) -> Result<Published, CqrsError>
    where
        E: DeserializeOwned + Send + 'static,
        S: FnMut(OutboxEvent<E>) -> F,
        F: Future<Output = Result<(), X>>,
        X: Into<BoxError>,
    {
        let (from, events) = self
            .blocking(|relay, conn| {
                let from = relay.position(conn)?;
                Ok((from, outbox::read_after::<E>(conn, from, relay.batch)?))
            })
            .await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Published { sent: 0, position: from, crashed: false });
        };
        let sent = events.len();
        for e in events {
            let position = e.position;
            sink(e).await.map_err(|x| CqrsError::Publish { position, source: x.into() })?;
        }
        self.blocking(move |relay, conn| outbox::store_checkpoint(conn, &relay.name, last)).await?;
        Ok(Published { sent, position: last, crashed: false })
    }

    /// Runs until the outbox has nothing after the stored position; returns the events
    /// sent in all.
    ///
    /// # Errors
    /// As [`run_once`](Self::run_once).
    pub async fn drain<E, S, F, X>(&self, mut sink: S) -> Result<usize, CqrsError>
    where
        E: DeserializeOwned + Send + 'static,
        S: FnMut(OutboxEvent<E>) -> F,
        F: Future<Output = Result<(), X>>,
        X: Into<BoxError>,
    {
        let mut total = 0;
        loop {
            let p = self.run_once(&mut sink).await?;
            if p.sent == 0 {
                return Ok(total);
            }
            total += p.sent;
        }
    }
}

/// What one [`project`] or [`catch_up`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Projected {
    /// Events applied.
    pub applied: usize,
    /// Events skipped as already applied.
    pub skipped: usize,
    /// Events not applied because one before them was missing ([`Delivery::Early`]).
    pub early: usize,
    /// The position stored with the read model after the call.
    pub position: u64,
}

/// Applies `events` to a read model held in the SQLite database `target`, under the
/// projection name `name`: in one transaction, reads the stored position, applies every
/// event above it with `apply` (on the transaction), stores the new position, commits.
///
/// Redelivered events (at or below the stored position) are skipped, so a relay may
/// deliver at least once; events beyond a missing one are left for a later call
/// ([`Delivery::Early`]). If `apply` fails, nothing of the call is kept.
///
/// # Errors
/// Storage errors, including those `apply` returns.
pub fn project<E>(
    target: &mut Connection,
    name: &str,
    events: &[OutboxEvent<E>],
    mut apply: impl FnMut(&Connection, &OutboxEvent<E>) -> rusqlite::Result<()>,
) -> Result<Projected, CqrsError> {
    let tx = target.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
    let mut position = outbox::load_checkpoint(&tx, name)?;
    let (mut applied, mut skipped, mut early) = (0, 0, 0);
    for e in events {
        match decide(position, e.position) {
            Delivery::Applied => {
                apply(&tx, e).map_err(storage)?;
                position = e.position;
                applied += 1;
            }
            Delivery::Skipped => skipped += 1,
            Delivery::Early => early += 1,
        }
    }
    outbox::store_checkpoint(&tx, name, position)?;
    tx.commit().map_err(storage)?;
    Ok(Projected { applied, skipped, early, position })
}

/// Brings an in-memory [`Projector`] up to date from the outbox: reads up to `limit`
/// events after the projector's own position (stored with its read model, so a
/// projector restored from a saved copy resumes where that copy was) and delivers them.
///
/// # Errors
/// Storage and decoding errors (events before the failing one stay applied).
pub fn catch_up<P>(
    conn: &Connection,
    projector: &mut Projector<P>,
    limit: usize,
) -> Result<Projected, CqrsError>
where
    P: Projection,
    P::Event: DeserializeOwned,
{
    let events: Vec<OutboxEvent<P::Event>> = outbox::read_after(conn, projector.position(), limit)?;
    let (mut applied, mut skipped, mut early) = (0, 0, 0);
    for e in &events {
        match projector.deliver(e.position, &e.event) {
            Delivery::Applied => applied += 1,
            Delivery::Skipped => skipped += 1,
            Delivery::Early => early += 1,
        }
    }
    Ok(Projected { applied, skipped, early, position: projector.position() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use rusqlite::params;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Priced(i64);
    impl EventType for Priced {
        fn event_type(&self) -> &'static str {
            "Priced"
        }
    }

    fn write(conn: &mut Connection, price: i64) {
        let tx = conn.transaction().unwrap();
        tx.execute("UPDATE item SET price = ?1", params![price]).unwrap();
        outbox::record(&tx, &Priced(price), 0).unwrap();
        tx.commit().unwrap();
    }

    fn setup() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        outbox::install(&conn).unwrap();
        conn.execute_batch("CREATE TABLE item (price INTEGER); INSERT INTO item VALUES (0);").unwrap();
        conn
    }

    #[test]
    fn a_rolled_back_change_leaves_no_event() {
        let mut conn = setup();
        {
            let tx = conn.transaction().unwrap();
            tx.execute("UPDATE item SET price = 5", []).unwrap();
            outbox::record(&tx, &Priced(5), 0).unwrap();
            // dropped: rolled back, as a crash before commit would
        }
        assert_eq!(outbox::head(&conn).unwrap(), 0);
        write(&mut conn, 7);
        assert_eq!(outbox::read_after::<Priced>(&conn, 0, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_crashed_relay_publishes_again_and_the_projection_skips_the_repeats() {
        let mut conn = setup();
        for p in [1, 2, 3] {
            write(&mut conn, p);
        }
        let relay = Relay::new("r");
        let mut seen = Vec::new();
        let run = relay
            .run_once_crashing(
                &conn,
                |e: &OutboxEvent<Priced>| {
                    seen.push(e.clone());
                    Ok::<_, BoxError>(())
                },
                CrashAt::AfterPublishing(2),
            )
            .unwrap();
        assert!(run.crashed() && run.sent == 2 && relay.position(&conn).unwrap() == 0);
        let run = relay
            .run_once(&conn, |e: &OutboxEvent<Priced>| {
                seen.push(e.clone());
                Ok::<_, BoxError>(())
            })
            .unwrap();
        assert_eq!((run.sent, run.position), (3, 3));
        assert_eq!(seen.len(), 5, "two events published twice");
        let mut target = Connection::open_in_memory().unwrap();
        outbox::install(&target).unwrap();
        target
            .execute_batch(
                "CREATE TABLE view (price INTEGER, updates INTEGER); INSERT INTO view VALUES (0, 0);",
            )
            .unwrap();
        let r = project(&mut target, "view", &seen, |tx, e| {
            tx.execute("UPDATE view SET price = ?1, updates = updates + 1", params![e.event.0]).map(|_| ())
        })
        .unwrap();
        assert_eq!((r.applied, r.skipped, r.position), (3, 2, 3));
        let (price, updates): (i64, i64) =
            target.query_row("SELECT price, updates FROM view", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((price, updates), (3, 3));
    }

    fn collect(relay: &Relay, conn: &Connection) -> Vec<i64> {
        let mut seen = Vec::new();
        relay
            .drain(conn, |e: &OutboxEvent<Priced>| {
                seen.push(e.event.0);
                Ok::<_, BoxError>(())
            })
            .unwrap();
        seen
    }

    #[test]
    fn events_recorded_after_pruning_every_published_row_are_still_relayed() {
        let mut conn = setup();
        for p in [1, 2, 3] {
            write(&mut conn, p);
        }
        let relay = Relay::new("r");
        assert_eq!(collect(&relay, &conn), [1, 2, 3]);
        // Everything published is deleted: the positions must not be handed out again.
        assert_eq!(outbox::prune(&conn, relay.position(&conn).unwrap()).unwrap(), 3);
        assert_eq!(outbox::head(&conn).unwrap(), 3, "the head survives pruning");
        write(&mut conn, 4);
        write(&mut conn, 5);
        assert_eq!(collect(&relay, &conn), [4, 5], "the relay skipped events under reused positions");
        assert_eq!(outbox::head(&conn).unwrap(), 5);
    }

    #[test]
    fn an_outbox_made_without_autoincrement_is_moved_to_one_with_it() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE outbox (position INTEGER PRIMARY KEY, event_type TEXT NOT NULL, at_ms INTEGER NOT NULL, data TEXT NOT NULL);
             CREATE TABLE item (price INTEGER); INSERT INTO item VALUES (0);",
        )
        .unwrap();
        write(&mut conn, 1);
        write(&mut conn, 2);
        outbox::install(&conn).unwrap();
        outbox::install(&conn).unwrap(); // idempotent
        let relay = Relay::new("r");
        assert_eq!(collect(&relay, &conn), [1, 2]);
        outbox::prune(&conn, 2).unwrap();
        write(&mut conn, 3);
        assert_eq!(collect(&relay, &conn), [3]);
    }

    #[test]
    fn a_failing_sink_stores_nothing() {
        let mut conn = setup();
        write(&mut conn, 1);
        let relay = Relay::new("r");
        let err = relay
            .run_once(&conn, |_: &OutboxEvent<Priced>| Err::<(), BoxError>("broker down".into()))
            .unwrap_err();
        assert!(matches!(err, CqrsError::Publish { position: 1, .. }) && err.is_transient());
        assert_eq!(relay.position(&conn).unwrap(), 0);
    }

    fn file_db(name: &str) -> (std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("unbreakable-relay-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("outbox.db");
        let conn = Connection::open(&path).unwrap();
        outbox::install(&conn).unwrap();
        conn.execute_batch("CREATE TABLE item (price INTEGER); INSERT INTO item VALUES (0);").unwrap();
        (path, conn)
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_async_relay_publishes_through_an_async_sink() {
        let (path, mut writer) = file_db("async-sink");
        for p in [1, 2, 3] {
            write(&mut writer, p);
        }
        let relay = AsyncRelay::new(Relay::new("broker").with_batch(2), Connection::open(&path).unwrap());
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(p) = rx.recv().await {
                got.push(p);
            }
            got
        });
        let sent = relay
            .drain(|e: OutboxEvent<Priced>| {
                let tx = tx.clone();
                async move { tx.send(e.event.0).await }
            })
            .await
            .unwrap();
        drop(tx);
        assert_eq!(sent, 3);
        assert_eq!(reader.await.unwrap(), [1, 2, 3]);
        assert_eq!(relay.position().await.unwrap(), 3);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_publish_cut_by_cancellation_is_published_again_and_none_is_skipped() {
        let (path, mut writer) = file_db("async-cancel");
        for p in [1, 2, 3] {
            write(&mut writer, p);
        }
        let relay = AsyncRelay::new(Relay::new("broker"), Connection::open(&path).unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // The broker hangs on the second event; the caller gives up after a second.
        let cut = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            relay.run_once({
                let seen = seen.clone();
                move |e: OutboxEvent<Priced>| {
                    let seen = seen.clone();
                    async move {
                        if e.event.0 == 2 {
                            std::future::pending::<()>().await;
                        }
                        seen.lock().unwrap().push(e.event.0);
                        Ok::<_, BoxError>(())
                    }
                }
            }),
        )
        .await;
        assert!(cut.is_err(), "the run was cut while publishing");
        assert_eq!(relay.position().await.unwrap(), 0, "nothing counted as published");
        let run = relay
            .run_once({
                let seen = seen.clone();
                move |e: OutboxEvent<Priced>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(e.event.0);
                        Ok::<_, BoxError>(())
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!((run.sent, run.position), (3, 3));
        assert_eq!(*seen.lock().unwrap(), [1, 1, 2, 3], "event 1 again (at least once), 2 and 3 not skipped");
        // A failing sink stores nothing, as with the blocking relay.
        write(&mut writer, 4);
        let err = relay
            .run_once(|_: OutboxEvent<Priced>| async { Err::<(), BoxError>("broker down".into()) })
            .await
            .unwrap_err();
        assert!(matches!(err, CqrsError::Publish { position: 4, .. }));
        assert_eq!(relay.position().await.unwrap(), 3);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
