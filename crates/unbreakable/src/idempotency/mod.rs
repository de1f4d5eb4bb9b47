//! Idempotency keys: a request that may arrive twice is applied once.
//!
//! The client sends a unique key with each logical request and the *same* key with every
//! retry of it. The server scopes the key to the authenticated caller (two callers' keys
//! never meet: see [`IdempotencyKey`]) and remembers, per (scope, key), a
//! [`Fingerprint`] of the request and its result:
//!
//! * the first request with a key executes, and its result is stored with the key;
//! * a repeat with the same request gets the stored result, without executing again;
//! * a repeat that arrives while the first is still running gets
//!   [`KeyError::InProgress`] (HTTP 409, as in the IETF `Idempotency-Key` header draft):
//!   try again shortly;
//! * a request that failed or was cancelled has an *unknown outcome* (the card may have
//!   been charged): its key stays in flight until the [`Policy`]'s lock timeout, after
//!   which a repeat takes it over and executes again; only a handler that says it did
//!   nothing ([`Failed::NotStarted`]) frees its key at once;
//! * a request whose handler succeeded but whose result could not be stored is answered
//!   with its response all the same ([`RunError::Unrecorded`]); its key stays in flight
//!   until the lock timeout;
//! * the same key with a *different* request is a client bug and gets
//!   [`KeyError::Mismatch`] (HTTP 422);
//! * keys are forgotten after a retention period (24 hours by default, as Stripe does).
//!
//! | item | what it is |
//! |---|---|
//! | [`decide()`] | the pure core: what to do, given what the store holds for a key |
//! | [`KeyStore`] | what any store offers: `begin`, `complete`, `release` |
//! | [`MemoryStore`] | a bounded in-memory store with per-scope quotas, for simulations and single-process services |
//! | `sqlite::SqliteStore` | (feature `sqlite`) a durable store in SQLite with per-scope quotas and automatic purge, and one-transaction `execute`: the key and the handler's own writes commit together |
//! | [`edge::Idempotent`] | the async edge: run any handler at most once per key, over any store (a blocking one on a thread of its own), stopped in time to store its result before the lock timeout |

pub mod decide;
pub mod edge;
pub mod error;
pub mod fingerprint;
pub mod key;
pub mod memory;
pub mod policy;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;

pub use decide::{Decision, Entry, decide};
pub use error::{BoxError, Failed, KeyError, RunError, StoreError};
pub use fingerprint::Fingerprint;
pub use key::{IdempotencyKey, MAX_KEY_LEN};
pub use memory::{DEFAULT_CAPACITY, DEFAULT_SCOPE_QUOTA, MemoryStore};
pub use policy::{DEFAULT_LOCK_TIMEOUT, DEFAULT_RETENTION, Policy};
pub use store::{Begun, KeyStore, Lease, Served};
