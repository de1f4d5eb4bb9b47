//! The pure core of one lock: a lease with fencing tokens.
//!
//! Every decision takes `now` (a [`Duration`] since any origin the caller keeps fixed)
//! and reads or changes the state; nothing here reads a clock. These are the semantics of
//! Redis's `SET key value NX PX ttl` plus a counter: acquire only if the key is free (or
//! its lease ran out), renew and release only with the value that acquired it.

use std::time::Duration;

use serde::Serialize;

/// A fencing token: the number handed out with a grant, larger than every token granted
/// before for the same lock. Tokens start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Token(pub u64);

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why the lease refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Refusal {
    /// Another grant holds the lease for `remaining` more.
    Held {
        /// The time left on the other grant's lease.
        remaining: Duration,
    },
    /// This grant no longer holds the lease.
    NotHolder,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    owner: String,
    token: Token,
    expires_at: Duration,
}

/// One lock: who holds it until when, and the last token granted.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::lock::{Lease, Refusal, Token};
///
/// let s = Duration::from_secs;
/// let mut lock = Lease::new();
/// let a = lock.acquire("a", s(10), s(0)).unwrap();
/// assert_eq!(a, Token(1));
/// assert_eq!(lock.acquire("b", s(10), s(4)), Err(Refusal::Held { remaining: s(6) }));
/// // a paused past its lease: b takes the lock with a larger token...
/// let b = lock.acquire("b", s(10), s(10)).unwrap();
/// assert!(b > a);
/// // ...and a's late release does not free b's lock (compare-and-delete).
/// assert!(!lock.release("a", a, s(11)));
/// assert_eq!(lock.holder(s(11)), Some(("b", b)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    holder: Option<Holder>,
    last_token: u64,
}

impl Lease {
    /// A free lock that has granted nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A free lock whose next token follows `last` (a store that keeps its counter
    /// elsewhere).
    pub fn after(last: Token) -> Self {
        Self { holder: None, last_token: last.0 }
    }

    /// Grants the lock to `owner` for `ttl` from `now` if it is free or its lease has run
    /// out (a lease ending exactly at `now` has run out), with a new, larger token.
    ///
    /// # Errors
    /// [`Refusal::Held`] if another grant's lease still runs (also when that grant is
    /// `owner`'s own: a lock is not re-entrant).
    pub fn acquire(&mut self, owner: &str, ttl: Duration, now: Duration) -> Result<Token, Refusal> {
        if let Some(h) = self.live(now) {
            return Err(Refusal::Held { remaining: h.expires_at - now });
        }
        self.last_token = self.last_token.saturating_add(1);
        let token = Token(self.last_token);
        self.holder = Some(Holder { owner: owner.to_string(), token, expires_at: now.saturating_add(ttl) });
        Ok(token)
    }

