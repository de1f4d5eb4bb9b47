//! A durable idempotency-key store in SQLite (feature `sqlite`).
//!
//! Keys live in one table, `idempotency_keys`, keyed by (scope, key), next to the
//! service's own tables if it wants: [`SqliteStore::execute`] runs a handler inside the `BEGIN IMMEDIATE`
//! transaction that looks the key up and stores its response, so the handler's own writes
//! and the key commit together. Either all of it is on disk or none of it is: a process
//! killed at any instant (even with SIGKILL) loses no acknowledged request and, after a
//! restart, applies none twice, because the retry finds the key. The file is in WAL mode
//! with `synchronous = FULL`, so a commit that returned has reached the disk.
//!
//! `IMMEDIATE` takes the write lock at the start, so a concurrent repeat on another
//! connection waits for it (up to [`BUSY_TIMEOUT`]) and then finds the key: it gets the
//! stored response instead of executing twice.
//!
//! Times are wall-clock milliseconds since the UNIX epoch (from [`SystemTime`], or an
//! injected clock in tests), so processes started at different moments agree on when a
//! key was created. A live key is never overwritten: a new key is a plain `INSERT`, and
//! only a key that is forgotten (past the retention) or reclaimed (in flight past the lock
//! timeout) is replaced, inside the transaction that read it.
//!
//! Responses are stored as JSON (`serde_json`): any `R: Serialize + DeserializeOwned`.
//!
//! Every call blocks its thread on the file (and up to [`BUSY_TIMEOUT`] on another
//! connection's lock). The async edge ([`Idempotent`](super::edge::Idempotent)) moves the
//! store to a thread of its own and calls it through a bounded queue; from async code, run
//! [`SqliteStore::execute`] there too, through
//! [`Idempotent::with_store`](super::edge::Idempotent::with_store), never on a runtime
//! worker.
//!
//! # Bounds
//! | bound | default | when reached |
//! |---|---|---|
//! | keys in all | [`DEFAULT_CAPACITY`] (1,000,000) | [`KeyError::Full`] for every new key |
//! | keys of one scope | [`DEFAULT_SCOPE_QUOTA`] (10,000) | [`KeyError::ScopeFull`] for that scope's new keys only |
//! | a finished key | the policy's retention | forgotten |
//! | a never-completed key | the policy's lock timeout | forgotten (its owner is presumed dead) |
//!
//! Forgotten keys are deleted as the store goes: each `begin` or `execute` that finds
//! the last purge a lock timeout old deletes up to [`PURGE_BATCH`] of them in its own
//! transaction, and a scope at its quota is purged before it is refused (a full store
//! deletes up to [`PURGE_BATCH`] forgotten keys first). No call to
//! [`SqliteStore::purge`] is needed (it deletes all of them at once).
//!
//! Both bounds are checked by reading one row: the table `idempotency_counts` keeps the
//! number of keys of each scope (and, under the scope `''`, which no key can have, of all
//! keys), maintained by triggers in the same transaction as every insert and delete, so
//! a new key costs no count of rows under the write lock. A file made before the
//! counters is counted once when it is opened.
//!
//! # Timing
//! The store judges lock timeouts on the wall clock, which the hosts sharing the file may
//! read differently: a host whose clock runs ahead takes a key over early. Its
//! [clock-skew margin](SqliteStore::with_clock_skew) ([`DEFAULT_CLOCK_SKEW`], 1 s) and
//! [`BUSY_TIMEOUT`] are what the async edge subtracts from the lock timeout to stop a
//! handler in time to store its response; a policy whose lock timeout does not exceed
//! both is refused when the store is opened.

use std::marker::PhantomData;
use std::path::Path;
use std::time::{Duration, SystemTime, SystemTimeError, UNIX_EPOCH};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    Begun, Decision, Entry, Fingerprint, IdempotencyKey, KeyError, KeyStore, Lease, Policy, RunError, Served,
    StoreError, decide,
};

pub use super::{DEFAULT_CAPACITY, DEFAULT_SCOPE_QUOTA};
pub use rusqlite;

