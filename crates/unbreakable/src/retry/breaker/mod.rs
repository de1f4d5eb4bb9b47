//! The circuit breaker.
//!
//! * [`CircuitBreaker`] is the pure core: closed, open, half-open, driven by `now` and
//!   outcomes; the simulator steps it directly.
//! * [`Breaker`] is what a service shares between tasks: a cloneable handle with its own
//!   clock, whose [`acquire`](Breaker::acquire) hands out a [`BreakerPermit`] that
//!   records the outcome when it is used and gives a half-open probe slot back when it
//!   is dropped unused (a cancelled request can never leave the breaker stuck).

mod core;
mod handle;

pub use self::core::{
    Admission, BreakerConfig, BreakerOpen, BreakerState, CircuitBreaker, MAX_PERIOD, MAX_THRESHOLD,
};
pub use handle::{Breaker, BreakerError, BreakerPermit};
