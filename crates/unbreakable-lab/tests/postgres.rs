//! The private PostgreSQL server: it starts, answers, and leaves nothing behind, also
//! when the code using it panics. These tests skip (with a printed line) only when the
//! binaries are not installed and `CI` is not `true`; a server that is installed but fails
//! to start fails them, and under `CI=true` so does a missing one.

use std::path::PathBuf;

use unbreakable_lab::servers;
use unbreakable_lab::servers::postgres::Postgres;

/// The server, or `None` with a printed line when PostgreSQL is not installed (under
/// `CI=true`, a panic).
fn server() -> Option<Postgres> {
    servers::for_test(Postgres::start())
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks that the process exists. A zombie would still count, but the guard
    // reaps its child.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn starts_answers_and_is_removed_on_drop() {
    let Some(pg) = server() else { return };
    let (dir, pid) = (pg.dir().to_path_buf(), pg.pid());
    let version: String = rt().block_on(async {
        let client = pg.connect().await.unwrap();
        client.query_one("SHOW server_version", &[]).await.unwrap().get(0)
    });
    assert!(version.starts_with("18"), "{version}");
    // The pool hands out working connections too.
    let n: i64 = rt().block_on(async {
        let pool = pg.pool(2).unwrap();
        let c = pool.get().await.unwrap();
        c.query_one("SELECT count(*) FROM generate_series(1, 1000)", &[]).await.unwrap().get(0)
    });
    assert_eq!(n, 1000);
    assert!(alive(pid) && dir.exists());
    drop(pg);
    assert!(!alive(pid), "the server is still running after drop");
    assert!(!dir.exists(), "the data directory is still there after drop");
}

#[test]
fn a_panic_stops_the_server_and_removes_its_data() {
    let seen = std::sync::Mutex::new(None::<(PathBuf, u32)>);
    let result = std::panic::catch_unwind(|| {
        let Some(pg) = server() else { return };
        *seen.lock().unwrap() = Some((pg.dir().to_path_buf(), pg.pid()));
        panic!("a test failing while the server runs");
    });
    let Some((dir, pid)) = seen.into_inner().unwrap() else { return };
    assert!(result.is_err());
    assert!(!alive(pid), "the server outlived the panic");
    assert!(!dir.exists(), "the data outlived the panic");
}

mod event_store {
    //! The event store's PostgreSQL back end keeps the same contract as memory and
    //! SQLite, on a real server, and holds under races, a repeatable-read default, a
    //! server restart and a dropped append.

    use futures::future::join_all;
    use serde_json::json;
    use unbreakable::events::postgres::{PostgresConfig, PostgresEventStore, tokio_postgres};
    use unbreakable::events::testing::conformance::{BankAccount, BankEvent, contract_async};
    use unbreakable::events::{AsyncEventStore, EventStoreError, Expected, replay};

    use super::{rt, server};
    use unbreakable_lab::servers::postgres::Postgres;

    /// A fresh, empty database on the server, with `settings` run in it first.
    async fn database(pg: &Postgres, name: &str, settings: &str) -> tokio_postgres::Config {
        let admin = pg.connect().await.unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        admin.batch_execute(settings).await.unwrap();
        let mut config = pg.config();
        config.dbname(name);
        config
    }

    /// A migrated store on `config`, with the default pool.
    async fn migrated(config: &tokio_postgres::Config) -> PostgresEventStore<BankEvent> {
        let store = PostgresEventStore::connect(config.clone(), PostgresConfig::default()).unwrap();
        store.migrate().await.unwrap();
        store
    }

    fn deposit(n: i64) -> Vec<BankEvent> {
        vec![BankEvent::Deposited(n)]
    }