/// How long a writer waits for another connection's lock before giving up with
/// [`StoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The default clock-skew margin: how far ahead of this host's clock another host's
/// wall clock may run. 1 s is well above what NTP keeps hosts within on one network (a
/// few milliseconds) and covers a clock stepped by up to a second.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(1);

/// The most forgotten keys one automatic purge deletes (in the transaction of the call
/// that runs it, so one call never stalls on a backlog).
pub const PURGE_BATCH: usize = 1000;

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        scope       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
        response    TEXT,
        lease       INTEGER,
        created_ms  INTEGER NOT NULL,
        CHECK ((response IS NULL) <> (lease IS NULL)),
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_ms);
";

/// The key counters (see the module docs): made, and filled from the keys already
/// there, in one transaction that holds the write lock, if the table is missing.
const COUNTS: &str = "
    CREATE TABLE idempotency_counts (scope TEXT PRIMARY KEY, keys INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO idempotency_counts (scope, keys)
        SELECT scope, COUNT(*) FROM idempotency_keys GROUP BY scope
        UNION ALL SELECT '', COUNT(*) FROM idempotency_keys;
    DROP TRIGGER IF EXISTS idempotency_keys_counted;
    DROP TRIGGER IF EXISTS idempotency_keys_uncounted;
    CREATE TRIGGER idempotency_keys_counted AFTER INSERT ON idempotency_keys BEGIN
        INSERT INTO idempotency_counts (scope, keys) VALUES (NEW.scope, 1), ('', 1)
            ON CONFLICT (scope) DO UPDATE SET keys = keys + 1;
    END;
    CREATE TRIGGER idempotency_keys_uncounted AFTER DELETE ON idempotency_keys BEGIN
        UPDATE idempotency_counts SET keys = keys - 1 WHERE scope IN (OLD.scope, '');
        DELETE FROM idempotency_counts WHERE scope = OLD.scope AND keys <= 0;
    END;
";

/// A wall clock: the time since the UNIX epoch.
pub type WallClock = Box<dyn Fn() -> Result<Duration, SystemTimeError> + Send>;

/// The system's wall clock: the time since the UNIX epoch.
///
/// # Errors
/// A clock set before 1970.
pub fn system_clock() -> Result<Duration, SystemTimeError> {
    SystemTime::now().duration_since(UNIX_EPOCH)
}

/// Sorts a SQLite error into busy (transient), constraint, or other.
fn storage(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { source: Box::new(e) },
        Some(ErrorCode::ConstraintViolation) => StoreError::Constraint { source: Box::new(e) },
        _ => StoreError::Storage { source: Box::new(e) },
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        storage(e)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// One row of the key table.
struct Row {
    fingerprint: Vec<u8>,
    response: Option<String>,
    created_ms: i64,
}

impl Row {
    /// The entry, with the response still as JSON. A fingerprint of the wrong size (a row
    /// not written by this store) never matches a request.
    fn entry(&self) -> Entry<&str> {
        let request = <[u8; Fingerprint::LEN]>::try_from(self.fingerprint.as_slice())
            .map_or(Fingerprint::from_bytes([0; Fingerprint::LEN]), Fingerprint::from_bytes);
        let created = duration(self.created_ms);
        match &self.response {
            Some(json) => Entry::Done { request, response: json.as_str(), created },
            None => Entry::InFlight { request, created },
        }
    }
}

fn load(conn: &Connection, key: &IdempotencyKey) -> Result<Option<Row>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT fingerprint, response, created_ms FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
            params![key.scope(), key.as_str()],
            |r| Ok(Row { fingerprint: r.get(0)?, response: r.get(1)?, created_ms: r.get(2)? }),
        )
        .optional()?)
}

fn lease_sql(lease: Lease) -> i64 {
    i64::from_ne_bytes(lease.id().to_ne_bytes())
}

