//! The experiments of the notebooks. Each is a pure function of a configuration and a
//! seed, returning records; the notebooks and the chart command call the same functions.
//!
//! * [`population`]: the general engine — groups of clients with a retry strategy in
//!   front of one fault-injected service, on the discrete-event queue.
//! * [`widget`], [`herd`], [`flash_sale`], [`expectation`]: chapter 02 set-ups of it.
//! * [`contention`]: the AWS "Exponential Backoff And Jitter" optimistic-concurrency
//!   experiment.
//! * [`amplification`]: retries at every layer of a call chain.
//! * [`bimodal`]: a few hanging requests eat a thread pool (chapter 03).
//! * [`chain`]: chapter 01's gateway -> service -> database under each kind of failure.
//! * [`paused`]: clients as async tasks through the `Retry` edge on tokio's paused clock.

pub mod amplification;
pub mod bimodal;
pub mod chain;
pub mod contention;
pub mod expectation;
pub mod flash_sale;
pub mod herd;
pub mod paused;
pub mod population;
pub mod widget;

pub use population::{Group, Guard, Population, Run, Start, Strategy};
