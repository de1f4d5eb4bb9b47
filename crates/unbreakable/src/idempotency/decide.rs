//! The pure core: what to do with a request, given what the store holds for its key.

use std::time::Duration;

use serde::Serialize;

use super::{Fingerprint, Policy};

/// What a store holds for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Entry<R> {
    /// The first request is executing.
    InFlight {
        /// The request's fingerprint.
        request: Fingerprint,
        /// When it took the key.
        created: Duration,
    },
    /// The first request finished with `response`.
    Done {
        /// The request's fingerprint.
        request: Fingerprint,
        /// Its stored result.
        response: R,
        /// When it took the key.
        created: Duration,
    },
}

impl<R> Entry<R> {
    /// When the key was taken by the request that holds it.
    pub fn created(&self) -> Duration {
        match self {
            Entry::InFlight { created, .. } | Entry::Done { created, .. } => *created,
        }
    }

    /// The fingerprint of the request that holds the key.
    pub fn request(&self) -> &Fingerprint {
        match self {
            Entry::InFlight { request, .. } | Entry::Done { request, .. } => request,
        }
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Decision<R> {
    /// Execute it (the key is new, or forgotten).
    Execute,
    /// The first request with this key took it at `since` and has held it past the lock
    /// timeout: its owner is presumed dead. Execute, taking the key over.
    Reclaim {
        /// When the presumed-dead request took the key.
        since: Duration,
    },
    /// Answer the stored result without executing.
    Replay(R),
    /// The first request with this key is still running: answer "in progress".
    InProgress {
        /// When the first one started.
        since: Duration,
    },
    /// The key was used with a different request: reject it.
    Mismatch,
}

impl<R> Decision<R> {
    /// Whether the request should be executed ([`Execute`](Decision::Execute) or
    /// [`Reclaim`](Decision::Reclaim)).
    pub fn executes(&self) -> bool {
        matches!(self, Decision::Execute | Decision::Reclaim { .. })
    }
}

/// The pure core: what to do with `request` under a key whose entry is `entry`, at `now`.
///
/// In order: a forgotten key (past the retention) executes; a different request is a
/// mismatch; a finished one is replayed; a running one is "in progress" until the lock
/// timeout, and reclaimed after it.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::{decide, Decision, Entry, Fingerprint, Policy};
///
/// let p = Policy::default();
/// let s = Duration::from_secs;
/// let pay = Fingerprint::of(b"pay 500");
/// let done = Entry::Done { request: pay, response: "tx-1", created: s(0) };
/// assert_eq!(decide(Some(&done), &pay, s(10), &p), Decision::Replay("tx-1"));
/// assert_eq!(decide(Some(&done), &Fingerprint::of(b"pay 900"), s(10), &p), Decision::Mismatch);
/// assert_eq!(decide(Some(&done), &pay, s(25 * 3600), &p), Decision::Execute); // forgotten
/// assert_eq!(decide::<&str>(None, &pay, s(10), &p), Decision::Execute);
///
/// let running: Entry<&str> = Entry::InFlight { request: pay, created: s(0) };
/// assert_eq!(decide(Some(&running), &pay, s(10), &p), Decision::InProgress { since: s(0) });
/// assert_eq!(decide(Some(&running), &pay, s(60), &p), Decision::Reclaim { since: s(0) }); // its owner died
/// ```
pub fn decide<R: Clone>(
    entry: Option<&Entry<R>>,
    request: &Fingerprint,
    now: Duration,
    policy: &Policy,
) -> Decision<R> {
    let Some(entry) = entry else { return Decision::Execute };
    if policy.expired(entry.created(), now) {
        return Decision::Execute;
    }
    if entry.request() != request {
        return Decision::Mismatch;
    }
    match entry {
        Entry::InFlight { created, .. } if policy.lock_expired(*created, now) => {
            Decision::Reclaim { since: *created }
        }
        Entry::InFlight { created, .. } => Decision::InProgress { since: *created },
        Entry::Done { response, .. } => Decision::Replay(response.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_flight_repeat_is_told_to_wait_and_a_different_body_is_refused() {
        let p = Policy::default();
        let s = Duration::from_secs;
        let (a, b) = (Fingerprint::of(b"a"), Fingerprint::of(b"b"));
        let running: Entry<u32> = Entry::InFlight { request: a, created: s(1) };
        assert_eq!(decide(Some(&running), &a, s(2), &p), Decision::InProgress { since: s(1) });
        assert_eq!(decide(Some(&running), &b, s(2), &p), Decision::Mismatch);
        // Even once the lock has expired, another request under the key is a client bug.
        assert_eq!(decide(Some(&running), &b, s(100), &p), Decision::Mismatch);
    }

    /// Pins the "in progress forever" bug: before the lock timeout, a request whose owner
    /// died (crashed between taking the key and completing or releasing it) kept its key
    /// in flight until the retention ran out, and every retry for 24 hours was told "in
    /// progress".
    #[test]
    fn a_dead_owners_key_is_reclaimed_after_the_lock_timeout() {
        let p = Policy::default();
        let s = Duration::from_secs;
        let a = Fingerprint::of(b"a");
        let running: Entry<u32> = Entry::InFlight { request: a, created: s(0) };
        assert_eq!(decide(Some(&running), &a, s(59), &p), Decision::InProgress { since: s(0) });
        assert_eq!(decide(Some(&running), &a, s(60), &p), Decision::Reclaim { since: s(0) });
        assert!(decide(Some(&running), &a, s(3600), &p).executes());
    }
}