/// A durable idempotency-key store in a SQLite file, keeping responses of type `R`.
///
/// # Examples
/// A handler whose own write (a row in `payments`) commits in the key's transaction:
/// ```
/// use unbreakable::idempotency::{IdempotencyKey, Policy};
/// use unbreakable::idempotency::sqlite::{rusqlite, SqliteStore};
///
/// let dir = std::env::temp_dir().join(format!("unbreakable-doc-sqlite-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let mut store: SqliteStore<i64> = SqliteStore::open(&dir.join("keys.db"), Policy::default()).unwrap();
/// store.connection().execute_batch("CREATE TABLE IF NOT EXISTS payments (id INTEGER PRIMARY KEY, cents INTEGER)").unwrap();
///
/// let key = IdempotencyKey::new("acct_alice", "pay-1").unwrap();
/// let pay = |tx: &rusqlite::Transaction| -> Result<i64, rusqlite::Error> {
///     tx.execute("INSERT INTO payments (cents) VALUES (500)", [])?;
///     Ok(tx.last_insert_rowid())
/// };
/// let first = store.execute(&key, b"pay 500", pay).unwrap();
/// let retry = store.execute(&key, b"pay 500", pay).unwrap();
/// assert_eq!((first.response, retry.response, retry.replayed), (1, 1, true));
/// let rows: i64 = store.connection().query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap();
/// assert_eq!(rows, 1);
/// # drop(store); std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct SqliteStore<R> {
    conn: Connection,
    policy: Policy,
    clock: WallClock,
    leases: ChaCha12Rng,
    scope_quota: usize,
    capacity: usize,
    clock_skew: Duration,
    /// When the last automatic purge ran to completion (wall clock).
    purged: Duration,
    response: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for SqliteStore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("conn", &self.conn)
            .field("policy", &self.policy)
            .field("scope_quota", &self.scope_quota)
            .field("capacity", &self.capacity)
            .field("clock_skew", &self.clock_skew)
            .finish_non_exhaustive()
    }
}

impl<R: Serialize + DeserializeOwned> SqliteStore<R> {
    /// Opens (or creates) the store in the SQLite file at `path`, with a scope quota of
    /// [`DEFAULT_SCOPE_QUOTA`] and a clock-skew margin of [`DEFAULT_CLOCK_SKEW`].
    ///
    /// # Errors
    /// A file SQLite cannot open or write ([`StoreError::Busy`] if another connection
    /// holds it locked past [`BUSY_TIMEOUT`]); [`StoreError::Config`] if the policy's lock
    /// timeout does not exceed [`BUSY_TIMEOUT`] plus [`DEFAULT_CLOCK_SKEW`].
    pub fn open(path: &Path, policy: Policy) -> Result<Self, StoreError> {
        Self::from_connection(Connection::open(path)?, policy)
    }

