use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use super::*;

/// A fresh directory for one test's database file.
fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("unbreakable-core-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("keys.db")
}

fn cleanup(path: &Path) {
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// A settable wall clock, in milliseconds since the UNIX epoch.
fn clock(ms: &Arc<AtomicU64>) -> impl Fn() -> Result<Duration, SystemTimeError> + Send + 'static {
    let ms = Arc::clone(ms);
    move || Ok(Duration::from_millis(ms.load(Ordering::SeqCst)))
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new("acct", s).unwrap()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Charge {
    id: String,
    cents: i64,
}

const HOUR: u64 = 3_600_000;

/// Pins bug 6: the lab's ledger compared each caller's virtual-clock `now` with stored
/// creation times, so a process whose clock started earlier saw another's fresh key as
/// expired and executed again, and `INSERT OR REPLACE` overwrote the live key. The store
/// now reads wall-clock epoch time, so two processes agree; here the second process's
/// store (its own connection, its own clock, reading the same wall time) replays.
#[test]
fn two_processes_agree_on_key_age_through_wall_clock_time() {
    let path = temp("two-processes");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut a: SqliteStore<Charge> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    let charge = |tx: &Transaction<'_>| -> Result<Charge, rusqlite::Error> {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS charges (n INTEGER); INSERT INTO charges VALUES (1)")?;
        Ok(Charge { id: "ch_1".into(), cents: 500 })
    };
    let first = a.execute(&key("k"), b"charge 500", charge).unwrap();
    assert!(!first.replayed);
    wall.fetch_add(HOUR, Ordering::SeqCst);
    let mut b: SqliteStore<Charge> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    let again = b.execute(&key("k"), b"charge 500", charge).unwrap();
    assert_eq!(again, Served { response: first.response.clone(), replayed: true });
    // Even a process whose wall clock runs behind (skew) does not overwrite the live key.
    wall.fetch_sub(2 * HOUR, Ordering::SeqCst);
    assert!(b.execute(&key("k"), b"charge 500", charge).unwrap().replayed);
    // A day later it is forgotten, and executes again.
    wall.fetch_add(26 * HOUR, Ordering::SeqCst);
    assert!(!b.execute(&key("k"), b"charge 500", charge).unwrap().replayed);
    let n: i64 = b.connection().query_row("SELECT COUNT(*) FROM charges", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);
    drop((a, b));
    cleanup(&path);
}

/// The default clock is the system's epoch time, not a per-process origin.
#[test]
fn the_default_clock_is_epoch_time() {
    let path = temp("epoch");
    let mut s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default()).unwrap();
    s.execute(&key("k"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    let created: i64 =
        s.connection().query_row("SELECT created_ms FROM idempotency_keys", [], |r| r.get(0)).unwrap();
    let now = millis(system_clock().unwrap());
    assert!((now - 60_000..=now).contains(&created), "created_ms {created} is not epoch time near {now}");
    drop(s);
    cleanup(&path);
}

/// The handler's writes and the key commit together: a failed handler leaves neither.
#[test]
fn a_failed_handler_rolls_back_its_writes_and_stores_no_key() {
    let path = temp("rollback");
    let mut s: SqliteStore<i64> = SqliteStore::open(&path, Policy::default()).unwrap();
    s.connection().execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
    let failed = s.execute(&key("k"), b"x", |tx| {
        tx.execute("INSERT INTO t VALUES (1)", [])?;
        Err::<i64, _>(rusqlite::Error::QueryReturnedNoRows)
    });
    assert!(matches!(failed, Err(RunError::Handler(rusqlite::Error::QueryReturnedNoRows))));
    let rows: i64 = s.connection().query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 0);
    assert!(s.get(&key("k")).unwrap().is_none());
    let ok = s
        .execute(&key("k"), b"x", |tx| tx.execute("INSERT INTO t VALUES (2)", []).map(|n| n as i64))
        .unwrap();
    assert_eq!(ok, Served { response: 1, replayed: false });
    assert!(matches!(
        s.execute(&key("k"), b"y", |_| Ok::<_, rusqlite::Error>(0)),
        Err(RunError::Store(StoreError::Key(KeyError::Mismatch { .. })))
    ));
    drop(s);
    cleanup(&path);
}

