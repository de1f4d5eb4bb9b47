// Exercise 13.4: find where two runs' histories part.
//
// What to do: `first_difference` compares two histories event by event and answers the
// index of the first event that differs, or, if one is a prefix of the other, the length
// of the shorter; `None` when they are identical. It is shipped answering `None`.
// Why it matters: determinism is the whole point: one seed must give one run. When a
// change makes a seed's run differ (a new random draw, a real clock read, a `HashMap`'s
// order), the first differing event is where to look. The same tool compares a run with
// a bug and without it: everything before the first difference is shared.
// Chapter: 13-proving-it, "The same seed, the same run".
// Hint: walk both with `zip`; if no pair differs, compare the lengths.

use unbreakable_sim::history::Event;

pub fn first_difference(a: &[Event], b: &[Event]) -> Option<usize> {
    // TODO: the first index where the histories differ.
    let _ = (a, b);
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable_sim::{Mutant, Scenario, run, run_seeds};

    fn ev(at_ms: u64, kind: &str) -> Event {
        Event { at_ms, host: "h".into(), kind: kind.into(), order: String::new(), detail: String::new() }
    }

    #[test]
    fn compares_event_by_event() {
        let a = [ev(1, "x"), ev(2, "y"), ev(3, "z")];
        assert_eq!(first_difference(&a, &a), None);
        assert_eq!(first_difference(&a, &[ev(1, "x"), ev(2, "y"), ev(4, "z")]), Some(2));
        assert_eq!(first_difference(&a, &a[..2]), Some(2));
        assert_eq!(first_difference(&[], &a), Some(0));
    }

    #[test]
    fn one_seed_one_run() {
        let (a, b) = (run(Scenario::Checkout, 7, None), run(Scenario::Checkout, 7, None));
        assert_eq!(first_difference(&a.events, &b.events), None);
        let other = run(Scenario::Checkout, 8, None);
        assert!(first_difference(&a.events, &other.events).is_some());
    }

    #[test]
    fn the_bug_changes_the_run_after_a_shared_start() {
        // The lowest seed the bug breaks, whichever it is; the same seed without the bug.
        let buggy = run_seeds(Scenario::Checkout, 0..50, Some(Mutant::KeyReleasedOnCancel), 1, &|| {})
            .expect("the simulation catches the bug within 50 seeds");
        let fixed = run(Scenario::Checkout, buggy.seed, None);
        let at = first_difference(&fixed.events, &buggy.events).expect("the bug changes the run");
        assert!(at > 0, "the runs share their start");
        assert_eq!(fixed.events[..at], buggy.events[..at]);
    }
}
