//! The transactional outbox, in SQLite (feature `sqlite`).
//!
//! The write side changes its tables and calls [`record`] **on the same transaction**:
//! the change and its event commit together or not at all. Nothing is published here.
//! A [relay](super::relay) reads the outbox afterwards, by position, and publishes
//! what it has not published yet; it stores how far it got in the same file
//! ([`store_checkpoint`]), so a relay restarted after a crash resumes there.
//!
//! Two tables:
//!
//! * `outbox (position INTEGER PRIMARY KEY AUTOINCREMENT, event_type, at_ms, data)`: the
//!   position is the row id, increasing in commit order (one writer at a time in SQLite)
//!   and never reused, also after [`prune`] deleted the rows before it (without
//!   `AUTOINCREMENT`, SQLite hands out the largest remaining id plus one, so a relay
//!   that had published position 3 would skip the next events if rows 1-3 were deleted);
//!   `data` is the event as JSON.
//! * `checkpoints (name TEXT PRIMARY KEY, position)`: how far each reader got.

use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CqrsError;
use crate::events::EventType;

/// The outbox and checkpoint tables.
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS outbox (
        position   INTEGER PRIMARY KEY AUTOINCREMENT,
        event_type TEXT NOT NULL,
        at_ms      INTEGER NOT NULL,
        data       TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS checkpoints (
        name     TEXT PRIMARY KEY,
        position INTEGER NOT NULL
    ) WITHOUT ROWID;
";

pub(crate) fn storage(e: rusqlite::Error) -> CqrsError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CqrsError::Busy { source: Box::new(e) },
        _ => CqrsError::Storage { source: Box::new(e) },
    }
}

pub(crate) fn sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn unsql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Creates the outbox and checkpoint tables on `conn` if they are missing, and moves an
/// outbox made without `AUTOINCREMENT` (by an earlier version) to one with it, keeping
/// its rows and positions.
///
/// Safe to run from several processes at once: on a connection outside a transaction it
/// runs in one `BEGIN IMMEDIATE` transaction (the check and the move under the write
/// lock), so the outbox is moved once. Inside a transaction of yours it runs in that
/// transaction: begin it `IMMEDIATE` for the same guarantee.
///
/// # Errors
/// A storage error; [`CqrsError::Busy`] if another connection held the write lock longer
/// than `conn`'s busy timeout.
pub fn install(conn: &Connection) -> Result<(), CqrsError> {
    install_with(conn, || ())
}

/// [`install`], running `between` after the check for a missing `AUTOINCREMENT` and
/// before the migration (a test hook: another process's install runs there).
fn install_with(conn: &Connection, between: impl FnOnce()) -> Result<(), CqrsError> {
    if !conn.is_autocommit() {
        return migrate(conn, between);
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(storage)?;
    migrate(&tx, between)?;
    tx.commit().map_err(storage)
}

/// The tables, and the move to `AUTOINCREMENT`, on a connection already in a transaction.
fn migrate(conn: &Connection, between: impl FnOnce()) -> Result<(), CqrsError> {
    #[cfg(feature = "mutants")]
    if crate::mutants::active(crate::mutants::Mutant::OutboxRowIdReuse) {
        return conn.execute_batch(&SCHEMA.replace(" AUTOINCREMENT", "")).map_err(storage);
    }
    conn.execute_batch(SCHEMA).map_err(storage)?;
    let ddl: String = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'", [], |r| r.get(0))
        .map_err(storage)?;
    between();
    if !ddl.to_ascii_uppercase().contains("AUTOINCREMENT") {
        conn.execute_batch(
            "SAVEPOINT outbox_autoincrement;
             ALTER TABLE outbox RENAME TO outbox_reusing_ids;
             CREATE TABLE outbox (
                 position   INTEGER PRIMARY KEY AUTOINCREMENT,
                 event_type TEXT NOT NULL,
                 at_ms      INTEGER NOT NULL,
                 data       TEXT NOT NULL
             );
             INSERT INTO outbox (position, event_type, at_ms, data)
                 SELECT position, event_type, at_ms, data FROM outbox_reusing_ids;
             DROP TABLE outbox_reusing_ids;
             RELEASE outbox_autoincrement;",
        )
        .map_err(storage)?;
    }
    Ok(())
}

/// Deletes the outbox rows at or before `up_to`, and returns how many. Pass the lowest
/// position every reader of the outbox has stored (for one relay,
/// [`Relay::position`](super::relay::Relay::position)): rows after it are still to be
/// published. Positions are never reused, so events recorded afterwards keep
/// increasing positions and no reader skips them.
///
/// # Errors
/// Storage errors.
pub fn prune(conn: &Connection, up_to: u64) -> Result<u64, CqrsError> {
    conn.execute("DELETE FROM outbox WHERE position <= ?1", params![sql(up_to)])
        .map(|n| n as u64)
        .map_err(storage)
}

/// Records `event` in the outbox, stamped `at_ms` (the caller's clock), and returns its
/// position.
///
/// Call it on the **transaction** that makes the change the event describes (a
/// `rusqlite::Transaction` derefs to a `Connection`): that is the whole pattern. On a
/// connection outside a transaction it commits on its own, and a crash between the
/// change and this call loses the event, exactly the dual write the outbox exists to
/// avoid.
///
/// # Errors
/// [`CqrsError::Codec`] if the event does not serialise; storage errors.
pub fn record<E: Serialize + EventType>(tx: &Connection, event: &E, at_ms: u64) -> Result<u64, CqrsError> {
    let data = serde_json::to_string(event).map_err(|e| CqrsError::Codec {
        position: 0,
        event_type: event.event_type().to_string(),
        source: Box::new(e),
    })?;
    tx.prepare_cached("INSERT INTO outbox (event_type, at_ms, data) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![event.event_type(), sql(at_ms), data]))
        .map_err(storage)?;
    Ok(unsql(tx.last_insert_rowid()))
}

/// One event as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent<E> {
    /// Its position: increasing in commit order, from 1.
    pub position: u64,
    /// When the write side recorded it (the caller's clock, ms).
    pub at_ms: u64,
    /// The event.
    pub event: E,
}

/// Up to `limit` events after position `after`, in order.
///
/// # Errors
/// Storage errors; [`CqrsError::Codec`] for an event that does not decode (nothing
/// after it is returned).
pub fn read_after<E: DeserializeOwned>(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<OutboxEvent<E>>, CqrsError> {
    let mut q = conn
        .prepare_cached("SELECT position, event_type, at_ms, data FROM outbox WHERE position > ?1 ORDER BY position LIMIT ?2")
        .map_err(storage)?;
    let mut rows = q.query(params![sql(after), i64::try_from(limit).unwrap_or(i64::MAX)]).map_err(storage)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let position = unsql(row.get(0).map_err(storage)?);
        let data: &str = row.get_ref(3).and_then(|v| v.as_str().map_err(Into::into)).map_err(storage)?;
        let event = serde_json::from_str(data).map_err(|e| CqrsError::Codec {
            position,
            event_type: row.get::<_, String>(1).unwrap_or_default(),
            source: Box::new(e),
        })?;
        out.push(OutboxEvent { position, at_ms: unsql(row.get(2).map_err(storage)?), event });
    }
    Ok(out)
}

/// The highest position the outbox has given out (0 if it never held an event), also when
/// [`prune`] has deleted that row.
///
/// # Errors
/// Storage errors.
pub fn head(conn: &Connection) -> Result<u64, CqrsError> {
    conn.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), COALESCE((SELECT MAX(position) FROM outbox), 0))",
        [],
        |r| r.get(0),
    )
        .map(unsql)
        .map_err(storage)
}

