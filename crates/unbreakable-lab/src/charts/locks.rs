//! Chapter 11's charts: the pause race, election timing, the e-mail job.

use std::time::Duration;

use super::{Chart, Mark, Series};
use crate::error::Error;
use crate::scenarios::election::{RaftElection, Trial, cdf};
use crate::scenarios::email_job::{Coordination, EmailJob, EmailRun};
use crate::scenarios::locks::{PauseRace, Protection, RaceRun, SpanKind, Stop};
use crate::scenarios::migration::{self, Migration, MigrationRun};

/// The pause race as a Gantt chart: one row per client, bars for the lease (as the lock
/// service counts it), the pause, the refused requests, and the writes.
pub fn race_timeline(run: &RaceRun, race: &PauseRace) -> Chart {
    let stop = match race.stop {
        Stop::Pause(p) => format!("a {:.0} s pause", p.as_secs_f64()),
        Stop::Crash => "a crash".to_string(),
    };
    let ttl = match (run.protection, race.ttl) {
        (Protection::NoLock, _) => "no lock".to_string(),
        (_, None) => "a lock without expiry".to_string(),
        (_, Some(t)) => format!("{:.0} s lease", t.as_secs_f64()),
    };
    let mut c = Chart::gantt(format!("Two clients, one account: {}", run.protection.name()), "time (s)")
        .caption(format!(
            "{ttl}; client 1 stops at {:.0} s ({stop}); paid out {} of {}, final balance {}",
            race.stop_at.as_secs_f64(),
            run.paid_out,
            race.balance,
            run.final_balance
        ))
        .key(Mark::Line, "holds the lease (lock service's clock)")
        .key(Mark::Reference, "stopped (GC pause or crash)")
        .key(Mark::State, "asks for the lock: refused")
        .key(Mark::LineDots, "write accepted, money paid")
        .key(Mark::Dots, "write refused: stale token");
    for s in &run.spans {
        let mark = match s.kind {
            SpanKind::Holds => Mark::Line,
            SpanKind::Stopped => Mark::Reference,
            SpanKind::Waiting => Mark::State,
            SpanKind::Paid => Mark::LineDots,
            SpanKind::Refused => Mark::Dots,
        };
        c = c.with(Series::line(format!("client {}", s.client), vec![(s.start, s.end)]).with_mark(mark));
    }
    c
}

/// A deployment's instances as a Gantt chart: waiting for the lock, migrating, crashed,
/// serving.
pub fn migration_timeline(run: &MigrationRun, m: &Migration, seed: u64) -> Chart {
    let ttl = m.ttl.map_or("a lock without expiry".to_string(), |t| {
        format!("a {:.0} s lease renewed every {:.0} s", t.as_secs_f64(), m.renew_every.as_secs_f64())
    });
    let how = match run.guard {
        migration::Guard::NoLock => "no lock".to_string(),
        migration::Guard::Lease => ttl,
    };
    let crash = m
        .crash_after
        .map_or(String::new(), |c| format!(", the first migrator crashes after {:.0} s", c.as_secs_f64()));
    let mut c = Chart::gantt(
        format!(
            "{} instances, one schema: {} migration(s) run, {} at once",
            m.instances, run.started, run.most_at_once
        ),
        "time (s)",
    )
    .caption(format!(
        "{how}; a {:.0} s migration{crash}; starts within {:.0} s, seed {seed}",
        m.duration.as_secs_f64(),
        m.start_spread.as_secs_f64()
    ))
    .key(Mark::State, "started, waiting for the lock")
    .key(Mark::Line, "running the migration")
    .key(Mark::Reference, "crashed")
    .key(Mark::LineDots, "serving on the new schema");
    for s in &run.spans {
        let mark = match s.kind {
            migration::SpanKind::Waiting => Mark::State,
            migration::SpanKind::Migrating => Mark::Line,
            migration::SpanKind::Crashed => Mark::Reference,
            migration::SpanKind::Serving => Mark::LineDots,
        };
        c = c.with(Series::line(format!("instance {}", s.instance), vec![(s.start, s.end)]).with_mark(mark));
    }
    c
}

