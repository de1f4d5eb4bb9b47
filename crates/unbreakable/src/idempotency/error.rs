//! Why a keyed request was not executed or answered.

use std::convert::Infallible;
use std::time::Duration;

use super::IdempotencyKey;

/// A boxed error from a storage backend, kept as the [`source`](std::error::Error::source)
/// of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a key store refused a request: the answers of the idempotency rules themselves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The first request with this key is still running.
    ///
    /// ### Handling
    /// Retry after a short backoff (HTTP 409 in payment APIs); the answer will then be the
    /// stored result. If its owner died, the key is reclaimed after the policy's lock
    /// timeout.
    #[error("a request with key {key} is already in progress (since {since:?})")]
    InProgress {
        /// The key.
        key: IdempotencyKey,
        /// When the first one took the key.
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
    #[error(
        "the key store is full: it holds {capacity} keys that have not expired; shed load or raise its capacity (evicting live keys would let their retries execute twice)"
    )]
    Full {
        /// Its bound.
        capacity: usize,
    },
    /// The caller's scope holds its quota of unexpired keys.
    ///
    /// ### Handling
    /// The caller sends more keyed requests than the store keeps for one scope (HTTP 429):
    /// it should slow down, or reuse its keys only for retries. Raise the quota if one
    /// caller's legitimate traffic needs more.
    #[error(
        "scope {scope} holds its quota of {quota} keys that have not expired; slow this caller down or raise the scope quota"
    )]
    ScopeFull {
        /// The caller's scope.
        scope: String,
        /// The quota.
        quota: usize,
    },
    /// The request's result could not be stored: it held the key past the lock timeout
    /// (or the retention) and lost it, so another request may have reclaimed the key and
    /// executed too.
    ///
    /// ### Handling
    /// The handler's effect happened, possibly twice. Raise the policy's lock timeout above
    /// the longest time a handler can take, and reconcile this request by hand.
    #[error(
        "key {key} was lost before its result was stored: the request ran past the lock timeout, and another may have taken the key over; raise the lock timeout above the handler's longest run"
    )]
    LeaseLost {
        /// The key.
        key: IdempotencyKey,
    },
}

/// Why a [`KeyStore`](super::KeyStore) operation failed: a refusal by the idempotency
/// rules, or a storage failure (durable stores only).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The rules refused the request (in progress, mismatch, full, scope full, lease
    /// lost).
    ///
    /// ### Handling
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database is busy or locked by another connection, and stayed so past the busy
    /// timeout. Nothing was written.
    ///
    /// ### Handling
    /// Transient: retry with the same key after a backoff.
    #[error("the key store's database is busy or locked; retry with the same key after a backoff")]
    Busy {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// A database constraint failed (a row that breaks the store's schema, such as a table
    /// of the same name created by something else). Nothing was written.
    ///
    /// ### Handling
    /// Not transient: a retry fails the same way. Check the schema.
    #[error("a constraint of the key store's database failed")]
    Constraint {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// A stored response could not be read back as the response type, or a response could
    /// not be encoded. Nothing was written.
    ///
    /// ### Handling
    /// Not transient: the response type changed incompatibly while keys were stored.
    /// Keep response types backward compatible, or use a new table for the new type.
    #[error("the response stored for key {key} could not be encoded or decoded")]
    Codec {
        /// The key.
        key: IdempotencyKey,
        /// The encoder's error.
        #[source]
        source: BoxError,
    },
    /// The wall clock reads earlier than the UNIX epoch.
    ///
    /// ### Handling
    /// Fix the host's clock; durable stores compare times across processes.
    #[error("the wall clock reads earlier than the UNIX epoch")]
    Clock(#[from] std::time::SystemTimeError),
    /// Any other storage failure (I/O, a full disk, a corrupt file). Nothing was committed.
    ///
    /// ### Handling
    /// Possibly transient: retry with the same key later, and alert if it persists.
    #[error("the key store's storage failed")]
    Storage {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The store did not answer in the time left (the edge stores a result only while
    /// its key is still surely held). The call was not cancelled: it may still take
    /// effect.
    ///
    /// ### Handling
    /// Transient; see [`RunError::Unrecorded`] for a result that could not be stored.
    #[error("the key store did not answer within {waited:?}; the call may still take effect")]
    TimedOut {
        /// How long the edge waited.
        waited: Duration,
    },
    /// The store's configuration leaves a handler no time to run (its busy timeout and
    /// clock-skew margin reach the lock timeout). Nothing was read or written.
    ///
    /// ### Handling
    /// Not transient: change the configuration as the message says.
    #[error(transparent)]
    Config(#[from] crate::error::ConfigError),
    /// A store call panicked (a bug in the store, or in a closure given to
    /// [`with_store`](super::edge::Idempotent::with_store)), or the thread the store runs
    /// on stopped. A durable store's transaction was rolled back.
    ///
    /// ### Handling
    /// Not transient: the same call panics again. Report it as a bug; do not retry.
    #[error("a call on the key store panicked or its thread stopped (a bug; retrying will not help)")]
    Panicked {
        /// What the store's thread or the runtime reported.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Whether retrying the same request with the same key later may succeed: a request
    /// in progress, a busy database, another storage failure, or a store that did not
    /// answer in time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Key(KeyError::InProgress { .. })
                | StoreError::Busy { .. }
                | StoreError::Storage { .. }
                | StoreError::TimedOut { .. }
        )
    }
}

/// Why a keyed request run through [`edge::Idempotent::run`](super::edge::Idempotent::run)
/// (or a durable store's one-transaction `execute`) was not answered, or was answered
/// without its result being stored.
///
/// `R` is the response type: only [`Unrecorded`](RunError::Unrecorded) carries one (a
/// durable store's one-transaction `execute` never gives it, so there `R` is
/// [`Infallible`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError<E, R = Infallible> {
    /// The key store refused the request or failed.
    ///
    /// ### Handling
    /// See [`StoreError`]; [`StoreError::is_transient`] tells whether to retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The handler failed; nothing was stored under the key. Through the async edge the
    /// key stays in flight until the lock timeout (the outcome is unknown), unless the
    /// handler said [`Failed::NotStarted`]; through a durable store's one-transaction
    /// `execute`, its writes were rolled back and a retry executes again.
    ///
    /// ### Handling
    /// As for the handler's own error; retry with the same key.
    #[error("handler failed")]
    Handler(#[source] E),
    /// The handler was still running when it had to stop to leave its response time to
    /// be stored before the lock timeout (the lock timeout less the store's busy timeout
    /// and clock-skew margin: see the edge's
    /// [Timing](super::edge::Idempotent#timing)), and was stopped there. Its outcome is
    /// unknown: the key stays in flight until the lock timeout, and a retry after it
    /// executes again.
    ///
    /// ### Handling
    /// Raise the lock timeout above the handler's longest run plus the store's margins,
    /// or bound the handler's own calls (a deadline) well inside `handler_time`.
    #[error(
        "the handler for key {key} was still running after {handler_time:?} and was stopped, to leave time to store its result before the lock timeout ({lock_timeout:?}); raise the lock timeout above the handler's longest run"
    )]
    LockTimeout {
        /// The key.
        key: IdempotencyKey,
        /// The policy's lock timeout.
        lock_timeout: Duration,
        /// How long the handler was allowed to run.
        handler_time: Duration,
    },
    /// The handler **succeeded** (its effect happened: the card was charged), but its
    /// response could not be stored under the key: the store failed (a busy or full
    /// database, a lost lease, no answer within the time left) on every try while the key
    /// was still surely held. The response is here.
    ///
    /// The key stays in flight until the policy's lock timeout: a repeat before then is
    /// told "in progress"; a repeat after it takes the key over and runs the handler
    /// again. So this is never transient ([`is_transient`](Self::is_transient) is
    /// `false`, whatever the source): do not retry it.
    ///
    /// ### Handling
    /// Answer `response` (over HTTP, the success status the handler's response calls
    /// for), and report `source` (log it, count it, alert on it): the client has its
    /// answer and has no reason to retry, but one that lost this answer and retries after
    /// the lock timeout runs the handler again. Pass the same key on to the downstream
    /// provider so that such a second run is deduplicated there.
    #[error(
        "the handler for key {key} succeeded but its response could not be stored; answer the response (a retry after the lock timeout would run the handler again)"
    )]
    Unrecorded {
        /// The key.
        key: IdempotencyKey,
        /// The handler's response: answer it.
        response: R,
        /// Why it could not be stored.
        #[source]
        source: StoreError,
    },
}

