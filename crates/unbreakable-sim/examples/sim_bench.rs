//! Seeds per second of each scenario against the same scenario with no injected faults,
//! in one run: `cargo run -p unbreakable-sim --example sim_bench [-- SEEDS]`
//! (the debug build the tests use; an optimised build needs `--release --config
//! profile.release.debug-assertions=true`, as the `mutants` feature refuses to compile without them)
//! (default 200 seeds each). Prints one line per scenario: seeds/s, simulated seconds per
//! seed, and simulated seconds per wall-clock second.

use std::time::{Duration, Instant};

use unbreakable_sim::{Scenario, run};

/// Runs `seeds` seeds of `scenario`: wall time and total simulated time.
fn measure(scenario: Scenario, seeds: u64) -> (Duration, Duration) {
    let started = Instant::now();
    let mut simulated = Duration::ZERO;
    for seed in 0..seeds {
        let report = run(scenario, seed, None);
        assert!(report.violations.is_empty(), "{}", report.failure_line(None));
        simulated += report.simulated;
    }
    (started.elapsed(), simulated)
}

fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    println!("{seeds} seeds each, one thread");
    println!(
        "{:<15} {:>9} {:>13} {:>14} {:>12}",
        "scenario", "seeds/s", "sim s/seed", "sim s/wall s", "vs no faults"
    );
    for (faulty, calm) in [
        (Scenario::Checkout, Scenario::CheckoutCalm),
        (Scenario::Election, Scenario::ElectionCalm),
        (Scenario::Outbox, Scenario::OutboxCalm),
    ] {
        let (calm_wall, calm_sim) = measure(calm, seeds);
        let (wall, sim) = measure(faulty, seeds);
        let rate = |w: Duration| seeds as f64 / w.as_secs_f64();
        for (scenario, w, s, ratio) in
            [(calm, calm_wall, calm_sim, 1.0), (faulty, wall, sim, rate(wall) / rate(calm_wall))]
        {
            println!(
                "{:<15} {:>9.1} {:>13.1} {:>14.0} {:>11.2}x",
                scenario.name(),
                rate(w),
                s.as_secs_f64() / seeds as f64,
                s.as_secs_f64() / w.as_secs_f64(),
                ratio
            );
        }
    }
}
