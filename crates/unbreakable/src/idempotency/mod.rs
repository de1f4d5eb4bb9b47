//! Idempotency keys: a request that may arrive twice is applied once (chapter 05).
//!
//! The client sends a unique key with each logical request and the *same* key with every
//! retry of it. The server remembers, per key, the request and its result:
//!
//! * the first request with a key executes, and its result is stored with the key;
//! * a repeat with the same request gets the stored result, without executing again;
//! * a repeat that arrives while the first is still running gets
//!   [`Decision::InProgress`] (HTTP 409 in payment APIs): try again shortly;
//! * the same key with a *different* request is a client bug and gets
//!   [`Decision::Mismatch`];
//! * keys are forgotten after a retention period (24 hours by default, as Stripe does).
//!
//! [`decide`] is the pure core: what to do, given what the store holds for a key. Around
//! it: [`MemoryStore`] (bounded, for simulations and single-process services) and
//! [`edge`] (an async wrapper for any handler).

pub mod edge;
pub mod memory;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;


pub use memory::MemoryStore;

/// The longest key [`IdempotencyKey::new`] accepts, in bytes (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// A client-chosen key naming one logical request: 1 to 255 visible ASCII characters,
/// such as a UUID.
///
/// # Examples
/// ```
/// use unbreakable::idempotency::IdempotencyKey;
///
/// assert!(IdempotencyKey::new("3f2a9c1e-transfer-0001").is_ok());
/// let err = IdempotencyKey::new("has space").unwrap_err();
/// assert!(err.to_string().contains("visible ASCII"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps `key`.
    ///
    /// # Errors
    /// Empty, longer than [`MAX_KEY_LEN`] bytes, or containing anything but visible ASCII
    /// (no spaces, no control characters).
    pub fn new(key: impl Into<String>) -> Result<Self, ConfigError> {
        let key = key.into();
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(ConfigError::new("key", format!("a key is 1 to {MAX_KEY_LEN} bytes; this one is {}", key.len())));
        }
        if let Some(c) = key.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(ConfigError::new("key", format!("{c:?} is not allowed: use visible ASCII only (a UUID is a good key)")));
        }
        Ok(Self(key))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long keys are kept.
///
/// # Default
/// 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    retention: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self { retention: Duration::from_secs(24 * 3600) }
    }
}

impl Policy {
    /// Keys kept for `retention` after they were first used.
    ///
    /// # Errors
    /// A zero retention (a retry a moment later would execute again).
    pub fn new(retention: Duration) -> Result<Self, ConfigError> {
        if retention.is_zero() {
            return Err(ConfigError::new("retention", "a zero retention forgets a key at once, so every retry executes again; keep keys longer than clients retry"));
        }
        Ok(Self { retention })
    }

    /// How long keys are kept.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Whether an entry first used at `created` is forgotten at `now`.
    pub fn expired(&self, created: Duration, now: Duration) -> bool {
        now.saturating_sub(created) >= self.retention
    }
}

/// What a store holds for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Entry<R> {
    /// The first request is executing.
    InFlight {
        /// The request's bytes.
        request: Vec<u8>,
        /// When it started.
        created: Duration,
    },
    /// The first request finished with `response`.
    Done {
        /// The request's bytes.
        request: Vec<u8>,
        /// Its stored result.
        response: R,
        /// When it started.
        created: Duration,
    },
}

impl<R> Entry<R> {
    /// When the key was first used.
    pub fn created(&self) -> Duration {
        match self {
            Entry::InFlight { created, .. } | Entry::Done { created, .. } => *created,
        }
    }

    /// The request the key was first used with.
    pub fn request(&self) -> &[u8] {
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

/// The pure core: what to do with `request` under a key whose entry is `entry`, at `now`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::{decide, Decision, Entry, Policy};
///
/// let p = Policy::default();
/// let s = Duration::from_secs;
/// let done = Entry::Done { request: b"pay 500".to_vec(), response: "tx-1", created: s(0) };
/// assert_eq!(decide(Some(&done), b"pay 500", s(10), &p), Decision::Replay("tx-1"));
/// assert_eq!(decide(Some(&done), b"pay 900", s(10), &p), Decision::Mismatch);
/// assert_eq!(decide(Some(&done), b"pay 500", s(25 * 3600), &p), Decision::Execute); // forgotten
/// assert_eq!(decide::<&str>(None, b"pay 500", s(10), &p), Decision::Execute);
/// ```
pub fn decide<R: Clone>(entry: Option<&Entry<R>>, request: &[u8], now: Duration, policy: &Policy) -> Decision<R> {
    let Some(entry) = entry else { return Decision::Execute };
    if policy.expired(entry.created(), now) {
        return Decision::Execute;
    }
    if entry.request() != request {
        return Decision::Mismatch;
    }
    match entry {
        Entry::InFlight { created, .. } => Decision::InProgress { since: *created },
        Entry::Done { response, .. } => Decision::Replay(response.clone()),
    }
}

/// Why a keyed request was not executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The first request with this key is still running.
    ///
    /// ### Handling
    /// Retry after a short backoff; the answer will then be the stored result.
    #[error("a request with key {key} is already in progress (since {since:?})")]
    InProgress {
        /// The key.
        key: IdempotencyKey,
        /// When the first one started.
        since: Duration,
    },
    /// The key was used before with a different request.
    ///
    /// ### Handling
    /// A client bug: each logical request needs its own key. Never retry.
    #[error("key {key} was already used with a different request; use a new key for a new request")]
    Mismatch {
        /// The key.
        key: IdempotencyKey,
    },
    /// The store is full of unexpired keys.
    ///
    /// ### Handling
    /// Shed load, or raise the bound: evicting live keys would let retries execute twice.
    #[error("the key store is full: it holds {capacity} keys that have not expired; shed load or raise its capacity (evicting live keys would let their retries execute twice)")]
    Full {
        /// Its bound.
        capacity: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_policies_are_checked() {
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("x".repeat(256)).is_err());
        assert!(IdempotencyKey::new("tab\there").is_err());
        assert!(IdempotencyKey::new("é").is_err());
        assert_eq!(Policy::new(Duration::ZERO).unwrap_err().field, "retention");
    }

    #[test]
    fn an_in_flight_repeat_is_told_to_wait_and_a_different_body_is_refused() {
        let p = Policy::default();
        let s = Duration::from_secs;
        let running: Entry<u32> = Entry::InFlight { request: b"a".to_vec(), created: s(1) };
        assert_eq!(decide(Some(&running), b"a", s(2), &p), Decision::InProgress { since: s(1) });
        assert_eq!(decide(Some(&running), b"b", s(2), &p), Decision::Mismatch);
    }
}
