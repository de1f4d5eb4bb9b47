// Exercise 11.3: count a lease from the request, stop before it ends, renew in time.
//
// What to do: a leader sent its acquire (or renew) request at `sent_at` by its own clock
// and got the answer at `received_at`. Write `valid_until`: the last moment it may act as
// leader, leaving a safety margin for clock drift (the crate's `drift_allowance(ttl)`),
// and `renew_every`: the longest renewal interval that still leaves room for one lost
// renewal inside what is left of the lease, i.e. (ttl - margin) / 2. They are shipped
// counting from the answer, with no margin, renewing once per lease.
// Why it matters: the lock service started the lease when it *received* the request,
// which is some time after `sent_at` and before `received_at`; the node cannot know
// when. Counting from `received_at` lets it act after the lease ended at the service.
// Clocks also run at slightly different speeds, hence the margin. And a leader that
// renews once per TTL loses the lease the first time a renewal is lost.
// Chapter: 11-locks-and-leader-election, "Leader election with terms".
// Hint: which of the two instants is certainly no later than the moment the lock
//   service started the lease?

use std::time::Duration;
use unbreakable::lock::election::drift_allowance;

pub fn valid_until(sent_at: Duration, received_at: Duration, ttl: Duration) -> Duration {
    // TODO: counted from the answer, with no margin.
    received_at + ttl
}

pub fn renew_every(ttl: Duration) -> Duration {
    // TODO: once per lease.
    ttl
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::lock::Token;
    use unbreakable::lock::election::{Action, Config, Elector};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn counted_from_the_request_with_the_margin() {
        // Sent at 1 s, answered 700 ms later (a slow network), lease 10 s: the margin is
        // 1% of 10 s plus 2 ms.
        assert_eq!(valid_until(ms(1000), ms(1700), ms(10_000)), ms(10_898));
        assert_eq!(valid_until(ms(0), ms(0), ms(1000)), ms(988));
    }

    #[test]
    fn agrees_with_the_crate_elector() {
        for ttl in [ms(500), ms(10_000), ms(30_000)] {
            let config = Config { ttl, renew_every: renew_every(ttl), margin: drift_allowance(ttl) };
            let mut node = Elector::new(config).unwrap();
            assert_eq!(node.tick(ms(0)), Action::Acquire);
            node.on_granted(Token(1), ms(200));
            let end = valid_until(ms(200), ms(260), ttl);
            assert_eq!(node.leader(end - Duration::from_nanos(1)), Some(Token(1)), "ttl {ttl:?}");
            assert_eq!(node.leader(end), None, "ttl {ttl:?}");
        }
    }

    #[test]
    fn one_lost_renewal_does_not_cost_the_lease() {
        for ttl in [ms(500), ms(10_000), ms(30_000)] {
            let every = renew_every(ttl);
            let config = Config { ttl, renew_every: every, margin: drift_allowance(ttl) };
            assert!(config.validate().is_ok(), "{config:?}");
            // Granted at 0; the renewal at `every` is lost; the one at 2 × `every` must
            // still be sent while the lease is valid by the node's own clock.
            assert!(ms(0) + every * 2 <= valid_until(ms(0), ms(0), ttl), "ttl {ttl:?}, every {every:?}");
            assert!(
                every * 2 + ms(1) > valid_until(ms(0), ms(0), ttl) - ms(1),
                "as long as that allows: ttl {ttl:?}"
            );
        }
    }
}
