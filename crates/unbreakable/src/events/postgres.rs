//! A durable event store on a PostgreSQL server (feature `postgres`), for a team that
//! outgrows one machine: an [`AsyncEventStore`] with the promises of the SQLite store,
//! async from end to end (tokio-postgres, connections from a bounded deadpool-postgres
//! pool), so no call blocks a runtime worker.
//!
//! # Tables
//! One table, `events`, with `UNIQUE (stream, version)` and a `position` primary key, and
//! `snapshots` beside it. [`PostgresEventStore::migrate`] creates them; it is idempotent
//! and safe to run from several processes at once. Run it once at deployment or start-up:
//! the store never runs DDL on its own, and a call before it fails with a
//! [`Storage`](EventStoreError::Storage) error that says so.
//!
//! # Appends
//! An append is one `READ COMMITTED` transaction of two statements: it takes a
//! transaction-scoped advisory lock ([`APPEND_LOCK_KEY`], `pg_advisory_xact_lock`), then
//! writes in **one statement** that reads the stream's version and the last position,
//! checks the expected version and inserts every event at the next versions and
//! positions. Appends therefore run one at a time, and positions have no gaps and become
//! visible in order, which a subscriber reading "everything after my last position"
//! relies on. (A `bigserial` column alone would not give that: two transactions can take
//! positions 7 and 8, and 8 can commit first; a reader that sees 8 and stores it never
//! sees 7.) Serialising appends caps their rate: the lock is held from the lock
//! statement to the commit, about two round trips between client and server plus the
//! server's own work, so over a network with a 1 ms round trip no more than about 500
//! appends a second go through, however many writers wait. Measured on a server on the
//! same machine (a Unix socket, `fsync` off, an unoptimised build on a loaded 2-core
//! machine), 8 concurrent writers got 965 to 1,818 appends a second, 0.07 to 0.12 of the
//! single-row `INSERT` commits the same server took in the same runs (three runs of the
//! laboratory's `pg_append_rate` example). Append several events per call where you can;
//! a partitioned log is the next step beyond that.
//!
//! The isolation level is set on the transaction, whatever the database's default: under
//! `REPEATABLE READ` the writing statement would see the snapshot taken before the lock
//! was granted and refuse appends that are not conflicts. Should a writer that ignores the
//! lock take a version first, the `UNIQUE (stream, version)` constraint refuses the append
//! (never an overwrite): under [`Expected::Exactly`] it is reported as a [`Conflict`] with
//! the version the stream is at; a taken position, or a taken version under
//! [`Expected::Any`], as a [`Storage`](EventStoreError::Storage) error that names the
//! cause (not transient: such a writer breaks the order in which positions become
//! visible).
//!
//! # Which errors to retry
//! [`EventStoreError::is_transient`] says: [`Busy`](EventStoreError::Busy) (a lock or
//! statement timeout, a serialization failure, a deadlock) and
//! [`Unavailable`](EventStoreError::Unavailable) (the server cannot be reached, is
//! shutting down, or a connection broke: SQLSTATE class `08`, an I/O error, a closed
//! connection, a timeout waiting for the server, no pooled connection within the wait
//! timeout) may pass on a retry with backoff; a [`Conflict`] after reloading the stream.
//! Everything else is [`Storage`](EventStoreError::Storage) or
//! [`Codec`](EventStoreError::Codec) and fails the same way again: a client error without
//! SQLSTATE that is not a connection failure (settings without a host, a missing
//! password, a value that does not convert), a missing table, a permission, a closed
//! pool.
//!
//! Commits are durable as far as the server is (`synchronous_commit` on, its default):
//! an append that returned survives a crash of the server. Payloads are JSON text with
//! the event's type and schema version, read back through upcasters as in the SQLite
//! store.
//!
//! A dead client cannot hold the append lock for long: an append's transaction sets
//! `idle_in_transaction_session_timeout` (with `lock_timeout` and `statement_timeout`) to
//! [`statement_timeout`](PostgresConfig::statement_timeout), so the server ends a session
//! that stops talking half-way through an append (a client host that died, a paused
//! process) and the lock goes with its transaction; and a connection
//! [`PostgresEventStore::connect`] opens sends TCP keepalives after [`KEEPALIVE_IDLE`].
//!
//! # Reads
//! A read returns every event it asks for, as every store does, fetched in pages of at
//! most [`MAX_READ`] rows (one statement each, so no statement holds a huge result on the
//! server). What a read holds in memory is what it asks for: a caller that cannot hold a
//! whole stream asks for a range of versions (or a `limit`) and reads on from the last.
//!
//! # Connections
//! [`PostgresEventStore::connect`] builds a pool of at most
//! [`max_connections`](PostgresConfig::max_connections); a call waits at most
//! [`wait_timeout`](PostgresConfig::wait_timeout) for a free connection, and each
//! connection is checked with an empty query before it is handed out, so connections
//! broken by a server restart or a network cut are replaced instead of failing a call.
//! Calls made while the server is down fail with [`EventStoreError::Unavailable`]; the
//! next call after it is back gets a new connection.
//!
//! # Cancellation
//! Dropping a call's future (a request timeout, a shutdown) at any await never leaves
//! half an append: the transaction that was not committed is rolled back (tokio-postgres
//! sends the `ROLLBACK` when it is dropped), and its connection goes back to the pool. An
//! append dropped while its `COMMIT` is on the way may still be written, so treat a
//! dropped append as an unknown outcome: reload the stream before deciding again (an
//! append repeated with the same [`Expected::Exactly`] version is refused, not doubled).
//!
//! # Examples
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use unbreakable::events::postgres::{PostgresConfig, PostgresEventStore, tokio_postgres};
//! use unbreakable::events::{AsyncEventStore, Expected};
//! # #[derive(serde::Serialize, serde::Deserialize, Clone)]
//! # struct Sold(u32);
//! # impl unbreakable::events::EventType for Sold {
//! #     fn event_type(&self) -> &'static str { "Sold" }
//! # }
//!
//! let config: tokio_postgres::Config = "host=/run/postgresql user=shop dbname=shop".parse()?;
//! let store = PostgresEventStore::<Sold>::connect(config, PostgresConfig::default())?;
//! store.migrate().await?; // once, at start-up
//! store.append("order-7", Expected::Exactly(0), vec![Sold(3)], 1_700_000_000_000).await?;
//! assert_eq!(store.version("order-7").await?, 1);
//! # Ok(()) }
//! ```

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls, Row};