/// The lock timeout on a durable store: a key begun by a process that died is "in
/// progress" until the lock timeout, then reclaimed; the dead owner's lease is lost.
#[test]
fn a_dead_processes_key_is_reclaimed_after_the_lock_timeout() {
    let path = temp("reclaim");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut dead: SqliteStore<u32> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    let Begun::Execute(old) = dead.begin(&key("k"), &Fingerprint::of(b"x")).unwrap() else {
        panic!("a new key executes")
    };
    let mut s: SqliteStore<u32> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    wall.fetch_add(59_000, Ordering::SeqCst);
    assert!(matches!(
        s.execute(&key("k"), b"x", |_| Ok::<_, rusqlite::Error>(2)),
        Err(RunError::Store(StoreError::Key(KeyError::InProgress { .. })))
    ));
    wall.fetch_add(1_000, Ordering::SeqCst);
    let Begun::Execute(new) = s.begin(&key("k"), &Fingerprint::of(b"x")).unwrap() else {
        panic!("reclaimed")
    };
    assert!(matches!(dead.complete(&key("k"), old, &1), Err(StoreError::Key(KeyError::LeaseLost { .. }))));
    dead.release(&key("k"), old).unwrap(); // does nothing
    s.complete(&key("k"), new, &2).unwrap();
    assert!(matches!(s.begin(&key("k"), &Fingerprint::of(b"x")).unwrap(), Begun::Replay(2)));
    assert!(matches!(s.get(&key("k")).unwrap(), Some(Entry::Done { response: 2, .. })));
    drop((dead, s));
    cleanup(&path);
}

/// The store behind the async edge, and a release after a handler that did nothing.
#[test]
fn the_edge_runs_over_the_sqlite_store() {
    let path = temp("edge");
    let store: SqliteStore<Charge> = SqliteStore::open(&path, Policy::default()).unwrap();
    let edge = crate::idempotency::edge::Idempotent::new(store).unwrap();
    let k = key("k");
    let (failed, first, again) = crate::time::run_paused(async {
        let failed = edge
            .run_or_release(&k, b"x", || async {
                Err::<Charge, _>(crate::idempotency::Failed::NotStarted("declined"))
            })
            .await;
        let first =
            edge.run(&k, b"x", || async { Ok::<_, String>(Charge { id: "a".into(), cents: 1 }) }).await;
        let again =
            edge.run(&k, b"x", || async { Ok::<_, String>(Charge { id: "b".into(), cents: 2 }) }).await;
        (failed, first.unwrap(), again.unwrap())
    })
    .unwrap();
    assert!(matches!(failed, Err(RunError::Handler("declined"))));
    assert_eq!((first.response.id.as_str(), again.response.id.as_str(), again.replayed), ("a", "a", true));
    drop(edge);
    cleanup(&path);
}

/// Storage errors are sorted: busy (transient) apart from constraint and other failures.
#[test]
fn storage_errors_tell_busy_from_constraint_from_other() {
    let path = temp("busy");
    let mut s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default()).unwrap();
    s.connection().busy_timeout(Duration::from_millis(20)).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let busy = s.execute(&key("k"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap_err();
    assert!(matches!(busy, RunError::Store(StoreError::Busy { .. })), "{busy:?}");
    assert!(matches!(&busy, RunError::Store(e) if e.is_transient()));
    assert!(std::error::Error::source(&busy).is_some());
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(s.execute(&key("k"), b"x", |_| Ok::<_, rusqlite::Error>(1)).is_ok());

    let constraint = storage(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        None,
    ));
    assert!(matches!(constraint, StoreError::Constraint { .. }) && !constraint.is_transient());
    assert!(matches!(storage(rusqlite::Error::InvalidQuery), StoreError::Storage { .. }));
    drop((s, holder));
    cleanup(&path);
}

/// A stored response that no longer decodes as the response type is a typed error, not
/// a panic or a silent re-execution.
#[test]
fn a_response_of_another_type_is_a_codec_error() {
    let path = temp("codec");
    let mut s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default()).unwrap();
    s.execute(&key("k"), b"x", |_| Ok::<_, rusqlite::Error>(7)).unwrap();
    let mut other: SqliteStore<Charge> = SqliteStore::open(&path, Policy::default()).unwrap();
    let e = other
        .execute(&key("k"), b"x", |_| Ok::<_, rusqlite::Error>(Charge { id: "x".into(), cents: 1 }))
        .unwrap_err();
    assert!(matches!(e, RunError::Store(StoreError::Codec { .. })), "{e:?}");
    drop((s, other));
    cleanup(&path);
}

