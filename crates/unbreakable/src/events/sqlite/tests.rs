use serde_json::json;

use super::*;
use crate::events::tests::{Account, Ev, contract};
use crate::events::{Repository, SnapshotPolicy, replay};

/// A fresh directory for one test's database file.
fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("unbreakable-core-events-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("events.db")
}

fn cleanup(path: &Path) {
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn sqlite_store_keeps_the_contract() {
    let path = temp("contract");
    contract(SqliteEventStore::<Ev>::open(&path).unwrap());
    // And all of it is there after reopening.
    let again = SqliteEventStore::<Ev>::open(&path).unwrap();
    assert_eq!(replay::<Account>(again.read_stream("a", 1).unwrap().iter().map(|r| &r.event)).balance, 4000);
    let mode: String = again.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    cleanup(&path);
}

#[test]
fn racing_connections_never_both_append_at_one_version() {
    let path = temp("race");
    SqliteEventStore::<Ev>::open(&path).unwrap();
    for round in 0..30u64 {
        let wins: Vec<bool> = std::thread::scope(|s| {
            let h: Vec<_> = (0..2)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || {
                        let mut store = SqliteEventStore::<Ev>::open(path).unwrap();
                        store.append("s", Expected::Exactly(round), vec![Ev::Deposited(i + 1)], 0).is_ok()
                    })
                })
                .collect();
            h.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "round {round}: {wins:?}");
    }
    let store = SqliteEventStore::<Ev>::open(&path).unwrap();
    let versions: Vec<u64> = store.read_stream("s", 1).unwrap().iter().map(|r| r.version).collect();
    assert_eq!(versions, (1..=30).collect::<Vec<_>>());
    cleanup(&path);
}

#[test]
fn an_old_schema_is_upcast_on_read_and_never_rewritten() {
    let path = temp("upcast");
    {
        let mut store = SqliteEventStore::<Ev>::open(&path).unwrap();
        // Version 1 stored deposits in cents under another name.
        store
            .append_raw(
                "a",
                Expected::Exactly(0),
                &[("Deposited", 1, r#"{"DepositCents":{"cents":150000}}"#)],
                0,
            )
            .unwrap();
        store.append("a", Expected::Exactly(1), vec![Ev::Withdrawn(500)], 0).unwrap();
        let err = store.read_stream("a", 1).unwrap_err();
        assert!(matches!(&err, EventStoreError::Codec { position: 1, schema: 1, .. }), "{err}");
    }
    let store = SqliteEventStore::<Ev>::open(&path).unwrap().with_upcaster("Deposited", 1, |v| {
        let cents = v["DepositCents"]["cents"].as_i64().ok_or("no cents")?;
        Ok(json!({ "Deposited": cents / 100 }))
    });
    let events: Vec<Ev> = store.read_stream("a", 1).unwrap().into_iter().map(|r| r.event).collect();
    assert_eq!(events, vec![Ev::Deposited(1500), Ev::Withdrawn(500)]);
    let raw: String =
        store.connection().query_row("SELECT data FROM events WHERE position = 1", [], |r| r.get(0)).unwrap();
    assert!(raw.contains("DepositCents"), "the stored row is untouched");
    cleanup(&path);
}

#[test]
fn snapshots_in_sqlite_serve_loads_and_time_travel() {
    let path = temp("snapshots");
    let store = SqliteEventStore::<Ev>::open(&path).unwrap();
    let snaps = SqliteSnapshots::<Account>::open(&path).unwrap();
    let mut repo = Repository::<Account, _, _>::new(store, snaps, SnapshotPolicy::every(10).unwrap());
    for t in 0..35 {
        repo.execute("a", &crate::events::tests::Cmd::Deposit(2), t).unwrap();
    }
    let now = repo.load("a").unwrap();
    assert_eq!((now.state.balance, now.from_snapshot, now.events_applied), (70, Some(30), 5));
    let then = repo.state_at("a", 15).unwrap();
    assert_eq!((then.state.balance, then.from_snapshot, then.events_applied), (30, Some(10), 5));
    cleanup(&path);
}

#[test]
fn a_snapshot_that_does_not_decode_is_ignored_and_the_state_replayed() {
    let path = temp("bad-snapshot");
    let store = SqliteEventStore::<Ev>::open(&path).unwrap();
    let snaps = SqliteSnapshots::<Account>::open(&path).unwrap();
    let mut repo = Repository::<Account, _, _>::new(store, snaps, SnapshotPolicy::every(2).unwrap());
    for t in 0..3 {
        repo.execute("a", &crate::events::tests::Cmd::Deposit(5), t).unwrap();
    }
    // The state's shape changed since the snapshot at version 2 was written.
    repo.store().connection().execute("UPDATE snapshots SET data = '{\"cents\": \"many\"}'", []).unwrap();
    let now = repo.load("a").unwrap();
    assert_eq!((now.state.balance, now.from_snapshot, now.events_applied), (15, None, 3));
    assert!(now.snapshot_ignored);
    cleanup(&path);
}

#[test]
fn a_snapshot_table_without_versions_is_migrated_and_its_rows_ignored() {
    let path = temp("old-snapshots");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE snapshots (stream TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (stream, version)) WITHOUT ROWID;
             INSERT INTO snapshots VALUES ('a', 1, '{\"balance\": 999}');",
        )
        .unwrap();
    }
    let mut store = SqliteEventStore::<Ev>::open(&path).unwrap();
    store.append("a", Expected::Exactly(0), vec![Ev::Deposited(4)], 0).unwrap();
    let snaps = SqliteSnapshots::<Account>::open(&path).unwrap();
    let repo = Repository::<Account, _, _>::new(store, snaps, SnapshotPolicy::every(1).unwrap());
    let now = repo.load("a").unwrap();
    assert_eq!((now.state.balance, now.from_snapshot), (4, None));
    cleanup(&path);
}

