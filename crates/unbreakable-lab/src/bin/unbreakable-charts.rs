//! The chart command: runs every scenario of the workbook and writes each chart as SVG
//! and PNG, with its data beside it as CSV, and an `index.json` that lists every chart
//! written (id, title, seed, caption with the parameters), from which the book's gallery is
//! built.
//!
//! ```text
//! unbreakable-charts [--out DIR] [--seed N] [--only ID]... [--list]
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use unbreakable_lab::charts::SIZE;
use unbreakable_lab::charts::book::{SEED, catalog};

struct Args {
    out: PathBuf,
    seed: u64,
    only: Vec<String>,
    list: bool,
}

const USAGE: &str = "usage: unbreakable-charts [--out DIR] [--seed N] [--only ID]... [--list]
  --out DIR   where to write the files (default: data/charts)
  --seed N    the seed of every scenario (default: 42, the one the notebooks use)
  --only ID   only this chart (repeatable; see --list)
  --list      list the chart ids and exit";

fn parse() -> Result<Args, String> {
    let mut a = Args { out: PathBuf::from("data/charts"), seed: SEED, only: Vec::new(), list: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => a.out = it.next().ok_or("--out needs a directory")?.into(),
            "--seed" => {
                let v = it.next().ok_or("--seed needs a number")?;
                a.seed = v
                    .parse()
                    .map_err(|_| format!("--seed takes a whole number from 0 to 2^64-1, not `{v}`"))?;
            }
            "--only" => a.only.push(it.next().ok_or("--only needs a chart id (see --list)")?),
            "--list" => a.list = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let entries = catalog();
    let known: Vec<&str> = entries.iter().flat_map(|e| e.ids.iter().copied()).collect();
    if args.list {
        for id in &known {
            println!("{id}");
        }
        return ExitCode::SUCCESS;
    }
    if let Some(bad) = args.only.iter().find(|o| !known.contains(&o.as_str())) {
        eprintln!("error: no chart `{bad}`; the charts are: {}", known.join(", "));
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let todo: Vec<_> = entries
        .iter()
        .filter(|e| args.only.is_empty() || e.ids.iter().any(|id| args.only.iter().any(|o| o == id)))
        .collect();
    let start = Instant::now();
    let mut rows: Vec<(String, f64, &str)> = Vec::new();
    let mut index: Vec<serde_json::Value> = Vec::new();
    let mut failed = 0;
    for (i, e) in todo.iter().enumerate() {
        let t = Instant::now();
        println!("[{}/{}] {} (seed {}) ...", i + 1, todo.len(), e.ids.join(" + "), args.seed);
        let result = (e.build)(args.seed).and_then(|charts| {
            for (id, chart) in e.ids.iter().zip(&charts) {
                let base = args.out.join(id);
                std::fs::write(base.with_extension("svg"), chart.to_svg(SIZE)?)?;
                chart.save_png(&base.with_extension("png"), SIZE)?;
                chart.write_csv(BufWriter::new(File::create(base.with_extension("csv"))?))?;
                index.push(serde_json::json!({
                    "id": id, "title": chart.title, "caption": chart.caption, "seed": args.seed,
                }));
            }
            Ok(charts.len())
        });
        let secs = t.elapsed().as_secs_f64();
        match result {
            Ok(n) => {
                println!(
                    "      wrote {n} chart(s) in {secs:.2} s  [elapsed {:.1} s]",
                    start.elapsed().as_secs_f64()
                );
                rows.extend(e.ids.iter().map(|id| (id.to_string(), secs, "ok")));
            }
            Err(err) => {
                failed += 1;
                eprintln!("      FAILED: {err}");
                rows.extend(e.ids.iter().map(|id| (id.to_string(), secs, "FAILED")));
            }
        }
    }
    let listing = serde_json::to_string_pretty(&index)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(args.out.join("index.json"), json + "\n"));
    if let Err(e) = listing {
        eprintln!("error: cannot write {}: {e}", args.out.join("index.json").display());
        failed += 1;
    }
    println!("\n{:<24} {:>9}  status", "chart", "seconds");
    for (id, s, status) in &rows {
        println!("{id:<24} {s:>9.2}  {status}");
    }
    println!(
        "{} charts ({} files each: svg, png, csv) in {} in {:.1} s; {failed} failed",
        rows.len(),
        3,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
