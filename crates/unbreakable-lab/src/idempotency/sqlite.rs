//! The durable ledger: accounts, transfers and idempotency keys in one SQLite file, on
//! the core's [`SqliteStore`].
//!
//! A keyed transfer is one [`SqliteStore::execute`]: in one `BEGIN IMMEDIATE` transaction
//! the store looks the key up and either returns the stored receipt, or runs the transfer
//! (move the money, record the transfer) and stores the receipt under the key, then
//! commits. Either all of it is on disk or none of it is, so a process killed at any
//! instant (even with SIGKILL) loses no acknowledged transfer and, after a restart,
//! applies none twice: the retry finds the key. See
//! [`unbreakable::idempotency::sqlite`] for the store itself: WAL, `synchronous = FULL`,
//! a busy timeout, and keys timed on the wall clock.
//!
//! SQLite comes from `rusqlite`'s bundled build: nothing to install.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTimeError};

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::ledger::{Applied, Cents, Ledger, LedgerError, Receipt, Transfer, apply, open};
use super::{Entry, IdempotencyKey, Policy, RunError, StoreError};
use crate::error::ConfigError;
use crate::sim::SimTime;

pub use unbreakable::idempotency::sqlite::{BUSY_TIMEOUT, SqliteStore, system_clock};

const SCHEMA: &str = "
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
";

/// A ledger in a SQLite file.
#[derive(Debug)]
pub struct SqliteLedger {
    store: SqliteStore<Receipt>,
}

fn storage(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(e.to_string())
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Key(k) => LedgerError::Key(k),
            other => storage(other),
        }
    }
}

impl SqliteLedger {
    /// Opens (or creates) the ledger at `path`. `accounts` (name, opening balance in cents)
    /// are written only when the file is new; an existing ledger keeps its balances.
    ///
    /// # Errors
    /// Invalid accounts ([`LedgerError::Storage`] wrapping the message), or a file SQLite
    /// cannot open.
    pub fn open(path: &Path, accounts: &[(&str, Cents)], policy: Policy) -> Result<Self, LedgerError> {
        let balances = open(accounts).map_err(|e: ConfigError| storage(e))?;
        let mut store = SqliteStore::open(path, policy)?;
        let conn = store.connection_mut();
        conn.execute_batch(SCHEMA).map_err(storage)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let existing: i64 =
            tx.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0)).map_err(storage)?;
        if existing == 0 {
            for (name, balance) in &balances {
                tx.execute("INSERT INTO accounts (name, balance) VALUES (?1, ?2)", params![name, balance])
                    .map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)?;
        Ok(Self { store })
    }

    /// The same ledger reading the time since the UNIX epoch from `clock` (tests; the
    /// default is the system's wall clock).
    pub fn with_clock(self, clock: impl Fn() -> Result<Duration, SystemTimeError> + Send + 'static) -> Self {
        Self { store: self.store.with_clock(clock) }
    }

    /// Forgets keys past their retention, by the wall clock; returns how many. The
    /// transfers stay.
    ///
    /// # Errors
    /// A storage error.
    pub fn purge(&mut self) -> Result<usize, LedgerError> {
        Ok(self.store.purge()?)
    }

    /// The transaction id stored for `key`, if any.
    ///
    /// # Errors
    /// A storage error.
    pub fn tx_for(&self, key: &IdempotencyKey) -> Result<Option<u64>, LedgerError> {
        Ok(match self.store.get(key)? {
            Some(Entry::Done { response, .. }) => Some(response.tx_id),
            _ => None,
        })
    }

    /// SQLite's own consistency check; `"ok"` when the file is sound.
    ///
    /// # Errors
    /// A storage error.
    pub fn integrity_check(&self) -> Result<String, LedgerError> {
        self.store.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(storage)
    }
}