impl<E, R> RunError<E, R> {
    /// Whether retrying the same request with the same key later may succeed: only a
    /// [`RunError::Store`] error that [is transient](StoreError::is_transient). Never
    /// an [`Unrecorded`](RunError::Unrecorded) result (its effect happened), even when
    /// its source is transient.
    pub fn is_transient(&self) -> bool {
        matches!(self, RunError::Store(e) if e.is_transient())
    }

    /// The response, if the handler succeeded ([`Unrecorded`](RunError::Unrecorded)).
    pub fn into_response(self) -> Option<R> {
        match self {
            RunError::Unrecorded { response, .. } => Some(response),
            _ => None,
        }
    }
}

/// How a handler run through
/// [`edge::Idempotent::run_or_release`](super::edge::Idempotent::run_or_release) failed:
/// whether its effect may have happened.
///
/// `?` converts any error `E` into [`Failed::Unknown`]: only a handler that says so
/// explicitly frees its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failed<E> {
    /// Nothing happened (the request failed validation, the provider refused it before
    /// doing anything): the key is released, and a retry runs the handler again at once.
    #[error("the handler failed before doing anything")]
    NotStarted(#[source] E),
    /// The effect may or may not have happened (a timeout, a lost reply, a crash
    /// half-way): the key stays in flight until the policy's lock timeout, and a repeat
    /// before then is told "in progress".
    #[error("the handler failed, and may have had its effect")]
    Unknown(#[source] E),
}

impl<E> From<E> for Failed<E> {
    fn from(e: E) -> Self {
        Failed::Unknown(e)
    }
}

impl<E, R> From<KeyError> for RunError<E, R> {
    fn from(e: KeyError) -> Self {
        RunError::Store(StoreError::Key(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn wrapped_errors_are_exposed_as_sources() {
        let io = std::io::Error::other("disk full");
        let e = StoreError::Storage { source: Box::new(io) };
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("disk full"));
        assert!(e.is_transient());
        let run: RunError<std::io::Error> = RunError::Handler(std::io::Error::other("boom"));
        assert_eq!(run.source().map(|s| s.to_string()).as_deref(), Some("boom"));
        let refused: RunError<std::io::Error> =
            KeyError::Mismatch { key: IdempotencyKey::new("acct", "k").unwrap() }.into();
        assert!(matches!(refused, RunError::Store(StoreError::Key(KeyError::Mismatch { .. }))));
        assert!(refused.to_string().contains("different request"));
    }
}
