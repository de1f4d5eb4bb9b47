use std::future::Future;

/// Runs `fut` to completion on a `current_thread` tokio runtime whose clock starts
/// paused: every `tokio::time::sleep` and timeout completes in virtual time, as soon as
/// nothing else can run. One seed, one run, the same result every time.
///
/// This is how the workbook runs the *same* async code a service would run (the retry
/// executor, timeouts) in simulation. It needs no multi-threaded runtime, so it works
/// in an evcxr cell without top-level `.await`.
///
/// # Errors
/// Only if the operating system refuses to build a runtime.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable_lab::sim::{run_paused, SimClock};
///
/// let waited = run_paused(async {
///     let clock = SimClock::start();
///     tokio::time::sleep(Duration::from_secs(3600)).await; // an hour, instantly
///     clock.now()
/// }).unwrap();
/// assert_eq!(waited, Duration::from_secs(3600));
/// ```
pub fn run_paused<F: Future>(fut: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?;
    Ok(rt.block_on(fut))
}

/// Virtual time as the pure cores see it: the time since the clock was started. Under
/// a paused runtime it moves only when every task waits on a timer. It is the core
/// crate's [`unbreakable::time::Clock`], so the async edges of the patterns take it as
/// it is.
pub use unbreakable::time::Clock as SimClock;
