//! Tables: the bridge from records to polars.
//!
//! `unbreakable_lab::polars` re-exports the polars version this crate is built with, so a
//! notebook needs no `:dep` of its own (and cannot pick a mismatched version).

use polars::prelude::*;

use crate::Error;
use crate::degrade::Status;
use crate::scenarios::Run;
use crate::scenarios::shop_day::Day;
use crate::scenarios::wasted::{Busy, WastedRun, hop_name};
use crate::scenarios::weather::WeatherRun;

/// All runs' rows in one DataFrame, with a `group` column naming the run's group (the
/// strategy, in chapter 02's experiments).
pub fn runs(runs: &[Run]) -> Result<DataFrame, Error> {
    stack(runs.iter().map(Run::to_frame))
}

/// One row per `group`, in order of first appearance: attempts that reached the server,
/// attempts stopped by the client itself, requests that succeeded, and the median,
/// 99th percentile and last time (seconds) at which a request succeeded.
pub fn summary(df: &DataFrame) -> Result<DataFrame, Error> {
    let ok_time = || col("finished_s").filter(col("ok"));
    let out = df
        .clone()
        .lazy()
        .group_by_stable([col("group")])
        .agg([
            col("reached_server").sum().alias("server_attempts"),
            col("reached_server").not().sum().alias("stopped_by_client"),
            col("ok").sum().alias("succeeded"),
            ok_time().median().alias("p50_done_s"),
            ok_time().quantile(lit(0.99), QuantileMethod::Linear).alias("p99_done_s"),
            ok_time().max().alias("last_done_s"),
        ])
        .collect()?;
    Ok(out)
}

/// Stacks frames with the same columns into one (empty for none).
fn stack(frames: impl IntoIterator<Item = Result<DataFrame, Error>>) -> Result<DataFrame, Error> {
    let mut frames = frames.into_iter();
    let Some(first) = frames.next() else {
        return Ok(DataFrame::empty());
    };
    let mut df = first?;
    for f in frames {
        df.vstack_mut(&f?)?;
    }
    Ok(df)
}

/// Chapter 04's wasted-work runs: one row per stretch of time a service spent on a
/// request, with columns `mode`, `request`, `service` (A, B, C, ...), `waiting` (holding a
/// thread for the next hop, or working), `start_s`, `end_s`, `wasted_s` (the part after
/// the client gave up) and `client_ok`.
pub fn wasted(runs: &[WastedRun]) -> Result<DataFrame, Error> {
    stack(runs.iter().map(|r| {
        let b = &r.busy;
        let secs = |f: &dyn Fn(&Busy) -> std::time::Duration| {
            b.iter().map(|x| f(x).as_secs_f64()).collect::<Vec<_>>()
        };
        Ok(DataFrame::new_infer_height(vec![
            Column::new("mode".into(), vec![r.propagation.name(); b.len()]),
            Column::new("request".into(), b.iter().map(|x| x.request).collect::<Vec<_>>()),
            Column::new("service".into(), b.iter().map(|x| hop_name(x.hop)).collect::<Vec<_>>()),
            Column::new("waiting".into(), b.iter().map(|x| x.waiting).collect::<Vec<_>>()),
            Column::new("start_s".into(), secs(&|x| x.start)),
            Column::new("end_s".into(), secs(&|x| x.end)),
            Column::new("wasted_s".into(), secs(&|x| r.wasted(x))),
            Column::new(
                "client_ok".into(),
                b.iter().map(|x| r.requests[x.request as usize].ok).collect::<Vec<_>>(),
            ),
        ])?)
    }))
}

