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
//! | [`idempotency`] | idempotency keys: the pure decision, a bounded in-memory store and an async edge |
//! | [`transactions`] | two-phase commit (coordinator and participants as pure state machines) and sagas with compensations |
//! | [`time`] | the clock the async edges read: real in a service, virtual under a paused tokio runtime |
//! | `tower` | (feature `tower`) the patterns as tower layers: retry, circuit breaker, deadline, fallback |
//!
//! Every pattern is a **pure core** (decisions from inputs: no clock, no I/O, no global
//! randomness) plus a **thin async edge** on tokio. This crate depends on little (tokio's
//! `time` and `sync`, rand, serde, thiserror). The workbook's laboratory, with the
//! simulator, the experiments and the charts, is a separate crate, `unbreakable-lab`,
//! built on this one.
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

#![warn(missing_docs)]

pub mod deadline;
pub mod degrade;
pub mod error;
pub mod idempotency;
pub mod retry;
pub mod time;
#[cfg(feature = "tower")]
pub mod tower;
pub mod transactions;

pub use error::{ConfigError, Error};