use super::codec::{Upcasters, decode_snapshot, encode, encode_snapshot};
use super::recorded::check_stream;
use super::{Appended, AsyncEventStore, Conflict, EventStoreError, EventType, Expected, Recorded};
use crate::error::ConfigError;

pub use deadpool_postgres;
pub use tokio_postgres;

/// The most rows one statement of a read fetches: [`read_all`](AsyncEventStore::read_all)
/// and [`read_stream`](AsyncEventStore::read_stream) fetch a longer read in pages of this
/// many, one after another on one connection, and return it whole.
pub const MAX_READ: usize = 10_000;

/// The client's TCP keepalive on a connection [`PostgresEventStore::connect`] opens,
/// unless the settings choose their own (tokio-postgres's default waits 2 hours): after
/// 30 s of silence a probe every 10 s, and the connection is given up after 3 missed.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The advisory-lock key that serialises appends and migrations ("unbreak" in ASCII).
/// Another application on the same database that uses this key would share the lock.
pub const APPEND_LOCK_KEY: i64 = 0x0075_6e62_7265_616b;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        position   BIGINT PRIMARY KEY,
        stream     TEXT NOT NULL,
        version    BIGINT NOT NULL CHECK (version >= 1),
        event_type TEXT NOT NULL,
        schema     INTEGER NOT NULL,
        at_ms      BIGINT NOT NULL,
        data       TEXT NOT NULL,
        UNIQUE (stream, version)
    );
    CREATE TABLE IF NOT EXISTS snapshots (
        stream  TEXT NOT NULL,
        version BIGINT NOT NULL,
        data    TEXT NOT NULL,
        PRIMARY KEY (stream, version)
    );
    ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS snapshot_version BIGINT NOT NULL DEFAULT 0;
