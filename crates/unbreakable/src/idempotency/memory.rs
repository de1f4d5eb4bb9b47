//! A bounded in-memory key store, for simulations and for a single process.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::{
    Begun, Decision, Entry, Fingerprint, IdempotencyKey, KeyError, KeyStore, Lease, Policy, StoreError,
    decide,
};
use crate::error::ConfigError;
use crate::time::Clock;

/// The default bound of a [`MemoryStore`]: one million unexpired keys.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// How many stale items the expiry queue may hold beyond one per key before it is
/// rebuilt.
const QUEUE_SLACK: usize = 64;

/// An in-memory idempotency-key store with a bound on unexpired keys.
///
/// Not durable: a restart forgets every key, so a retry after a crash executes again.
/// For money, use a durable store that commits the key with the effect (the `sqlite`
/// feature's `SqliteStore`).
///
/// Two ways to drive it; use one per store:
/// * the pure methods [`begin_at`](Self::begin_at) and [`purge`](Self::purge) take the
///   time `now` from the caller (simulations on a virtual clock);
/// * the [`KeyStore`] methods read the store's own [`Clock`] (the async edge).
///
/// Memory is bounded: at most `capacity` keys, and an expiry queue of at most
/// `2 × keys + 64` items, however often keys are begun and released.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::{Begun, IdempotencyKey, MemoryStore, Policy};
///
/// let mut store = MemoryStore::new(Policy::default());
/// let key = IdempotencyKey::new("order-17").unwrap();
/// let now = Duration::ZERO;
/// let Ok(Begun::Execute(lease)) = store.begin_at(&key, b"pay 500", now) else { panic!() }; // execute it
/// assert!(store.begin_at(&key, b"pay 500", now).is_err());                                // in progress
/// store.complete(&key, lease, &"tx-1").unwrap();
/// assert_eq!(store.begin_at(&key, b"pay 500", now), Ok(Begun::Replay("tx-1")));          // replayed
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore<R> {
    policy: Policy,
    capacity: usize,
    clock: Clock,
    entries: HashMap<IdempotencyKey, Slot<R>>,
    /// Keys by the time they were taken, for expiry. A key taken again is queued again;
    /// stale items are skipped, and the queue is rebuilt when they pile up.
    order: VecDeque<(Duration, IdempotencyKey)>,
    next_lease: u64,
}

#[derive(Debug, Clone)]
struct Slot<R> {
    entry: Entry<R>,
    lease: Lease,
}

