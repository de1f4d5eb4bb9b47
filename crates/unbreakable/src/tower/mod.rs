//! The patterns as tower layers (feature `tower`): one line each in a hyper, axum, tonic
//! or reqwest-middleware stack.
//!
//! | layer | what it does | error it adds |
//! |---|---|---|
//! | [`RetryLayer`] | retries with [`RetryPolicy`](crate::retry::RetryPolicy) and jitter, optionally guarded by a shared [`Breaker`](crate::retry::Breaker) and [`Budget`](crate::retry::Budget), each attempt optionally timed out; retries *responses* too (an HTTP 503) | [`GaveUp`] |
//! | [`BreakerLayer`] | guards a service with a shared [`Breaker`](crate::retry::Breaker); a predicate says which outcomes are failures | [`BreakerOpen`](crate::retry::BreakerOpen) |
//! | [`DeadlineLayer`] | bounds each `http::Request` by a [`Deadline`](crate::deadline::Deadline) read from a header (the *remaining* time on the wire), stored in the request's extensions, propagated downstream | [`DeadlineExceeded`](crate::deadline::DeadlineExceeded) |
//! | [`FallbackLayer`] | answers a fallback response instead of an error (or a timeout) | none: it removes them |
//!
//! The layers' services return [`BoxError`], the ecosystem's convention for layered
//! services (tower's own `BoxError`). Every error a layer makes is a small type with a
//! clear message, to [`downcast_ref`](std::error::Error) from the box; errors of the
//! inner service pass through unchanged.
//!
//! The [`http`] module holds what HTTP stacks need around them: the classifier that
//! retries 5xx and honours `Retry-After`, the breaker's failure predicate (5xx yes, 4xx
//! no), and the deadline header's reading and writing.
//!
//! A client stack, outermost first:
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(FallbackLayer::new(..))   // last resort: a degraded answer
//!     .layer(RetryLayer::new(..))      // retries what the layers below report
//!     .layer(BreakerLayer::new(..))    // each attempt asks the breaker
//!     .layer(DeadlineLayer::new(..))   // each attempt bounded, the header written
//!     .service(client)
//! ```
//!
//! Futures are boxed (`Pin<Box<dyn Future + Send>>`): one allocation per call, against
//! hand-written future types for every layer.

mod breaker;
mod buffer;
mod deadline;
mod error;
mod fallback;
pub mod http;
mod retry;

pub use breaker::{BreakerLayer, BreakerService};
pub use buffer::{BodyTooLarge, BufferBodyLayer, BufferBodyService};
pub use deadline::{DEFAULT_HEADER_FLOOR, DeadlineLayer, DeadlineService, TimeoutHeader, TrustHeader};
pub use error::{Elapsed, GaveUp, GiveUpReason};
pub use fallback::{FallbackLayer, FallbackServed, FallbackService};
pub use retry::{Classify, RetryLayer, RetryService, Verdict};

use std::future::Future;
use std::pin::Pin;

/// A boxed error, as tower's `BoxError`: what the layers' services return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The boxed future the layers' services return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