";

/// The append: the stream's version and the last position, read after the advisory lock
/// (a new snapshot under `READ COMMITTED`), the expected-version check, and every event
/// inserted, in one statement. `$2` is the expected version, or NULL for any.
const APPEND: &str = "
    WITH head AS (
        SELECT (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $1) AS version,
               (SELECT COALESCE(MAX(position), 0) FROM events) AS position
    ), written AS (
        INSERT INTO events (position, stream, version, event_type, schema, at_ms, data)
        SELECT head.position + r.n, $1, head.version + r.n, r.event_type, r.schema, $3, r.data
          FROM head,
               unnest($4::text[], $5::int4[], $6::text[]) WITH ORDINALITY AS r(event_type, schema, data, n)
         WHERE $2::int8 IS NULL OR head.version = $2::int8
        RETURNING position
    )
    SELECT head.version, head.position, (SELECT count(*) FROM written) AS written FROM head";

/// How [`PostgresEventStore::connect`] builds its pool.
///
/// # Default
/// | field | default | why |
/// |---|---|---|
/// | `max_connections` | 8 | appends run one at a time anyway; reads rarely need more, and every connection is a server process |
/// | `wait_timeout` | 5 s | a call waits this long for a free connection, then fails [`Unavailable`](EventStoreError::Unavailable) instead of queueing for ever |
/// | `connect_timeout` | 5 s | one attempt to open (or check) a connection |
/// | `statement_timeout` | 5 s | an append waits this long for the append lock and runs at most this long (`lock_timeout`, `statement_timeout`), then fails [`Busy`](EventStoreError::Busy): a stuck lock holder cannot stop every append |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The most connections the pool opens.
    pub max_connections: usize,
    /// How long a call waits for a free connection.
    pub wait_timeout: Duration,
    /// How long opening a connection, or checking an idle one, may take.
    pub connect_timeout: Duration,
    /// How long one append may wait for the append lock and run (PostgreSQL's
    /// `lock_timeout` and `statement_timeout`, set on the append's transaction); past it
    /// the append fails [`Busy`](EventStoreError::Busy) and writes nothing. PostgreSQL
    /// takes at most `i32::MAX` ms (about 24.8 days); a longer setting means that.
    pub statement_timeout: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            max_connections: 8,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl PostgresConfig {
    /// Checks the bounds.
    ///
    /// # Errors
    /// No connection at all, or a zero timeout (every call would fail).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::new(
                "max_connections",
                "a pool of 0 connections serves nothing; use 8, or the number of calls that should run at once",
            ));
        }
        if self.wait_timeout.is_zero() {
            return Err(ConfigError::new(
                "wait_timeout",
                "0 fails every call that finds the pool busy; use about 5 s, or the request's own timeout",
            ));
        }
        if self.statement_timeout.is_zero() {
            return Err(ConfigError::new(
                "statement_timeout",
                "0 would fail every append (PostgreSQL reads 0 as no limit at all, which lets one stuck lock holder stop every append); use about 5 s",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "connect_timeout",
                "0 fails every connection attempt; use about 5 s",
            ));
        }
        Ok(())
    }
}

