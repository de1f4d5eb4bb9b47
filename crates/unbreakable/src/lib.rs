//! # unbreakable
//!
//! The support crate of the *Unbreakable* workbook: fault-handling, performance and
//! design patterns implemented for real, and simulated under failure on a seeded
//! virtual clock.
//!
//! The crate is organised the way the workbook is read:
//!
//! | module | what it holds |
//! |---|---|
//! | [`sim`] | the simulation core: seeded randomness, virtual time, a discrete-event queue, fault-injected service models, traffic, and a [`Recorder`](sim::Recorder) that yields polars DataFrames |
//! | [`deadline`] | deadlines that travel with a request, connection and read timeouts on real sockets, choosing a timeout |
//! | [`idempotency`] | idempotency keys: the pure decision, a bounded in-memory store, a durable SQLite ledger that commits the key with the transfer, and an async edge |
//! | [`transactions`] | two-phase commit (coordinator and participants as pure state machines) and sagas with compensations |
//! | [`degrade`] | graceful degradation: a page model of essential and nice-to-have parts with fallbacks, and an async fallback edge |
//! | [`retry`] | backoff policies (pure iterators of delays), retry policies, the async retry executor, the circuit breaker and retry budgets |
//! | [`scenarios`] | the experiments of the notebooks, each a pure function of a configuration and a seed |
//! | [`charts`] | chart functions that draw on any plotters `DrawingArea` |
//!
//! Every pattern is a **pure core** (decisions from inputs: no clock, no I/O, no global
//! randomness) plus a **thin async edge** that a real service can use. The same seed
//! always gives the same numbers and the same chart, byte for byte.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use unbreakable::retry::{Backoff, Jitter};
//! use unbreakable::sim::rng;
//!
//! let backoff = Backoff::exponential(Duration::from_millis(1000))
//!     .with_cap(Duration::from_secs(30))
//!     .with_jitter(Jitter::None)
//!     .build()
//!     .unwrap();
//! let delays: Vec<_> = backoff.delays(rng(7)).take(5).collect();
//! assert_eq!(delays[0], Duration::from_millis(1000));
//! assert_eq!(delays[4], Duration::from_millis(16_000));
//! ```

#![warn(missing_docs)]

pub mod deadline;
pub mod degrade;
pub mod error;
pub mod idempotency;
pub mod retry;
pub mod scenarios;
pub mod sim;
pub mod transactions;

#[cfg(feature = "charts")]
pub mod charts;

#[cfg(feature = "frames")]
pub mod frames;

/// The polars this crate is built with, for notebooks: `use unbreakable::polars::prelude::*;`.
#[cfg(feature = "frames")]
pub use polars;

/// The tokio this crate is built with, for notebooks that write their own async code
/// (`unbreakable::tokio::time::sleep`) and run it with
/// [`run_paused`](sim::run_paused).
pub use tokio;

/// The rand this crate is built with, for notebooks that draw their own random numbers
/// from a [`SimRng`](sim::SimRng) (`use unbreakable::rand::Rng;`).
pub use rand;

pub use error::{ConfigError, Error};

/// Everything a notebook cell usually needs, in one `use unbreakable::prelude::*;`.
pub mod prelude {
    pub use crate::error::{ConfigError, Error};
    pub use crate::retry::{
        Backoff, BreakerConfig, CircuitBreaker, Jitter, RetryPolicy, RetryQuota, RetryRatio,
        AdaptiveThrottle,
    };
    pub use crate::scenarios;
    pub use crate::sim::{
        rng, secs, millis, Attempt, Effect, FaultWindow, Latency, Outcome, Recorder,
        ServiceConfig, ServiceModel, SimRng,
    };
    #[cfg(feature = "charts")]
    pub use crate::charts;
    #[cfg(feature = "frames")]
    pub use crate::frames;
    pub use std::time::Duration;
}
