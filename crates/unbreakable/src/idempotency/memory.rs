//! A bounded in-memory key store, for simulations and for a single process.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::{decide, Decision, Entry, IdempotencyKey, KeyError, Policy};
use crate::error::ConfigError;


/// The default bound of a [`MemoryStore`]: one million unexpired keys.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// An in-memory idempotency-key store with a bound on unexpired keys.
///
/// Not durable: a restart forgets every key, so a retry after a crash executes again.
/// For money, use [`SqliteLedger`](super::sqlite::SqliteLedger), which commits the key
/// with the effect.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::{IdempotencyKey, MemoryStore, Policy};
///
/// let mut store = MemoryStore::new(Policy::default());
/// let key = IdempotencyKey::new("order-17").unwrap();
/// let now = Duration::ZERO;
/// assert_eq!(store.begin(&key, b"pay 500", now), Ok(None));         // execute it
/// assert!(store.begin(&key, b"pay 500", now).is_err());              // in progress
/// store.complete(&key, "tx-1");
/// assert_eq!(store.begin(&key, b"pay 500", now), Ok(Some("tx-1")));  // replayed
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore<R> {
    policy: Policy,
    capacity: usize,
    entries: HashMap<IdempotencyKey, Entry<R>>,
    /// Keys in the order they were created, for expiry.
    order: VecDeque<(Duration, IdempotencyKey)>,
}

impl<R: Clone> MemoryStore<R> {
    /// An empty store holding up to [`DEFAULT_CAPACITY`] unexpired keys.
    pub fn new(policy: Policy) -> Self {
        Self { policy, capacity: DEFAULT_CAPACITY, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// An empty store holding up to `capacity` unexpired keys.
    ///
    /// # Errors
    /// A capacity of zero.
    pub fn with_capacity(policy: Policy, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", "a store that holds no keys protects nothing; allow at least the keys of one retention period"));
        }
        Ok(Self { capacity, ..Self::new(policy) })
    }

    /// Starts a request with `key` at `now`.
    ///
    /// * `Ok(None)`: execute it, then call [`complete`](Self::complete) with the result
    ///   (or [`release`](Self::release) if it failed in a way a retry may redo);
    /// * `Ok(Some(response))`: it ran before; answer `response` without executing.
    ///
    /// # Errors
    /// [`KeyError::InProgress`], [`KeyError::Mismatch`] or [`KeyError::Full`].
    pub fn begin(&mut self, key: &IdempotencyKey, request: &[u8], now: Duration) -> Result<Option<R>, KeyError> {
        self.purge(now);
        match decide(self.entries.get(key), request, now, &self.policy) {
            Decision::Replay(r) => Ok(Some(r)),
            Decision::InProgress { since } => Err(KeyError::InProgress { key: key.clone(), since }),
            Decision::Mismatch => Err(KeyError::Mismatch { key: key.clone() }),
            Decision::Execute => {
                if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
                    return Err(KeyError::Full { capacity: self.capacity });
                }
                self.entries.insert(key.clone(), Entry::InFlight { request: request.to_vec(), created: now });
                self.order.push_back((now, key.clone()));
                Ok(None)
            }
        }
    }

    /// Stores the result of the request running under `key`. Does nothing if none is.
    pub fn complete(&mut self, key: &IdempotencyKey, response: R) {
        if let Some(entry) = self.entries.get_mut(key) {
            if let Entry::InFlight { request, created } = entry {
                *entry = Entry::Done { request: std::mem::take(request), response, created: *created };
            }
        }
    }

    /// Forgets the request running under `key` (it failed before doing anything, or was
    /// cancelled), so that a retry executes. Does nothing to a finished one.
    pub fn release(&mut self, key: &IdempotencyKey) {
        if matches!(self.entries.get(key), Some(Entry::InFlight { .. })) {
            self.entries.remove(key);
        }
    }

    /// Forgets finished keys past their retention at `now`. In-flight keys stay until
    /// they complete or are released.
    pub fn purge(&mut self, now: Duration) {
        while let Some((created, key)) = self.order.front() {
            if !self.policy.expired(*created, now) {
                break;
            }
            // The deque may hold an older use of a key that has since been reused.
            if let Some(e @ Entry::Done { .. }) = self.entries.get(key) {
                if e.created() == *created {
                    self.entries.remove(key);
                }
            }
            self.order.pop_front();
        }
    }

    /// The entry for `key`.
    pub fn get(&self, key: &IdempotencyKey) -> Option<&Entry<R>> {
        self.entries.get(key)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::new(s).unwrap()
    }

    #[test]
    fn keys_expire_after_the_retention_and_the_bound_holds() {
        let h = |x: u64| Duration::from_secs(x * 3600);
        let mut s = MemoryStore::with_capacity(Policy::new(h(1)).unwrap(), 2).unwrap();
        for k in ["a", "b"] {
            assert_eq!(s.begin(&key(k), b"x", h(0)), Ok(None));
            s.complete(&key(k), 1);
        }
        assert_eq!(s.begin(&key("c"), b"x", h(0)), Err(KeyError::Full { capacity: 2 }));
        // An hour later both are forgotten: room again, and "a" executes anew.
        assert_eq!(s.begin(&key("a"), b"x", h(1)), Ok(None));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_released_key_lets_the_retry_execute() {
        let mut s: MemoryStore<u8> = MemoryStore::new(Policy::default());
        let t = Duration::ZERO;
        assert_eq!(s.begin(&key("k"), b"x", t), Ok(None));
        s.release(&key("k"));
        assert_eq!(s.begin(&key("k"), b"x", t), Ok(None));
        assert_eq!(MemoryStore::<u8>::with_capacity(Policy::default(), 0).unwrap_err().field, "capacity");
    }
}