    #[test]
    fn keeps_the_contract_migrates_twice_upcasts_and_snapshots() {
        let Some(pg) = server() else { return };
        rt().block_on(async {
            // The contract every back end keeps, and all of it is there through a new pool.
            let db = database(&pg, "contract", "").await;
            let first = migrated(&db).await;
            contract_async(&first).await;
            first.migrate().await.expect("a second migration changes nothing");
            let again = migrated(&db).await;
            let a = again.read_stream("a", 1..=u64::MAX).await.unwrap();
            assert_eq!(replay::<BankAccount>(a.iter().map(|r| &r.event)).balance, 4000);

            // Before `migrate`, a call says what is missing.
            let db = database(&pg, "unmigrated", "").await;
            let bare = PostgresEventStore::<BankEvent>::connect(db, PostgresConfig::default()).unwrap();
            let err = bare.version("a").await.unwrap_err();
            assert!(err.to_string().contains("run `migrate`"), "{err}");

            // An old schema is refused until an upcaster is registered, then read through
            // it; the stored row is never rewritten.
            let db = database(&pg, "upcast", "").await;
            let store = migrated(&db).await;
            let old = r#"{"DepositCents":{"cents":150000}}"#;
            store.append_raw("a", Expected::Exactly(0), &[("Deposited", 1, old)], 0).await.unwrap();
            store.append("a", Expected::Exactly(1), vec![BankEvent::Withdrawn(500)], 0).await.unwrap();
            let err = store.read_stream("a", 1..=u64::MAX).await.unwrap_err();
            assert!(matches!(&err, EventStoreError::Codec { position: 1, schema: 1, .. }), "{err}");
            let store = store.with_upcaster("Deposited", 1, |v| {
                let cents = v["DepositCents"]["cents"].as_i64().ok_or("no cents")?;
                Ok(json!({ "Deposited": cents / 100 }))
            });
            let events: Vec<BankEvent> =
                store.read_stream("a", 1..=u64::MAX).await.unwrap().into_iter().map(|r| r.event).collect();
            assert_eq!(events, vec![BankEvent::Deposited(1500), BankEvent::Withdrawn(500)]);
            let client = store.pool().get().await.unwrap();
            let raw: String =
                client.query_one("SELECT data FROM events WHERE position = 1", &[]).await.unwrap().get(0);
            assert!(raw.contains("DepositCents"), "the stored row is untouched");

            // Snapshots in the same database, on the same pool.
            let snaps = store.snapshots::<BankAccount>();
            let state = BankAccount { balance: 70, movements: 35 };
            snaps.save("a", 30, 1, &state).await.unwrap();
            assert_eq!(snaps.load("a", 34, 1).await.unwrap(), Some((30, state)));
            assert_eq!(snaps.load("a", 29, 1).await.unwrap(), None);
            assert_eq!(snaps.load("a", 34, 2).await.unwrap(), None, "another snapshot version");
        });
    }

    #[test]
    fn concurrent_appends_to_one_stream_one_wins_and_positions_have_no_gaps() {
        let Some(pg) = server() else { return };
        rt().block_on(async {
            // Eight appends at once, each on its own pooled connection, for the same
            // version, 20 times: exactly one wins each round, the others get the typed
            // conflict, and the versions have no gaps.
            let db = database(&pg, "races", "").await;
            let store = migrated(&db).await;
            for round in 0..20u64 {
                let results = join_all((0..8).map(|i| store.append("s", Expected::Exactly(round), deposit(i + 1), 0))).await;
                let wins = results.iter().filter(|r| r.is_ok()).count();
                assert_eq!(wins, 1, "round {round}: {results:?}");
                for r in results.iter().filter_map(|r| r.as_ref().err()) {
                    assert!(
                        matches!(r, EventStoreError::Conflict(c) if c.expected == round && c.actual == round + 1),
                        "round {round}: {r}"
                    );
                }
            }
            let versions: Vec<u64> =
                store.read_stream("s", 1..=u64::MAX).await.unwrap().iter().map(|r| r.version).collect();
            assert_eq!(versions, (1..=20).collect::<Vec<_>>());

            // Writers on many streams at once: global positions come out 1..=N with no
            // gap, so a subscriber that resumes from its last position misses nothing.
            let db = database(&pg, "positions", "").await;
            let store = migrated(&db).await;
            join_all((0..4).map(|w| {
                let store = &store;
                async move {
                    for k in 0..25u64 {
                        let events = vec![BankEvent::Deposited(1), BankEvent::Deposited(2)];
                        store.append(&format!("w{w}"), Expected::Exactly(2 * k), events, k).await.unwrap();
                    }
                }
            }))
            .await;
            let positions: Vec<u64> = store.read_all(1, 1000).await.unwrap().iter().map(|r| r.position).collect();
            assert_eq!(positions, (1..=200).collect::<Vec<_>>());
        });
    }

