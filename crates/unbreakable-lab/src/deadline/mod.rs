//! Deadlines and timeouts: the patterns of [`unbreakable::deadline`], and the workbook's
//! experiments with them.
//!
//! * [`loopback`]: misbehaving servers on `127.0.0.1` to watch the timeouts fire, and the
//!   same servers in simulation.
//! * [`choice`]: choosing a timeout from a latency distribution.

pub use unbreakable::deadline::*;

pub mod choice;
pub mod loopback;