/// The position stored for the reader `name` (0 if it has none).
///
/// # Errors
/// Storage errors.
pub fn load_checkpoint(conn: &Connection, name: &str) -> Result<u64, CqrsError> {
    conn.query_row("SELECT position FROM checkpoints WHERE name = ?1", params![name], |r| r.get(0))
        .optional()
        .map(|p| p.map_or(0, unsql))
        .map_err(storage)
}

/// Stores `position` for the reader `name`. Call it on the transaction that holds the
/// reader's own update, so the two are saved together.
///
/// # Errors
/// Storage errors.
pub fn store_checkpoint(tx: &Connection, name: &str, position: u64) -> Result<(), CqrsError> {
    tx.prepare_cached("INSERT INTO checkpoints (name, position) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET position = excluded.position")
        .and_then(|mut s| s.execute(params![name, sql(position)]))
        .map(|_| ())
        .map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize)]
    struct Ev;
    impl EventType for Ev {
        fn event_type(&self) -> &'static str {
            "Ev"
        }
    }

    /// Another process: installs, records two events, prunes everything published.
    /// `Ok(false)` if the database was locked (it will try again).
    fn other_process(conn: &Connection) -> Result<bool, CqrsError> {
        match install(conn) {
            Err(CqrsError::Busy { .. }) => return Ok(false),
            r => r?,
        }
        record(conn, &Ev, 0)?;
        record(conn, &Ev, 0)?;
        prune(conn, head(conn)?)?;
        Ok(true)
    }

    #[test]
    fn two_processes_installing_at_once_migrate_once_and_never_reuse_a_position() {
        let dir = std::env::temp_dir().join(format!("unbreakable-outbox-{}-race", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("outbox.db");
        let a = Connection::open(&path).unwrap();
        // An outbox made by an earlier version (no AUTOINCREMENT), holding positions 1-3.
        a.execute_batch(
            "CREATE TABLE outbox (position INTEGER PRIMARY KEY, event_type TEXT NOT NULL, at_ms INTEGER NOT NULL, data TEXT NOT NULL);
             INSERT INTO outbox (event_type, at_ms, data) VALUES ('Ev', 0, 'null'), ('Ev', 0, 'null'), ('Ev', 0, 'null');",
        )
        .unwrap();
        let b = Connection::open(&path).unwrap();
        b.busy_timeout(std::time::Duration::ZERO).unwrap();
        // B runs its whole install (and writes, and prunes) while A is between its check
        // and its migration.
        let mut b_ran = false;
        install_with(&a, || b_ran = other_process(&b).unwrap()).unwrap();
        if !b_ran {
            assert!(other_process(&b).unwrap());
        }
        assert_eq!(record(&a, &Ev, 0).unwrap(), 6, "a pruned position was handed out again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