/// What a tokio-postgres error means for the caller. A server's error is kept as its
/// [`DbError`](tokio_postgres::error::DbError) (whose message says what went wrong; the
/// client's own error only says "db error").
fn pg(e: tokio_postgres::Error) -> EventStoreError {
    let Some(code) = e.code().cloned() else {
        return client_error(e);
    };
    let source = if e.as_db_error().is_some() { e.into_source() } else { None };
    let source = source.unwrap_or_else(|| format!("SQLSTATE {}", code.code()).into());
    if is_busy(&code) {
        EventStoreError::Busy { source }
    } else if is_unavailable(&code) {
        EventStoreError::Unavailable { source }
    } else if code == SqlState::UNDEFINED_TABLE {
        EventStoreError::Storage {
            source: format!(
                "{source}: the event store's tables are missing; run `migrate` once before using it"
            )
            .into(),
        }
    } else {
        EventStoreError::Storage { source }
    }
}

/// The server refused for now, the transaction rolled back: retry.
fn is_busy(code: &SqlState) -> bool {
    [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::QUERY_CANCELED,
    ]
    .contains(code)
}

/// The session or server went away (its transaction rolled back with it): retry on another
/// connection. The idle timeouts end a session the server judged dead; its work is undone.
fn is_unavailable(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            SqlState::IDLE_SESSION_TIMEOUT,
        ]
        .contains(code)
}

/// An error the client raised itself (no SQLSTATE). Transient only when the connection
/// failed: an I/O error (connecting or talking to the server), a closed connection, or a
/// timeout waiting for the server. Anything else (settings without a host, a password the
/// server asks for and the settings lack, a value that does not convert, a message the
/// client cannot parse) fails the same way on every retry.
fn client_error(e: tokio_postgres::Error) -> EventStoreError {
    let mut io = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(c) = cause {
        io |= c.is::<std::io::Error>();
        cause = c.source();
    }
    // tokio-postgres has no public kind for its own connect timeout but its message.
    if io || e.is_closed() || e.to_string() == "timeout waiting for server" {
        EventStoreError::Unavailable { source: Box::new(e) }
    } else {
        EventStoreError::Storage { source: Box::new(e) }
    }
}

fn pool_error(e: PoolError) -> EventStoreError {
    match e {
        PoolError::Backend(e) => pg(e),
        // Closed by the service itself, or built without a runtime: no retry helps.
        PoolError::Closed | PoolError::NoRuntimeSpecified => EventStoreError::Storage { source: Box::new(e) },
        // No connection came free in time, or a hook failed on a new one.
        e => EventStoreError::Unavailable { source: Box::new(e) },
    }
}

/// The append's insert hit a unique constraint: only a writer that does not take the
/// append lock can have written the row first. Under [`Expected::Exactly`] on the
/// stream's version, the stream really moved on: a [`Conflict`] with the version it is at
/// now (read on `client` after the rollback). Otherwise (a taken position, or any version
/// under [`Expected::Any`]) there is no conflict to report: a storage error that names
/// the cause, since such a writer also breaks the order in which positions become
/// visible.
async fn unique_violation(
    client: &tokio_postgres::Client,
    e: tokio_postgres::Error,
    stream: &str,
    expected: Expected,
) -> EventStoreError {
    let constraint = e.as_db_error().and_then(|d| d.constraint()).unwrap_or("").to_string();
    if let (Expected::Exactly(v), false) = (expected, constraint == "events_pkey") {
        let now = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0) AS version FROM events WHERE stream = $1",
                &[&stream],
            )
            .await;
        return match now.map_err(pg).and_then(|row| column::<i64>(&row, "version")) {
            Ok(actual) if unsql(actual) != v => {
                Conflict { stream: stream.to_string(), expected: v, actual: unsql(actual) }.into()
            }
            // The other writer's row is gone again (it rolled back): nothing was written
            // here, and a retry may pass.
            Ok(_) => EventStoreError::Busy { source: Box::new(e) },
            Err(read) => read,
        };
    }
    EventStoreError::Storage {
        source: format!(
            "{}: a writer that does not take the append lock ({APPEND_LOCK_KEY}) wrote to `events` \
             during this append (constraint `{constraint}`); nothing was written, but positions may \
             no longer become visible in order: append only through this store",
            e.as_db_error().map_or_else(|| e.to_string(), ToString::to_string),
        )
        .into(),
    }
}

