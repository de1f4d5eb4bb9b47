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
    //! SQLite, on a real server.

    use serde_json::json;
    use unbreakable::events::postgres::{PostgresEventStore, PostgresSnapshots, postgres};
    use unbreakable::events::testing::conformance::{BankAccount, BankCommand, BankEvent, contract};
    use unbreakable::events::{EventStore, EventStoreError, Expected, Repository, SnapshotPolicy, replay};

    use super::server;
    use unbreakable_lab::servers::postgres::Postgres;

    /// A fresh, empty database on the server.
    fn database(pg: &Postgres, name: &str) -> String {
        let mut admin = postgres::Client::connect(&pg.conninfo("postgres"), postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        pg.conninfo(name)
    }

    #[test]
    fn keeps_the_contract_races_upcasts_and_snapshots() {
        let Some(pg) = server() else { return };

        // The contract every back end keeps, and all of it is there on a new connection.
        let db = database(&pg, "contract");
        contract(PostgresEventStore::<BankEvent>::connect(&db).unwrap());
        let again = PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        assert_eq!(
            replay::<BankAccount>(again.read_stream("a", 1).unwrap().iter().map(|r| &r.event)).balance,
            4000
        );

        // Eight writers, each on its own connection, race for the same version, 20 times:
        // exactly one wins each round, and the versions have no gaps.
        let db = database(&pg, "races");
        PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        for round in 0..20u64 {
            let wins = std::thread::scope(|s| {
                let h: Vec<_> = (0..8)
                    .map(|i| {
                        let db = &db;
                        s.spawn(move || {
                            let mut store = PostgresEventStore::<BankEvent>::connect(db).unwrap();
                            match store.append(
                                "s",
                                Expected::Exactly(round),
                                vec![BankEvent::Deposited(i + 1)],
                                0,
                            ) {
                                Ok(_) => true,
                                Err(EventStoreError::Conflict(_)) => false,
                                Err(e) => panic!("round {round}: {e}"),
                            }
                        })
                    })
                    .collect();
                h.into_iter().map(|h| h.join().unwrap()).filter(|w| *w).count()
            });
            assert_eq!(wins, 1, "round {round}");
        }
        let store = PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        let versions: Vec<u64> = store.read_stream("s", 1).unwrap().iter().map(|r| r.version).collect();
        assert_eq!(versions, (1..=20).collect::<Vec<_>>());

        // Writers on many streams at once: global positions come out 1..=N with no gap,
        // so a subscriber that resumes from its last position misses nothing.
        let db = database(&pg, "positions");
        PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        std::thread::scope(|s| {
            for w in 0..4 {
                let db = &db;
                s.spawn(move || {
                    let mut store = PostgresEventStore::<BankEvent>::connect(db).unwrap();
                    for k in 0..25u64 {
                        store
                            .append(
                                &format!("w{w}"),
                                Expected::Exactly(2 * k),
                                vec![BankEvent::Deposited(1), BankEvent::Deposited(2)],
                                k,
                            )
                            .unwrap();
                    }
                });
            }
        });
        let store = PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        let positions: Vec<u64> = store.read_all(1, 1000).unwrap().iter().map(|r| r.position).collect();
        assert_eq!(positions, (1..=200).collect::<Vec<_>>());

        // An old schema is refused until an upcaster is registered, then read through it;
        // the stored row is never rewritten.
        let db = database(&pg, "upcast");
        let mut store = PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        store
            .append_raw(
                "a",
                Expected::Exactly(0),
                &[("Deposited", 1, r#"{"DepositCents":{"cents":150000}}"#)],
                0,
            )
            .unwrap();
        store.append("a", Expected::Exactly(1), vec![BankEvent::Withdrawn(500)], 0).unwrap();
        let err = store.read_stream("a", 1).unwrap_err();
        assert!(matches!(&err, EventStoreError::Codec { position: 1, schema: 1, .. }), "{err}");
        let store = store.with_upcaster("Deposited", 1, |v| {
            let cents = v["DepositCents"]["cents"].as_i64().ok_or("no cents")?;
            Ok(json!({ "Deposited": cents / 100 }))
        });
        let events: Vec<BankEvent> =
            store.read_stream("a", 1).unwrap().into_iter().map(|r| r.event).collect();
        assert_eq!(events, vec![BankEvent::Deposited(1500), BankEvent::Withdrawn(500)]);
        let raw: String =
            store.client().query_one("SELECT data FROM events WHERE position = 1", &[]).unwrap().get(0);
        assert!(raw.contains("DepositCents"), "the stored row is untouched");

        // Snapshots in the same database serve loads and time travel.
        let db = database(&pg, "snapshots");
        let events = PostgresEventStore::<BankEvent>::connect(&db).unwrap();
        let snaps = PostgresSnapshots::<BankAccount>::connect(&db).unwrap();
        let mut repo =
            Repository::<BankAccount, _, _>::new(events, snaps, SnapshotPolicy::every(10).unwrap());
        for t in 0..35 {
            repo.execute("a", &BankCommand::Deposit(2), t).unwrap();
        }
        let now = repo.load("a").unwrap();
        assert_eq!((now.state.balance, now.from_snapshot, now.events_applied), (70, Some(30), 5));
        let then = repo.state_at("a", 15).unwrap();
        assert_eq!((then.state.balance, then.from_snapshot, then.events_applied), (30, Some(10), 5));
    }
}
