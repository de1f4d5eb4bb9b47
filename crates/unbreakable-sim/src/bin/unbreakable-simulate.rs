//! Runs seeds of a scenario: `unbreakable-simulate --seeds N [--first F] [--scenario S]
//! [--mutant M] [--threads T]`, or one seed with `--seed S`. Progress and the rate go to stderr; the first
//! failing seed stops the run, prints one line that reproduces it (and writes its history
//! CSV), and exits with status 1.

use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use unbreakable_sim::{Mutant, Scenario, run};

const USAGE: &str = "usage: unbreakable-simulate [--seeds N] [--first F] [--seed S] [--scenario checkout|checkout-calm|election|election-calm|outbox|outbox-calm|all] [--mutant key-released-on-cancel|equal-token-fence|retry-ignores-deadline|outbox-row-id-reuse|error-after-commit|final-counted-as-success] [--threads T (default: every core)] [--out DIR]";

fn main() -> ExitCode {
    let mut seeds: u64 = 100;
    let mut first: u64 = 0;
    let mut scenarios = vec![Scenario::Checkout, Scenario::Election, Scenario::Outbox];
    let mut mutant = None;
    let mut out = None;
    let mut threads = None;
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
            ("--threads", Some(v)) => v.parse().ok().filter(|&n| n > 0).map(|n| threads = Some(n)).is_some(),
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
    // Every core: the seeds are independent simulations; the failing seed reported is the
    // lowest one in the range whatever the number of threads.
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    for scenario in scenarios {
        let bar = ProgressBar::new(seeds);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} seeds, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(scenario.name());
        let started = Instant::now();
        let range = first..first.saturating_add(seeds);
        let failed = unbreakable_sim::run_seeds(scenario, range.clone(), mutant, threads, &|| bar.inc(1));
        if let Some(report) = failed {
            bar.abandon();
            println!("{}", report.failure_line(out.clone()));
            return ExitCode::FAILURE;
        }
        if seeds == 1 {
            eprintln!("{}", run(scenario, first, mutant).history_line(out.clone()));
        }
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {seeds} seeds passed in {secs:.1} s ({:.1} seeds/s on {threads} thread{})",
            scenario.name(),
            seeds as f64 / secs,
            if threads == 1 { "" } else { "s" }
        );
    }
    ExitCode::SUCCESS
}
