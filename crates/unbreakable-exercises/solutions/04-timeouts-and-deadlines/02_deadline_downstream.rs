// Exercise 04.2: pass a deadline down the chain.
//
// What to do: write `downstream(deadline, now, reserve, local_timeout)`: the deadline to
// give a downstream call made at `now`. Keep `reserve` back for this hop's own work after
// the call returns; never wait longer than this hop's own `local_timeout`; and fail fast
// (an error) when nothing would be left for the call.
// Why it matters: without a propagated deadline, services deep in the chain keep working
// for a client that gave up long ago. In the chapter's chain that wasted thousands of
// service-seconds.
// Chapter: 04-timeouts-and-deadlines, "Deadlines travel with the request".
// Hint: `Deadline` has one method for the reserve and one for the local timeout; in
//   which order do you apply them, and which of the two can fail?

use std::time::Duration;
use unbreakable::deadline::{Deadline, DeadlineExceeded};

pub fn downstream(
    deadline: Deadline,
    now: Duration,
    reserve: Duration,
    local_timeout: Duration,
) -> Result<Deadline, DeadlineExceeded> {
    Ok(deadline.for_downstream(now, reserve)?.or_timeout(now, local_timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn keeps_a_reserve() {
        let d = Deadline::at(s(30));
        assert_eq!(downstream(d, s(10), s(2), s(60)).unwrap(), Deadline::at(s(28)));
    }

    #[test]
    fn never_longer_than_the_local_timeout() {
        let d = Deadline::at(s(30));
        assert_eq!(downstream(d, s(10), s(2), s(5)).unwrap(), Deadline::at(s(15)));
    }

    #[test]
    fn fails_fast_when_nothing_is_left() {
        let d = Deadline::at(s(30));
        assert!(downstream(d, s(29), s(2), s(5)).is_err());
        assert!(downstream(d, s(31), Duration::ZERO, s(5)).is_err());
    }
}
