//! Every scenario over many seeds, and proof that the invariants catch each mutant.
//!
//! `UNBREAKABLE_SEEDS=N` runs N seeds per scenario (default 500); `UNBREAKABLE_SEED=S`
//! runs seed S alone. A failing seed panics with one line: the violation, the command
//! that replays it, and where its history CSV was written.

use unbreakable_sim::history::AuditCall;
use unbreakable_sim::{Mutant, Scenario, caught_by, run};

fn seeds() -> std::ops::Range<u64> {
    if let Some(seed) = std::env::var("UNBREAKABLE_SEED").ok().and_then(|s| s.parse().ok()) {
        return seed..seed + 1;
    }
    let n = std::env::var("UNBREAKABLE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    0..n
}

fn holds(scenario: Scenario) {
    tally(scenario, |_| {});
}

/// Runs [`seeds`] of `scenario`, asserting each holds, and shows each report to `count`;
/// answers whether the seeds were the default 0..500 (the crate docs' figures are
/// measured over those).
fn tally(scenario: Scenario, mut count: impl FnMut(&unbreakable_sim::Report)) -> bool {
    for seed in seeds() {
        let report = run(scenario, seed, None);
        assert!(report.violations.is_empty(), "{}", report.failure_line(None));
        count(&report);
    }
    seeds() == (0..500)
}

/// Seeds whose history has an event of `kind` from `host`.
fn has(report: &unbreakable_sim::Report, host: &str, kind: &str) -> bool {
    report.events.iter().any(|e| e.host == host && e.kind == kind)
}

#[test]
fn checkout_keeps_its_invariants() {
    // The crate docs' figures: seeds in which the audit breaker refused a call, the
    // longest run (whole seconds, rounded up), the fewest orders acknowledged in a seed,
    // seeds that gave up on an order.
    let (mut refused, mut longest_ms, mut fewest, mut gave_up) = (0, 0, usize::MAX, 0);
    let all = tally(Scenario::Checkout, |r| {
        refused += usize::from(r.audit.iter().any(|c| matches!(c, AuditCall::Refused { .. })));
        longest_ms = longest_ms.max(r.simulated.as_millis());
        gave_up += usize::from(has(r, "client", "gave-up"));
        let acked: std::collections::BTreeSet<&str> = r
            .events
            .iter()
            .filter(|e| e.host == "gateway" && e.kind == "ack")
            .map(|e| e.order.as_str())
            .collect();
        fewest = fewest.min(acked.len());
    });
    let longest_s = longest_ms.div_ceil(1000);
    eprintln!(
        "the audit breaker refused a call in {refused} seeds; longest run {longest_ms} ms; at least {fewest} orders acknowledged; {gave_up} seeds gave up on one"
    );
    if all {
        assert_eq!((refused, longest_s, fewest, gave_up), (266, 49, 5, 19), "update the crate docs' figures");
    }
}

#[test]
fn checkout_without_faults_keeps_its_invariants() {
    holds(Scenario::CheckoutCalm);
}

/// Runs [`seeds`] of an election, asserting each holds; answers the fewest writes the
/// resource accepted in a seed, if the seeds were the default 0..500.
fn fewest_writes(scenario: Scenario) -> Option<usize> {
    let mut fewest = usize::MAX;
    let all = tally(scenario, |r| {
        fewest = fewest.min(r.events.iter().filter(|e| e.host == "resource" && e.kind == "accepted").count());
    });
    eprintln!("{}: at least {fewest} writes accepted a seed", scenario.name());
    all.then_some(fewest)
}

#[test]
fn election_keeps_its_invariants() {
    if let Some(fewest) = fewest_writes(Scenario::Election) {
        assert_eq!(fewest, 6, "update the crate docs' figure");
    }
}

#[test]
fn election_without_faults_keeps_its_invariants() {
    if let Some(fewest) = fewest_writes(Scenario::ElectionCalm) {
        assert_eq!(fewest, 49, "update the crate docs' figure");
    }
}

#[test]
fn outbox_keeps_its_invariants() {
    // The crate docs' figures: seeds with a skipped redelivery, seeds that pruned, the
    // fewest orders a seed committed, seeds that gave up on an order.
    // The longest run too (whole seconds, rounded up).
    let (mut skipped, mut pruned, mut fewest, mut gave_up, mut seeds_run) = (0, 0, usize::MAX, 0, 0);
    let mut longest_ms = 0;
    let all = tally(Scenario::Outbox, |r| {
        seeds_run += 1;
        longest_ms = longest_ms.max(r.simulated.as_millis());
        skipped += usize::from(has(r, "projection", "skipped"));
        pruned += usize::from(has(r, "orders", "pruned"));
        gave_up += usize::from(has(r, "client", "gave-up"));
        fewest = fewest.min(r.events.iter().filter(|e| e.host == "orders" && e.kind == "committed").count());
    });
    eprintln!(
        "of {seeds_run} seeds: {skipped} skipped a redelivery, {pruned} pruned, {gave_up} gave up on an order; at least {fewest} orders committed; longest run {longest_ms} ms"
    );
    if all {
        let longest_s = longest_ms.div_ceil(1000);
        assert_eq!(
            (skipped, pruned, gave_up, fewest, longest_s),
            (17, 500, 3, 9, 21),
            "update the crate docs' figures"
        );
    }
}

#[test]
fn outbox_without_faults_keeps_its_invariants() {
    holds(Scenario::OutboxCalm);
}

/// The seeds a mutant may take before the suite is said to miss it.
const WITHIN: u64 = 50;

/// Asserts that `scenario` breaks with `mutant` on within [`WITHIN`] seeds, with a
/// violation that says `expected`, and that the same seed holds with the mutant off;
/// prints how many seeds it took.
fn caught(mutant: Mutant) {
    let (scenario, expected) = caught_by(mutant);
    let found = (0..WITHIN).map(|seed| run(scenario, seed, Some(mutant))).find(|r| !r.violations.is_empty());
    let report = found.unwrap_or_else(|| {
        panic!("{} was not caught in {WITHIN} seeds of {}", mutant.name(), scenario.name())
    });
    eprintln!("{} caught after {} seeds: {}", mutant.name(), report.seed + 1, report.violations[0]);
    assert!(report.violations.iter().any(|v| v.contains(expected)), "{:?}", report.violations);
    // The control run: the same seed holds with the mutant off, so the bug broke it.
    let control = run(scenario, report.seed, None);
    assert!(
        control.violations.is_empty(),
        "seed {} fails without the mutant too: {:?}",
        report.seed,
        control.violations
    );
}

#[test]
fn a_key_released_on_cancel_charges_twice() {
    caught(Mutant::KeyReleasedOnCancel);
}

#[test]
fn a_retry_that_ignores_the_deadline_runs_past_it() {
    caught(Mutant::RetryIgnoresDeadline);
}

#[test]
fn a_fence_that_accepts_an_equal_token_lets_two_writers_share_a_term() {
    caught(Mutant::EqualTokenFenceAccepted);
}

#[test]
fn an_outbox_that_reuses_pruned_positions_loses_events() {
    caught(Mutant::OutboxRowIdReuse);
}

#[test]
fn an_error_after_the_commit_makes_the_retry_bill_twice() {
    caught(Mutant::ErrorAfterCommit);
}

#[test]
fn a_breaker_that_counts_final_failures_as_successes_lets_calls_through_while_it_should_be_open() {
    caught(Mutant::FinalCountedAsSuccess);
}

#[test]
fn every_mutant_has_a_scenario_that_catches_it() {
    for mutant in Mutant::ALL {
        let (_, expected) = caught_by(mutant);
        assert!(!expected.starts_with("(no scenario"), "{} has no scenario in caught_by", mutant.name());
    }
}

/// Runs `seed` of `scenario` twice; asserts both runs recorded the same history and the
/// same audit calls; answers the first run.
fn replays(scenario: Scenario, seed: u64) -> unbreakable_sim::Report {
    let (a, b) = (run(scenario, seed, None), run(scenario, seed, None));
    assert!(a.events.len() > 10, "{} recorded {} events", scenario.name(), a.events.len());
    assert_eq!(a.events, b.events, "{} seed {seed} ran differently twice", scenario.name());
    assert_eq!(a.audit, b.audit, "{} seed {seed} recorded different audit calls", scenario.name());
    a
}

#[test]
fn a_seed_replays_the_same_history() {
    for scenario in Scenario::ALL {
        replays(scenario, 7);
    }
    // Seeds whose gateway crashed with an audit call in flight: the call is recorded as
    // cancelled, not at a time read from the wall clock.
    let mut cancelled = 0;
    for seed in 0..40 {
        let a = replays(Scenario::Checkout, seed);
        cancelled += a.audit.iter().filter(|c| matches!(c, AuditCall::Cancelled { .. })).count();
    }
    assert!(cancelled > 0, "no checkout seed of 0..40 crashed the gateway mid-call: pick others");
    // Outbox seeds, relay crashes among them (the relay's SQLite work runs on real threads).
    let mut relay_crashes = 0;
    for seed in 0..20 {
        let a = replays(Scenario::Outbox, seed);
        relay_crashes += a.events.iter().filter(|e| e.kind == "crash" && e.detail == "relay").count();
    }
    assert!(relay_crashes > 0, "no outbox seed of 0..20 crashed the relay: pick others");
}

#[test]
fn a_mutant_is_off_once_its_run_ends() {
    let _ = run(Scenario::Checkout, 0, Some(Mutant::KeyReleasedOnCancel));
    assert!(!unbreakable::mutants::active(Mutant::KeyReleasedOnCancel));
}

#[test]
fn a_failing_seed_says_in_one_line_how_to_replay_it_and_writes_its_history() {
    let dir = std::env::temp_dir().join(format!("unbreakable-sim-test-{}", std::process::id()));
    let report = run(Scenario::Election, 2, Some(Mutant::EqualTokenFenceAccepted));
    assert!(!report.violations.is_empty(), "seed 2 no longer breaks with the mutant: pick another");
    let line = report.failure_line(Some(dir.clone()));
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains("cargo run -p unbreakable-sim --bin unbreakable-simulate -- --scenario election --seed 2 --mutant equal-token-fence"),
        "{line}"
    );
    let csv = std::fs::read_to_string(dir.join("election-equal-token-fence-2.csv")).unwrap();
    assert_eq!(csv.lines().count(), report.events.len() + 1, "a header and one row per event");
    assert!(csv.starts_with("at_ms,host,kind,order,detail"), "{}", &csv[..60.min(csv.len())]);
    let svg = std::fs::read_to_string(dir.join("election-equal-token-fence-2.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("two writers"),
        "the timeline's title names the violation"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_ledger_that_answers_before_its_fsync_loses_an_acknowledged_payment() {
    unbreakable_sim::checkout::ledger_writes_back(true);
    let found = (0..WITHIN).find(|&seed| {
        run(Scenario::Checkout, seed, None).violations.iter().any(|v| v.contains("is not in the ledger"))
    });
    unbreakable_sim::checkout::ledger_writes_back(false);
    let seed = found.unwrap_or_else(|| panic!("a write-back ledger was not caught in {WITHIN} seeds"));
    eprintln!("ledger-writes-back caught after {} seeds", seed + 1);
}

#[test]
fn the_lowest_failing_seed_is_found_whatever_the_number_of_threads() {
    let mutant = Some(Mutant::KeyReleasedOnCancel);
    let one = unbreakable_sim::run_seeds(Scenario::Checkout, 0..12, mutant, 1, &|| {})
        .expect("caught on one thread");
    let two =
        unbreakable_sim::run_seeds(Scenario::Checkout, 0..12, mutant, 2, &|| {}).expect("caught on two");
    assert_eq!((one.seed, &one.violations), (two.seed, &two.violations));
    let first = (0..12).find(|&s| !run(Scenario::Checkout, s, mutant).violations.is_empty());
    assert_eq!(Some(one.seed), first, "the lowest failing seed, not just any");
    assert!(unbreakable_sim::run_seeds(Scenario::Election, 0..8, None, 2, &|| {}).is_none());
    // The outbox too: its relay's SQLite work runs on tokio's blocking pool, off the
    // seed's thread.
    let mutant = Some(Mutant::OutboxRowIdReuse);
    let one =
        unbreakable_sim::run_seeds(Scenario::Outbox, 0..12, mutant, 1, &|| {}).expect("caught on one thread");
    let two = unbreakable_sim::run_seeds(Scenario::Outbox, 0..12, mutant, 2, &|| {}).expect("caught on two");
    assert_eq!((one.seed, &one.violations), (two.seed, &two.violations));
    let first = (0..12).find(|&s| !run(Scenario::Outbox, s, mutant).violations.is_empty());
    assert_eq!(Some(one.seed), first, "the lowest failing seed, not just any");
    assert!(unbreakable_sim::run_seeds(Scenario::Outbox, 0..8, None, 2, &|| {}).is_none());
}

#[test]
fn a_range_ending_at_the_last_seed_runs_only_its_seeds() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let ran = AtomicU64::new(0);
    let count = || {
        let n = ran.fetch_add(1, Ordering::Relaxed) + 1;
        assert!(n <= 3, "seed {n} run of a 3-seed range: the counter wrapped past u64::MAX");
    };
    let found = unbreakable_sim::run_seeds(Scenario::ElectionCalm, u64::MAX - 3..u64::MAX, None, 2, &count);
    assert!(found.is_none(), "{:?}", found.map(|r| r.violations));
    assert_eq!(ran.load(Ordering::Relaxed), 3);
}
