//! Idempotency keys: the patterns of [`unbreakable::idempotency`], and the workbook's
//! experiments with them.
//!
//! * [`ledger`]: money transfers with a key, in memory ([`ledger::MemoryLedger`]) or
//!   durably on SQLite ([`sqlite::SqliteLedger`], built on the core's
//!   [`SqliteStore`](unbreakable::idempotency::sqlite::SqliteStore)), where the key and the
//!   transfer commit in one transaction.
//! * [`methods`]: which HTTP methods are idempotent, by experiment.

pub use unbreakable::idempotency::*;

pub mod ledger;
pub mod methods;
pub mod sqlite;