    /// The store on an open connection (which the service may also use for its own
    /// tables): sets WAL, `synchronous = FULL` and a busy timeout of [`BUSY_TIMEOUT`],
    /// and creates the key table if it is missing.
    ///
    /// # Errors
    /// A storage error; [`StoreError::Config`] as for [`open`](Self::open).
    pub fn from_connection(conn: Connection, policy: Policy) -> Result<Self, StoreError> {
        policy.handler_time(BUSY_TIMEOUT, DEFAULT_CLOCK_SKEW)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        let scoped: i64 = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('idempotency_keys') WHERE name = 'scope'",
            [],
            |r| r.get(0),
        )?;
        if scoped == 0 {
            return Err(StoreError::Constraint {
                source: "the table idempotency_keys has no scope column (it was made before keys were scoped to a caller): drop it once its keys have expired, or copy its rows into the new schema with a scope".into(),
            });
        }
        let mut conn = conn;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let counted: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'idempotency_counts'",
            [],
            |r| r.get(0),
        )?;
        if !counted {
            tx.execute_batch(COUNTS)?;
        }
        tx.commit()?;
        let leases =
            ChaCha12Rng::try_from_os_rng().map_err(|e| StoreError::Storage { source: Box::new(e) })?;
        Ok(Self {
            conn,
            policy,
            clock: Box::new(system_clock),
            leases,
            scope_quota: DEFAULT_SCOPE_QUOTA,
            capacity: DEFAULT_CAPACITY,
            clock_skew: DEFAULT_CLOCK_SKEW,
            purged: Duration::ZERO,
            response: PhantomData,
        })
    }

    /// The same store, holding up to `capacity` keys in all (the default is
    /// [`DEFAULT_CAPACITY`]); a new key past it is refused with [`KeyError::Full`].
    ///
    /// # Errors
    /// A capacity of zero.
    pub fn with_capacity(self, capacity: usize) -> Result<Self, crate::error::ConfigError> {
        if capacity == 0 {
            return Err(crate::error::ConfigError::new(
                "capacity",
                "a zero capacity refuses every key; allow the keys all callers send in one retention period",
            ));
        }
        Ok(Self { capacity, ..self })
    }

    /// The same store, holding up to `quota` unexpired keys per scope (one caller).
    ///
    /// # Errors
    /// A quota of zero.
    pub fn with_scope_quota(self, quota: usize) -> Result<Self, crate::error::ConfigError> {
        if quota == 0 {
            return Err(crate::error::ConfigError::new(
                "scope_quota",
                "a zero quota refuses every key; allow each caller at least the keys it sends in one retention period",
            ));
        }
        Ok(Self { scope_quota: quota, ..self })
    }

    /// The same store, assuming the wall clocks of the hosts that share its file differ
    /// by at most `skew` (default [`DEFAULT_CLOCK_SKEW`]). The async edge stops a handler
    /// at the lock timeout less [`BUSY_TIMEOUT`] and this margin.
    ///
    /// # Errors
    /// A margin that, with [`BUSY_TIMEOUT`], reaches the policy's lock timeout and leaves
    /// a handler no time (field `clock_skew`): lower it, or raise the lock timeout.
    pub fn with_clock_skew(self, skew: Duration) -> Result<Self, crate::error::ConfigError> {
        self.policy.handler_time(BUSY_TIMEOUT, skew)?;
        Ok(Self { clock_skew: skew, ..self })
    }

    /// The same store reading the time since the UNIX epoch from `clock` (tests; the
    /// default is [`system_clock`]).
    pub fn with_clock(self, clock: impl Fn() -> Result<Duration, SystemTimeError> + Send + 'static) -> Self {
        Self { clock: Box::new(clock), ..self }
    }

    /// The connection, for the service's own reads and schema.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably (for transactions of the service's own, outside any key).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The time since the UNIX epoch, in whole milliseconds (as stored).
    fn now(&self) -> Result<Duration, StoreError> {
        now(&self.clock)
    }

    /// Runs `handler` for `request` under `key` in ONE transaction with the key: the
    /// durable pattern. The handler's writes through `tx` and the stored response commit
    /// together, or not at all.
    ///
    /// A repeat gets the stored response ([`Served::replayed`]); a repeat on another
    /// connection while the first runs waits for its commit, then gets the stored
    /// response.
    ///
    /// # Errors
    /// [`RunError::Store`]: the key was used with another request
    /// ([`KeyError::Mismatch`]), another request holds it through
    /// [`KeyStore::begin`] ([`KeyError::InProgress`]), its scope holds its quota of keys
    /// ([`KeyError::ScopeFull`]), or storage failed (see
    /// [`StoreError::is_transient`]). [`RunError::Handler`]: the handler failed; its writes
    /// are rolled back and nothing is stored under the key, so a retry executes again.
    pub fn execute<E, F>(
        &mut self,
        key: &IdempotencyKey,
        request: impl Into<Fingerprint>,
        handler: F,
    ) -> Result<Served<R>, RunError<E>>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, E>,
    {
        let request = request.into();
        let (policy, clock) = (self.policy, &self.clock);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
        // With the write lock held (see `begin`).
        let now = now(clock)?;
        let purged = tidy(&tx, &policy, now, self.purged)?;
        let row = load(&tx, key)?;
        if let Some(replayed) = judge::<R>(row.as_ref(), key, &request, now, &policy)? {
            return Ok(Served { response: replayed, replayed: true });
        }
        if row.is_none() {
            check_quota(&tx, key, &policy, now, (self.scope_quota, self.capacity))?;
        }
        let response = handler(&tx).map_err(RunError::Handler)?;
        let json = serde_json::to_string(&response)
            .map_err(|e| StoreError::Codec { key: key.clone(), source: Box::new(e) })?;
        store_row(&tx, key, &request, Some(&json), None, now, row.is_some())?;
        tx.commit().map_err(StoreError::from)?;
        self.purged = purged;
        Ok(Served { response, replayed: false })
    }

    /// The entry stored for `key`, if any (expired or not).
    ///
    /// # Errors
    /// A storage error, or [`StoreError::Codec`] if the stored response does not decode.
    pub fn get(&self, key: &IdempotencyKey) -> Result<Option<Entry<R>>, StoreError> {
        let Some(row) = load(&self.conn, key)? else { return Ok(None) };
        Ok(Some(match row.entry() {
            Entry::InFlight { request, created } => Entry::InFlight { request, created },
            Entry::Done { request, response, created } => {
                Entry::Done { request, response: decode(key, response)?, created }
            }
        }))
    }

    /// Forgets, now, keys past their retention, and never-completed keys past the lock
    /// timeout (their owners are presumed dead, and a repeat would take them over
    /// anyway); returns how many.
    ///
    /// # Errors
    /// A storage error.
    pub fn purge(&mut self) -> Result<usize, StoreError> {
        let now = self.now()?;
        let (forgotten, abandoned) = cutoffs(&self.policy, now);
        Ok(self.conn.execute(
            "DELETE FROM idempotency_keys WHERE created_ms <= ?1 OR (response IS NULL AND created_ms <= ?2)",
            params![forgotten, abandoned],
        )?)
    }
}

