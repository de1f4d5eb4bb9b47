// Exercise 04.5: which timeout fired, and is a retry safe?
//
// What to do: write `may_retry(timeouts, connect, first_byte, idempotent)`: use the
// pure `Timeouts::decide` to find which timeout ends a call whose handshake takes
// `connect` and whose first byte comes `first_byte` after the request (None: never);
// then say whether the client may send the request again.
// Why it matters: a connection timeout means the server never saw the request, so a
// retry is always safe. A read timeout means it may have run: retrying a payment then
// can charge twice, unless the request is idempotent (chapter 06).
// Chapter: 04-timeouts-and-deadlines, "Two timeouts, two phases".
// Hint: for each of `Fired`'s four outcomes, could the server have started the work?
//   And if the call was answered, is there anything to retry?

use std::time::Duration;
use unbreakable::deadline::timeouts::Timeouts;

pub fn may_retry(
    timeouts: &Timeouts,
    connect: Option<Duration>,
    first_byte: Option<Duration>,
    idempotent: bool,
) -> bool {
    use unbreakable::deadline::timeouts::Fired;
    match timeouts.decide(connect, first_byte).fired {
        Fired::Neither => false,
        Fired::Connect => true,
        Fired::Read | Fired::Total => idempotent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn the_four_cases() {
        let t = Timeouts::new(ms(1000), ms(5000)).unwrap();
        // Answered in time: nothing to retry.
        assert!(!may_retry(&t, Some(ms(20)), Some(ms(100)), false));
        // Never connected: the server never saw it.
        assert!(may_retry(&t, None, None, false));
        assert!(may_retry(&t, Some(ms(3000)), Some(ms(10)), false));
        // Connected, no answer: only if repeating it is harmless.
        assert!(!may_retry(&t, Some(ms(20)), None, false));
        assert!(may_retry(&t, Some(ms(20)), None, true));
    }

    #[test]
    fn a_total_bound_cuts_a_slow_read() {
        let t = Timeouts::new(ms(1000), ms(5000)).unwrap().with_total(ms(2000)).unwrap();
        assert!(!may_retry(&t, Some(ms(20)), Some(ms(3000)), false));
        assert!(may_retry(&t, Some(ms(20)), Some(ms(3000)), true));
    }
}