    #[test]
    fn a_repeatable_read_default_refuses_no_append() {
        let Some(pg) = server() else { return };
        rt().block_on(async {
            // A database whose default isolation is REPEATABLE READ: an append that read
            // under the snapshot taken before the lock would refuse appends that are no
            // conflict. Eight `Any` appends at once, 10 times, all succeed.
            let db = database(
                &pg,
                "repeatable",
                "ALTER DATABASE repeatable SET default_transaction_isolation = 'repeatable read'",
            )
            .await;
            let store = migrated(&db).await;
            let client = store.pool().get().await.unwrap();
            let level: String =
                client.query_one("SHOW default_transaction_isolation", &[]).await.unwrap().get(0);
            assert_eq!(level, "repeatable read");
            drop(client);
            for round in 0..10 {
                let results =
                    join_all((0..8).map(|i| store.append("s", Expected::Any, deposit(i + 1), 0))).await;
                assert!(results.iter().all(Result::is_ok), "round {round}: {results:?}");
            }
            assert_eq!(store.version("s").await.unwrap(), 80);
        });
    }

    #[test]
    fn a_writer_that_ignores_the_lock_gets_a_typed_conflict() {
        let Some(pg) = server() else { return };
        rt().block_on(async {
            let db = database(&pg, "bypass", "").await;
            let store = migrated(&db).await;
            let (mut other, conn) = db.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            let waiter = pg.connect().await.unwrap();
            // Another writer inserts version 1 of `s` without the advisory lock and has not
            // committed: the append cannot see it, and waits on the unique index.
            let tx = other.transaction().await.unwrap();
            tx.execute(
                "INSERT INTO events (position, stream, version, event_type, schema, at_ms, data)
                 VALUES (1000, 's', 1, 'Deposited', 1, 0, '{\"Deposited\":5}')",
                &[],
            )
            .await
            .unwrap();
            let append = store.append("s", Expected::Exactly(0), deposit(1), 0);
            let commit_once_blocked = async {
                loop {
                    let blocked: i64 = waiter
                        .query_one(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted",
                            &[],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    if blocked == 1 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                tx.commit().await.unwrap();
            };
            let (appended, ()) = tokio::join!(append, commit_once_blocked);
            let err = appended.unwrap_err();
            assert!(
                matches!(&err, EventStoreError::Conflict(c) if c.stream == "s" && c.expected == 0),
                "{err}"
            );
            let events = store.read_stream("s", 1..=u64::MAX).await.unwrap();
            assert_eq!(
                events.iter().map(|r| r.position).collect::<Vec<_>>(),
                vec![1000],
                "nothing overwritten"
            );
        });
    }

    #[test]
    fn the_pool_reconnects_after_a_server_restart() {
        let Some(mut pg) = server() else { return };
        let rt = rt();
        let db = rt.block_on(database(&pg, "restart", ""));
        let store = rt.block_on(migrated(&db));
        rt.block_on(store.append("s", Expected::Exactly(0), deposit(1), 0)).unwrap();
        pg.restart().unwrap(); // every pooled connection is cut
        rt.block_on(async {
            let appended = store.append("s", Expected::Exactly(1), deposit(2), 0).await;
            assert_eq!(appended.unwrap().version, 2, "the first call after the restart");
            assert_eq!(store.version("s").await.unwrap(), 2);
        });
    }

    #[test]
    fn an_append_behind_a_stuck_lock_holder_gives_up_after_its_statement_timeout() {
        let Some(pg) = server() else { return };
        rt().block_on(async {
            let db = database(&pg, "stuck", "").await;
            migrated(&db).await;
            let config = PostgresConfig {
                statement_timeout: std::time::Duration::from_millis(300),
                ..Default::default()
            };
            let store: PostgresEventStore<BankEvent> =
                PostgresEventStore::connect(db.clone(), config).unwrap();
            // A session that holds the append lock and never lets go (a stalled writer, or
            // a half-open connection the server has not noticed yet).
            let (stuck, conn) = db.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            stuck
                .batch_execute(&format!(
                    "SELECT pg_advisory_lock({})",
                    unbreakable::events::postgres::APPEND_LOCK_KEY
                ))
                .await
                .unwrap();
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                store.append("s", Expected::Exactly(0), deposit(1), 0),
            )
            .await
            .expect("the append waited for the lock for ever");
            let err = waited.expect_err("the lock is held");
            assert!(matches!(err, EventStoreError::Busy { .. }), "{err:?}");
            assert!(err.is_transient());
            // Once the holder lets go, appends go through again on the same pool.
            stuck.batch_execute("SELECT pg_advisory_unlock_all()").await.unwrap();
            assert_eq!(store.append("s", Expected::Exactly(0), deposit(1), 0).await.unwrap().version, 1);
            // A limit beyond what PostgreSQL takes (i32::MAX ms) is its largest, not an error.
            let patient =
                PostgresConfig { statement_timeout: std::time::Duration::MAX, ..Default::default() };
            let patient: PostgresEventStore<BankEvent> = PostgresEventStore::connect(db, patient).unwrap();
            assert_eq!(patient.append("s", Expected::Exactly(1), deposit(1), 0).await.unwrap().version, 2);
        });
    }

    #[test]
    fn a_dropped_append_leaves_nothing() {
        let Some(pg) = server() else { return };
        rt().block_on(async {
            let db = database(&pg, "dropped", "").await;
            let store = migrated(&db).await;
            let (test, conn) = db.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            // A trigger that makes an append wait, after its rows are inserted and before
            // its commit, for an advisory lock the test holds.
            test.batch_execute(
                "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN PERFORM pg_advisory_xact_lock(42); RETURN NULL; END $$;
                 CREATE TRIGGER hold AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION hold();
                 SELECT pg_advisory_lock(42);",
            )
            .await
            .unwrap();
            let append = store.append("s", Expected::Exactly(0), deposit(1), 0);
            let held = async {
                // Until the server shows the append waiting inside its statement.
                loop {
                    let waiting: i64 = test
                        .query_one(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND NOT granted",
                            &[],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    if waiting == 1 {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                r = append => panic!("the append finished while held: {r:?}"),
                () = held => {} // the append's future is dropped here, mid-statement
            }
            // Unlock first: the dropped append's statement is still running on the server and
            // holds its lock on `events` until its transaction ends, so dropping the trigger
            // before letting it go would deadlock with it.
            test.batch_execute("SELECT pg_advisory_unlock(42); DROP TRIGGER hold ON events;").await.unwrap();
            // Nothing of it is visible, and the pool's connections carry no half-open
            // transaction: the next append on the same stream is the first.
            assert_eq!(store.version("s").await.unwrap(), 0);
            for k in 0..8 {
                let appended = store.append(&format!("t{k}"), Expected::Exactly(0), deposit(2), 0).await.unwrap();
                assert_eq!(appended.first_position, k + 1);
            }
            let appended = store.append("s", Expected::Exactly(0), deposit(2), 0).await.unwrap();
            assert_eq!((appended.version, appended.first_position), (1, 9));
            assert_eq!(store.read_all(1, 100).await.unwrap().len(), 9);
        });
    }
}
