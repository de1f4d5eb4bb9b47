//! Distributed locks as leases, fencing tokens, and lease-based leader election.
//!
//! A distributed lock is a **lease**: it is granted for a time to live (TTL) and expires
//! by itself, so a holder that crashes does not block everyone forever. That expiry is
//! also its weakness: a holder that pauses (a long garbage-collection pause, a swapped-out
//! process, a slow network) can wake after its lease ran out and act as if it still held
//! it, while a second holder acts too. No lock service can stop that, because the paused
//! holder does not know it paused. The resource itself must refuse the stale holder: every
//! grant carries a **fencing token**, a number larger than every token granted before
//! for that key, and a [`FencedResource`] refuses a write whose token is older than one it
//! has already seen, or equal to it from another holder.
//!
//! Fencing is only as good as the tokens: they must come from a counter that is durable
//! and linearizable (see [`tokens`]). A Redis `INCR` is not, across a failover or a
//! restart without persistence: two holders can get one token.
//!
//! | item | what it is |
//! |---|---|
//! | [`Lease`] | the pure core of one lock: grant, renew and release decisions from `(now, state)`, and the tokens |
//! | [`FencedResource`] | a resource that refuses writes with a token older than the newest it has seen, or equal to it from another holder |
//! | [`TokenSource`] | a durable, linearizable counter for the tokens; `SqliteTokens` (feature `sqlite`) keeps it in a SQLite file |
//! | [`LockStore`] | what any lock service offers: `acquire`, `acquire_given` (with a token from a [`TokenSource`]), `renew`, `release` (async) |
//! | [`MemoryLocks`] | the in-memory lock service, on a [`Clock`](crate::time::Clock) (virtual time under a paused runtime) |
//! | `redis::RedisLocks` | (feature `redis`) the same on a real Redis: `SET NX PX` semantics in Lua scripts, compare-and-delete release, compare-and-`PEXPIRE` renew, the token from `INCR` in the same script or from a [`TokenSource`] |
//! | [`election`] | leader election on a lease: terms (the fencing token is the term, from the store's counter or a [`TokenSource`]), renewal, stepping down, leadership as a watch channel that turns `None` when the campaign is gone |
//!
//! # What one Redis key is, and is not
//!
//! A single `SET key value NX PX ttl` on one Redis is a lease on one machine. It is not
//! *Redlock* (which takes the lock on a majority of independent Redis servers), and even
//! Redlock gives no fencing token. Whatever the lock service, a holder must (a) release
//! only the lock it holds (compare-and-delete, never a plain `DEL`, which would free
//! someone else's lock after this one expired) and (b) pass its token to every resource
//! it changes.

pub mod election;
pub mod error;
pub mod fence;
pub mod lease;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
pub mod store;
pub mod tokens;

pub use error::LockError;
pub use fence::{FencedResource, Stale};
pub use lease::{Lease, Refusal, Token};
pub use memory::MemoryLocks;
pub use store::{Grant, LockStore};
#[cfg(feature = "sqlite")]
pub use tokens::SqliteTokens;
pub use tokens::TokenSource;
