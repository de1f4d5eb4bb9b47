// Exercise 05.8: shut down gracefully: drain, then cut.
//
// What to do: a server is stopping. `in_flight` holds the requests it is still serving.
// Write `drain(in_flight, grace)`: let them finish for up to `grace`, then abort the ones
// still running, and return how many finished and how many were aborted. Return as soon
// as the last one finishes; do not sit out the whole grace period for nothing.
// Why it matters: a deploy restarts every instance. Killing requests mid-way turns a
// routine deploy into a burst of errors (and half-done work); waiting without a bound
// turns one stuck request into a deploy that never ends. Orchestrators give a grace
// period (Kubernetes' default is 30 s) and then kill the process anyway.
// Chapter: 05-graceful-degradation, "Fail fast or degrade?".
// Hint: `JoinSet::join_next` waits for the next task to finish (None when none is left);
//   what bounds the whole loop, not each wait? What does `JoinSet::shutdown` do?

use std::time::Duration;
use tokio::task::JoinSet;

#[derive(Debug, PartialEq, Eq)]
pub struct Drained {
    pub finished: usize,
    pub aborted: usize,
}

pub async fn drain(mut in_flight: JoinSet<()>, grace: Duration) -> Drained {
    // TODO: this kills every request at once.
    let _ = grace;
    let aborted = in_flight.len();
    in_flight.shutdown().await;
    Drained { finished: 0, aborted }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::{Instant, sleep};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Requests that take the given times; `done` counts those that ran to the end.
    fn requests(times: &[u64], done: &Arc<AtomicUsize>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for &t in times {
            let done = done.clone();
            set.spawn(async move {
                sleep(ms(t)).await;
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        set
    }

    #[tokio::test(start_paused = true)]
    async fn the_quick_finish_and_the_stuck_are_cut() {
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let d = drain(requests(&[100, 400, 900, 60_000, 3_600_000], &done), ms(1000)).await;
        assert_eq!(d, Drained { finished: 3, aborted: 2 });
        assert_eq!(start.elapsed(), ms(1000), "the grace period, once, for the whole drain");
        sleep(Duration::from_secs(7200)).await;
        assert_eq!(done.load(Ordering::SeqCst), 3, "the aborted ones never finish later");
    }

    #[tokio::test(start_paused = true)]
    async fn no_waiting_when_everything_is_done() {
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let d = drain(requests(&[100, 250], &done), Duration::from_secs(30)).await;
        assert_eq!(d, Drained { finished: 2, aborted: 0 });
        assert_eq!(start.elapsed(), ms(250));
        assert_eq!(drain(JoinSet::new(), Duration::from_secs(30)).await, Drained { finished: 0, aborted: 0 });
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_trickle_does_not_stretch_the_grace() {
        // One finishes every 300 ms; with a 1 s grace, three make it.
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let d = drain(requests(&[300, 600, 900, 1200, 1500], &done), ms(1000)).await;
        assert_eq!(d, Drained { finished: 3, aborted: 2 });
        assert_eq!(start.elapsed(), ms(1000));
    }
}
