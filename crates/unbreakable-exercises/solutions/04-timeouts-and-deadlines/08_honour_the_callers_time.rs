// Exercise 04.8: honour the caller's remaining time.
//
// What to do: a request arrives with the caller's remaining time in a header
// (`x-timeout-ms: 250`, or no header). Write `handle(header, local_timeout, reserve,
// floor, work)`: the time you may spend is the smaller of your own `local_timeout` and
// the caller's remaining time minus `reserve` (for the answer's way back). If that is
// less than `floor`, answer `Refused` at once without starting the work: the caller will
// have given up before it could finish. Otherwise run `work` within that time
// (`TimedOut` if it does not finish). A header value that is not a whole number of
// milliseconds (spaces around it do not count: HTTP strips them from a field value) is the
// caller's mistake: `BadHeader`, without starting the work.
// Why it matters: a server that ignores the caller's deadline keeps working on requests
// nobody is waiting for any more, which is exactly the load that tips an overloaded
// service over (the chapter's "wasted work"). Checking before starting costs nothing.
// Chapter: 04-timeouts-and-deadlines, "Wasted work: independent timeouts against a
//   propagated deadline".
// Hint: trim, then parse with `str::parse::<u64>`; `Duration::saturating_sub` keeps a tiny budget
//   from going below zero. Where must the check against `floor` happen for the work never
//   to start?

use std::future::Future;
use std::time::Duration;

#[derive(Debug, PartialEq, Eq)]
pub enum Reply<T> {
    Done(T),
    Refused,
    TimedOut,
    BadHeader,
}

pub async fn handle<T, F>(
    header: Option<&str>,
    local_timeout: Duration,
    reserve: Duration,
    floor: Duration,
    work: F,
) -> Reply<T>
where
    F: Future<Output = T>,
{
    let budget = match header {
        None => local_timeout,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(ms) => local_timeout.min(Duration::from_millis(ms).saturating_sub(reserve)),
            Err(_) => return Reply::BadHeader,
        },
    };
    if budget < floor {
        return Reply::Refused; // `work` is dropped unpolled: it never starts
    }
    match tokio::time::timeout(budget, work).await {
        Ok(v) => Reply::Done(v),
        Err(_) => Reply::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::{Instant, sleep};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Runs `handle` with a unit of work taking `took`: (reply, time spent, work started).
    async fn run(header: Option<&str>, took: u64) -> (Reply<&'static str>, Duration, u32) {
        let started = AtomicU32::new(0);
        let work = async {
            started.fetch_add(1, Ordering::SeqCst);
            sleep(ms(took)).await;
            "page"
        };
        let start = Instant::now();
        let r = handle(header, ms(2000), ms(20), ms(50), work).await;
        (r, start.elapsed(), started.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn the_callers_time_bounds_the_work() {
        // 250 ms left for the caller, 20 ms kept for the way back: 230 ms.
        assert_eq!(run(Some("250"), 500).await, (Reply::TimedOut, ms(230), 1));
        assert_eq!(run(Some("250"), 100).await, (Reply::Done("page"), ms(100), 1));
        assert_eq!(
            run(Some(" 250 "), 100).await.0,
            Reply::Done("page"),
            "spaces around a value are not part of it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_local_timeout_still_applies() {
        assert_eq!(run(None, 5000).await, (Reply::TimedOut, ms(2000), 1));
        assert_eq!(run(Some("60000"), 5000).await, (Reply::TimedOut, ms(2000), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn too_little_time_is_refused_without_starting() {
        assert_eq!(
            run(Some("60"), 10).await,
            (Reply::Refused, ms(0), 0),
            "60 - 20 = 40 ms < the 50 ms floor"
        );
        assert_eq!(run(Some("5"), 10).await, (Reply::Refused, ms(0), 0), "less than the reserve");
        assert_eq!(run(Some("70"), 10).await, (Reply::Done("page"), ms(10), 1), "exactly the floor will do");
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_header_is_the_callers_mistake() {
        for bad in ["soon", "-5", "1.5", ""] {
            assert_eq!(run(Some(bad), 10).await, (Reply::BadHeader, ms(0), 0), "{bad:?}");
        }
    }
}