impl<R: Clone> MemoryStore<R> {
    /// An empty store holding up to [`DEFAULT_CAPACITY`] unexpired keys, whose
    /// [`KeyStore`] methods read a [`Clock`] started now.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            capacity: DEFAULT_CAPACITY,
            clock: Clock::start(),
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_lease: 0,
        }
    }

    /// An empty store holding up to `capacity` unexpired keys.
    ///
    /// # Errors
    /// A capacity of zero.
    pub fn with_capacity(policy: Policy, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(
                "capacity",
                "a store that holds no keys protects nothing; allow at least the keys of one retention period",
            ));
        }
        Ok(Self { capacity, ..Self::new(policy) })
    }

    /// The same store, its [`KeyStore`] methods reading `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// Starts `request` under `key` at `now` (the pure form of [`KeyStore::begin`]).
    ///
    /// * `Ok(Begun::Execute(lease))`: execute it, then call [`complete`](Self::complete)
    ///   with the result (or [`release`](Self::release) if it failed in a way a retry may
    ///   redo);
    /// * `Ok(Begun::Replay(response))`: it ran before; answer `response` without executing.
    ///
    /// # Errors
    /// [`KeyError::InProgress`], [`KeyError::Mismatch`] or [`KeyError::Full`].
    pub fn begin_at(
        &mut self,
        key: &IdempotencyKey,
        request: impl Into<Fingerprint>,
        now: Duration,
    ) -> Result<Begun<R>, KeyError> {
        let request = request.into();
        self.purge(now);
        let decision = decide(self.entries.get(key).map(|s| &s.entry), &request, now, &self.policy);
        match decision {
            Decision::Replay(r) => Ok(Begun::Replay(r)),
            Decision::InProgress { since } => Err(KeyError::InProgress { key: key.clone(), since }),
            Decision::Mismatch => Err(KeyError::Mismatch { key: key.clone() }),
            Decision::Execute | Decision::Reclaim { .. } => {
                if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
                    return Err(KeyError::Full { capacity: self.capacity });
                }
                let lease = Lease::new(self.next_lease);
                self.next_lease = self.next_lease.wrapping_add(1);
                self.entries
                    .insert(key.clone(), Slot { entry: Entry::InFlight { request, created: now }, lease });
                self.order.push_back((now, key.clone()));
                if self.order.len() > 2 * self.entries.len() + QUEUE_SLACK {
                    self.rebuild_queue();
                }
                Ok(Begun::Execute(lease))
            }
        }
    }

    /// Stores `response` as the result of the request holding `key` with `lease`.
    ///
    /// # Errors
    /// [`KeyError::LeaseLost`] if `lease` no longer holds the key (it was reclaimed after
    /// the lock timeout, released, or forgotten).
    pub fn complete(&mut self, key: &IdempotencyKey, lease: Lease, response: &R) -> Result<(), KeyError> {
        match self.entries.get_mut(key) {
            Some(Slot { entry: entry @ Entry::InFlight { .. }, lease: held }) if *held == lease => {
                let (request, created) = (*entry.request(), entry.created());
                *entry = Entry::Done { request, response: response.clone(), created };
                Ok(())
            }
            _ => Err(KeyError::LeaseLost { key: key.clone() }),
        }
    }

    /// Forgets the request holding `key` with `lease` (it failed before doing anything, or
    /// was cancelled), so that a retry executes. Does nothing to a finished one, or if
    /// the lease no longer holds the key.
    pub fn release(&mut self, key: &IdempotencyKey, lease: Lease) {
        if matches!(self.entries.get(key), Some(Slot { entry: Entry::InFlight { .. }, lease: held }) if *held == lease)
        {
            self.entries.remove(key);
        }
    }

    /// Forgets keys past their retention at `now`: finished ones, and running ones (past
    /// the retention they are past the lock timeout too, so their owners are presumed
    /// dead).
    pub fn purge(&mut self, now: Duration) {
        while let Some((created, key)) = self.order.front() {
            if !self.policy.expired(*created, now) {
                break;
            }
            // The queue may hold an older use of a key that has since been taken again.
            if self.entries.get(key).is_some_and(|s| s.entry.created() == *created) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Drops stale queue items: one item per held key, oldest first.
    fn rebuild_queue(&mut self) {
        let mut live: Vec<(Duration, IdempotencyKey)> =
            self.entries.iter().map(|(k, s)| (s.entry.created(), k.clone())).collect();
        live.sort();
        self.order = live.into();
    }

    /// The entry for `key`.
    pub fn get(&self, key: &IdempotencyKey) -> Option<&Entry<R>> {
        self.entries.get(key).map(|s| &s.entry)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Items in the expiry queue: at most `2 × len() + 64`.
    pub fn queue_len(&self) -> usize {
        self.order.len()
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl<R: Clone> KeyStore<R> for MemoryStore<R> {
    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn begin(&mut self, key: &IdempotencyKey, request: &Fingerprint) -> Result<Begun<R>, StoreError> {
        let now = self.clock.now();
        Ok(self.begin_at(key, request, now)?)
    }

    fn complete(&mut self, key: &IdempotencyKey, lease: Lease, response: &R) -> Result<(), StoreError> {
        Ok(MemoryStore::complete(self, key, lease, response)?)
    }

    fn release(&mut self, key: &IdempotencyKey, lease: Lease) -> Result<(), StoreError> {
        MemoryStore::release(self, key, lease);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::new(s).unwrap()
    }

    fn lease<R: std::fmt::Debug>(b: Result<Begun<R>, KeyError>) -> Lease {
        match b {
            Ok(Begun::Execute(lease)) => lease,
            other => panic!("expected to execute, got {other:?}"),
        }
    }

    #[test]
    fn keys_expire_after_the_retention_and_the_bound_holds() {
        let h = |x: u64| Duration::from_secs(x * 3600);
        let mut s = MemoryStore::with_capacity(Policy::new(h(1)).unwrap(), 2).unwrap();
        for k in ["a", "b"] {
            let l = lease(s.begin_at(&key(k), b"x", h(0)));
            s.complete(&key(k), l, &1).unwrap();
        }
        assert_eq!(s.begin_at(&key("c"), b"x", h(0)), Err(KeyError::Full { capacity: 2 }));
        // An hour later both are forgotten: room again, and "a" executes anew.
        assert!(matches!(s.begin_at(&key("a"), b"x", h(1)), Ok(Begun::Execute(_))));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_released_key_lets_the_retry_execute() {
        let mut s: MemoryStore<u8> = MemoryStore::new(Policy::default());
        let t = Duration::ZERO;
        let l = lease(s.begin_at(&key("k"), b"x", t));
        s.release(&key("k"), l);
        assert!(matches!(s.begin_at(&key("k"), b"x", t), Ok(Begun::Execute(_))));
        assert_eq!(MemoryStore::<u8>::with_capacity(Policy::default(), 0).unwrap_err().field, "capacity");
    }

    /// Pins bug 7: the expiry queue grew by one item on every `begin`, including each
    /// retry after a release, so a key begun and released a million times held a million
    /// queue items: "bounded" was only true of the entries.
    #[test]
    fn the_expiry_queue_stays_bounded_under_a_million_begin_release_cycles() {
        let mut s: MemoryStore<u8> = MemoryStore::with_capacity(Policy::default(), 4).unwrap();
        let k = key("k");
        let mut longest = 0;
        for i in 0..1_000_000u64 {
            let l = lease(s.begin_at(&k, b"x", Duration::from_millis(i)));
            s.release(&k, l);
            longest = longest.max(s.queue_len());
        }
        assert!(longest <= 2 + QUEUE_SLACK, "the queue reached {longest} items for one key");
        assert!(s.is_empty());
    }

    /// The lock timeout: a request whose owner died is reclaimed, and the dead owner's
    /// late completion or release cannot touch the new owner's key.
    #[test]
    fn a_reclaimed_key_refuses_the_old_owners_lease() {
        let s_ = Duration::from_secs;
        let mut s: MemoryStore<u8> = MemoryStore::new(Policy::default());
        let k = key("k");
        let old = lease(s.begin_at(&k, b"x", s_(0)));
        assert!(matches!(s.begin_at(&k, b"x", s_(30)), Err(KeyError::InProgress { .. })));
        let new = lease(s.begin_at(&k, b"x", s_(60)));
        assert_ne!(old, new);
        s.release(&k, old); // does nothing
        assert_eq!(s.complete(&k, old, &1), Err(KeyError::LeaseLost { key: k.clone() }));
        s.complete(&k, new, &2).unwrap();
        assert_eq!(s.begin_at(&k, b"x", s_(61)), Ok(Begun::Replay(2)));
    }

    /// A running request whose owner died is forgotten at the retention like a finished
    /// one, so it cannot hold a slot of the bounded store forever.
    #[test]
    fn an_abandoned_in_flight_key_is_purged_at_the_retention() {
        let h = |x: u64| Duration::from_secs(x * 3600);
        let mut s: MemoryStore<u8> = MemoryStore::with_capacity(Policy::new(h(1)).unwrap(), 1).unwrap();
        lease(s.begin_at(&key("dead"), b"x", h(0)));
        assert!(matches!(s.begin_at(&key("b"), b"x", h(0)), Err(KeyError::Full { .. })));
        assert!(matches!(s.begin_at(&key("b"), b"x", h(1)), Ok(Begun::Execute(_))));
    }
}
