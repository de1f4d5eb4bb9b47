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

/// The number called `name` in a run's answer.
fn number(v: &Value, name: &str) -> f64 {
    v["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {v}"))["value"]
        .as_f64()
        .unwrap()
}

#[tokio::test]
async fn the_breaker_widget_answers_what_the_breaker_scenario_gives_for_those_parameters() {
    use unbreakable_lab::retry::BreakerConfig;
    use unbreakable_lab::scenarios::breaker::BreakerRun;
    let app = app_with(only("breaker"), Config::default()).await;
    let body = r#"{"seed": 5, "params": {"trips_on": "a ratio of failed calls", "failure_ratio": 0.3,
        "minimum_throughput": 10, "cool_down_s": 8, "failure_rate": 0.6, "per_second": 40}}"#;
    let (status, v) = call(&app, "POST", "/api/run/breaker", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let x = BreakerRun {
        breaker: BreakerConfig {
            failure_ratio: Some(0.3),
            minimum_throughput: 10,
            cool_down: Duration::from_secs(8),
            ..BreakerConfig::default()
        },
        per_second: 40.0,
        failure_rate: 0.6,
        ..BreakerRun::default()
    };
    let run = x.run(5).unwrap();
    let chart = unbreakable_lab::charts::book::breaker_timeline(&run, &x, 5);
    assert_eq!(
        v["svg"],
        json!(chart.to_svg(unbreakable_lab::charts::SIZE).unwrap()),
        "the chart command's chart"
    );
    assert_eq!(number(&v, "refused by the breaker"), run.refused() as f64);
    assert_eq!(number(&v, "failed at the service"), run.failed() as f64);
    assert_eq!(number(&v, "time open"), run.time_open().as_secs_f64());
    assert_eq!(number(&v, "times the breaker opened"), run.open.len() as f64);
    assert!(run.refused() > 0 && run.time_open() >= Duration::from_secs(8));
    // A service that does not fail harder in the incident: 1% of 40 calls a second never
    // reaches the ratio, and nothing is refused.
    let healthy = call(
        &app,
        "POST",
        "/api/run/breaker",
        body.replace("\"failure_rate\": 0.6", "\"failure_rate\": 0.01"),
    )
    .await
    .1;
    assert_eq!(number(&healthy, "refused by the breaker"), 0.0, "{}", healthy["numbers"]);
    assert_eq!(number(&healthy, "times the breaker opened"), 0.0);
    let (status, e) = call(&app, "POST", "/api/run/breaker", r#"{"params": {"cool_down_s": 0}}"#).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("params.cool_down_s")));
    assert_eq!(e["allowed"], "a whole number from 1 to 60 s");
    let (status, e) = call(&app, "POST", "/api/run/breaker", r#"{"params": {"failure_ratio": 0}}"#).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("params.failure_ratio")));
}

#[tokio::test]
async fn the_degradation_widget_answers_what_a_shop_day_gives_with_those_services_down() {
    use unbreakable_lab::degrade::{Dependency, Health, Mode};
    use unbreakable_lab::scenarios::shop_day::ShopDay;
    let app = app_with(only("degradation"), Config::default()).await;
    let body = r#"{"seed": 3, "params": {"recommendations": true, "search": false, "cache": false,
        "mode": "errors caught, no fallback", "outage_from_h": 8, "outage_hours": 20, "peak_per_second": 1}}"#;
    let (status, v) = call(&app, "POST", "/api/run/degradation", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let h = |x: u64| Duration::from_secs(x * 3600);
    let x = ShopDay {
        traffic: unbreakable_lab::sim::Arrivals::daily(1.0, 20.0, 0.15),
        outage: (h(8), h(24)), // 8:00 + 20 hours, cut at midnight
        ..ShopDay::default()
    };
    let down = Health::with_down(&[Dependency::Search, Dependency::Cache]);
    let day = x.run_with(&down, Some(Mode::NoFallback), 3).unwrap();
    let normal = x.run_with(&down, None, 3).unwrap();
    assert_eq!(number(&v, "sales during the outage"), day.sales_between(h(8), h(24)) as f64);
    assert_eq!(
        number(&v, "sales in the same hours of a normal day"),
        normal.sales_between(h(8), h(24)) as f64
    );
    let page = unbreakable_lab::degrade::storefront()[0].render(&down, Mode::NoFallback);
    assert_eq!(number(&v, "product page during the outage: response"), page.latency.as_secs_f64() * 1e3);
    let chart = unbreakable_lab::charts::book::shop_sales(&[normal, day], &x, 3);
    let mut csv = Vec::new();
    chart.write_csv(&mut csv).unwrap();
    assert_eq!(
        v["csv"],
        json!(String::from_utf8(csv).unwrap()),
        "the chart command's chart, with these days"
    );
    assert!(v["svg"].as_str().unwrap().contains("Redis cache, Search service down"));
    // Taking the gateway down too fails every page: no sales in the outage.
    let all = call(
        &app,
        "POST",
        "/api/run/degradation",
        body.replace("\"cache\": false", "\"cache\": false, \"gateway\": false"),
    )
    .await
    .1;
    assert_eq!(number(&all, "sales during the outage"), 0.0, "{all}");
    assert_eq!(number(&all, "product page during the outage: served"), 0.0);
    let (status, e) =
        call(&app, "POST", "/api/run/degradation", r#"{"params": {"peak_per_second": 3.5}}"#).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("params.peak_per_second")));
    assert_eq!(e["allowed"], "a number from 0.05 to 3 visits/s");
    // An hour in which a normal day sold nothing: no share of it was kept or lost.
    let x = ShopDay {
        traffic: unbreakable_lab::sim::Arrivals::daily(0.05, 20.0, 0.15),
        outage: (h(3), h(4)),
        ..ShopDay::default()
    };
    let seed = (0..200)
        .find(|&s| x.run_with(&Health::all_up(), None, s).unwrap().sales_between(h(3), h(4)) == 0)
        .expect("a quiet night hour with no sale");
    let body = format!(
        r#"{{"seed": {seed}, "params": {{"outage_from_h": 3, "outage_hours": 1, "peak_per_second": 0.05}}}}"#
    );
    let (status, quiet) = call(&app, "POST", "/api/run/degradation", body).await;
    assert_eq!(status, StatusCode::OK, "{quiet}");
    assert_eq!(number(&quiet, "sales in the same hours of a normal day"), 0.0);
    let share =
        quiet["numbers"].as_array().unwrap().iter().find(|x| x["name"] == "share of normal sales kept");
    assert_eq!(share.unwrap()["value"], Value::Null, "not applicable, not 100% kept: {quiet}");
}

/// The degradation widget offers every mode, by its name (a choice it did not know would
/// silently run as graceful degradation).
#[test]
fn the_degradation_widget_offers_every_mode() {
    use unbreakable_lab::degrade::Mode;
    use unbreakable_lab::play::params::Kind;
    let w = &only("degradation")[0];
    let mode = w.params.iter().find(|p| p.name == "mode").unwrap();
    let Kind::Choice { options, .. } = &mode.kind else { panic!("mode is a choice") };
    assert_eq!(options.to_vec(), Mode::ALL.map(Mode::name).to_vec());
}

/// The breaker widget at its defaults draws the chart command's `03-breaker-timeline`.
#[test]
fn the_breaker_widget_at_its_defaults_is_the_chart_commands_chart() {
    use unbreakable_lab::charts::book::{SEED, catalog};
    let entry = catalog().into_iter().find(|e| e.ids == ["03-breaker-timeline"]).unwrap();
    let chart = (entry.build)(SEED).unwrap().remove(0);
    let w = &only("breaker")[0];
    let r = render(w, &Values::defaults(&w.params), SEED).unwrap();
    assert_eq!(r.svg, chart.to_svg(unbreakable_lab::charts::SIZE).unwrap());
}
