//! Tables: the bridge from records to polars.
//!
//! `unbreakable::polars` re-exports the polars version this crate is built with, so a
//! notebook needs no `:dep` of its own (and cannot pick a mismatched version).

use polars::prelude::*;

use crate::scenarios::Run;
use crate::Error;

/// All runs' rows in one DataFrame, with a `group` column naming the run's group (the
/// strategy, in chapter 02's experiments).
pub fn runs(runs: &[Run]) -> Result<DataFrame, Error> {
    let mut frames = runs.iter().map(Run::to_frame);
    let Some(first) = frames.next() else {
        return Ok(DataFrame::empty());
    };
    let mut df = first?;
    for f in frames {
        df.vstack_mut(&f?)?;
    }
    Ok(df)
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
        let attempts = s.column("server_attempts").unwrap().as_materialized_series().cast(&DataType::Int64).unwrap();
        let ok = s.column("succeeded").unwrap().as_materialized_series().cast(&DataType::Int64).unwrap();
        for (i, r) in all.iter().enumerate() {
            assert_eq!(attempts.i64().unwrap().get(i), Some(r.server_attempts() as i64));
            let served = r.jobs().iter().filter(|j| j.2).count() as i64;
            assert_eq!(ok.i64().unwrap().get(i), Some(served));
        }
    }
}
