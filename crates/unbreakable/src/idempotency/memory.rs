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

/// The default quota of one scope (one caller) in a [`MemoryStore`]: 10,000 unexpired
/// keys, about one request every 9 s for the default 24-hour retention.
pub const DEFAULT_SCOPE_QUOTA: usize = 10_000;

/// How many stale items an expiry queue may hold beyond one per key before it is
/// rebuilt.
const QUEUE_SLACK: usize = 64;

/// An in-memory idempotency-key store with a bound on unexpired keys, in all and per
/// scope.
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
/// # Bounds
/// | bound | default | when reached |
/// |---|---|---|
/// | keys in all | [`DEFAULT_CAPACITY`] (1,000,000) | [`KeyError::Full`] for every new key |
/// | keys of one scope | [`DEFAULT_SCOPE_QUOTA`] (10,000) | [`KeyError::ScopeFull`] for that scope's new keys only |
///
/// Keys are client-chosen, so a client can send as many as it likes: the scope quota
/// keeps one caller from filling the store for everyone, but only if the capacity is at
/// least the quota times the number of callers; with less, callers within their quota
/// can still be refused [`KeyError::Full`] once others have filled it. A finished key is
/// kept for the policy's retention; a key never completed (its owner crashed, or its
/// outcome is unknown) only until the lock timeout, when a repeat could take it over
/// anyway.
///
/// # Costs
/// Expired keys are dropped at the next [`begin_at`](Self::begin_at) (or
/// [`purge`](Self::purge)), oldest first, so a key's memory is held until then. Each
/// `begin` queues its key for expiry; stale items (a key released and begun again) are
/// skipped, and when the queues pass `2 × keys + 64` items each, that `begin` compacts
/// them in one pass over the queues (no sort), under whatever lock guards the store (the
/// async edge's mutex): time proportional to the keys held, about once per that many
/// begins. So the bound `4 × keys + 128` on [`queue_len`](Self::queue_len) holds right
/// after each `begin`; releases and purges in between shrink the keys but not the
/// queues, until the next `begin`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::{Begun, IdempotencyKey, MemoryStore, Policy};
///
/// let mut store = MemoryStore::new(Policy::default());
/// let key = IdempotencyKey::new("acct_alice", "order-17").unwrap();
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
    scope_quota: usize,
    clock: Clock,
    entries: HashMap<IdempotencyKey, Slot<R>>,
    /// Keys held, per scope.
    scopes: HashMap<String, usize>,
    /// Keys by the time they were taken, for expiry at the retention. A key taken again
    /// is queued again; stale items are skipped, and the queue is rebuilt when they pile
    /// up.
    order: VecDeque<(Duration, IdempotencyKey)>,
    /// The same, for expiry of never-completed keys at the lock timeout.
    in_flight: VecDeque<(Duration, IdempotencyKey)>,
    next_lease: u64,
}

#[derive(Debug, Clone)]
struct Slot<R> {
    entry: Entry<R>,
    lease: Lease,
}