/// The creation times at or before which, at `now`, a key is forgotten (past the
/// retention) and a never-completed key is abandoned (past the lock timeout).
fn cutoffs(policy: &Policy, now: Duration) -> (i64, i64) {
    (millis(now.saturating_sub(policy.retention())), millis(now.saturating_sub(policy.lock_timeout())))
}

/// The automatic purge, in the caller's transaction: if the last one that finished is a
/// lock timeout old, deletes up to [`PURGE_BATCH`] forgotten keys. Returns when the last
/// finished purge ran (`now` if this one deleted all there were).
fn tidy(
    tx: &Transaction<'_>,
    policy: &Policy,
    now: Duration,
    purged: Duration,
) -> Result<Duration, StoreError> {
    if now.saturating_sub(purged) < policy.lock_timeout() {
        return Ok(purged);
    }
    let (forgotten, abandoned) = cutoffs(policy, now);
    let deleted = tx.execute(
        "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys
         WHERE created_ms <= ?1 OR (response IS NULL AND created_ms <= ?2) LIMIT ?3)",
        params![forgotten, abandoned, PURGE_BATCH as i64],
    )?;
    Ok(if deleted < PURGE_BATCH { now } else { purged })
}

/// The keys counted under `scope` (`""`: all keys), from the counter row.
fn counted(tx: &Transaction<'_>, scope: &str) -> Result<usize, StoreError> {
    let n: Option<i64> = tx
        .query_row("SELECT keys FROM idempotency_counts WHERE scope = ?1", [scope], |r| r.get(0))
        .optional()?;
    Ok(usize::try_from(n.unwrap_or(0)).unwrap_or(0))
}

/// Refuses a new key when the store holds its capacity of keys (after deleting up to
/// [`PURGE_BATCH`] forgotten ones) or its scope its quota (after deleting the scope's
/// forgotten keys). `(quota, capacity)`.
fn check_quota(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    policy: &Policy,
    now: Duration,
    (quota, capacity): (usize, usize),
) -> Result<(), StoreError> {
    let (forgotten, abandoned) = cutoffs(policy, now);
    if counted(tx, "")? >= capacity {
        tx.execute(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys
             WHERE created_ms <= ?1 OR (response IS NULL AND created_ms <= ?2) LIMIT ?3)",
            params![forgotten, abandoned, PURGE_BATCH as i64],
        )?;
        if counted(tx, "")? >= capacity {
            return Err(KeyError::Full { capacity }.into());
        }
    }
    if counted(tx, key.scope())? < quota {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM idempotency_keys WHERE scope = ?1 AND (created_ms <= ?2 OR (response IS NULL AND created_ms <= ?3))",
        params![key.scope(), forgotten, abandoned],
    )?;
    if counted(tx, key.scope())? < quota {
        return Ok(());
    }
    Err(KeyError::ScopeFull { scope: key.scope().to_string(), quota }.into())
}

/// The time since the UNIX epoch on `clock`, in whole milliseconds (as stored).
fn now(clock: &WallClock) -> Result<Duration, StoreError> {
    Ok(duration(millis(clock()?)))
}