fn sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A column of a row this store wrote, or a storage error (never a panic) if the table
/// was changed under it.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, EventStoreError> {
    row.try_get(name).map_err(|e| EventStoreError::Storage { source: Box::new(e) })
}

/// A durable event store in a PostgreSQL database, for events of type `E`: an
/// [`AsyncEventStore`] over a connection pool (see the [module docs](self) for the
/// tables, appends, connections and cancellation).
///
/// Calls take `&self` and run in parallel up to the pool's size (appends one at a time).
/// Share one store between tasks behind an `Arc`.
pub struct PostgresEventStore<E> {
    pool: Pool,
    statement_timeout: Duration,
    upcasters: Upcasters,
    event: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for PostgresEventStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEventStore")
            .field("pool", &self.pool.status())
            .field("upcasters", &self.upcasters.len())
            .finish_non_exhaustive()
    }
}

impl<E> PostgresEventStore<E> {
    /// The store on the server `config` names (`"host=/run/postgresql user=app
    /// dbname=app"`, parsed with `str::parse`), without TLS (a Unix socket, or a network
    /// the service trusts), through a pool built from `pool`. Connects lazily: the first
    /// call opens the first connection.
    ///
    /// # Errors
    /// As [`PostgresConfig::validate`].
    pub fn connect(mut config: tokio_postgres::Config, pool: PostgresConfig) -> Result<Self, ConfigError> {
        pool.validate()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(pool.connect_timeout);
        }
        let default = tokio_postgres::Config::new();
        if config.get_keepalives() && config.get_keepalives_idle() == default.get_keepalives_idle() {
            // Still tokio-postgres's default of 2 hours: a dead server would hold a call
            // (and the pool's connection) that long. Settings that turned keepalives off,
            // or chose an interval or a retry count, keep their choice.
            config.keepalives_idle(KEEPALIVE_IDLE);
            #[cfg(not(windows))]
            {
                if config.get_keepalives_interval().is_none() {
                    config.keepalives_interval(Duration::from_secs(10));
                }
                if config.get_keepalives_retries().is_none() {
                    config.keepalives_retries(3);
                }
            }
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Verified },
        );
        let built = Pool::builder(manager)
            .max_size(pool.max_connections)
            .wait_timeout(Some(pool.wait_timeout))
            .create_timeout(Some(pool.connect_timeout))
            .recycle_timeout(Some(pool.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| ConfigError::new("pool", e.to_string()))?;
        Ok(Self { statement_timeout: pool.statement_timeout, ..Self::from_pool(built) })
    }

    /// The store on a pool the service built (with TLS, or settings of its own). Give the
    /// pool a `max_size` and a wait timeout, and a recycling method that checks
    /// connections (`Verified`) if calls should not fail on a connection a server restart
    /// broke. Appends get [`PostgresConfig`]'s default `statement_timeout` (5 s).
    pub fn from_pool(pool: Pool) -> Self {
        Self {
            pool,
            statement_timeout: PostgresConfig::default().statement_timeout,
            upcasters: Upcasters::default(),
            event: PhantomData,
        }
    }

    /// The pool, for the service's own tables and for checks.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Snapshots in the same database, on the same pool.
    pub fn snapshots<S>(&self) -> PostgresSnapshots<S> {
        PostgresSnapshots { pool: self.pool.clone(), state: PhantomData }
    }

    /// Creates the tables if they are missing (see the [module docs](self)); idempotent.
    /// Concurrent migrations (several processes starting at once) are serialised by the
    /// advisory lock appends take.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] if the server cannot be reached;
    /// [`EventStoreError::Storage`] (such as a user without the right to create tables).
    pub async fn migrate(&self) -> Result<(), EventStoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY});{SCHEMA}"))
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    /// The same store, passing payloads stored as `event_type` with schema version
    /// `from` through `upcast` (which returns the shape of version `from + 1`). Upcasters
    /// chain, as in the SQLite store.
    pub fn with_upcaster(
        mut self,
        event_type: &str,
        from: u32,
        upcast: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.upcasters.insert(event_type, from, Box::new(upcast));
        self
    }

    /// Appends raw rows `(event type, schema version, JSON)` without encoding: for tests
    /// and migrations that must write an old schema version. Same checks as
    /// [`AsyncEventStore::append`].
    ///
    /// # Errors
    /// As [`AsyncEventStore::append`].
    pub async fn append_raw(
        &self,
        stream: &str,
        expected: Expected,
        rows: &[(&str, u32, &str)],
        at_ms: u64,
    ) -> Result<Appended, EventStoreError> {
        check_stream(stream)?;
        let types: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let schemas: Vec<i32> = rows.iter().map(|r| i32::try_from(r.1).unwrap_or(i32::MAX)).collect();
        let data: Vec<&str> = rows.iter().map(|r| r.2).collect();
        let expected_sql: Option<i64> = match expected {
            Expected::Exactly(v) => Some(sql(v)),
            Expected::Any => None,
        };
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let append = client.prepare_cached(APPEND).await.map_err(pg)?;
        // Set here, not left to the database's default: see the module docs.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(pg)?;
        // Bounded on the server: a stuck holder of the append lock (a stalled writer, a
        // half-open connection) fails this append `Busy` instead of stopping every append.
        // Cancelling the future would not stop a server-side wait.
        // PostgreSQL takes at most i32::MAX ms (about 24.8 days); a longer setting is that.
        let limit_ms = self.statement_timeout.as_millis().clamp(1, i32::MAX as u128);
        // And a session that goes quiet inside this transaction while it holds the lock
        // (its client died or stalled) is ended by the server, which releases the lock.
        tx.batch_execute(&format!(
            "SET LOCAL lock_timeout = {limit_ms}; SET LOCAL statement_timeout = {limit_ms}; \
             SET LOCAL idle_in_transaction_session_timeout = {limit_ms}"
        ))
        .await
        .map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK_KEY]).await.map_err(pg)?;
        let row = match tx
            .query_one(&append, &[&stream, &expected_sql, &sql(at_ms), &types, &schemas, &data])
            .await
        {
            Ok(row) => row,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                drop(tx); // rolls back (sent before the next statement on this connection)
                return Err(unique_violation(&client, e, stream, expected).await);
            }
            Err(e) => return Err(pg(e)),
        };
        let actual: i64 = column(&row, "version")?;
        let last: i64 = column(&row, "position")?;
        let written: i64 = column(&row, "written")?;
        let (actual, last, written) = (unsql(actual), unsql(last), unsql(written));
        if let Expected::Exactly(v) = expected {
            if v != actual {
                // Nothing was written; the rollback is sent when `tx` is dropped.
                return Err(Conflict { stream: stream.to_string(), expected: v, actual }.into());
            }
        }
        tx.commit().await.map_err(pg)?;
        Ok(Appended {
            version: actual + written,
            first_position: if written == 0 { 0 } else { last + 1 },
            count: written,
        })
    }
}

