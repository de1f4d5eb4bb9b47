//! # unbreakable
//!
//! Fault-handling patterns for Rust services: retries with backoff and jitter, circuit
//! breaking and retry budgets, deadlines and timeouts, graceful degradation, idempotency
//! keys, two-phase commit and sagas.
//!
//! | module | what it holds |
//! |---|---|
//! | [`retry`] | backoff policies (pure iterators of delays), retry policies, the async retry executor, the circuit breaker and retry budgets |
//! | [`deadline`] | deadlines that travel with a request; connection and read timeouts on any stream |
//! | [`degrade`] | graceful degradation: a fallback for a nice-to-have call |
//! | [`events`] | event sourcing: aggregates (`handle` holds the rules, `apply` none), an event-store trait with optimistic concurrency, in memory and durable on SQLite (feature `sqlite`), snapshots, time travel and a given/when/then harness |
//! | [`idempotency`] | idempotency keys: the pure decision on request fingerprints, the `KeyStore` trait, a bounded in-memory store, a durable SQLite store (feature `sqlite`) and an async edge over any store |
//! | [`lock`] | distributed locks as leases with fencing tokens (the pure lease, a fenced resource, the `LockStore` trait, an in-memory store and, with feature `redis`, a Redis store) and lease-based leader election with terms |
//! | [`transactions`] | two-phase commit (coordinator and participants as pure state machines) and sagas with compensations |
//! | [`time`] | the clock the async edges read: real in a service, virtual under a paused tokio runtime |
//! | `tower` | (feature `tower`) the patterns as tower layers: retry, circuit breaker, deadline, fallback |
//!
//! Every pattern is a **pure core** (decisions from inputs: no clock, no I/O, no global
//! randomness) plus a **thin async edge** on tokio. This crate depends on little (tokio's
//! `time` and `sync`, rand, serde, thiserror). The workbook's laboratory, with the
//! simulator, the experiments and the charts, is a separate crate, `unbreakable-lab`,
//! built on this one. Where these docs cite "the article", they mean *Fault Handling,
//! Performance & Design Patterns: Making Systems Unbreakable*, which the workbook follows
//! section by section and whose figures set several defaults here.
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
//! # A service using them together
//!
//! A `POST /charge` handler: the client sends an idempotency key and may retry; the
//! handler gives the whole request 2 s (a deadline), and calls a payment provider that
//! sometimes answers 503, retrying with jittered backoff behind a circuit breaker shared
//! by every request.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use unbreakable::deadline::Deadline;
//! use unbreakable::idempotency::{edge::Idempotent, IdempotencyKey, MemoryStore, Policy};
//! use unbreakable::retry::{Backoff, Breaker, BreakerConfig, ErrorClass, Jitter, Retry, RetryPolicy};
//! use unbreakable::time::Clock;
//!
//! // Built once, shared by every request (clone the handles into your handlers).
//! let clock = Clock::start();
//! let breaker = Breaker::new(BreakerConfig::default()).unwrap();
//! let keys = Idempotent::new(MemoryStore::new(Policy::default()));
//! let policy = RetryPolicy::new(
//!     Backoff::exponential(Duration::from_millis(100)).with_jitter(Jitter::Full).build().unwrap(),
//!     4,
//! )
//! .unwrap();
//!
//! // The payment provider: two 503s, then a charge.
//! let calls = AtomicU32::new(0);
//! let provider = |amount: u64| {
//!     let n = calls.fetch_add(1, Ordering::SeqCst);
//!     async move { if n < 2 { Err(503u16) } else { Ok(format!("ch_{amount}")) } }
//! };
//!
//! // One request.
//! let charge = |key: &'static str, amount: u64| {
//!     let (keys, breaker, provider) = (&keys, breaker.clone(), &provider);
//!     async move {
//!         let deadline = Deadline::after(clock.now(), Duration::from_secs(2));
//!         let key = IdempotencyKey::new(key).expect("a valid key");
//!         let request = format!("charge {amount}");
//!         keys.run(&key, request.as_str(), || async move {
//!             Retry::new(policy) // jitter from OS randomness: replicas do not retry in step
//!                 .with_breaker(breaker)
//!                 .with_deadline(deadline, clock)
//!                 .with_attempt_timeout(Duration::from_millis(500))
//!                 .run(|_attempt| provider(amount), |status| {
//!                     if *status >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent }
//!                 })
//!                 .await
//!         })
//!         .await
//!     }
//! };
//!
//! let first = charge("order-7", 500).await.unwrap();
//! assert_eq!(first.response, "ch_500");
//! // The answer was lost and the client sent the same request again: replayed from the
//! // key, the provider is not called a fourth time.
//! let again = charge("order-7", 500).await.unwrap();
//! assert!(again.replayed && again.response == "ch_500");
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! assert_eq!(breaker.state().name(), "closed"); // two failures are below its threshold
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
pub mod pagination;
pub mod pool;
pub mod retry;
pub mod time;
#[cfg(feature = "tower")]
pub mod tower;
pub mod transactions;

pub use error::{ConfigError, Error};