#[test]
fn purge_forgets_keys_past_the_retention() {
    let path = temp("purge");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut s: SqliteStore<u32> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    s.execute(&key("a"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    assert_eq!(s.purge().unwrap(), 0);
    wall.fetch_add(24 * HOUR, Ordering::SeqCst);
    assert_eq!(s.purge().unwrap(), 1);
    assert!(s.get(&key("a")).unwrap().is_none());
    drop(s);
    cleanup(&path);
}

/// Pins the stalled runtime: the edge called the SQLite store on the tokio worker, so
/// while another connection held the write lock, `BEGIN IMMEDIATE` waited in SQLite's
/// busy handler (up to 5 s) with the worker thread blocked, and no other task ran. On a
/// current-thread runtime, a counter task now keeps ticking while the store call waits.
#[test]
fn a_locked_database_does_not_stall_the_runtime() {
    let path = temp("stall");
    let store: SqliteStore<u32> = SqliteStore::open(&path, Policy::default()).unwrap();
    let edge = crate::idempotency::edge::Idempotent::new(store).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let served = crate::time::progresses_while(
        {
            let edge = edge.clone();
            async move { edge.run(&key("k"), b"x", || async { Ok::<_, String>(1) }).await }
        },
        || holder.execute_batch("ROLLBACK").unwrap(),
    );
    assert_eq!(served.unwrap(), Served { response: 1, replayed: false });
    drop((edge, holder));
    cleanup(&path);
}

/// Pins the stale `now`: `begin` and `execute` read the clock, then waited (up to the busy
/// timeout) for the write lock, and judged and stamped the key with a time from before the
/// wait. The clock is now read with the lock held: here the clock itself checks whether
/// another connection could still take the write lock when it is read.
#[test]
fn the_time_is_read_with_the_write_lock_held() {
    let path = temp("now-under-lock");
    let unlocked_reads = Arc::new(AtomicU64::new(0));
    let probe = {
        let (path, unlocked_reads) = (path.clone(), Arc::clone(&unlocked_reads));
        move || {
            let other = Connection::open(&path).expect("open a probe connection");
            other.busy_timeout(Duration::ZERO).expect("no busy wait");
            if other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok() {
                unlocked_reads.fetch_add(1, Ordering::SeqCst);
            }
            system_clock()
        }
    };
    let mut s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default()).unwrap().with_clock(probe);
    s.execute(&key("a"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    assert!(matches!(s.begin(&key("b"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    assert_eq!(unlocked_reads.load(Ordering::SeqCst), 0, "the clock was read before the write lock was held");
    drop(s);
    cleanup(&path);
}

/// Pins the shared key space on the durable store: the table was keyed by the key alone,
/// so two callers who both sent `order-17` got each other's stored response.
#[test]
fn the_same_key_in_two_scopes_is_two_rows() {
    let path = temp("scopes");
    let mut s: SqliteStore<String> = SqliteStore::open(&path, Policy::default()).unwrap();
    let alice = IdempotencyKey::new("acct_alice", "order-17").unwrap();
    let bob = IdempotencyKey::new("acct_bob", "order-17").unwrap();
    s.execute(&alice, b"pay 500", |_| Ok::<_, rusqlite::Error>("alice's receipt".to_string())).unwrap();
    let bobs =
        s.execute(&bob, b"pay 500", |_| Ok::<_, rusqlite::Error>("bob's receipt".to_string())).unwrap();
    assert_eq!(bobs, Served { response: "bob's receipt".to_string(), replayed: false });
    assert!(
        matches!(s.get(&alice).unwrap(), Some(Entry::Done { response, .. }) if response == "alice's receipt")
    );
    // A table made before keys were scoped is refused with a message, not misread.
    drop(s);
    let old = temp("unscoped");
    Connection::open(&old)
        .unwrap()
        .execute_batch("CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, fingerprint BLOB, response TEXT, lease INTEGER, created_ms INTEGER NOT NULL)")
        .unwrap();
    let e = SqliteStore::<u32>::open(&old, Policy::default()).unwrap_err();
    assert!(
        matches!(&e, StoreError::Constraint { source } if source.to_string().contains("no scope column")),
        "{e:?}"
    );
    cleanup(&path);
    cleanup(&old);
}

/// A never-completed key is purged at the lock timeout, a finished one at the retention.
#[test]
fn purge_forgets_never_completed_keys_at_the_lock_timeout() {
    let path = temp("purge-in-flight");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut s: SqliteStore<u32> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    assert!(matches!(s.begin(&key("dead"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    s.execute(&key("done"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    wall.fetch_add(59_999, Ordering::SeqCst);
    assert_eq!(s.purge().unwrap(), 0);
    wall.fetch_add(1, Ordering::SeqCst);
    assert_eq!(s.purge().unwrap(), 1);
    assert!(s.get(&key("dead")).unwrap().is_none() && s.get(&key("done")).unwrap().is_some());
    drop(s);
    cleanup(&path);
}

/// Pins the durable store filled by one client: it had no quota, so one caller's
/// client-chosen keys could grow the file without bound. A scope at its quota is refused
/// (through `begin` and `execute`), other scopes are not, and a scope's forgotten keys
/// give their room back without a purge call.
#[test]
fn a_scope_at_its_quota_is_refused_on_the_durable_store() {
    let path = temp("quota");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default())
        .unwrap()
        .with_clock(clock(&wall))
        .with_scope_quota(2)
        .unwrap();
    let k = |scope: &str, k: &str| IdempotencyKey::new(scope, k).unwrap();
    assert!(matches!(s.begin(&k("greedy", "a"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    s.execute(&k("greedy", "b"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    let refused = s.begin(&k("greedy", "c"), &Fingerprint::of(b"x")).unwrap_err();
    assert!(matches!(&refused, StoreError::Key(KeyError::ScopeFull { quota: 2, .. })), "{refused:?}");
    assert!(matches!(
        s.execute(&k("greedy", "c"), b"x", |_| Ok::<_, rusqlite::Error>(1)),
        Err(RunError::Store(StoreError::Key(KeyError::ScopeFull { .. })))
    ));
    // A repeat of a key it holds is still answered, and other callers are not refused.
    assert!(s.execute(&k("greedy", "b"), b"x", |_| Ok::<_, rusqlite::Error>(2)).unwrap().replayed);
    assert!(matches!(s.begin(&k("other", "a"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    // The never-completed "a" is forgotten at the lock timeout: room for one more.
    wall.fetch_add(60_000, Ordering::SeqCst);
    assert!(matches!(s.begin(&k("greedy", "c"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    assert_eq!(
        SqliteStore::<u32>::open(&path, Policy::default()).unwrap().with_scope_quota(0).unwrap_err().field,
        "scope_quota"
    );
    drop(s);
    cleanup(&path);
}

/// Pins the keys kept until someone calls `purge`: never-completed and expired keys
/// stayed in the file for ever unless the service called `purge` itself. Calls now
/// delete them as they go, at most once per lock timeout.
#[test]
fn forgotten_keys_are_deleted_without_a_purge_call() {
    let path = temp("auto-purge");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut s: SqliteStore<u32> =
        SqliteStore::open(&path, Policy::default()).unwrap().with_clock(clock(&wall));
    let rows = |s: &SqliteStore<u32>| -> i64 {
        s.connection().query_row("SELECT COUNT(*) FROM idempotency_keys", [], |r| r.get(0)).unwrap()
    };
    assert!(matches!(s.begin(&key("dead"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    s.execute(&key("done"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    wall.fetch_add(60_000, Ordering::SeqCst);
    s.execute(&key("next"), b"x", |_| Ok::<_, rusqlite::Error>(2)).unwrap();
    assert_eq!(rows(&s), 2, "the abandoned key is still stored");
    assert!(s.get(&key("dead")).unwrap().is_none());
    wall.fetch_add(24 * HOUR, Ordering::SeqCst);
    assert!(matches!(s.begin(&key("late"), &Fingerprint::of(b"x")).unwrap(), Begun::Execute(_)));
    assert_eq!(rows(&s), 1, "keys past the retention are still stored");
    drop(s);
    cleanup(&path);
}

/// The clock-skew margin is checked when the store is built: with the busy timeout it
/// must leave a handler time before the lock timeout.
#[test]
fn the_clock_skew_margin_is_checked_when_the_store_is_built() {
    let path = temp("skew");
    let s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default()).unwrap();
    assert_eq!((s.busy_timeout(), s.clock_skew()), (BUSY_TIMEOUT, DEFAULT_CLOCK_SKEW));
    let e = s.with_clock_skew(Duration::from_secs(55)).unwrap_err();
    assert_eq!(e.field, "clock_skew");
    assert!(e.message.contains("raise the lock timeout"), "{e}");
    let short = Policy::default().with_lock_timeout(Duration::from_secs(6)).unwrap();
    let e = SqliteStore::<u32>::open(&path, short).unwrap_err();
    assert!(matches!(&e, StoreError::Config(c) if c.field == "clock_skew"), "{e:?}");
    let s = SqliteStore::<u32>::open(&path, Policy::default())
        .unwrap()
        .with_clock_skew(Duration::from_millis(100))
        .unwrap();
    assert_eq!(s.clock_skew(), Duration::from_millis(100));
    drop(s);
    cleanup(&path);
}

/// Keys per scope (`""`: in all).
type Counts = Vec<(String, i64)>;

/// The keys counted per scope and in all, as the store keeps them, against a count of
/// the rows.
fn counts(conn: &Connection) -> (Counts, Counts) {
    let rows = |sql: &str| -> Counts {
        let mut q = conn.prepare(sql).unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    (
        rows("SELECT scope, keys FROM idempotency_counts WHERE keys > 0 ORDER BY scope"),
        rows(
            "SELECT scope, n FROM (SELECT scope, COUNT(*) AS n FROM idempotency_keys GROUP BY scope
              UNION ALL SELECT '', COUNT(*) FROM idempotency_keys) WHERE n > 0 ORDER BY scope",
        ),
    )
}

/// Pins the unbounded file and the count under the write lock: the durable store bounded
/// keys per scope only (many scopes could fill the disk), and every new key counted its
/// scope's rows (`COUNT(*)`) while holding the database's write lock. Keys in all are now
/// bounded too (`KeyError::Full`), and both checks read a counter row kept in the same
/// transaction as the keys, through every insert and delete.
#[test]
fn keys_in_all_are_bounded_and_counted_in_the_same_transaction() {
    let path = temp("capacity");
    let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
    let mut s: SqliteStore<u32> = SqliteStore::open(&path, Policy::default())
        .unwrap()
        .with_clock(clock(&wall))
        .with_capacity(3)
        .unwrap();
    let k = |scope: &str, k: &str| IdempotencyKey::new(scope, k).unwrap();
    let fp = Fingerprint::of(b"x");
    let Begun::Execute(lease) = s.begin(&k("a", "1"), &fp).unwrap() else { panic!("not executed") };
    s.execute(&k("b", "1"), b"x", |_| Ok::<_, rusqlite::Error>(1)).unwrap();
    s.begin(&k("c", "1"), &fp).unwrap();
    let full = s.begin(&k("d", "1"), &fp).unwrap_err();
    assert!(matches!(&full, StoreError::Key(KeyError::Full { capacity: 3 })), "{full:?}");
    let (kept, rows) = counts(s.connection());
    assert_eq!(kept, rows);
    assert_eq!(kept.first(), Some(&(String::new(), 3)));
    // A released key gives its room back, and the counters follow.
    s.release(&k("a", "1"), lease).unwrap();
    s.begin(&k("d", "1"), &fp).unwrap();
    // Never-completed keys are forgotten at the lock timeout, through the automatic purge.
    wall.fetch_add(60_000, Ordering::SeqCst);
    s.begin(&k("e", "1"), &fp).unwrap();
    let (kept, rows) = counts(s.connection());
    assert_eq!(kept, rows);
    assert_eq!(kept.first(), Some(&(String::new(), 2)), "b and e are left");
    s.purge().unwrap();
    assert_eq!(counts(s.connection()).0, rows);
    // A file made before the counters is counted when it is opened.
    s.connection().execute_batch("DROP TABLE idempotency_counts").unwrap();
    drop(s);
    let s = SqliteStore::<u32>::open(&path, Policy::default()).unwrap();
    let (kept, rows) = counts(s.connection());
    assert_eq!(kept, rows);
    assert_eq!(
        SqliteStore::<u32>::open(&path, Policy::default()).unwrap().with_capacity(0).unwrap_err().field,
        "capacity"
    );
    drop(s);
    cleanup(&path);
}
