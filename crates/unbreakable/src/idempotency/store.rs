//! The key-store trait: what the async edge needs from any store.

use std::time::Duration;

use super::{Fingerprint, IdempotencyKey, Policy, StoreError};

/// Proof that a request holds its key: given by [`KeyStore::begin`], handed back to
/// [`complete`](KeyStore::complete) or [`release`](KeyStore::release).
///
/// If the request holds the key past the lock timeout and another request reclaims it,
/// the old lease no longer matches: a late `complete` is refused
/// ([`KeyError::LeaseLost`](super::KeyError::LeaseLost)) and a late `release` does
/// nothing, so a slow owner never overwrites or frees the new owner's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease(u64);

impl Lease {
    /// A lease with id `id` (stores make them; unique per key and use).
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// Its id.
    pub const fn id(&self) -> u64 {
        self.0
    }
}

/// What [`KeyStore::begin`] says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun<R> {
    /// Execute the request, then [`complete`](KeyStore::complete) (or
    /// [`release`](KeyStore::release)) with this lease.
    Execute(Lease),
    /// It ran before: answer this response without executing.
    Replay(R),
}

/// A response, and whether it was replayed from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served<R> {
    /// The (original) response.
    pub response: R,
    /// `true` if the handler did not run this time.
    pub replayed: bool,
}

/// A store of idempotency keys, with a clock of its own: the in-memory
/// [`MemoryStore`](super::MemoryStore) or, with the `sqlite` feature, the durable
/// `SqliteStore`. The async edge [`Idempotent`](super::edge::Idempotent) runs handlers
/// over any of them.
///
/// The protocol for one request: [`begin`](Self::begin); if told to execute, run the
/// handler, then [`complete`](Self::complete) with its response (or
/// [`release`](Self::release) if it failed *before doing anything*, so a retry runs
/// again). A request that does neither (its process died, its outcome is unknown) keeps
/// its key until the policy's lock timeout, after which a new request reclaims it.
///
/// Stores hold keys by (scope, key) ([`IdempotencyKey::scope`]).
///
/// # Examples
/// ```
/// use unbreakable::idempotency::{Begun, Fingerprint, IdempotencyKey, KeyStore, MemoryStore, Policy};
///
/// fn charge(store: &mut impl KeyStore<String>, key: &IdempotencyKey) -> Result<String, Box<dyn std::error::Error>> {
///     match store.begin(key, &Fingerprint::of(b"charge 500"))? {
///         Begun::Replay(receipt) => Ok(receipt),
///         Begun::Execute(lease) => {
///             let receipt = "ch_1".to_string(); // the real work
///             store.complete(key, lease, &receipt)?;
///             Ok(receipt)
///         }
///     }
/// }
/// let mut store = MemoryStore::new(Policy::default());
/// let key = IdempotencyKey::new("acct_alice", "k1").unwrap();
/// assert_eq!(charge(&mut store, &key).unwrap(), "ch_1");
/// assert_eq!(charge(&mut store, &key).unwrap(), "ch_1"); // replayed
/// ```
pub trait KeyStore<R> {
    /// Whether its calls block the thread on I/O (a database file, a network round trip,
    /// a lock held by another process). `false` by default.
    ///
    /// [`Idempotent::new`](super::edge::Idempotent::new) moves a blocking store to a
    /// thread of its own and calls it through a bounded queue, so its calls never run on
    /// a tokio worker (whatever the crate's features). A
    /// store that blocks must say so here, or be given to
    /// [`Idempotent::on_thread`](super::edge::Idempotent::on_thread).
    const BLOCKING: bool = false;

    /// Its policy: the edge stops a handler before its lock timeout (see
    /// [`busy_timeout`](Self::busy_timeout) and [`clock_skew`](Self::clock_skew)).
    fn policy(&self) -> &Policy;

    /// The longest one call may wait for its storage before failing (a database's busy
    /// timeout): the edge stops a handler this long before the lock timeout, so that its
    /// response can still be stored while the key is surely held. Zero by default (a
    /// store that never waits).
    fn busy_timeout(&self) -> Duration {
        Duration::ZERO
    }

    /// How far ahead of the edge's clock the clock that judges this store's lock timeouts
    /// may run: a store judged on the wall clock of several hosts lets a repeat on a host
    /// whose clock runs ahead take a key over that much early. The edge stops a handler
    /// this much earlier still. Zero by default (a store judged on the edge's own
    /// monotonic clock, such as [`MemoryStore`](super::MemoryStore)).
    fn clock_skew(&self) -> Duration {
        Duration::ZERO
    }

    /// Starts `request` under `key`, at the store's clock.
    ///
    /// # Errors
    /// [`StoreError::Key`] with [`InProgress`](super::KeyError::InProgress),
    /// [`Mismatch`](super::KeyError::Mismatch) or [`Full`](super::KeyError::Full); a
    /// storage error from a durable store.
    fn begin(&mut self, key: &IdempotencyKey, request: &Fingerprint) -> Result<Begun<R>, StoreError>;

    /// Stores `response` as the result of the request holding `key` with `lease`.
    ///
    /// # Errors
    /// [`KeyError::LeaseLost`](super::KeyError::LeaseLost) if the lease no longer holds
    /// the key; a storage error from a durable store.
    fn complete(&mut self, key: &IdempotencyKey, lease: Lease, response: &R) -> Result<(), StoreError>;

    /// Frees `key` if `lease` still holds it, so that a retry executes. Does nothing
    /// otherwise.
    ///
    /// # Errors
    /// A storage error from a durable store.
    fn release(&mut self, key: &IdempotencyKey, lease: Lease) -> Result<(), StoreError>;
}