#[tokio::test(flavor = "current_thread")]
async fn a_locked_database_does_not_stall_the_runtime() {
    use crate::events::AsyncEventStore as _;
    use crate::events::offload::Offloaded;
    let path = temp("offload");
    let store = Offloaded::new(SqliteEventStore::<Ev>::open(&path).unwrap());
    // Another process holds the write lock.
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let writer = store.clone();
    let append =
        tokio::spawn(
            async move { writer.append("a", Expected::Exactly(0), vec![Ev::Deposited(1)], 0).await },
        );
    // The runtime has one thread: another task still runs while the append waits for the
    // lock (a direct call would hold that thread for the 5 s busy timeout, then fail Busy).
    let other = tokio::spawn(async { 40 + 2 });
    assert_eq!(other.await.unwrap(), 42);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!append.is_finished(), "the append waits for the lock, off the runtime's thread");
    locker.execute_batch("COMMIT").unwrap();
    assert_eq!(append.await.unwrap().unwrap().version, 1);
    assert_eq!(store.version("a").await.unwrap(), 1);
    assert_eq!(store.read_stream("a", 1..=u64::MAX).await.unwrap()[0].event, Ev::Deposited(1));
    assert_eq!(store.read_all(1, 10).await.unwrap().len(), 1);
    cleanup(&path);
}

/// Pins the invented conflict: a constraint that refused an insert (here a trigger,
/// standing for a schema changed under the store) was reported as a `Conflict` with the
/// version the append tried as `actual`, under `Expected::Any` too, telling the caller
/// to reload and retry for ever. The transaction holds the write lock, so no other
/// writer can have taken the version: it is now a storage error, not transient.
#[test]
fn a_refused_insert_is_a_storage_error_not_an_invented_conflict() {
    let path = temp("refused-insert");
    let mut store = SqliteEventStore::<Ev>::open(&path).unwrap();
    store
        .connection()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END;",
        )
        .unwrap();
    for expected in [Expected::Exactly(0), Expected::Any] {
        let e = store.append("a", expected, vec![Ev::Deposited(1)], 0).unwrap_err();
        assert!(matches!(e, EventStoreError::Storage { .. }), "{expected:?}: {e:?}");
        assert!(!e.is_transient());
    }
    cleanup(&path);
}
