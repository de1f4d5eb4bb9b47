//! The widgets' server: the book and its live widgets on 127.0.0.1.
//!
//! ```text
//! unbreakable-play [--port P] [--book DIR] [--run-budget-ms N] [--log-json]
//! ```
//!
//! Ctrl-C (SIGINT) or SIGTERM stops it: it stops accepting, lets the requests in flight
//! finish, and exits 0. Logs (one structured line per request) go to stderr; set
//! `RUST_LOG` to change their level (default `info`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use unbreakable_lab::play::server::{Config, Play, loopback, router, serve};
use unbreakable_lab::play::widgets;

/// The port when none is given.
const DEFAULT_PORT: u16 = 8426;

const USAGE: &str = "usage: unbreakable-play [--port P] [--book DIR] [--run-budget-ms N] [--log-json]
  --port P           the port on 127.0.0.1 (default 8426; 0: any free port)
  --book DIR         the built book to serve (default data/book)
  --run-budget-ms N  the longest a run may take before the cached default answers (default 1000)
  --log-json         request logs as JSON lines";

struct Args {
    port: u16,
    book: PathBuf,
    budget: Option<Duration>,
    json: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { port: DEFAULT_PORT, book: PathBuf::from("data/book"), budget: None, json: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => {
                let v = it.next().ok_or("--port needs a number")?;
                a.port = v.parse().map_err(|_| format!("--port takes 0 to 65535, not `{v}`"))?;
            }
            "--book" => a.book = it.next().ok_or("--book needs a directory")?.into(),
            "--run-budget-ms" => {
                let v = it.next().ok_or("--run-budget-ms needs a number")?;
                let ms: u64 =
                    v.parse().map_err(|_| format!("--run-budget-ms takes a whole number, not `{v}`"))?;
                a.budget = Some(Duration::from_millis(ms));
            }
            "--log-json" => a.json = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// Completes at the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("stopping: no new connections; requests in flight finish");
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    if args.json {
        fmt.json().init()
    } else {
        fmt.init()
    }

    let mut config = Config::default();
    if let Some(b) = args.budget {
        config.run_budget = b;
    }
    if args.book.join("index.html").exists() {
        config.book = Some(args.book.clone());
    } else {
        eprintln!(
            "note: {} has no built book (index.html): serving the API only; build the book with ./workbook book",
            args.book.display()
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let state = Play::new(widgets::all(), &config).await.map_err(|e| e.to_string())?;
        let app = router(state, &config).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(loopback(args.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e} (try --port 0)", args.port))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // The one line a script waits for (stdout; the logs are on stderr).
        println!("unbreakable-play: serving on http://{addr}/ (Ctrl-C stops it)");
        serve(listener, app, shutdown_signal()).await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {
            println!("unbreakable-play: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
