//! Runs seeds of a scenario: `unbreakable-simulate --seeds N [--first F] [--scenario S]
//! [--mutant M]`, or one seed with `--seed S`. Progress and the rate go to stderr; the first
//! failing seed stops the run, prints one line that reproduces it (and writes its history
//! CSV), and exits with status 1.

use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use unbreakable_sim::{Mutant, Scenario, run};

const USAGE: &str = "usage: unbreakable-simulate [--seeds N] [--first F] [--seed S] [--scenario checkout|checkout-calm|election|election-calm|all] [--mutant key-released-on-cancel|equal-token-fence|retry-ignores-deadline] [--out DIR]";

fn main() -> ExitCode {
    let mut seeds: u64 = 100;
    let mut first: u64 = 0;
    let mut scenarios = vec![Scenario::Checkout, Scenario::Election];
    let mut mutant = None;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let parsed = match (flag.as_str(), value.as_deref()) {
            ("--seeds", Some(v)) => v.parse().map(|n| seeds = n).is_ok(),
            ("--first", Some(v)) => v.parse().map(|n| first = n).is_ok(),
            ("--seed", Some(v)) => v.parse().map(|n| (first, seeds) = (n, 1)).is_ok(),
            ("--scenario", Some("all")) => {
                scenarios = Scenario::ALL.to_vec();
                true
            }
            ("--scenario", Some(v)) => Scenario::parse(v).map(|s| scenarios = vec![s]).is_some(),
            ("--mutant", Some(v)) => Mutant::parse(v).map(|m| mutant = Some(m)).is_some(),
            ("--out", Some(v)) => {
                out = Some(v.into());
                true
            }
            _ => false,
        };
        if !parsed {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    for scenario in scenarios {
        let bar = ProgressBar::new(seeds);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} seeds, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(scenario.name());
        let started = Instant::now();
        for seed in first..first.saturating_add(seeds) {
            let report = run(scenario, seed, mutant);
            bar.inc(1);
            if seeds == 1 {
                eprintln!("{}", report.history_line(out.clone()));
            }
            if !report.violations.is_empty() {
                bar.abandon();
                println!("{}", report.failure_line(out.clone()));
                return ExitCode::FAILURE;
            }
        }
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {seeds} seeds passed in {secs:.1} s ({:.1} seeds/s)",
            scenario.name(),
            seeds as f64 / secs
        );
    }
    ExitCode::SUCCESS
}
