// Exercise 13.3: a liveness check that a do-nothing system fails.
//
// What to do: `liveness` reads a checkout run's events and answers what the run failed to
// get done, one line each: "no order was acknowledged" if the gateway acknowledged
// nothing (no event of host `gateway` and kind `ack`), and "the client never finished" if
// the simulator stopped the run at its limit (an event of host `sim` and kind `limit`).
// It is shipped answering nothing, so a system that does nothing at all passes.
// Why it matters: safety invariants ("never charge twice") say nothing bad happened; a
// gateway that answers every order with an error, or never answers, breaks none of them.
// A liveness check says something good happened, and is what catches it.
// Chapter: 13-proving-it, "The checkout, simulated".
// Hint: both checks are "is there an event with this host and this kind?".

use unbreakable_sim::history::Event;

pub fn liveness(events: &[Event]) -> Vec<String> {
    // TODO: what the run failed to get done.
    let _ = events;
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable_sim::{Scenario, run};

    fn ev(host: &str, kind: &str) -> Event {
        Event { at_ms: 0, host: host.into(), kind: kind.into(), order: String::new(), detail: String::new() }
    }

    #[test]
    fn a_system_that_does_nothing_fails() {
        assert_eq!(liveness(&[]), ["no order was acknowledged"]);
        // The client gave up on every order; the gateway never acknowledged one.
        let gave_up = [ev("client", "gave-up"), ev("client", "gave-up")];
        assert_eq!(liveness(&gave_up), ["no order was acknowledged"]);
        // And one stuck until the limit.
        assert_eq!(
            liveness(&[ev("sim", "limit")]),
            ["no order was acknowledged", "the client never finished"]
        );
    }

    #[test]
    fn one_acknowledgement_and_a_finished_client_pass() {
        assert_eq!(liveness(&[ev("client", "answer"), ev("gateway", "ack")]), Vec::<String>::new());
        assert_eq!(liveness(&[ev("gateway", "ack"), ev("sim", "limit")]), ["the client never finished"]);
    }

    #[test]
    fn real_runs_are_live() {
        for seed in 0..5 {
            let r = run(Scenario::Checkout, seed, None);
            assert_eq!(liveness(&r.events), Vec::<String>::new(), "seed {seed}");
        }
    }
}
