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
    let mut seen = std::collections::BTreeSet::new();
    let mut twice = Vec::new();
    for e in events.iter().filter(|e| e.host == "provider" && e.kind == "charge") {
        if !seen.insert(e.order.as_str()) && !twice.contains(&e.order) {
            twice.push(e.order.clone());
        }
    }
    twice
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable_sim::{Mutant, Scenario, run};

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
        let buggy = run(Scenario::Checkout, 1, Some(Mutant::KeyReleasedOnCancel));
        let mine = double_charges(&buggy.events);
        assert_eq!(mine.len(), 1, "the simulation's own check says: {:?}", buggy.violations);
        assert!(buggy.violations[0].starts_with(&format!("{} charged twice", mine[0])));
    }

    #[test]
    fn the_fixed_library_passes() {
        for seed in 0..10 {
            let r = run(Scenario::Checkout, seed, None);
            assert_eq!(double_charges(&r.events), Vec::<String>::new(), "seed {seed}");
        }
    }
}
