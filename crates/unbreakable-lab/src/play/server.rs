//! The server: axum, with the crate's own layers around it.
//!
//! Outermost first, every request goes through
//! `TraceLayer` (a structured log line per request: method, path, status, latency) ->
//! `HandleErrorLayer` (a layer's error as a JSON answer with its status) ->
//! `LoadShedLayer` and `GlobalConcurrencyLimitLayer` (at most [`Config::max_requests`]
//! requests at once; one more is refused at once with 503, so nothing queues without
//! bound) -> `DeadlineLayer` (every request cut at [`Config::request_timeout`]: 504)
//! -> the body limit ([`Config::body_limit`]: 413) -> the routes.
//!
//! A run (`POST /api/run/{scenario}`) is checked first (400 naming the field and what it
//! allows), then goes through the widget's own stack:
//! `FallbackLayer` (the widget's default run, computed at start-up and cached, when the
//! run fails or takes longer than [`Config::run_budget`]) -> a bounded pool of
//! [`Config::workers`] threads (`spawn_blocking` holding a semaphore permit until the work
//! is done, so a run the budget gave up on still counts against the pool until it ends:
//! the work in flight stays bounded). No run executes on a runtime worker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use unbreakable::time::Clock;
use unbreakable::tower::http::error_status;
use unbreakable::tower::{BoxError, DeadlineLayer, FallbackLayer};

use super::params::{Invalid, Values, validate};
use super::widgets::{Outcome, Widget};
use crate::charts::SIZE;
use crate::charts::book::SEED;
use crate::error::{ConfigError, Error};

/// The server's settings.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | run budget | 1 s (then the cached default run answers) |
/// | request timeout | 5 s (then 504) |
/// | workers | the machine's cores (at least 1, at most 8) |
/// | requests at once | 64 |
/// | request body | 16 KiB (then 413) |
/// | book | none (the API only) |
#[derive(Debug, Clone)]
pub struct Config {
    /// The longest a run may take before the widget's cached default answers instead.
    pub run_budget: Duration,
    /// The longest any request may take (504 after it).
    pub request_timeout: Duration,
    /// Threads that run scenarios at once.
    pub workers: usize,
    /// Requests served at once; more wait.
    pub max_requests: usize,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The built book to serve (`data/book`), if any.
    pub book: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            run_budget: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            workers: cores.clamp(1, 8),
            max_requests: 64,
            body_limit: 16 * 1024,
            book: None,
        }
    }
}

impl Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming a zero budget, timeout, pool or limit, or a run budget
    /// longer than the request timeout (the fallback could never answer).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.run_budget.is_zero() || self.run_budget >= self.request_timeout {
            return Err(ConfigError::new(
                "run_budget",
                "the run budget must be above zero and shorter than the request timeout, or the fallback could never answer",
            ));
        }
        if self.workers == 0 || self.max_requests == 0 || self.body_limit == 0 {
            return Err(ConfigError::new(
                "workers",
                "workers, max_requests and body_limit must each be at least 1",
            ));
        }
        Ok(())
    }
}

/// A run's answer.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The widget's id.
    pub scenario: &'static str,
    /// The seed the run used.
    pub seed: u64,
    /// Every parameter the run used (sent or default).
    pub params: Value,
    /// The key numbers.
    pub numbers: Vec<super::widgets::Number>,
    /// The chart, as SVG.
    pub svg: String,
    /// The chart's data as CSV (`series,x,y`).
    pub csv: String,
    /// Milliseconds the run took (0 for a cached answer).
    pub elapsed_ms: f64,
    /// Why the cached default run answered instead of the one asked for; `None` for a
    /// live run.
    pub fallback: Option<String>,
}

