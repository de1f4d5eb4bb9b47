// Exercise 13.2: find the lowest seed that breaks a bug switched back on.
//
// What to do: `lowest_failing` runs `scenario` with `mutant` switched on (`run`, one seed
// at a time, from the lowest) and answers the first seed in `seeds` whose report has a
// violation, or `None` if every seed held. Stop at the first failure. It is shipped
// answering `None`.
// Why it matters: the lowest failing seed is the simplest bug report the simulation can
// give: one number that replays the whole run, event for event. Searching in order, and
// stopping at the first failure, is also what `run_seeds` does on many threads.
// Chapter: 13-proving-it, "One bug, found by a seed".
// Hint: `run(scenario, seed, Some(mutant))` answers a `Report`; its `violations` is empty
//   when the run broke nothing.

use std::ops::Range;

use unbreakable_sim::{Mutant, Scenario, run};

pub fn lowest_failing(scenario: Scenario, mutant: Mutant, seeds: Range<u64>) -> Option<u64> {
    seeds.into_iter().find(|&seed| !run(scenario, seed, Some(mutant)).violations.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable_sim::{caught_by, run_seeds};

    /// The simulation's own answer: `run_seeds` on one thread.
    fn simulation(scenario: Scenario, mutant: Mutant, seeds: Range<u64>) -> u64 {
        let found = run_seeds(scenario, seeds.clone(), Some(mutant), 1, &|| {});
        found.unwrap_or_else(|| panic!("the simulation finds a failing seed in {seeds:?}")).seed
    }

    #[test]
    fn finds_the_double_charge() {
        let (scenario, mutant) = (Scenario::Checkout, Mutant::KeyReleasedOnCancel);
        let first = simulation(scenario, mutant, 0..50);
        assert_eq!(lowest_failing(scenario, mutant, 0..50), Some(first));
        // Past the first, the next one.
        let next = simulation(scenario, mutant, first + 1..50);
        assert_eq!(lowest_failing(scenario, mutant, first + 1..50), Some(next));
    }

    #[test]
    fn finds_the_two_writers_in_the_election() {
        let (scenario, _) = caught_by(Mutant::EqualTokenFenceAccepted);
        let first = simulation(scenario, Mutant::EqualTokenFenceAccepted, 0..50);
        assert_eq!(lowest_failing(scenario, Mutant::EqualTokenFenceAccepted, 0..50), Some(first));
    }

    #[test]
    fn a_range_that_holds_answers_none() {
        // Every seed below the lowest failing one holds.
        let first = simulation(Scenario::Checkout, Mutant::KeyReleasedOnCancel, 0..50);
        assert_eq!(lowest_failing(Scenario::Checkout, Mutant::KeyReleasedOnCancel, 0..first), None);
        assert_eq!(lowest_failing(Scenario::Checkout, Mutant::KeyReleasedOnCancel, 5..5), None);
    }
}