impl<R: Clone> MemoryStore<R> {
    /// An empty store holding up to [`DEFAULT_CAPACITY`] unexpired keys, and up to
    /// [`DEFAULT_SCOPE_QUOTA`] per scope, whose [`KeyStore`] methods read a [`Clock`]
    /// started now.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            capacity: DEFAULT_CAPACITY,
            scope_quota: DEFAULT_SCOPE_QUOTA,
            clock: Clock::start(),
            entries: HashMap::new(),
            scopes: HashMap::new(),
            order: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_lease: 0,
        }
    }

    /// An empty store holding up to `capacity` unexpired keys (and up to
    /// [`DEFAULT_SCOPE_QUOTA`] per scope).
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

    /// The same store, holding up to `quota` unexpired keys per scope.
    ///
    /// # Errors
    /// A quota of zero.
    pub fn with_scope_quota(self, quota: usize) -> Result<Self, ConfigError> {
        if quota == 0 {
            return Err(ConfigError::new(
                "scope_quota",
                "a zero quota refuses every key; allow each caller at least the keys it sends in one retention period",
            ));
        }
        Ok(Self { scope_quota: quota, ..self })
    }

    /// The same store, its [`KeyStore`] methods reading `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// Starts `request` under `key` at `now` (the pure form of [`KeyStore::begin`]).
    ///
    /// * `Ok(Begun::Execute(lease))`: execute it, then call [`complete`](Self::complete)
    ///   with the result (or [`release`](Self::release) if it failed before doing
    ///   anything);
    /// * `Ok(Begun::Replay(response))`: it ran before; answer `response` without executing.
    ///
    /// # Errors
    /// [`KeyError::InProgress`], [`KeyError::Mismatch`], [`KeyError::ScopeFull`] or
    /// [`KeyError::Full`].
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
                if !self.entries.contains_key(key) {
                    if self.scope_len(key.scope()) >= self.scope_quota {
                        return Err(KeyError::ScopeFull {
                            scope: key.scope().to_string(),
                            quota: self.scope_quota,
                        });
                    }
                    if self.entries.len() >= self.capacity {
                        return Err(KeyError::Full { capacity: self.capacity });
                    }
                    *self.scopes.entry(key.scope().to_string()).or_default() += 1;
                }
                let lease = Lease::new(self.next_lease);
                self.next_lease = self.next_lease.wrapping_add(1);
                self.entries
                    .insert(key.clone(), Slot { entry: Entry::InFlight { request, created: now }, lease });
                self.order.push_back((now, key.clone()));
                self.in_flight.push_back((now, key.clone()));
                let bound = 2 * self.entries.len() + QUEUE_SLACK;
                if self.order.len() > bound || self.in_flight.len() > bound {
                    self.rebuild_queues();
                }
                Ok(Begun::Execute(lease))
            }
        }
    }

    /// Stores `response` as the result of the request holding `key` with `lease`.
    ///
    /// # Errors
    /// [`KeyError::LeaseLost`] if `lease` no longer holds the key (it was reclaimed or
    /// forgotten after the lock timeout, or released).
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

    /// Forgets the request holding `key` with `lease` because it failed *before doing
    /// anything*, so that a retry executes. Does nothing to a finished one, or if the
    /// lease no longer holds the key. (A request whose outcome is unknown must not be
    /// released: its key stays until the lock timeout.)
    pub fn release(&mut self, key: &IdempotencyKey, lease: Lease) {
        if matches!(self.entries.get(key), Some(Slot { entry: Entry::InFlight { .. }, lease: held }) if *held == lease)
        {
            self.forget(key);
        }
    }

    /// Forgets `key`, and counts it out of its scope.
    fn forget(&mut self, key: &IdempotencyKey) {
        if self.entries.remove(key).is_some()
            && let Some(n) = self.scopes.get_mut(key.scope())
        {
            *n -= 1;
            if *n == 0 {
                self.scopes.remove(key.scope());
            }
        }
    }

    /// Forgets, at `now`, keys past their retention (finished or not) and never-completed
    /// keys past the lock timeout (their owners are presumed dead, and a repeat would take
    /// them over anyway).
    pub fn purge(&mut self, now: Duration) {
        while let Some((created, key)) = self.in_flight.front() {
            if !self.policy.lock_expired(*created, now) {
                break;
            }
            // The queue may hold an older use of a key that has since been taken again.
            if self
                .entries
                .get(key)
                .is_some_and(|s| matches!(s.entry, Entry::InFlight { created: c, .. } if c == *created))
            {
                let key = key.clone();
                self.forget(&key);
            }
            self.in_flight.pop_front();
        }
        while let Some((created, key)) = self.order.front() {
            if !self.policy.expired(*created, now) {
                break;
            }
            if self.entries.get(key).is_some_and(|s| s.entry.created() == *created) {
                let key = key.clone();
                self.forget(&key);
            }
            self.order.pop_front();
        }
    }

    /// Drops stale queue items, keeping one item per held key (per in-flight key in the
    /// second queue) in the order they were queued: one pass over each queue, no sort.
    fn rebuild_queues(&mut self) {
        let entries = &self.entries;
        let live = |queue: &mut VecDeque<(Duration, IdempotencyKey)>, in_flight_only: bool| {
            let mut seen = std::collections::HashSet::with_capacity(entries.len());
            queue.retain(|(t, k)| {
                entries.get(k).is_some_and(|s| {
                    s.entry.created() == *t && (!in_flight_only || matches!(s.entry, Entry::InFlight { .. }))
                }) && seen.insert(k.clone())
            });
        };
        live(&mut self.order, false);
        live(&mut self.in_flight, true);
    }

    /// The entry for `key`.
    pub fn get(&self, key: &IdempotencyKey) -> Option<&Entry<R>> {
        self.entries.get(key).map(|s| &s.entry)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys held in `scope`.
    pub fn scope_len(&self, scope: &str) -> usize {
        self.scopes.get(scope).copied().unwrap_or(0)
    }

    /// Whether it holds no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Items in the expiry queues: at most `4 × len() + 128`.
    pub fn queue_len(&self) -> usize {
        self.order.len() + self.in_flight.len()
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
        IdempotencyKey::new("acct", s).unwrap()
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
        assert!(longest <= 4 + 2 * QUEUE_SLACK, "the queue reached {longest} items for one key");
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

    /// Pins the unbounded never-completed key: a running request whose owner died held
    /// its slot of the bounded store for the whole retention (24 h by default). It is now
    /// forgotten at the lock timeout, when a repeat could take it over anyway.
    #[test]
    fn an_abandoned_in_flight_key_is_forgotten_at_the_lock_timeout() {
        let s_ = Duration::from_secs;
        let mut s: MemoryStore<u8> = MemoryStore::with_capacity(Policy::default(), 1).unwrap();
        lease(s.begin_at(&key("dead"), b"x", s_(0)));
        assert!(matches!(s.begin_at(&key("b"), b"x", s_(59)), Err(KeyError::Full { .. })));
        assert!(matches!(s.begin_at(&key("b"), b"x", s_(60)), Ok(Begun::Execute(_))));
        assert!(s.get(&key("dead")).is_none());
    }

    /// Pins the shared key space: two callers who both sent `order-17` got each other's
    /// stored response. Keys are held by (scope, key).
    #[test]
    fn the_same_key_in_two_scopes_is_two_keys() {
        let t = Duration::ZERO;
        let mut s: MemoryStore<&str> = MemoryStore::new(Policy::default());
        let alice = IdempotencyKey::new("acct_alice", "order-17").unwrap();
        let bob = IdempotencyKey::new("acct_bob", "order-17").unwrap();
        let l = lease(s.begin_at(&alice, b"pay 500", t));
        s.complete(&alice, l, &"alice's receipt").unwrap();
        let l = lease(s.begin_at(&bob, b"pay 500", t));
        s.complete(&bob, l, &"bob's receipt").unwrap();
        assert_eq!(s.begin_at(&bob, b"pay 500", t), Ok(Begun::Replay("bob's receipt")));
        assert_eq!(s.begin_at(&alice, b"pay 500", t), Ok(Begun::Replay("alice's receipt")));
    }

    /// Pins the store filled by one client: client-chosen keys filled the whole store
    /// (1,000,000 keys), then every caller was refused for 24 h. Each scope has a quota; a
    /// scope at its quota is refused, and other scopes are not.
    #[test]
    fn a_scope_at_its_quota_is_refused_and_other_scopes_are_not() {
        let t = Duration::ZERO;
        let mut s: MemoryStore<u8> = MemoryStore::new(Policy::default()).with_scope_quota(2).unwrap();
        let k = |scope: &str, k: &str| IdempotencyKey::new(scope, k).unwrap();
        for i in 0..2 {
            lease(s.begin_at(&k("greedy", &format!("k{i}")), b"x", t));
        }
        assert_eq!(
            s.begin_at(&k("greedy", "k2"), b"x", t),
            Err(KeyError::ScopeFull { scope: "greedy".into(), quota: 2 })
        );
        // A repeat of a key it holds is still answered.
        assert!(matches!(s.begin_at(&k("greedy", "k0"), b"x", t), Err(KeyError::InProgress { .. })));
        assert!(matches!(s.begin_at(&k("other", "k0"), b"x", t), Ok(Begun::Execute(_))));
        // A released key gives its slot back.
        let l = lease(s.begin_at(&k("other", "k1"), b"x", t));
        s.release(&k("other", "k1"), l);
        assert_eq!(s.scope_len("other"), 1);
        assert_eq!(
            MemoryStore::<u8>::new(Policy::default()).with_scope_quota(0).unwrap_err().field,
            "scope_quota"
        );
    }
}