impl<E: DeserializeOwned> PostgresEventStore<E> {
    fn recorded(&self, row: &Row, stream: Arc<str>) -> Result<Recorded<E>, EventStoreError> {
        let position = unsql(column(row, "position")?);
        let event_type: &str = column(row, "event_type")?;
        let schema: i32 = column(row, "schema")?;
        let data: &str = column(row, "data")?;
        let event = self.upcasters.decode(position, event_type, u32::try_from(schema).unwrap_or(0), data)?;
        Ok(Recorded {
            stream,
            version: unsql(column(row, "version")?),
            position,
            at_ms: unsql(column(row, "at_ms")?),
            event,
        })
    }
}

impl<E> AsyncEventStore<E> for PostgresEventStore<E>
where
    E: Serialize + DeserializeOwned + EventType + Send,
{
    async fn append(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> Result<Appended, EventStoreError> {
        let encoded = encode(&events)?;
        let rows: Vec<(&str, u32, &str)> = encoded.iter().map(|(t, s, j)| (*t, *s, j.as_str())).collect();
        self.append_raw(stream, expected, &rows, at_ms).await
    }

    async fn version(&self, stream: &str) -> Result<u64, EventStoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached("SELECT COALESCE(MAX(version), 0) AS version FROM events WHERE stream = $1")
            .await
            .map_err(pg)?;
        let row = client.query_one(&statement, &[&stream]).await.map_err(pg)?;
        Ok(unsql(column(&row, "version")?))
    }

    async fn read_stream(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
    ) -> Result<Vec<Recorded<E>>, EventStoreError> {
        let (mut first, asked) = (*versions.start(), *versions.end());
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(
                "SELECT position, version, event_type, schema, at_ms, data FROM events
                  WHERE stream = $1 AND version BETWEEN $2 AND $3 ORDER BY version",
            )
            .await
            .map_err(pg)?;
        let name: Arc<str> = Arc::from(stream);
        let mut events = Vec::new();
        // A stream's versions have no gaps, so a page with fewer rows than versions asked
        // is its end.
        while first <= asked {
            let last = asked.min(first.saturating_add(MAX_READ as u64 - 1));
            let rows = client.query(&statement, &[&stream, &sql(first), &sql(last)]).await.map_err(pg)?;
            for row in &rows {
                events.push(self.recorded(row, Arc::clone(&name))?);
            }
            if (rows.len() as u64) < last - first + 1 || last == u64::MAX {
                break;
            }
            first = last + 1;
        }
        Ok(events)
    }

    async fn read_all(&self, mut from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(
                "SELECT position, stream, version, event_type, schema, at_ms, data FROM events
                  WHERE position >= $1 ORDER BY position LIMIT $2",
            )
            .await
            .map_err(pg)?;
        let mut events: Vec<Recorded<E>> = Vec::new();
        while events.len() < limit {
            let page = (limit - events.len()).min(MAX_READ);
            let rows = client.query(&statement, &[&sql(from), &sql(page as u64)]).await.map_err(pg)?;
            for row in &rows {
                events.push(self.recorded(row, Arc::from(column::<&str>(row, "stream")?))?);
            }
            match events.last() {
                Some(last) if rows.len() == page => from = last.position + 1,
                _ => break,
            }
        }
        Ok(events)
    }
}