/// Runs a widget and draws its chart: the work a request does (off the runtime).
///
/// # Errors
/// The scenario's own (an invalid combination of values) or the chart's.
pub fn render(w: &Widget, values: &Values, seed: u64) -> Result<RunResult, Error> {
    let t = Instant::now();
    let Outcome { chart, numbers } = (w.run)(values, seed)?;
    let svg = chart.to_svg(SIZE)?;
    let mut csv = Vec::new();
    chart.write_csv(&mut csv)?;
    Ok(RunResult {
        scenario: w.id,
        seed,
        params: values.to_json(),
        numbers,
        svg,
        csv: String::from_utf8_lossy(&csv).into_owned(),
        elapsed_ms: t.elapsed().as_secs_f64() * 1e3,
        fallback: None,
    })
}

type Job = (Values, u64);
type Answer = Result<Arc<RunResult>, Invalid>;
type Runner = BoxCloneSyncService<Job, Answer, BoxError>;

/// The application state: the widgets, their runners and their cached default runs.
pub struct Play {
    widgets: Vec<Widget>,
    runners: HashMap<&'static str, Runner>,
    openapi: Value,
    book: Option<PathBuf>,
}

impl std::fmt::Debug for Play {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Play")
            .field("widgets", &self.widgets.len())
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

/// A run that panicked (its message), answered by the fallback.
#[derive(Debug, thiserror::Error)]
#[error("the run failed: {0}")]
pub struct RunFailed(String);

impl Play {
    /// Builds the state: runs every widget once at its defaults (on the blocking pool),
    /// which are the fallbacks' cached answers.
    ///
    /// # Errors
    /// An invalid [`Config`], or a widget whose default run fails (a bug).
    pub async fn new(widgets: Vec<Widget>, config: &Config) -> Result<Arc<Self>, Error> {
        config.validate()?;
        let pool = Arc::new(Semaphore::new(config.workers));
        let mut runners = HashMap::new();
        for w in &widgets {
            let widget = w.clone();
            let defaults = Values::defaults(&w.params);
            let cached = tokio::task::spawn_blocking(move || render(&widget, &defaults, SEED))
                .await
                .map_err(|e| Error::Data(format!("the default run of `{}` panicked: {e}", w.id)))??;
            let cached = Arc::new(cached);
            let (widget, pool) = (w.clone(), pool.clone());
            let work = service_fn(move |(values, seed): Job| {
                let (widget, pool) = (widget.clone(), pool.clone());
                async move {
                    // Held by the blocking task until its work ends, even if the budget
                    // gives up on it first.
                    let permit = pool.acquire_owned().await?;
                    let done = tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        render(&widget, &values, seed)
                    })
                    .await
                    .map_err(|e| RunFailed(e.to_string()))?;
                    match done {
                        Ok(r) => Ok::<Answer, BoxError>(Ok(Arc::new(r))),
                        Err(Error::Config(e)) => Ok(Err(Invalid::new(
                            format!("params.{}", e.field),
                            e.message,
                            "see the widget's parameters (GET /api/scenarios)",
                        ))),
                        Err(e) => Err(Box::new(RunFailed(e.to_string())) as BoxError),
                    }
                }
            });
            let fallback = FallbackLayer::new(move |e: &BoxError| {
                let mut r = (*cached).clone();
                r.elapsed_ms = 0.0;
                r.fallback = Some(format!("{e}; showing the widget's default run"));
                Ok(Arc::new(r))
            })
            .with_timeout(config.run_budget)?
            .on_fallback(|e| tracing::warn!(error = %e, "run answered by the fallback"));
            runners
                .insert(w.id, BoxCloneSyncService::new(ServiceBuilder::new().layer(fallback).service(work)));
        }
        let openapi = super::openapi::document(&widgets);
        Ok(Arc::new(Self { widgets, runners, openapi, book: config.book.clone() }))
    }
}

