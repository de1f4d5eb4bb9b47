use std::io::Write;

use serde::{Serialize, Serializer};

use super::SimTime;

/// How one attempt ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The request succeeded.
    Success,
    /// The server answered with an error (HTTP 500).
    ServerError,
    /// The server rejected the request for lack of capacity (HTTP 503).
    Overloaded,
    /// The server was down: the connection was refused.
    Unavailable,
    /// The server accepted the request and never answered (seen by a client only as
    /// [`Outcome::TimedOut`]).
    Hung,
    /// The client gave up waiting.
    TimedOut,
    /// The client's circuit breaker refused to send the request.
    BreakerOpen,
    /// The client's retry budget refused the retry.
    BudgetExhausted,
    /// Client-side adaptive throttling dropped the request locally.
    Throttled,
}

impl Outcome {
    /// Every outcome, in display order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Success,
        Outcome::ServerError,
        Outcome::Overloaded,
        Outcome::Unavailable,
        Outcome::Hung,
        Outcome::TimedOut,
        Outcome::BreakerOpen,
        Outcome::BudgetExhausted,
        Outcome::Throttled,
    ];

    /// A short lowercase name (`"success"`, `"server_error"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ServerError => "server_error",
            Outcome::Overloaded => "overloaded",
            Outcome::Unavailable => "unavailable",
            Outcome::Hung => "hung",
            Outcome::TimedOut => "timed_out",
            Outcome::BreakerOpen => "breaker_open",
            Outcome::BudgetExhausted => "budget_exhausted",
            Outcome::Throttled => "throttled",
        }
    }

    /// Whether the request succeeded.
    pub fn is_success(self) -> bool {
        self == Outcome::Success
    }

    /// Whether the request reached the server (as opposed to being stopped by the
    /// client's own breaker, budget or throttle).
    pub fn reached_server(self) -> bool {
        !matches!(self, Outcome::BreakerOpen | Outcome::BudgetExhausted | Outcome::Throttled)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn as_secs<S: Serializer>(t: &SimTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(t.as_secs_f64())
}

/// One attempt of one client: the row of the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The client's number.
    pub client: u32,
    /// 0 for the first try, 1 for the first retry, ...
    pub attempt: u32,
    /// When it was sent (seconds in CSV).
    #[serde(rename = "sent_s", serialize_with = "as_secs")]
    pub sent: SimTime,
    /// When its outcome was known (seconds in CSV).
    #[serde(rename = "finished_s", serialize_with = "as_secs")]
    pub finished: SimTime,
    /// How it ended.
    pub outcome: Outcome,
}

/// Collects one [`Attempt`] per request a client makes, and turns them into a table.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable_lab::sim::{Attempt, Outcome, Recorder};
///
/// let mut rec = Recorder::new();
/// rec.record(Attempt { client: 0, attempt: 0, sent: Duration::ZERO,
///     finished: Duration::from_millis(30), outcome: Outcome::Success });
/// assert_eq!(rec.len(), 1);
/// # #[cfg(feature = "frames")] {
/// let df = rec.to_frame().unwrap();
/// assert_eq!(df.height(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorder {
    attempts: Vec<Attempt>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row.
    pub fn record(&mut self, attempt: Attempt) {
        self.attempts.push(attempt);
    }

    /// The rows, in the order they were recorded.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    /// Whether no row was recorded.
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// Sorts the rows by send time, then client, then attempt: a canonical order that
    /// does not depend on the engine that produced them.
    pub fn sort(&mut self) {
        self.attempts.sort_by_key(|a| (a.sent, a.client, a.attempt));
    }

    /// Rows that match `keep`, counted by send time in bins of `bin` seconds from 0 to
    /// `horizon`. Rows sent at or after `horizon` are not counted.
    ///
    /// A `bin` that is not a positive number, or a horizon over a million bins, gives an
    /// empty vector.
    pub fn count_per_bin(&self, bin: f64, horizon: f64, keep: impl Fn(&Attempt) -> bool) -> Vec<u64> {
        super::count_in_bins(self.attempts.iter().filter(|a| keep(a)).map(|a| a.sent), bin, horizon)
    }

    /// Attempts that reached the server, counted in bins of `bin` seconds from 0 to
    /// `horizon`: the load the server saw over time (see [`count_per_bin`](Self::count_per_bin)).
    pub fn load_per_bin(&self, bin: f64, horizon: f64) -> Vec<u64> {
        self.count_per_bin(bin, horizon, |a| a.outcome.reached_server())
    }

    /// Writes the rows as CSV (times in seconds).
    pub fn write_csv(&self, w: impl Write) -> Result<(), crate::Error> {
        let mut w = csv::Writer::from_writer(w);
        for a in &self.attempts {
            w.serialize(a)?;
        }
        w.flush()?;
        Ok(())
    }

    /// The rows as a polars `DataFrame` with columns `client`, `attempt`, `sent_s`,
    /// `finished_s`, `latency_ms`, `outcome` (a string), `ok` and `reached_server` (booleans).
    #[cfg(feature = "frames")]
    pub fn to_frame(&self) -> Result<polars::prelude::DataFrame, crate::Error> {
        use polars::prelude::*;
        let a = &self.attempts;
        let df = DataFrame::new_infer_height(vec![
            Column::new("client".into(), a.iter().map(|x| x.client).collect::<Vec<_>>()),
            Column::new("attempt".into(), a.iter().map(|x| x.attempt).collect::<Vec<_>>()),
            Column::new("sent_s".into(), a.iter().map(|x| x.sent.as_secs_f64()).collect::<Vec<_>>()),
            Column::new("finished_s".into(), a.iter().map(|x| x.finished.as_secs_f64()).collect::<Vec<_>>()),
            Column::new(
                "latency_ms".into(),
                a.iter().map(|x| (x.finished - x.sent).as_secs_f64() * 1e3).collect::<Vec<_>>(),
            ),
            Column::new("outcome".into(), a.iter().map(|x| x.outcome.as_str()).collect::<Vec<_>>()),
            Column::new("ok".into(), a.iter().map(|x| x.outcome.is_success()).collect::<Vec<_>>()),
            Column::new(
                "reached_server".into(),
                a.iter().map(|x| x.outcome.reached_server()).collect::<Vec<_>>(),
            ),
        ])?;
        Ok(df)
    }
}

impl Extend<Attempt> for Recorder {
    fn extend<T: IntoIterator<Item = Attempt>>(&mut self, iter: T) {
        self.attempts.extend(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn load_per_bin_counts_and_refuses_nonsense_bins() {
        let mut rec = Recorder::new();
        for (i, outcome) in
            [Outcome::Success, Outcome::BreakerOpen, Outcome::ServerError].into_iter().enumerate()
        {
            let t = Duration::from_millis(400 * i as u64);
            rec.record(Attempt { client: 0, attempt: i as u32, sent: t, finished: t, outcome });
        }
        // 0 ms and 800 ms reached the server; the breaker refusal at 400 ms did not.
        assert_eq!(rec.load_per_bin(0.5, 1.0), vec![1, 1]);
        for bad in [0.0, -1.0, f64::NAN, 1e-12] {
            assert!(rec.load_per_bin(bad, 10.0).is_empty(), "bin {bad}");
        }
    }
}