/// Moves the money and records the transfer inside `tx`: the handler the key store runs
/// in its transaction.
fn apply_in(tx: &Transaction<'_>, t: &Transfer) -> Result<Receipt, LedgerError> {
    // Read the two balances, apply the pure rule, write them back.
    let mut balances = BTreeMap::new();
    for name in [&t.from, &t.to] {
        let b: Option<i64> = tx
            .query_row("SELECT balance FROM accounts WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(storage)?;
        balances.insert(name.clone(), b.ok_or_else(|| LedgerError::UnknownAccount(name.clone()))?);
    }
    let (from_after, to_after) = apply(&mut balances, t)?;
    tx.execute("UPDATE accounts SET balance = ?2 WHERE name = ?1", params![t.from, from_after])
        .map_err(storage)?;
    tx.execute("UPDATE accounts SET balance = ?2 WHERE name = ?1", params![t.to, to_after])
        .map_err(storage)?;
    tx.execute(
        "INSERT INTO transfers (payer, payee, amount, payer_after, payee_after) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.from, t.to, t.amount, from_after, to_after],
    )
    .map_err(storage)?;
    Ok(Receipt { tx_id: count(tx.last_insert_rowid()), from_balance: from_after, to_balance: to_after })
}

impl Ledger for SqliteLedger {
    /// Applies `t`, at most once per `key`. `now` is ignored: a durable ledger shared by
    /// processes times its keys on the wall clock (see [`with_clock`](SqliteLedger::with_clock)),
    /// never on a caller's clock, whose origin differs from process to process.
    fn transfer(
        &mut self,
        key: Option<&IdempotencyKey>,
        t: &Transfer,
        _now: SimTime,
    ) -> Result<Applied, LedgerError> {
        let Some(key) = key else {
            let tx = self
                .store
                .connection_mut()
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            let receipt = apply_in(&tx, t)?;
            tx.commit().map_err(storage)?;
            return Ok(Applied { receipt, replayed: false });
        };
        match self.store.execute(key, &t.request_bytes(), |tx| apply_in(tx, t)) {
            Ok(served) => Ok(Applied { receipt: served.response, replayed: served.replayed }),
            Err(RunError::Handler(e)) => Err(e),
            Err(RunError::Store(e)) => Err(e.into()),
            Err(other) => Err(storage(other)),
        }
    }

    fn balance(&self, account: &str) -> Result<Cents, LedgerError> {
        self.store
            .connection()
            .query_row("SELECT balance FROM accounts WHERE name = ?1", params![account], |r| r.get(0))
            .optional()
            .map_err(storage)?
            .ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))
    }

    fn total(&self) -> Result<Cents, LedgerError> {
        self.store
            .connection()
            .query_row("SELECT COALESCE(SUM(balance), 0) FROM accounts", [], |r| r.get(0))
            .map_err(storage)
    }

    fn applied(&self) -> Result<u64, LedgerError> {
        self.store
            .connection()
            .query_row("SELECT COUNT(*) FROM transfers", [], |r| r.get::<_, i64>(0))
            .map(count)
            .map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

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
        let key = IdempotencyKey::new("acct_alice", "transfer-1").unwrap();
        let wall = Arc::new(AtomicU64::new(1_700_000_000_000));
        let clock = |wall: &Arc<AtomicU64>| {
            let wall = Arc::clone(wall);
            move || Ok(Duration::from_millis(wall.load(Ordering::SeqCst)))
        };
        let first = {
            let mut l = SqliteLedger::open(&path, &[("alice", 500_000), ("bob", 300_000)], Policy::default())
                .unwrap()
                .with_clock(clock(&wall));
            l.transfer(Some(&key), &t, Duration::ZERO).unwrap()
        };
        // A new process: the opening balances are ignored, the key is remembered.
        let mut l = SqliteLedger::open(&path, &[("alice", 1), ("bob", 1)], Policy::default())
            .unwrap()
            .with_clock(clock(&wall));
        let again = l.transfer(Some(&key), &t, Duration::from_secs(5)).unwrap();
        assert!(again.replayed);
        assert_eq!(again.receipt, first.receipt);
        assert_eq!(
            (l.balance("alice").unwrap(), l.balance("bob").unwrap(), l.applied().unwrap()),
            (450_000, 350_000, 1)
        );
        let other = Transfer::new("alice", "bob", 1).unwrap();
        assert!(matches!(
            l.transfer(Some(&key), &other, Duration::ZERO),
            Err(LedgerError::Key(super::super::KeyError::Mismatch { .. }))
        ));
        assert!(matches!(
            l.transfer(None, &Transfer::new("alice", "bob", 10_000_000).unwrap(), Duration::ZERO),
            Err(LedgerError::InsufficientFunds { .. })
        ));
        assert!(matches!(
            l.transfer(
                Some(&IdempotencyKey::new("acct", "k2").unwrap()),
                &Transfer::new("alice", "zed", 1).unwrap(),
                Duration::ZERO
            ),
            Err(LedgerError::UnknownAccount(_))
        ));
        assert_eq!(
            l.tx_for(&IdempotencyKey::new("acct", "k2").unwrap()).unwrap(),
            None,
            "a refused transfer stores no key"
        );
        assert_eq!(l.integrity_check().unwrap(), "ok");
        // After the retention (by the wall clock) the key is forgotten.
        assert_eq!(l.purge().unwrap(), 0);
        wall.fetch_add(25 * 3_600_000, Ordering::SeqCst);
        assert_eq!(l.purge().unwrap(), 1);
        assert_eq!(l.tx_for(&key).unwrap(), None);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// Pins bug 6: the ledger compared each caller's virtual-clock `now` (a `Duration`
    /// since an origin of its own) with stored creation times. A second process whose
    /// clock had started 25 hours earlier saw the first one's fresh key as expired,
    /// applied the transfer again, and `INSERT OR REPLACE` overwrote the live key. Keys
    /// are now timed on the wall clock, so the retry is replayed.
    #[test]
    fn processes_with_different_clock_origins_do_not_expire_each_others_keys() {
        let path = temp("origins");
        let t = Transfer::new("alice", "bob", 100).unwrap();
        let key = IdempotencyKey::new("acct_alice", "transfer-1").unwrap();
        let accounts = [("alice", 500_000), ("bob", 300_000)];
        let first = SqliteLedger::open(&path, &accounts, Policy::default())
            .unwrap()
            .transfer(Some(&key), &t, Duration::ZERO)
            .unwrap();
        let mut other = SqliteLedger::open(&path, &accounts, Policy::default()).unwrap();
        let retry = other.transfer(Some(&key), &t, Duration::from_secs(25 * 3600)).unwrap();
        assert!(retry.replayed, "the retry executed again");
        assert_eq!(retry.receipt, first.receipt);
        assert_eq!((other.applied().unwrap(), other.tx_for(&key).unwrap()), (1, Some(first.receipt.tx_id)));
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
                        let mut l = SqliteLedger::open(&path, &[("alice", 0), ("bob", 0)], Policy::default())
                            .unwrap();
                        let key = IdempotencyKey::new("acct", format!("round-{round}")).unwrap();
                        let t = Transfer::new("alice", "bob", 100).unwrap();
                        barrier.wait();
                        l.transfer(Some(&key), &t, Duration::ZERO).unwrap()
                    })
                })
                .collect();
            let results: Vec<Applied> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(
                results.iter().filter(|a| !a.replayed).count(),
                1,
                "round {round}: exactly one executes"
            );
            assert_eq!(results[0].receipt, results[1].receipt);
        }
        let l = SqliteLedger::open(&path, &[("x", 0)], Policy::default()).unwrap();
        assert_eq!((l.applied().unwrap(), l.balance("alice").unwrap()), (20, 500_000 - 2_000));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