/// The router with every layer: what `axum::serve` takes.
///
/// # Errors
/// An invalid [`Config`].
pub fn router(state: Arc<Play>, config: &Config) -> Result<Router, ConfigError> {
    config.validate()?;
    let deadline = DeadlineLayer::new(Clock::start()).with_default_timeout(config.request_timeout)?;
    let layers = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(HandleErrorLayer::new(on_error))
        .layer(tower::load_shed::LoadShedLayer::new())
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(config.max_requests))
        .layer(deadline);
    Ok(Router::new()
        .route("/api/scenarios", get(scenarios))
        .route("/api/openapi.json", get(openapi))
        .route("/api/run/{scenario}", post(run))
        .route("/", get(index))
        .route("/{page}", get(page))
        .fallback(files)
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(layers))
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
///
/// # Errors
/// What the listener reports.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// The address to bind: loopback only.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn on_error(error: BoxError) -> Response {
    let status = if error.is::<tower::load_shed::error::Overloaded>() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        error_status(&error)
    };
    tracing::warn!(error = %error, status = status.as_u16(), "request failed in a layer");
    (status, Json(json!({"field": "request", "message": error.to_string(), "allowed": ""}))).into_response()
}

fn bad_request(e: &Invalid) -> Response {
    (StatusCode::BAD_REQUEST, Json(e)).into_response()
}

async fn scenarios(State(app): State<Arc<Play>>) -> Json<Value> {
    let list: Vec<Value> = app
        .widgets
        .iter()
        .map(|w| {
            json!({
                "id": w.id, "title": w.title, "chapter": w.chapter, "default_seed": SEED,
                "params": w.params.iter().map(|p| p.describe()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "scenarios": list }))
}

async fn openapi(State(app): State<Arc<Play>>) -> Json<Value> {
    Json(app.openapi.clone())
}

async fn run(State(app): State<Arc<Play>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(w) = app.widgets.iter().find(|w| w.id == id) else {
        let ids: Vec<_> = app.widgets.iter().map(|w| w.id).collect();
        let e = Invalid::new("scenario", format!("no widget `{id}`"), ids.join(", "));
        return (StatusCode::NOT_FOUND, Json(e)).into_response();
    };
    let (seed, values) = match validate(&w.params, &body, SEED) {
        Ok(v) => v,
        Err(e) => return bad_request(&e),
    };
    let Some(runner) = app.runners.get(w.id) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no runner").into_response();
    };
    match runner.clone().oneshot((values, seed)).await {
        Ok(Ok(r)) => Json(r.as_ref()).into_response(),
        Ok(Err(e)) => bad_request(&e),
        // The fallback answers every error but a closed pool (not reachable while the
        // server runs).
        Err(e) => on_error(e).await,
    }
}

/// What the browser of a page served here learns: the API is there.
const LIVE: &str = r#"<meta name="unbreakable-play" content="live">"#;

fn no_book() -> Response {
    Html(
        "<!doctype html><title>Unbreakable play</title><p>The book is not built yet: run \
         <code>./workbook book</code> (or <code>./workbook run</code>), then restart \
         <code>./workbook play</code>. The API is here: <a href=\"/api/scenarios\">/api/scenarios</a>, \
         <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
    )
    .into_response()
}

async fn serve_page(app: &Play, name: &str) -> Response {
    let Some(book) = &app.book else { return no_book() };
    match tokio::fs::read_to_string(book.join(name)).await {
        Ok(html) => {
            let html = match html.find("<head>") {
                Some(i) => format!("{}<head>{LIVE}{}", &html[..i], &html[i + 6..]),
                None => format!("{LIVE}{html}"),
            };
            ([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "no such page").into_response(),
    }
}

async fn index(State(app): State<Arc<Play>>) -> Response {
    serve_page(&app, "index.html").await
}

/// A page of the book (`02-retries-and-backoff.html`), marked live; any other file of
/// the book as it is.
async fn page(State(app): State<Arc<Play>>, Path(name): Path<String>, req: Request) -> Response {
    let plain =
        !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if plain && name.ends_with(".html") {
        return serve_page(&app, &name).await;
    }
    files(State(app), req).await
}

async fn files(State(app): State<Arc<Play>>, req: Request) -> Response {
    match &app.book {
        Some(book) => match ServeDir::new(book).oneshot(req).await {
            Ok(r) => r.into_response(),
            Err(never) => match never {},
        },
        None => (StatusCode::NOT_FOUND, "no book").into_response(),
    }
}
