//! The play server: validation (400 naming the field and its range), caps, the fallback
//! that answers a run past its budget with the cached default, and a clean stop.
//!
//! Most tests call the router in-process (tower's `oneshot`); one serves it on 127.0.0.1.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use unbreakable_lab::play::params::{Param, Values};
use unbreakable_lab::play::server::{Config, Play, render, router};
use unbreakable_lab::play::widgets::{self, Outcome, Widget};

async fn call(app: &axum::Router, method: &str, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

async fn app_with(widgets: Vec<Widget>, config: Config) -> axum::Router {
    let state = Play::new(widgets, &config).await.unwrap();
    router(state, &config).unwrap()
}

fn only(id: &str) -> Vec<Widget> {
    widgets::all().into_iter().filter(|w| w.id == id).collect()
}

#[tokio::test]
async fn a_run_answers_what_the_scenario_gives_for_those_parameters() {
    let app = app_with(only("conn-pool"), Config::default()).await;
    let (status, v) = call(&app, "POST", "/api/run/conn-pool", r#"{"seed": 7, "params": {"size": 8}}"#).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let w = &only("conn-pool")[0];
    let direct = render(w, &Values::defaults(&w.params).set("size", json!(8)), 7).unwrap();
    assert_eq!(v["svg"], json!(direct.svg), "the same chart as a direct call");
    assert_eq!(v["csv"], json!(direct.csv));
    // Through JSON text both ways (serde_json parses some floats 1 ulp off).
    let direct_numbers: Value =
        serde_json::from_str(&serde_json::to_string(&direct.numbers).unwrap()).unwrap();
    assert_eq!(v["numbers"], direct_numbers);
    assert_eq!(v["params"]["size"], json!(8));
    assert_eq!(v["params"]["hold_ms"], json!(100), "defaults fill what was not sent");
    assert_eq!(v["fallback"], Value::Null);
    let other = call(&app, "POST", "/api/run/conn-pool", r#"{"seed": 7, "params": {"size": 9}}"#).await.1;
    assert_ne!(other["svg"], v["svg"], "another pool size, another chart");
}

#[tokio::test]
async fn invalid_parameters_get_a_400_naming_the_field_and_its_range() {
    let app = app_with(only("conn-pool"), Config::default()).await;
    let (status, v) = call(&app, "POST", "/api/run/conn-pool", r#"{"params": {"size": 51}}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["field"], "params.size");
    assert_eq!(v["allowed"], "a whole number from 1 to 50 connections");
    for (body, field) in [
        (r#"{"params": {"hold_ms": 0}}"#, "params.hold_ms"),
        (r#"{"params": {"per_second": 1e9}}"#, "params.per_second"),
        (r#"{"params": {"size": "8"}}"#, "params.size"),
        (r#"{"params": {"pool": 8}}"#, "params.pool"),
        (r#"{"seed": -3}"#, "seed"),
        ("not json", "body"),
    ] {
        let (status, v) = call(&app, "POST", "/api/run/conn-pool", body).await;
        assert_eq!((status, v["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{body}: {v}");
    }
    let (status, v) = call(&app, "POST", "/api/run/no-such-widget", "{}").await;
    assert_eq!((status, v["field"].as_str()), (StatusCode::NOT_FOUND, Some("scenario")));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_unread() {
    let app = app_with(only("conn-pool"), Config::default()).await;
    let huge = format!(r#"{{"params": {{}}, "seed": 1{}}}"#, " ".repeat(20_000));
    let (status, _) = call(&app, "POST", "/api/run/conn-pool", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_scenarios_and_the_openapi_document_come_from_the_same_parameters() {
    let app = app_with(widgets::all(), Config::default()).await;
    let (status, list) = call(&app, "GET", "/api/scenarios", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, doc) = call(&app, "GET", "/api/openapi.json", Body::empty()).await;
    let scenarios = list["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), widgets::all().len());
    for s in scenarios {
        let path = format!("/api/run/{}", s["id"].as_str().unwrap());
        let props = &doc["paths"][&path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
            ["params"]["properties"];
        for p in s["params"].as_array().unwrap() {
            let schema = &props[p["name"].as_str().unwrap()];
            assert_eq!(schema["default"], p["default"], "{path} {p}");
            if p["type"] == "integer" || p["type"] == "number" {
                assert_eq!((&schema["minimum"], &schema["maximum"]), (&p["min"], &p["max"]), "{path} {p}");
            }
        }
    }
}

/// Held by a test to keep the `slow` widget's run blocked.
static GATE: Mutex<()> = Mutex::new(());

fn slow(v: &Values, seed: u64) -> Result<Outcome, unbreakable_lab::Error> {
    if v.bool("slow") {
        drop(GATE.lock());
    }
    if v.bool("panic") {
        panic!("a widget's bug");
    }
    let chart = unbreakable_lab::charts::Chart::lines(format!("seed {seed}"), "x", "y");
    Ok(Outcome { chart, numbers: vec![] })
}

fn slow_widget() -> Widget {
    Widget {
        id: "slow",
        title: "slow",
        chapter: "none",
        params: vec![Param::bool("slow", "slow", false), Param::bool("panic", "panic", false)],
        run: slow,
    }
}

/// Calls the router on tokio's paused clock, moving the clock on in 100 ms steps until
/// the answer comes (a blocked `spawn_blocking` task stops the paused clock from moving by
/// itself): the test does not depend on how fast the machine is.
async fn call_advancing(app: &axum::Router, path: &'static str, body: &'static str) -> (StatusCode, Value) {
    let app = app.clone();
    let pending = tokio::spawn(async move { call(&app, "POST", path, body).await });
    for _ in 0..600 {
        if pending.is_finished() {
            return pending.await.unwrap();
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        tokio::task::yield_now().await;
    }
    panic!("no answer within 60 s of virtual time");
}

// The gate is held on purpose across the calls: only the blocking thread of the `slow`
// widget waits on it, never an async task.
#[allow(clippy::await_holding_lock)]
#[tokio::test(start_paused = true)]
async fn a_run_past_its_budget_is_answered_by_the_cached_default_and_still_holds_its_worker() {
    let config = Config { workers: 1, ..Config::default() };
    let app = app_with(vec![slow_widget()], config).await;
    let cached = call(&app, "POST", "/api/run/slow", "{}").await.1;
    assert_eq!(cached["fallback"], Value::Null);

    let gate = GATE.lock().unwrap();
    let (status, v) = call_advancing(&app, "/api/run/slow", r#"{"seed": 9, "params": {"slow": true}}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["fallback"].as_str().unwrap().contains("timed out"), "{}", v["fallback"]);
    assert_eq!(v["svg"], cached["svg"], "the default run's chart");
    assert_eq!(v["seed"], json!(42));
    // The blocked run still holds the only worker: a fast run waits for it past its own
    // budget, and is answered by the fallback too.
    let v = call_advancing(&app, "/api/run/slow", r#"{"seed": 10}"#).await.1;
    assert!(v["fallback"].is_string(), "{v}");
    drop(gate);
    // Once the blocked run ends, the worker serves live runs again (the clock does not
    // move while a blocking task runs, so this waits for the worker without a budget).
    let v = call(&app, "POST", "/api/run/slow", r#"{"seed": 11}"#).await.1;
    assert_eq!((&v["fallback"], &v["seed"]), (&Value::Null, &json!(11)));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_panics_is_answered_by_the_fallback_and_the_server_goes_on() {
    let app = app_with(vec![slow_widget()], Config::default()).await;
    let (status, v) = call(&app, "POST", "/api/run/slow", r#"{"params": {"panic": true}}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["fallback"].as_str().unwrap().contains("the run failed"), "{}", v["fallback"]);
    let (status, v) = call(&app, "POST", "/api/run/slow", r#"{"seed": 3}"#).await;
    assert_eq!((status, &v["fallback"]), (StatusCode::OK, &Value::Null));
}

#[test]
fn a_config_whose_fallback_could_never_answer_is_rejected() {
    let c = Config {
        run_budget: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..Config::default()
    };
    assert_eq!(c.validate().unwrap_err().field, "run_budget");
    assert_eq!(Config { workers: 0, ..Config::default() }.validate().unwrap_err().field, "workers");
}

/// Every widget at its least and its largest values (choices: first and last; booleans:
/// false and true) and at its defaults: each run ends with a chart and numbers. The
/// ranges are the caps on what a client can ask for.
#[test]
fn every_widget_runs_at_its_corners() {
    use unbreakable_lab::play::params::Kind;
    for w in widgets::all() {
        for corner in 0..3 {
            let mut v = Values::defaults(&w.params);
            if corner < 2 {
                for p in &w.params {
                    let x = match &p.kind {
                        Kind::Integer { min, max, .. } => json!(if corner == 0 { *min } else { *max }),
                        Kind::Number { min, max, .. } => json!(if corner == 0 { *min } else { *max }),
                        Kind::Boolean { .. } => json!(corner == 1),
                        Kind::Choice { options, .. } => {
                            json!(if corner == 0 { options[0] } else { options[options.len() - 1] })
                        }
                    };
                    v = v.set(p.name, x);
                }
            }
            let t = std::time::Instant::now();
            let r = render(&w, &v, 42).unwrap_or_else(|e| panic!("{} at {v:?}: {e}", w.id));
            assert!(r.svg.starts_with("<svg") && !r.numbers.is_empty(), "{}", w.id);
            eprintln!("{:<22} corner {corner}: {:>8.1} ms", w.id, t.elapsed().as_secs_f64() * 1e3);
        }
    }
}

#[tokio::test]
async fn served_on_loopback_it_stops_cleanly_when_told() {
    let config = Config::default();
    let app = app_with(only("retry-timeline"), config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(unbreakable_lab::play::server::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    let req = Request::post(format!("http://{addr}/api/run/retry-timeline"))
        .body(http_body_util::Full::new(Bytes::from_static(b"{\"params\": {\"max_retries\": 3}}")))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["numbers"][0]["value"], json!(4.0), "1 try + 3 retries");
    drop(client);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server).await.expect("stops").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");
}

/// Pins the unbounded queue: past `max_requests`, a request waited for a slot with no
/// bound (the concurrency limit waits in `poll_ready`, where no deadline reaches). It is
/// now refused at once with 503 (`LoadShedLayer`).
#[allow(clippy::await_holding_lock)]
#[tokio::test(start_paused = true)]
async fn a_request_past_the_concurrency_limit_is_refused_at_once_not_queued() {
    let config = Config { max_requests: 1, ..Config::default() };
    let app = app_with(vec![slow_widget()], config).await;
    let gate = GATE.lock().unwrap();
    let spawn_call = |method: &'static str, path: &'static str, body: &'static str| {
        let app = app.clone();
        tokio::spawn(async move { call(&app, method, path, body).await })
    };
    // Holds the only slot: its run blocks on the gate, and the paused clock cannot reach
    // the run's budget while a blocking task runs.
    let first = spawn_call("POST", "/api/run/slow", r#"{"params": {"slow": true}}"#);
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(!first.is_finished(), "the first request holds the slot");
    let second = spawn_call("GET", "/api/scenarios", "");
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(second.is_finished(), "the second request queued behind the limit instead of being refused");
    let (status, v) = second.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    drop(gate);
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
}