    /// As [`acquire`](Self::acquire), but with `token` (from a durable counter elsewhere)
    /// instead of the next one of this lock's counter, which moves up to at least `token`.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_given(
        &mut self,
        owner: &str,
        ttl: Duration,
        now: Duration,
        token: Token,
    ) -> Result<Token, Refusal> {
        if let Some(h) = self.live(now) {
            return Err(Refusal::Held { remaining: h.expires_at - now });
        }
        self.last_token = self.last_token.max(token.0);
        self.holder = Some(Holder { owner: owner.to_string(), token, expires_at: now.saturating_add(ttl) });
        Ok(token)
    }

    /// Extends the lease of the grant (`owner`, `token`) to `now + ttl`, if it still holds
    /// the lock.
    ///
    /// # Errors
    /// [`Refusal::NotHolder`] if its lease ran out or another grant holds the lock.
    pub fn renew(&mut self, owner: &str, token: Token, ttl: Duration, now: Duration) -> Result<(), Refusal> {
        match self.holder.as_mut() {
            Some(h) if h.owner == owner && h.token == token && now < h.expires_at => {
                h.expires_at = now.saturating_add(ttl);
                Ok(())
            }
            _ => Err(Refusal::NotHolder),
        }
    }

    /// Frees the lock if the grant (`owner`, `token`) still holds it; returns whether it
    /// did. A grant whose lease ran out frees nothing, so a late release can never free
    /// the lock of whoever took it over.
    pub fn release(&mut self, owner: &str, token: Token, now: Duration) -> bool {
        match &self.holder {
            Some(h) if h.owner == owner && h.token == token && now < h.expires_at => {
                self.holder = None;
                true
            }
            _ => false,
        }
    }

    /// Who holds the lock at `now`, with which token.
    pub fn holder(&self, now: Duration) -> Option<(&str, Token)> {
        self.live(now).map(|h| (h.owner.as_str(), h.token))
    }

    /// When the current lease ends, if one runs at `now`.
    pub fn expires_at(&self, now: Duration) -> Option<Duration> {
        self.live(now).map(|h| h.expires_at)
    }

    /// The last token granted (0 before the first grant).
    pub fn last_token(&self) -> Token {
        Token(self.last_token)
    }

    fn live(&self, now: Duration) -> Option<&Holder> {
        self.holder.as_ref().filter(|h| now < h.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn a_lease_ends_at_its_ttl_exactly() {
        let mut l = Lease::new();
        let t = l.acquire("a", s(10), s(0)).unwrap();
        assert_eq!(l.holder(s(9)), Some(("a", t)));
        assert_eq!(l.holder(s(10)), None);
        assert_eq!(l.renew("a", t, s(10), s(10)), Err(Refusal::NotHolder));
        assert_eq!(l.acquire("b", s(10), s(10)), Ok(Token(2)));
    }

    #[test]
    fn renew_extends_only_the_holder() {
        let mut l = Lease::new();
        let t = l.acquire("a", s(10), s(0)).unwrap();
        l.renew("a", t, s(10), s(8)).unwrap();
        assert_eq!(l.expires_at(s(8)), Some(s(18)));
        assert_eq!(l.renew("b", t, s(10), s(9)), Err(Refusal::NotHolder));
        assert_eq!(l.renew("a", Token(7), s(10), s(9)), Err(Refusal::NotHolder));
        assert!(l.acquire("b", s(1), s(17)).is_err());
    }

    #[test]
    fn release_is_compare_and_delete() {
        let mut l = Lease::new();
        let t1 = l.acquire("a", s(10), s(0)).unwrap();
        assert!(!l.release("b", t1, s(1)), "another owner");
        assert!(l.release("a", t1, s(1)));
        assert!(!l.release("a", t1, s(1)), "twice");
        // the same owner again: its old grant cannot free the new one
        let t2 = l.acquire("a", s(10), s(2)).unwrap();
        assert!(!l.release("a", t1, s(3)));
        assert_eq!(l.holder(s(3)), Some(("a", t2)));
    }

    #[test]
    fn after_continues_a_counter() {
        let mut l = Lease::after(Token(41));
        assert_eq!(l.acquire("a", s(1), s(0)), Ok(Token(42)));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]
        /// Over any sequence of operations: at most one live holder, tokens of grants
        /// strictly grow, and a refusal never changes the state.
        #[test]
        fn one_holder_and_growing_tokens(ops in prop::collection::vec((0u8..3, 0u8..3, 0u64..40, 1u64..20), 1..40)) {
            let mut l = Lease::new();
            let mut now = 0u64;
            let mut last = 0u64;
            let mut grants: Vec<(String, Token)> = Vec::new();
            for (op, who, dt, ttl) in ops {
                now += dt;
                let owner = format!("n{who}");
                let before = l.clone();
                match op {
                    0 => match l.acquire(&owner, s(ttl), s(now)) {
                        Ok(t) => { prop_assert!(t.0 > last); last = t.0; grants.push((owner, t)); }
                        Err(_) => prop_assert_eq!(&l, &before),
                    },
                    1 => if let Some((o, t)) = grants.iter().rev().find(|g| g.0 == owner).cloned() {
                        if l.renew(&o, t, s(ttl), s(now)).is_err() { prop_assert_eq!(&l, &before); }
                    },
                    _ => if let Some((o, t)) = grants.iter().rev().find(|g| g.0 == owner).cloned() {
                        let was = l.holder(s(now)).map(|(h, k)| (h.to_string(), k));
                        let freed = l.release(&o, t, s(now));
                        prop_assert_eq!(freed, was == Some((o.clone(), t)));
                    },
                }
                prop_assert!(l.holder(s(now)).is_none_or(|(_, t)| t.0 == last));
            }
        }
    }
}