/// Chapter 04's weather runs: one row per user request, with columns `protection`,
/// `arrived_s`, `queued_s` (time waiting for a thread), `answered_s` (when the user had an
/// answer or gave up), `held_s` (time it held a thread; 0 if it never got one) and
/// `answer`.
pub fn weather(runs: &[WeatherRun]) -> Result<DataFrame, Error> {
    stack(runs.iter().map(|r| {
        let q = &r.requests;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("protection".into(), vec![r.protection.name(); q.len()]),
            Column::new("arrived_s".into(), q.iter().map(|x| x.arrived.as_secs_f64()).collect::<Vec<_>>()),
            Column::new(
                "queued_s".into(),
                q.iter()
                    .map(|x| x.started.unwrap_or(x.answered).saturating_sub(x.arrived).as_secs_f64())
                    .collect::<Vec<_>>(),
            ),
            Column::new("answered_s".into(), q.iter().map(|x| x.answered.as_secs_f64()).collect::<Vec<_>>()),
            Column::new(
                "held_s".into(),
                q.iter()
                    .map(|x| x.started.zip(x.released).map_or(0.0, |(a, b)| (b - a).as_secs_f64()))
                    .collect::<Vec<_>>(),
            ),
            Column::new("answer".into(), q.iter().map(|x| x.answer.name()).collect::<Vec<_>>()),
        ])?)
    }))
}

/// Chapter 05's shop days: one row per visit, with columns `mode`, `hour` (0-23),
/// `status` (`full`, `degraded` or `error`) and `bought`.
pub fn visits(days: &[Day]) -> Result<DataFrame, Error> {
    stack(days.iter().map(|d| {
        let v = &d.visits;
        let status = |s: Status| match s {
            Status::Full => "full",
            Status::Degraded => "degraded",
            Status::Error(_) => "error",
        };
        Ok(DataFrame::new_infer_height(vec![
            Column::new("mode".into(), vec![d.name(); v.len()]),
            Column::new("hour".into(), v.iter().map(|x| (x.at.as_secs() / 3600) as u32).collect::<Vec<_>>()),
            Column::new("status".into(), v.iter().map(|x| status(x.status)).collect::<Vec<_>>()),
            Column::new("bought".into(), v.iter().map(|x| x.bought).collect::<Vec<_>>()),
        ])?)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::herd::Herd;

    #[test]
    fn summary_agrees_with_plain_counting() {
        let h = Herd { clients: 200, ..Herd::default() };
        let all = h.run_all(3).unwrap();
        let s = summary(&runs(&all).unwrap()).unwrap();
        assert_eq!(s.height(), all.len());
        let attempts =
            s.column("server_attempts").unwrap().as_materialized_series().cast(&DataType::Int64).unwrap();
        let ok = s.column("succeeded").unwrap().as_materialized_series().cast(&DataType::Int64).unwrap();
        for (i, r) in all.iter().enumerate() {
            assert_eq!(attempts.i64().unwrap().get(i), Some(r.server_attempts() as i64));
            let served = r.jobs().iter().filter(|j| j.2).count() as i64;
            assert_eq!(ok.i64().unwrap().get(i), Some(served));
        }
    }

    #[test]
    fn the_new_frames_have_one_row_per_record() {
        use crate::scenarios::{shop_day::ShopDay, wasted::*, weather::*};
        let w = WastedWork { horizon: std::time::Duration::from_secs(60), ..WastedWork::default() };
        let runs = [w.run(Propagation::Independent, 1).unwrap(), w.run(Propagation::Deadline, 1).unwrap()];
        assert_eq!(wasted(&runs).unwrap().height(), runs[0].busy.len() + runs[1].busy.len());
        let we = Weather { horizon: std::time::Duration::from_secs(30), ..Weather::default() };
        let r = we.run(Protection::NoTimeout, 1).unwrap();
        assert_eq!(weather(std::slice::from_ref(&r)).unwrap().height(), r.requests.len());
        let d = ShopDay { horizon: std::time::Duration::from_secs(3600), ..ShopDay::default() }
            .run(None, 1)
            .unwrap();
        assert_eq!(visits(std::slice::from_ref(&d)).unwrap().height(), d.visits.len());
    }
}
