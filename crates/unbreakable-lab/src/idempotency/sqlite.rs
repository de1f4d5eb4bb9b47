//! The durable ledger: accounts, transfers and idempotency keys in one SQLite file.
//!
//! A keyed transfer runs in one `BEGIN IMMEDIATE` transaction: look the key up, and
//! either return the stored receipt, or move the money, record the transfer and store the
//! key, then commit. Either all of it is on disk or none of it is, so a process killed at
//! any instant (even with SIGKILL) loses no acknowledged transfer and, after a restart,
//! applies none twice: the retry finds the key. The file is in WAL mode with
//! `synchronous = FULL`, so a commit that returned has reached the disk.
//!
//! `IMMEDIATE` takes the write lock at the start, so a concurrent repeat from another
//! connection waits for it (up to the busy timeout) and then finds the key: it gets the
//! stored receipt instead of executing twice.
//!
//! SQLite comes from `rusqlite`'s bundled build: nothing to install.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::ledger::{apply, open, Applied, Cents, Ledger, LedgerError, Receipt, Transfer};
use super::{IdempotencyKey, KeyError, Policy};
use crate::error::ConfigError;
use crate::sim::SimTime;

/// How long a writer waits for another's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS accounts (
        name    TEXT PRIMARY KEY,
        balance INTEGER NOT NULL CHECK (balance >= 0)
    );
    CREATE TABLE IF NOT EXISTS transfers (
        tx_id       INTEGER PRIMARY KEY AUTOINCREMENT,
        payer       TEXT NOT NULL,
        payee       TEXT NOT NULL,
        amount      INTEGER NOT NULL CHECK (amount > 0),
        payer_after INTEGER NOT NULL,
        payee_after INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        key        TEXT PRIMARY KEY,
        request    BLOB NOT NULL,
        tx_id      INTEGER NOT NULL REFERENCES transfers (tx_id),
        created_ms INTEGER NOT NULL
    );
";

/// A ledger in a SQLite file.
#[derive(Debug)]
pub struct SqliteLedger {
    conn: Connection,
    policy: Policy,
}

fn storage(e: rusqlite::Error) -> LedgerError {
    LedgerError::Storage(e.to_string())
}

fn ms(t: SimTime) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteLedger {
    /// Opens (or creates) the ledger at `path`. `accounts` (name, opening balance in cents)
    /// are written only when the file is new; an existing ledger keeps its balances.
    ///
    /// # Errors
    /// Invalid accounts ([`LedgerError::Storage`] wrapping the message), or a file SQLite
    /// cannot open.
    pub fn open(path: &Path, accounts: &[(&str, Cents)], policy: Policy) -> Result<Self, LedgerError> {
        let balances = open(accounts).map_err(|e: ConfigError| LedgerError::Storage(e.to_string()))?;
        let mut conn = Connection::open(path).map_err(storage)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
        conn.execute_batch(SCHEMA).map_err(storage)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let existing: i64 = tx.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0)).map_err(storage)?;
        if existing == 0 {
            for (name, balance) in &balances {
                tx.execute("INSERT INTO accounts (name, balance) VALUES (?1, ?2)", params![name, balance]).map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)?;
        Ok(Self { conn, policy })
    }

    /// Forgets keys past their retention at `now`; returns how many. The transfers stay.
    ///
    /// # Errors
    /// A storage error.
    pub fn purge(&mut self, now: SimTime) -> Result<usize, LedgerError> {
        let cutoff = ms(now.saturating_sub(self.policy.retention()));
        self.conn.execute("DELETE FROM idempotency_keys WHERE created_ms <= ?1", params![cutoff]).map_err(storage)
    }

    /// The transaction id stored for `key`, if any.
    ///
    /// # Errors
    /// A storage error.
    pub fn tx_for(&self, key: &IdempotencyKey) -> Result<Option<u64>, LedgerError> {
        self.conn
            .query_row("SELECT tx_id FROM idempotency_keys WHERE key = ?1", params![key.as_str()], |r| r.get::<_, i64>(0))
            .optional()
            .map(|v| v.map(|x| x as u64))
            .map_err(storage)
    }

    /// SQLite's own consistency check; `"ok"` when the file is sound.
    ///
    /// # Errors
    /// A storage error.
    pub fn integrity_check(&self) -> Result<String, LedgerError> {
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(storage)
    }
}

