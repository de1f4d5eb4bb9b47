//! The PostgreSQL event store classes its errors by what a retry can do: a writer that
//! ignores the append lock is reported as such, never as a conflict with an invented
//! version. On the private server; skipped (with a printed line) only when PostgreSQL is
//! not installed and `CI` is not `true`.

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

/// Pins the invented conflict: a unique violation on `position` (a writer that ignores
/// the append lock took it), or on `(stream, version)` under `Expected::Any`, was
/// reported as a `Conflict` at `expected + 1`, a version nobody read, telling the caller
/// to reload and retry. It is now a storage error that names the cause, not transient.
#[test]
fn a_writer_that_ignores_the_append_lock_is_not_reported_as_a_conflict() {
    let Some(pg) = servers::for_test(Postgres::start()) else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = PostgresEventStore::<BankEvent>::connect(pg.config(), PostgresConfig::default()).unwrap();
        store.migrate().await.unwrap();
        let admin = pg.connect().await.unwrap();
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