/// Snapshots in the same PostgreSQL database (table `snapshots`, created by
/// [`PostgresEventStore::migrate`]), as JSON of any `S: Serialize + DeserializeOwned`;
/// from [`PostgresEventStore::snapshots`].
pub struct PostgresSnapshots<S> {
    pool: Pool,
    state: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for PostgresSnapshots<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSnapshots").finish_non_exhaustive()
    }
}

impl<S: Serialize + DeserializeOwned> PostgresSnapshots<S> {
    /// Saves `state` as the snapshot of `stream` at `version`, with the aggregate's
    /// `snapshot_version` (replacing one saved at the same version).
    ///
    /// # Errors
    /// Encoding and storage errors, [`EventStoreError::Unavailable`].
    pub async fn save(
        &self,
        stream: &str,
        version: u64,
        snapshot_version: u32,
        state: &S,
    ) -> Result<(), EventStoreError> {
        let json = encode_snapshot(state)?;
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                "INSERT INTO snapshots (stream, version, data, snapshot_version) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (stream, version) DO UPDATE SET data = EXCLUDED.data, snapshot_version = EXCLUDED.snapshot_version",
                &[&stream, &sql(version), &json, &i64::from(snapshot_version)],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// The newest snapshot of `stream` at a version up to `at_most`, saved with
    /// `snapshot_version`, as `(version, state)`.
    ///
    /// # Errors
    /// Decoding and storage errors, [`EventStoreError::Unavailable`].
    pub async fn load(
        &self,
        stream: &str,
        at_most: u64,
        snapshot_version: u32,
    ) -> Result<Option<(u64, S)>, EventStoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt(
                "SELECT version, data FROM snapshots WHERE stream = $1 AND version <= $2 AND snapshot_version = $3
                  ORDER BY version DESC LIMIT 1",
                &[&stream, &sql(at_most), &i64::from(snapshot_version)],
            )
            .await
            .map_err(pg)?;
        row.map(|r| Ok((unsql(column(&r, "version")?), decode_snapshot(column(&r, "data")?)?))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the idle timeouts taken for permanent failures: a session the server ended for
    /// sitting idle (25P03 in a transaction, 57P05 outside one) rolled its work back, so a
    /// retry on another connection is safe, but both fell through to `Storage`.
    #[test]
    fn a_session_ended_for_idling_is_transient() {
        for code in ["25P03", "57P05", "08006", "57P01"] {
            assert!(is_unavailable(&SqlState::from_code(code)), "{code}");
        }
        for code in ["40001", "40P01", "55P03", "57014"] {
            assert!(
                is_busy(&SqlState::from_code(code)) && !is_unavailable(&SqlState::from_code(code)),
                "{code}"
            );
        }
        for code in ["23505", "42P01", "22003"] {
            let code = SqlState::from_code(code);
            assert!(!is_busy(&code) && !is_unavailable(&code), "{code:?}");
        }
    }

    #[test]
    fn a_pool_without_connections_or_timeouts_is_refused() {
        let bad = |c: PostgresConfig| PostgresEventStore::<String>::connect(tokio_postgres::Config::new(), c);
        let ok = PostgresConfig::default();
        assert_eq!(bad(PostgresConfig { max_connections: 0, ..ok }).unwrap_err().field, "max_connections");
        assert_eq!(
            bad(PostgresConfig { wait_timeout: Duration::ZERO, ..ok }).unwrap_err().field,
            "wait_timeout"
        );
        assert_eq!(
            bad(PostgresConfig { connect_timeout: Duration::ZERO, ..ok }).unwrap_err().field,
            "connect_timeout"
        );
        assert_eq!(
            bad(PostgresConfig { statement_timeout: Duration::ZERO, ..ok }).unwrap_err().field,
            "statement_timeout"
        );
        assert!(bad(ok).is_ok(), "building the pool connects to nothing");
    }

    /// Pins the client error taken for an outage: every error without a SQLSTATE was
    /// `Unavailable` (retry with backoff), also one no retry can fix, such as settings
    /// without a host. Only a connection that failed or closed (an I/O error, a closed
    /// connection, a timeout) is now transient.
    #[test]
    fn only_a_failed_connection_is_a_transient_client_error() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (no_host, refused) = rt.block_on(async {
            let version = |config: tokio_postgres::Config| async move {
                let store = PostgresEventStore::<crate::events::testing::conformance::BankEvent>::connect(
                    config,
                    PostgresConfig::default(),
                )
                .unwrap();
                store.version("s").await.unwrap_err()
            };
            // Port 1 on the loopback: nothing listens there, the connection is refused.
            (
                version(tokio_postgres::Config::new()).await,
                version("host=127.0.0.1 port=1".parse().unwrap()).await,
            )
        });
        assert!(!no_host.is_transient(), "{no_host:?}");
        assert!(matches!(refused, EventStoreError::Unavailable { .. }), "{refused:?}");
    }
}