/// Raft's election timing: the share of trials with a new leader by each time, one line
/// per random range (the paper's Figure 16, top).
pub fn election_cdf(points: &[(u64, Vec<Trial>)], x: &RaftElection, seed: u64) -> Chart {
    let mut c = Chart::lines("Time without a leader after the leader crashes (Raft, 5 servers)", "time without a leader (ms)", "share of trials with a leader by then")
        .caption(format!(
            "election timeout {} ms + a random range; network {:.1}-{:.1} ms one way, votes written to disk in {}-{} ms; {} trials per line; seed {seed}",
            x.min_timeout.as_millis(),
            x.delay_lo.as_secs_f64() * 1e3,
            x.delay_hi.as_secs_f64() * 1e3,
            x.persist_lo.as_millis(),
            x.persist_hi.as_millis(),
            points.first().map_or(0, |p| p.1.len())
        ));
    for (range, trials) in points {
        let name = format!("{}-{} ms", x.min_timeout.as_millis(), x.min_timeout.as_millis() as u64 + range);
        let curve: Vec<(f64, f64)> = cdf(trials).into_iter().filter(|p| p.0 <= 1000.0).collect();
        c = c.with(Series::line(name, curve));
    }
    c
}

/// The e-mail job: the longest time without a leader against the heartbeat timeout (the
/// lease), with `ttl` as a reference line.
pub fn email_leaderless(points: &[(f64, f64)], seed: u64) -> Chart {
    Chart::lines("The leader crashes mid-job: how long nobody sends", "heartbeat timeout = lease (s)", "time without a leader (s)")
        .caption(format!("5 servers, renewal every third of the lease, crash at 4.25 s; seed {seed} (no randomness: the crash time sets the phase)"))
        .with(Series::line("simulated", points.to_vec()).with_mark(Mark::LineDots))
        .with(Series::line("the lease itself", points.iter().map(|p| (p.0, p.0)).collect()).with_mark(Mark::Reference))
}

/// The e-mail job: how many users got how many e-mails, one series per coordination.
pub fn email_per_user(runs: &[(Coordination, EmailRun)], job: &EmailJob) -> Chart {
    let mut c = Chart::lines("E-mails per user: 5 servers, one daily job", "e-mails received", "users")
        .caption(format!("{} users, checkpoint every {}; the leader crashes at 4.25 s", job.users, job.batch))
        .log_y();
    for (how, run) in runs {
        let pts = run.histogram().into_iter().map(|(k, n)| (f64::from(k), n as f64)).collect();
        c = c.with(Series::line(how.name(), pts).with_mark(Mark::Dots));
    }
    c
}

/// The heartbeat timeouts the e-mail chart sweeps, in seconds.
pub fn email_ttls() -> [u64; 6] {
    [1, 2, 5, 10, 20, 30]
}

/// Builds the e-mail sweep: `(lease s, longest time without a leader s)`.
///
/// # Errors
/// A configuration the job refuses.
pub fn email_sweep() -> Result<Vec<(f64, f64)>, Error> {
    email_ttls()
        .into_iter()
        .map(|s| {
            let election = unbreakable::lock::election::Config::with_ttl(Duration::from_secs(s))?;
            let run = EmailJob { election, ..EmailJob::default() }.run(Coordination::Election)?;
            Ok((s as f64, run.leaderless.as_secs_f64()))
        })
        .collect()
}

/// Trials per random range: 1000, as in the paper (which ran 100 for 150-150 ms).
pub const TRIALS: usize = 1000;

/// Builds the election sweep over the paper's ranges.
///
/// # Errors
/// A configuration the simulation refuses.
pub fn election_sweep(trials: usize, seed: u64) -> Result<Vec<(u64, Vec<Trial>)>, Error> {
    let x = RaftElection::default();
    RaftElection::paper_ranges()
        .into_iter()
        .map(|r| Ok((r, x.with_range(Duration::from_millis(r)).run(trials, seed)?)))
        .collect()
}

/// Every protection's run of the default race.
///
/// # Errors
/// A configuration the race refuses.
pub fn races(race: &PauseRace) -> Result<Vec<RaceRun>, Error> {
    Protection::ALL.iter().map(|&p| Ok(race.run(p)?)).collect()
}