impl Ledger for SqliteLedger {
    fn transfer(&mut self, key: Option<&IdempotencyKey>, t: &Transfer, now: SimTime) -> Result<Applied, LedgerError> {
        let request = t.request_bytes();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        if let Some(key) = key {
            let stored: Option<(Vec<u8>, i64, i64)> = tx
                .query_row(
                    "SELECT request, tx_id, created_ms FROM idempotency_keys WHERE key = ?1",
                    params![key.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(storage)?;
            if let Some((stored_request, tx_id, created)) = stored {
                let expired = self.policy.expired(Duration::from_millis(created.max(0) as u64), now);
                if !expired {
                    if stored_request != request {
                        return Err(KeyError::Mismatch { key: key.clone() }.into());
                    }
                    let receipt = tx
                        .query_row("SELECT payer_after, payee_after FROM transfers WHERE tx_id = ?1", params![tx_id], |r| {
                            Ok(Receipt { tx_id: tx_id as u64, from_balance: r.get(0)?, to_balance: r.get(1)? })
                        })
                        .map_err(storage)?;
                    return Ok(Applied { receipt, replayed: true });
                }
            }
        }
        // Read the two balances, apply the pure rule, write them back.
        let mut balances = BTreeMap::new();
        for name in [&t.from, &t.to] {
            let b: Option<i64> = tx.query_row("SELECT balance FROM accounts WHERE name = ?1", params![name], |r| r.get(0)).optional().map_err(storage)?;
            balances.insert(name.clone(), b.ok_or_else(|| LedgerError::UnknownAccount(name.clone()))?);
        }
        let (from_after, to_after) = apply(&mut balances, t)?;
        tx.execute("UPDATE accounts SET balance = ?2 WHERE name = ?1", params![t.from, from_after]).map_err(storage)?;
        tx.execute("UPDATE accounts SET balance = ?2 WHERE name = ?1", params![t.to, to_after]).map_err(storage)?;
        tx.execute(
            "INSERT INTO transfers (payer, payee, amount, payer_after, payee_after) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![t.from, t.to, t.amount, from_after, to_after],
        )
        .map_err(storage)?;
        let tx_id = tx.last_insert_rowid();
        if let Some(key) = key {
            tx.execute(
                "INSERT OR REPLACE INTO idempotency_keys (key, request, tx_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![key.as_str(), request, tx_id, ms(now)],
            )
            .map_err(storage)?;
        }
        tx.commit().map_err(storage)?;
        Ok(Applied { receipt: Receipt { tx_id: tx_id as u64, from_balance: from_after, to_balance: to_after }, replayed: false })
    }

    fn balance(&self, account: &str) -> Result<Cents, LedgerError> {
        self.conn
            .query_row("SELECT balance FROM accounts WHERE name = ?1", params![account], |r| r.get(0))
            .optional()
            .map_err(storage)?
            .ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))
    }

    fn total(&self) -> Result<Cents, LedgerError> {
        self.conn.query_row("SELECT COALESCE(SUM(balance), 0) FROM accounts", [], |r| r.get(0)).map_err(storage)
    }

    fn applied(&self) -> Result<u64, LedgerError> {
        self.conn.query_row("SELECT COUNT(*) FROM transfers", [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("unbreakable-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("ledger.db")
    }

    #[test]
    fn a_keyed_transfer_survives_reopening_and_is_replayed_not_reapplied() {
        let path = temp("reopen");
        let t = Transfer::new("alice", "bob", 50_000).unwrap();
        let key = IdempotencyKey::new("transfer-1").unwrap();
        let first = {
            let mut l = SqliteLedger::open(&path, &[("alice", 500_000), ("bob", 300_000)], Policy::default()).unwrap();
            l.transfer(Some(&key), &t, Duration::ZERO).unwrap()
        };
        // A new process: the opening balances are ignored, the key is remembered.
        let mut l = SqliteLedger::open(&path, &[("alice", 1), ("bob", 1)], Policy::default()).unwrap();
        let again = l.transfer(Some(&key), &t, Duration::from_secs(5)).unwrap();
        assert!(again.replayed);
        assert_eq!(again.receipt, first.receipt);
        assert_eq!((l.balance("alice").unwrap(), l.balance("bob").unwrap(), l.applied().unwrap()), (450_000, 350_000, 1));
        let other = Transfer::new("alice", "bob", 1).unwrap();
        assert!(matches!(l.transfer(Some(&key), &other, Duration::ZERO), Err(LedgerError::Key(KeyError::Mismatch { .. }))));
        assert!(matches!(l.transfer(None, &Transfer::new("alice", "bob", 10_000_000).unwrap(), Duration::ZERO), Err(LedgerError::InsufficientFunds { .. })));
        assert_eq!(l.integrity_check().unwrap(), "ok");
        // After the retention the key is forgotten.
        assert_eq!(l.purge(Duration::from_secs(25 * 3600)).unwrap(), 1);
        assert_eq!(l.tx_for(&key).unwrap(), None);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// Two processes' connections send the same keyed transfer at the same moment: the
    /// second waits for the first's write lock, then finds the key and replays.
    #[test]
    fn a_concurrent_repeat_on_another_connection_waits_and_replays() {
        let path = temp("concurrent");
        SqliteLedger::open(&path, &[("alice", 500_000), ("bob", 300_000)], Policy::default()).unwrap();
        for round in 0..20 {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let mut l = SqliteLedger::open(&path, &[("alice", 0), ("bob", 0)], Policy::default()).unwrap();
                        let key = IdempotencyKey::new(format!("round-{round}")).unwrap();
                        let t = Transfer::new("alice", "bob", 100).unwrap();
                        barrier.wait();
                        l.transfer(Some(&key), &t, Duration::ZERO).unwrap()
                    })
                })
                .collect();
            let results: Vec<Applied> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(results.iter().filter(|a| !a.replayed).count(), 1, "round {round}: exactly one executes");
            assert_eq!(results[0].receipt, results[1].receipt);
        }
        let l = SqliteLedger::open(&path, &[("x", 0)], Policy::default()).unwrap();
        assert_eq!((l.applied().unwrap(), l.balance("alice").unwrap()), (20, 500_000 - 2_000));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
