//! # unbreakable
//!
//! Fault-handling patterns for Rust services: retries with backoff and jitter, circuit
//! breaking and retry budgets, deadlines and timeouts, graceful degradation, idempotency
//! keys, two-phase commit and sagas, event sourcing and an outbox, locks with fencing and
//! leader election.
//!
//! | module | what it holds |
//! |---|---|
//! | [`retry`] | backoff policies (pure iterators of delays), retry policies, the async retry executor, the circuit breaker and retry budgets |
//! | [`deadline`] | deadlines that travel with a request; connection and read timeouts on any stream |
//! | [`degrade`] | graceful degradation: a fallback for a nice-to-have call |
//! | [`events`] | event sourcing: aggregates (`handle` holds the rules, `apply` none), an event-store trait with optimistic concurrency, in memory and durable on SQLite (feature `sqlite`), snapshots, time travel and a given/when/then harness |
//! | [`idempotency`] | idempotency keys scoped to the caller: the pure decision on request fingerprints, the `KeyStore` trait, a bounded in-memory store with per-scope quotas, a durable SQLite store (feature `sqlite`) and an async edge over any store that treats a failed or cancelled handler as an unknown outcome |
//! | [`lock`] | distributed locks as leases with fencing tokens (the pure lease, a fence that refuses stale and duplicated tokens, durable token sources, the `LockStore` trait, an in-memory store and, with feature `redis`, a Redis store) and lease-based leader election with terms and a leadership signal |
//! | [`cqrs`] | a transactional outbox on SQLite with a relay that publishes each event at least once, and projections that apply each event exactly once |
//! | [`transactions`] | two-phase commit (coordinator and participants as pure state machines) and sagas with compensations, persistable and restorable |
//! | [`pool`] | connection-pool sizing: Little's law and Erlang C, the smallest pool for a wait target (take the pool itself from deadpool, bb8 or sqlx) |
//! | [`pagination`] | keyset cursors signed with HMAC-SHA256, with key rotation and expiry |
//! | [`time`] | the clock the async edges read: real in a service, virtual under a paused tokio runtime |
//! | `tower` | (feature `tower`) the patterns as tower layers: retry, circuit breaker, deadline, fallback, body buffering |
//!
//! Every pattern is a **pure core** (decisions from inputs: no clock, no I/O, no global
//! randomness) plus a **thin async edge** on tokio. The crate depends on little: tokio's
//! `time`, `sync` and `io-util`, rand, serde, thiserror, sha2 and hmac by default; each
//! storage back end and the tower layers are features (`sqlite`, `postgres`, `redis`,
//! `tower`).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use unbreakable::retry::{seeded_rng, Backoff, Jitter};
//!
//! let backoff = Backoff::exponential(Duration::from_millis(1000))
//!     .with_cap(Duration::from_secs(30))
//!     .with_jitter(Jitter::None)
//!     .build()
//!     .unwrap();
//! let delays: Vec<_> = backoff.delays(seeded_rng(7, 0)).take(5).collect();
//! assert_eq!(delays[0], Duration::from_millis(1000));
//! assert_eq!(delays[4], Duration::from_millis(16_000));
//! ```
//!
//! # An axum service using them together
//!
//! A `POST /charge` handler (features `tower`, and axum in your own crate). The client
//! sends an `Idempotency-Key` and may retry; the key is scoped to the authenticated
//! account, so two accounts' `order-17` never meet. [`tower::DeadlineLayer`] gives every
//! request 2 s, and the handler passes that deadline on to its calls to a payment provider,
//! which sometimes answers 503: they are retried with jittered backoff behind one circuit
//! breaker that every request shares. axum wants infallible services, so
//! `HandleErrorLayer` turns the layers' errors into statuses
//! ([`tower::http::error_status`]).
//!
//! ```
//! # #[cfg(feature = "tower")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! use axum::body::Body;
//! use axum::error_handling::HandleErrorLayer;
//! use axum::extract::{Extension, State};
//! use axum::http::{HeaderMap, Request, StatusCode};
//! use axum::routing::post;
//! use axum::Router;
//! use tower::{ServiceBuilder, ServiceExt};
//! use unbreakable::deadline::Deadline;
//! use unbreakable::idempotency::edge::Idempotent;
//! use unbreakable::idempotency::{IdempotencyKey, KeyError, MemoryStore, Policy, RunError, StoreError};
//! use unbreakable::retry::{Backoff, Breaker, BreakerConfig, ErrorClass, Jitter, Retry, RetryPolicy};
//! use unbreakable::time::Clock;
//! use unbreakable::tower::http::error_status;
//! use unbreakable::tower::{BoxError, DeadlineLayer};
//!
//! /// Built once at start-up; axum clones it into every request.
//! #[derive(Clone)]
//! struct App {
//!     keys: Idempotent<MemoryStore<String>>,
//!     breaker: Breaker,
//!     policy: RetryPolicy,
//!     provider_calls: Arc<AtomicU32>,
//! }
//!
//! /// The payment provider: two 503s, then a charge.
//! async fn provider(calls: &AtomicU32, amount: u64) -> Result<String, u16> {
//!     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(503) } else { Ok(format!("ch_{amount}")) }
//! }
//!
//! async fn charge(
//!     State(app): State<App>,
//!     Extension(deadline): Extension<Deadline>, // stored by DeadlineLayer
//!     Extension(clock): Extension<Clock>,
//!     headers: HeaderMap,
//!     body: String,
//! ) -> (StatusCode, String) {
//!     // In a real service the account comes from your authentication layer.
//!     let account = headers.get("x-account").and_then(|v| v.to_str().ok()).unwrap_or("");
//!     let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("");
//!     let Ok(key) = IdempotencyKey::new(account, key) else {
//!         return (StatusCode::BAD_REQUEST, "send an Idempotency-Key".into());
//!     };
//!     let Ok(amount) = body.trim().parse::<u64>() else {
//!         return (StatusCode::UNPROCESSABLE_ENTITY, "the body is an amount in cents".into());
//!     };
//!     let (calls, policy, breaker) = (&app.provider_calls, app.policy, app.breaker.clone());
//!     let answer = app
//!         .keys
//!         .run(&key, body.as_bytes(), || async move {
//!             Retry::new(policy) // jitter from OS randomness: replicas do not retry in step
//!                 .with_breaker(breaker)
//!                 .with_deadline(deadline, clock)
//!                 .with_attempt_timeout(Duration::from_millis(500))
//!                 .run(|_attempt| provider(calls, amount), |status| {
//!                     if *status >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent }
//!                 })
//!                 .await
//!         })
//!         .await;
//!     match answer {
//!         Ok(served) => (StatusCode::OK, served.response),
//!         Err(RunError::Store(StoreError::Key(KeyError::InProgress { .. }))) => {
//!             (StatusCode::CONFLICT, "the first request with this key is still running".into())
//!         }
//!         Err(RunError::Store(StoreError::Key(KeyError::Mismatch { .. }))) => {
//!             (StatusCode::UNPROCESSABLE_ENTITY, "this key was used for another request".into())
//!         }
//!         // Charged, but the receipt could not be stored: answer it all the same (the
//!         // client has no reason to retry), and report the store's failure. The key
//!         // stays taken until its lock timeout (a retry before then is told 409).
//!         Err(RunError::Unrecorded { response, source, .. }) => {
//!             eprintln!("receipt {response} not stored: {source}");
//!             (StatusCode::OK, response)
//!         }
//!         // The provider's outcome is unknown: the key stays taken until its lock
//!         // timeout, so a quick retry is told 409, never charged twice.
//!         Err(other) => (StatusCode::BAD_GATEWAY, other.to_string()),
//!     }
//! }
//!
//! let app = App {
//!     keys: Idempotent::new(MemoryStore::new(Policy::default())).unwrap(),
//!     breaker: Breaker::new(BreakerConfig::default()).unwrap(),
//!     policy: RetryPolicy::new(
//!         Backoff::exponential(Duration::from_millis(100)).with_jitter(Jitter::Full).build().unwrap(),
//!         4,
//!     )
//!     .unwrap(),
//!     provider_calls: Arc::new(AtomicU32::new(0)),
//! };
//! let calls = Arc::clone(&app.provider_calls);
//! let router = Router::new().route("/charge", post(charge)).with_state(app).layer(
//!     ServiceBuilder::new()
//!         .layer(HandleErrorLayer::new(|e: BoxError| async move { (error_status(&e), e.to_string()) }))
//!         .layer(DeadlineLayer::new(Clock::start()).with_default_timeout(Duration::from_secs(2)).unwrap()),
//! );
//!
//! let send = |key: &str| {
//!     let request = Request::post("/charge")
//!         .header("x-account", "acct_7")
//!         .header("idempotency-key", key)
//!         .body(Body::from("500"))
//!         .unwrap();
//!     router.clone().oneshot(request)
//! };
//! // Two 503s are retried; the third attempt charges.
//! let first = send("order-17").await.unwrap();
//! assert_eq!(first.status(), StatusCode::OK);
//! // The answer was lost and the client sent the same request again: the stored answer
//! // is replayed, the provider is not called a fourth time.
//! let again = send("order-17").await.unwrap();
//! assert_eq!(again.status(), StatusCode::OK);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! # });
//! ```

#![warn(missing_docs)]

pub mod cqrs;
pub mod deadline;
pub mod degrade;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod lock;
#[cfg(feature = "mutants")]
#[doc(hidden)]
pub mod mutants;
// Cargo unifies features across a build, so a workspace that holds a simulation crate
// enabling `mutants` (or a CI job with `--all-features`) compiles the switches into every
// build of this crate there. They do nothing unless a thread sets one; an optimised build
// without debug assertions, what a service ships, refuses to compile with them at all.
#[cfg(all(feature = "mutants", not(debug_assertions)))]
compile_error!(
    "the `mutants` feature of `unbreakable` switches fixed bugs back on for tests: it is refused in a build \
     without debug assertions (a release build); do not enable it (check `--all-features` and crates that enable it: \
     `unbreakable-sim`, and `unbreakable-lab` through its default `sim` feature, so build the laboratory optimised with \
     `--no-default-features`, or keep debug assertions with `--config profile.release.debug-assertions=true`)"
);
pub mod pagination;
pub mod pool;
pub mod retry;
pub mod time;
#[cfg(feature = "tower")]
pub mod tower;
pub mod transactions;
mod worker;

pub use error::{ConfigError, Error};
