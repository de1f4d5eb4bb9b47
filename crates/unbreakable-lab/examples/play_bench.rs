//! Load benchmark of the play server: p50 and p99 latency of each widget's run at its
//! default parameters, through HTTP on 127.0.0.1, against a same-run baseline calling the
//! scenario directly (the scenario alone, and the scenario with its chart drawn as SVG
//! and CSV: the work a request does).
//!
//! ```text
//! ./workbook bench-play [--count N] [--concurrency C] [--only ID]...
//! cargo run -p unbreakable-lab --all-features --example play_bench -- [--count N] [--concurrency C] [--only ID]...
//! ```
//!
//! Bounded: `--count` runs per widget and per way (default 40, at most 1000), and each
//! widget's HTTP measurement stops after 20 s. Seeds 1..=N, the same for every way. Not a
//! test: nothing is asserted; the figures depend on the machine. `--only` (repeatable) measures
//! those widgets alone.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use unbreakable_lab::play::params::Values;
use unbreakable_lab::play::server::{Config, Play, loopback, render, router, serve};
use unbreakable_lab::play::widgets;

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut count = 40usize;
    let mut concurrency = 1usize;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--count" => count = args.next().ok_or("--count N")?.parse::<usize>()?.clamp(1, 1000),
            "--concurrency" => {
                concurrency = args.next().ok_or("--concurrency C")?.parse::<usize>()?.clamp(1, 16)
            }
            "--only" => only.push(args.next().ok_or("--only ID")?),
            _ => {
                return Err(format!(
                    "unknown argument {a}; usage: play_bench [--count N] [--concurrency C] [--only ID]..."
                )
                .into());
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let config = Config::default();
        let app = router(Play::new(widgets::all(), &config).await?, &config)?;
        let listener = tokio::net::TcpListener::bind(loopback(0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, async {
            let _ = stopped.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        println!(
            "{count} runs per widget at its default parameters (seeds 1..={count}); HTTP on {addr}, {concurrency} at a time; workers {}; times in ms\n",
            config.workers
        );
        println!(
            "| widget | scenario p50 | scenario p99 | + chart p50 | + chart p99 | HTTP p50 | HTTP p99 | fallbacks |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let known: Vec<_> = widgets::all().iter().map(|w| w.id).collect();
        if let Some(bad) = only.iter().find(|o| !known.contains(&o.as_str())) {
            return Err(format!("--only {bad}: no such widget; the widgets are {}", known.join(", ")).into());
        }
        for w in widgets::all().into_iter().filter(|w| only.is_empty() || only.iter().any(|o| o == w.id)) {
            let defaults = Values::defaults(&w.params);
            let (mut scenario, mut rendered) = (Vec::new(), Vec::new());
            for seed in 1..=count as u64 {
                let t = Instant::now();
                (w.run)(&defaults, seed)?;
                scenario.push(ms(t.elapsed()));
                let t = Instant::now();
                render(&w, &defaults, seed)?;
                rendered.push(ms(t.elapsed()));
            }
            let mut http = Vec::new();
            let mut fallbacks = 0;
            let started = Instant::now();
            let mut seed = 1u64;
            while seed <= count as u64 && started.elapsed() < Duration::from_secs(20) {
                let batch: Vec<_> = (seed..(seed + concurrency as u64).min(count as u64 + 1))
                    .map(|s| {
                        let client = client.clone();
                        let uri = format!("http://{addr}/api/run/{}", w.id);
                        tokio::spawn(async move {
                            let req = hyper::Request::post(uri)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(format!("{{\"seed\": {s}}}"))))?;
                            let t = Instant::now();
                            let resp = client.request(req).await?;
                            let status = resp.status();
                            let body = resp.into_body().collect().await?.to_bytes();
                            let elapsed = ms(t.elapsed());
                            let v: serde_json::Value = serde_json::from_slice(&body)?;
                            if !status.is_success() {
                                return Err(format!("HTTP {status}: {v}").into());
                            }
                            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((elapsed, v["fallback"].is_string()))
                        })
                    })
                    .collect();
                seed += batch.len() as u64;
                for b in batch {
                    let (elapsed, fell_back) = b.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
                    http.push(elapsed);
                    fallbacks += usize::from(fell_back);
                }
            }
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {fallbacks} |",
                w.id,
                quantile(&mut scenario, 0.5),
                quantile(&mut scenario, 0.99),
                quantile(&mut rendered, 0.5),
                quantile(&mut rendered, 0.99),
                quantile(&mut http, 0.5),
                quantile(&mut http, 0.99),
            );
        }
        let _ = stop.send(());
        server.await??;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
