// Exercise 07.4: two-phase commit blocks when the coordinator crashes.
//
// What to do: write `crash_before_deciding(n)`: run two-phase commit with `n`
// participants that all vote yes, delivering messages by hand, but crash the coordinator
// before any vote reaches it. Return the participants' phases during the outage, then
// recover the coordinator, deliver what it sends, and return their phases after. Then
// write `expected_blocked(rate, participants, outage_s)`, the requests the locks block.
// Why it matters: a prepared participant voted yes and may not decide alone: it holds its
// locks for as long as the coordinator is down. Every request for those rows waits.
// Chapter: 07-distributed-transactions, "The coordinator crashes".
// Hint: which messages does `start` return and who handles them? After a crash the votes
//   are lost: what does the coordinator find in its log when it recovers?

use unbreakable::transactions::two_phase::{Coordinator, Msg, Participant, Phase, Vote};

pub fn crash_before_deciding(n: usize) -> (Vec<Phase>, Vec<Phase>) {
    let mut coord = Coordinator::new(n);
    let mut parts: Vec<Participant> = (0..n).map(|i| Participant::new(i, Vote::Yes)).collect();
    // TODO
    let _ = (&mut coord, &mut parts, Msg::Prepare(0));
    todo!("run the protocol")
}

/// Requests blocked: each of `participants` receives `rate` requests per second that need
/// its locked rows, for `outage_s` seconds.
pub fn expected_blocked(rate: f64, participants: u32, outage_s: f64) -> f64 {
    // TODO
    todo!("{rate} {participants} {outage_s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_participants_hold_their_locks_until_recovery() {
        let (during, after) = crash_before_deciding(3);
        assert_eq!(during, [Phase::Prepared; 3]);
        assert!(during.iter().all(|p| p.holds_locks()));
        // No decision was logged, so on recovery the coordinator presumes abort.
        assert_eq!(after, [Phase::Aborted; 3]);
        for n in [1, 5] {
            let (during, after) = crash_before_deciding(n);
            assert_eq!(during, vec![Phase::Prepared; n], "{n} participants");
            assert_eq!(after, vec![Phase::Aborted; n], "{n} participants");
        }
    }

    #[test]
    fn blocked_requests() {
        assert_eq!(expected_blocked(10.0, 3, 30.0), 900.0);
        assert_eq!(expected_blocked(50.0, 5, 30.0), 7500.0);
        assert_eq!(expected_blocked(2.5, 4, 12.0), 120.0);
        assert_eq!(expected_blocked(10.0, 3, 0.0), 0.0);
    }
}
