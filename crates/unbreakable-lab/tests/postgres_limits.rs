//! The PostgreSQL event store under failure: it classes its errors by what a retry can
//! do (a writer that ignores the append lock is reported as such, never as a conflict
//! with an invented version), bounds its reads, and bounds how long a dead client can
//! hold the append lock. On the private server; skipped (with a printed line) only when
//! PostgreSQL is not installed and `CI` is not `true`.

use unbreakable::events::postgres::{PostgresConfig, PostgresEventStore};
use unbreakable::events::testing::conformance::BankEvent;
use unbreakable::events::{AsyncEventStore, EventStoreError, Expected};
use unbreakable_lab::servers;
use unbreakable_lab::servers::postgres::Postgres;

/// A trigger that makes every insert into `events` fail as if another writer had taken
/// the row, on the named constraint.
fn rogue_writer(constraint: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION rogue() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE unique_violation USING CONSTRAINT = '{constraint}',
               MESSAGE = 'duplicate key value violates unique constraint \"{constraint}\"'; END $$;
         DROP TRIGGER IF EXISTS rogue ON events;
         CREATE TRIGGER rogue BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION rogue();"
    )
}

/// Runs `test` on a migrated store on a fresh private server, with a connection of its
/// own to the same database; skips (with a printed line) when PostgreSQL is missing.
fn on_store<F, Fut>(test: F)
where
    F: FnOnce(PostgresEventStore<BankEvent>, tokio_postgres::Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(pg) = servers::for_test(Postgres::start()) else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = PostgresEventStore::<BankEvent>::connect(pg.config(), PostgresConfig::default()).unwrap();
        store.migrate().await.unwrap();
        test(store, pg.connect().await.unwrap()).await;
    });
}

/// Pins the invented conflict: a unique violation on `position` (a writer that ignores
/// the append lock took it), or on `(stream, version)` under `Expected::Any`, was
/// reported as a `Conflict` at `expected + 1`, a version nobody read, telling the caller
/// to reload and retry. It is now a storage error that names the cause, not transient.
#[test]
fn a_writer_that_ignores_the_append_lock_is_not_reported_as_a_conflict() {
    on_store(|store, admin| async move {
        for (constraint, expected) in
            [("events_pkey", Expected::Exactly(0)), ("events_stream_version_key", Expected::Any)]
        {
            admin.batch_execute(&rogue_writer(constraint)).await.unwrap();
            let e = store.append("s", expected, vec![BankEvent::Deposited(1)], 1).await.unwrap_err();
            assert!(matches!(&e, EventStoreError::Storage { .. }), "{constraint}, {expected:?}: {e:?}");
            assert!(!e.is_transient(), "{e:?}");
            assert!(e.to_string().contains("append lock"), "{e}");
        }
        admin.batch_execute("DROP TRIGGER rogue ON events").await.unwrap();
        assert_eq!(store.version("s").await.unwrap(), 0, "nothing was written");
    });
}

/// Pins the long read: a read is fetched in pages of at most `MAX_READ` rows (one bounded
/// statement each) and returned whole, as every store returns it. A read that stopped at
/// `MAX_READ` rebuilt an aggregate from its first 10,000 events, and its next append
/// conflicted for ever.
#[test]
fn a_long_read_is_fetched_in_pages_and_returned_whole() {
    use unbreakable::events::postgres::MAX_READ;
    on_store(|store, _| async move {
        let n = MAX_READ as u64 * 2 + 5;
        store
            .append("long", Expected::Exactly(0), (0..n).map(|_| BankEvent::Deposited(1)).collect(), 1)
            .await
            .unwrap();
        let all = store.read_stream("long", 1..=u64::MAX).await.unwrap();
        assert_eq!(all.len() as u64, n);
        assert!(
            all.iter().enumerate().all(|(i, e)| e.version == i as u64 + 1),
            "every version once, in order"
        );
        assert_eq!(store.read_stream("long", 2..=MAX_READ as u64 + 1).await.unwrap().len(), MAX_READ);
        assert_eq!(store.read_stream("long", n + 1..=u64::MAX).await.unwrap().len(), 0);
        assert_eq!(store.read_all(1, usize::MAX).await.unwrap().len() as u64, n);
        let some = store.read_all(3, MAX_READ + 2).await.unwrap();
        assert_eq!(
            (some.len(), some[0].position, some.last().unwrap().position),
            (MAX_READ + 2, 3, MAX_READ as u64 + 4)
        );
        assert_eq!(store.read_all(n, usize::MAX).await.unwrap().len(), 1);
    });
}

/// Pins the lock held by a dead client: an append's transaction had no
/// `idle_in_transaction_session_timeout`, so a client that stopped talking half-way (its
/// host died with the append lock taken) held the lock until TCP noticed, hours later by
/// default. The append now sets it to its statement timeout; a trigger records what the
/// append's transaction sees.
#[test]
fn an_append_bounds_how_long_its_session_may_sit_idle_holding_the_lock() {
    on_store(|store, admin| async move {
        admin
            .batch_execute(
                "CREATE TABLE seen (idle TEXT);
                 CREATE FUNCTION record_idle() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN INSERT INTO seen VALUES (current_setting('idle_in_transaction_session_timeout')); RETURN NEW; END $$;
                 CREATE TRIGGER record_idle BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION record_idle();",
            )
            .await
            .unwrap();
        store.append("s", Expected::Exactly(0), vec![BankEvent::Deposited(1)], 1).await.unwrap();
        let idle: String = admin.query_one("SELECT idle FROM seen", &[]).await.unwrap().get(0);
        assert_eq!(idle, "5s", "the append's transaction may sit idle for ever");
    });
}
