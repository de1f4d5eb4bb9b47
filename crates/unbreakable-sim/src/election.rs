//! Leader election (stub).
use crate::history::Log;
use std::time::Duration;
/// Runs one seed.
pub fn run(_seed: u64, _log: &Log) -> (Vec<String>, Duration) {
    (Vec::new(), Duration::ZERO)
}
