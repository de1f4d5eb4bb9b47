// Exercise 13.1: write the no-double-charge invariant over a run's history.
//
// What to do: `double_charges` gets a run's events (one `Event` per row of its history:
// `at_ms`, `host`, `kind`, `order`, `detail`) and answers every order the provider charged
// more than once, each once, in the order of its second charge. A charge is an event of
// host `provider` and kind `charge`. It is shipped answering nothing, which is what an
// invariant that cannot fail looks like.
// Why it matters: the simulation's verdict is only as good as its invariants. A double
// charge is invisible in every single host's log (each charge looks fine); only the
// history across hosts shows it, and only if something reads it.
// Chapter: 13-proving-it, "One bug, found by a seed".
// Hint: remember the orders you have seen charged; an order seen again is charged twice,
//   but name it only once even if it is charged three times.

use unbreakable_sim::history::Event;

pub fn double_charges(events: &[Event]) -> Vec<String> {
    // TODO: the orders charged more than once.
    let _ = events;
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable_sim::{Mutant, Scenario, run, run_seeds};

    fn ev(host: &str, kind: &str, order: &str) -> Event {
        Event { at_ms: 0, host: host.into(), kind: kind.into(), order: order.into(), detail: String::new() }
    }

    #[test]
    fn counts_only_the_providers_charges() {
        let events = [
            ev("provider", "charge", "order-1"),
            ev("ledger", "written", "order-1"),
            ev("provider", "charge", "order-2"),
            ev("gateway", "charge", "order-2"),
            ev("provider", "charge", "order-2"),
            ev("provider", "charge", "order-2"),
            ev("provider", "charge", "order-1"),
        ];
        assert_eq!(double_charges(&events), ["order-2", "order-1"]);
        assert_eq!(double_charges(&[]), Vec::<String>::new());
    }

    #[test]
    fn catches_the_key_released_on_cancel() {
        // The simulation's lowest failing run with the bug on, whichever seed that is.
        let buggy = run_seeds(Scenario::Checkout, 0..50, Some(Mutant::KeyReleasedOnCancel), 1, &|| {})
            .expect("the simulation catches the bug within 50 seeds");
        // The orders its own check names as charged twice, each once, in order.
        let mut theirs: Vec<String> = Vec::new();
        for v in &buggy.violations {
            if let Some((order, _)) = v.split_once(" charged twice")
                && !theirs.iter().any(|o| o == order)
            {
                theirs.push(order.to_string());
            }
        }
        assert!(!theirs.is_empty(), "{:?}", buggy.violations);
        assert_eq!(
            double_charges(&buggy.events),
            theirs,
            "the simulation's own check says: {:?}",
            buggy.violations
        );
    }

    #[test]
    fn the_fixed_library_passes() {
        for seed in 0..10 {
            let r = run(Scenario::Checkout, seed, None);
            assert_eq!(double_charges(&r.events), Vec::<String>::new(), "seed {seed}");
        }
    }
}