fn decode<R: DeserializeOwned>(key: &IdempotencyKey, json: &str) -> Result<R, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Codec { key: key.clone(), source: Box::new(e) })
}

/// Applies [`decide`] to a row: `Ok(Some(response))` to replay, `Ok(None)` to execute.
fn judge<R: DeserializeOwned>(
    row: Option<&Row>,
    key: &IdempotencyKey,
    request: &Fingerprint,
    now: Duration,
    policy: &Policy,
) -> Result<Option<R>, StoreError> {
    let entry = row.map(|r| r.entry());
    match decide(entry.as_ref(), request, now, policy) {
        Decision::Replay(json) => Ok(Some(decode(key, json)?)),
        Decision::InProgress { since } => Err(KeyError::InProgress { key: key.clone(), since }.into()),
        Decision::Mismatch => Err(KeyError::Mismatch { key: key.clone() }.into()),
        Decision::Execute | Decision::Reclaim { .. } => Ok(None),
    }
}

/// Writes the key's row: a plain `INSERT` for a new key (a live row is never replaced),
/// an `UPDATE` of the row this transaction read and judged forgotten or reclaimable.
fn store_row(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    request: &Fingerprint,
    response: Option<&str>,
    lease: Option<i64>,
    now: Duration,
    existed: bool,
) -> Result<(), StoreError> {
    let fp = request.as_bytes().as_slice();
    if existed {
        tx.execute(
            "UPDATE idempotency_keys SET fingerprint = ?3, response = ?4, lease = ?5, created_ms = ?6 WHERE scope = ?1 AND key = ?2",
            params![key.scope(), key.as_str(), fp, response, lease, millis(now)],
        )?;
    } else {
        tx.execute(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, response, lease, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.scope(), key.as_str(), fp, response, lease, millis(now)],
        )?;
    }
    Ok(())
}

impl<R: Serialize + DeserializeOwned> KeyStore<R> for SqliteStore<R> {
    const BLOCKING: bool = true;

    fn policy(&self) -> &Policy {
        &self.policy
    }

    /// [`BUSY_TIMEOUT`] (a busy timeout set on the connection by hand is not seen here).
    fn busy_timeout(&self) -> Duration {
        BUSY_TIMEOUT
    }

    fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    fn begin(&mut self, key: &IdempotencyKey, request: &Fingerprint) -> Result<Begun<R>, StoreError> {
        let lease = Lease::new(self.leases.next_u64());
        let (policy, clock) = (self.policy, &self.clock);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read with the write lock held, not before waiting for it: a time read before
        // the wait would judge expiry early and stamp the key with a lock that runs out
        // sooner than the policy says.
        let now = now(clock)?;
        let purged = tidy(&tx, &policy, now, self.purged)?;
        let row = load(&tx, key)?;
        if let Some(replayed) = judge::<R>(row.as_ref(), key, request, now, &policy)? {
            tx.commit()?;
            self.purged = purged;
            return Ok(Begun::Replay(replayed));
        }
        if row.is_none() {
            check_quota(&tx, key, &policy, now, (self.scope_quota, self.capacity))?;
        }
        store_row(&tx, key, request, None, Some(lease_sql(lease)), now, row.is_some())?;
        tx.commit()?;
        self.purged = purged;
        Ok(Begun::Execute(lease))
    }

    fn complete(&mut self, key: &IdempotencyKey, lease: Lease, response: &R) -> Result<(), StoreError> {
        let json = serde_json::to_string(response)
            .map_err(|e| StoreError::Codec { key: key.clone(), source: Box::new(e) })?;
        let changed = self.conn.execute(
            "UPDATE idempotency_keys SET response = ?4, lease = NULL WHERE scope = ?1 AND key = ?2 AND lease = ?3",
            params![key.scope(), key.as_str(), lease_sql(lease), json],
        )?;
        if changed == 0 {
            return Err(KeyError::LeaseLost { key: key.clone() }.into());
        }
        Ok(())
    }

    fn release(&mut self, key: &IdempotencyKey, lease: Lease) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND lease = ?3",
            params![key.scope(), key.as_str(), lease_sql(lease)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
