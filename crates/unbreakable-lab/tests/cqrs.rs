//! Chapter 09: the outbox loses no event across a crash, projections are idempotent,
//! the read model converges to the write model under any crash and redelivery
//! schedule, and the projection-lag simulation is deterministic and matches its closed
//! form.

use std::time::Duration;

use proptest::prelude::*;
use unbreakable_lab::cqrs::catalogue::{
    Catalogue, CatalogueError, CatalogueEvent, Command, Query, article_commands,
};
use unbreakable_lab::cqrs::lag::{LagSim, poll_grid, summary, sweep};
use unbreakable_lab::cqrs::relay::{CrashAt, Relay, catch_up};
use unbreakable_lab::cqrs::view::{CatalogueView, hits, search_frame};
use unbreakable_lab::cqrs::{Projector, outbox};

fn article() -> Catalogue {
    let mut c = Catalogue::in_memory().unwrap();
    for cmd in article_commands() {
        c.execute(&cmd, 0).unwrap();
    }
    c
}

/// Without an outbox, a crash between the commit and the publish loses the event for
/// good; with one, the event committed with the change, and the relay started after the
/// crash publishes it.
#[test]
fn a_crash_between_commit_and_publish_loses_no_event_with_the_outbox() {
    let price = Command::ChangePrice { id: 1, price_cents: 12_900 };

    let mut dual = article();
    let mut broker: Vec<CatalogueEvent> = Vec::new();
    let relay = Relay::new("broker");
    relay
        .drain(dual.connection(), |e: &outbox::OutboxEvent<CatalogueEvent>| {
            broker.push(e.event.clone());
            Ok::<_, CatalogueError>(())
        })
        .unwrap();
    assert!(matches!(
        dual.execute_dual_write(&price, true, |e| broker.push(e)),
        Err(CatalogueError::Crashed)
    ));
    assert_eq!(
        dual.search(&Query { term: "keyboard".into(), category: None, limit: 1 }).unwrap()[0].price_cents,
        12_900,
        "the change committed"
    );
    assert!(
        !broker.contains(&CatalogueEvent::PriceChanged { id: 1, price_cents: 12_900 }),
        "its event is gone"
    );

    let mut with_outbox = article();
    let position = with_outbox.execute(&price, 0).unwrap();
    // The process dies here: nothing was published. A new relay starts.
    let mut published = Vec::new();
    let sent = Relay::new("broker")
        .drain(with_outbox.connection(), |e: &outbox::OutboxEvent<CatalogueEvent>| {
            published.push((e.position, e.event.clone()));
            Ok::<_, CatalogueError>(())
        })
        .unwrap();
    assert_eq!(sent, 6);
    assert_eq!(
        published.last(),
        Some(&(position, CatalogueEvent::PriceChanged { id: 1, price_cents: 12_900 }))
    );
}

/// A relay that dies after publishing part of a batch publishes it again; the
/// projection, fed every copy, ends as if each event came once.
#[test]
fn projections_are_idempotent_under_redelivery() {
    let c = article();
    let relay = Relay::new("view");
    let mut delivered = Vec::new();
    let mut sink = |e: &outbox::OutboxEvent<CatalogueEvent>| {
        delivered.push(e.clone());
        Ok::<_, CatalogueError>(())
    };
    assert!(
        relay.run_once_crashing(c.connection(), &mut sink, CrashAt::AfterPublishing(4)).unwrap().crashed()
    );
    relay.drain(c.connection(), &mut sink).unwrap();
    assert_eq!(delivered.len(), 9, "4 events delivered twice");
    let mut p = Projector::new(CatalogueView::default());
    for e in delivered.iter().chain(&delivered) {
        p.deliver(e.position, &e.event);
    }
    assert_eq!(p.position(), 5);
    assert_eq!(p.state().all(), c.all().unwrap());
}

/// The article's catalogue: both models answer the query the same way.
#[test]
fn both_models_answer_the_same() {
    let c = article();
    let mut p = Projector::new(CatalogueView::default());
    catch_up(c.connection(), &mut p, 100).unwrap();
    let df = p.state().frame().unwrap();
    for q in [
        Query { term: "".into(), category: None, limit: 20 },
        Query { term: "input".into(), category: Some(1), limit: 20 },
        Query { term: "HUB".into(), category: None, limit: 1 },
    ] {
        assert_eq!(hits(&search_frame(&df, &q).unwrap()).unwrap(), c.search(&q).unwrap(), "{q:?}");
    }
    assert!(!p.state().get(3).unwrap().available && p.state().get(1).unwrap().available);
}

#[derive(Debug, Clone)]
enum Step {
    /// A command (may be refused: unknown ids are drawn on purpose).
    Write(Command),
    /// The projector catches up by a batch of this size.
    CatchUp(usize),
    /// The projector saves a checkpoint (its state and position, together).
    Save,
    /// The projector dies and is restored from its last checkpoint.
    Crash,
    /// The broker redelivers an event it delivered before.
    Redeliver(prop::sample::Index),
}

fn command() -> impl Strategy<Value = Command> {
    let name = prop::sample::select(vec!["Mechanical Keyboard", "Wireless Mouse", "USB-C Hub", "Desk Lamp"]);
    prop_oneof![
        (1i64..=4, name.clone()).prop_map(|(id, n)| Command::AddCategory { id, name: format!("{n}s") }),
        (1i64..=4, name.clone())
            .prop_map(|(id, n)| Command::RenameCategory { id, name: format!("{n} shelf") }),
        (1i64..=12, name, 1i64..=4, 0i64..20_000, 0i64..200).prop_map(
            |(id, n, category_id, price_cents, stock)| Command::AddProduct {
                id,
                name: n.to_string(),
                category_id,
                price_cents,
                stock
            }
        ),
        (1i64..=12, 0i64..20_000).prop_map(|(id, price_cents)| Command::ChangePrice { id, price_cents }),
        (1i64..=12, 0i64..200).prop_map(|(id, stock)| Command::SetStock { id, stock }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => command().prop_map(Step::Write),
        2 => (1usize..5).prop_map(Step::CatchUp),
        1 => Just(Step::Save),
        1 => Just(Step::Crash),
        1 => any::<prop::sample::Index>().prop_map(Step::Redeliver),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Whatever the schedule of writes, partial catch-ups, checkpoints, crashes (back to
    /// the last checkpoint) and redeliveries, once the projector catches up its read
    /// model equals the write model joined.
    #[test]
    fn the_read_model_converges_to_the_write_model(steps in proptest::collection::vec(step(), 0..40)) {
        let mut c = Catalogue::in_memory().unwrap();
        let mut p = Projector::new(CatalogueView::default());
        let mut saved = p.clone();
        let mut seen: Vec<outbox::OutboxEvent<CatalogueEvent>> = Vec::new();
        for s in steps {
            match s {
                Step::Write(cmd) => { let _ = c.execute(&cmd, 0); }
                Step::CatchUp(n) => {
                    let batch: Vec<outbox::OutboxEvent<CatalogueEvent>> = outbox::read_after(c.connection(), p.position(), n).unwrap();
                    for e in &batch { p.deliver(e.position, &e.event); }
                    seen.extend(batch);
                }
                Step::Save => saved = p.clone(),
                Step::Crash => p = saved.clone(),
                Step::Redeliver(i) => if !seen.is_empty() {
                    let e = &seen[i.index(seen.len())];
                    p.deliver(e.position, &e.event);
                },
            }
        }
        catch_up(c.connection(), &mut p, usize::MAX).unwrap();
        prop_assert_eq!(p.position(), outbox::head(c.connection()).unwrap());
        prop_assert_eq!(p.state().all(), c.all().unwrap());
    }
}

/// The lag experiment: the same seed gives the same frame.
#[test]
fn lag_same_seed_same_frame() {
    let sim = LagSim { horizon: Duration::from_secs(120), ..LagSim::default() };
    let a = summary(&sweep(&sim, &poll_grid(), 9).unwrap()).unwrap();
    let b = summary(&sweep(&sim, &poll_grid(), 9).unwrap()).unwrap();
    assert!(a.equals(&b));
    assert!(!a.equals(&summary(&sweep(&sim, &poll_grid(), 10).unwrap()).unwrap()));
}

/// Against the closed form: mean lag = P/2 + c(1 + rate P/2), within 3 %, at every
/// poll interval of the chapter (about 60,000 writes each).
#[test]
fn lag_mean_matches_the_closed_form() {
    let sim = LagSim::default();
    for run in sweep(&sim, &poll_grid(), 42).unwrap() {
        let predicted =
            LagSim { poll: Duration::from_secs_f64(run.poll_ms / 1e3), ..sim }.predicted_mean_ms();
        let err = (run.mean() - predicted).abs() / predicted;
        assert!(
            err < 0.03,
            "poll {} ms: simulated {:.3} ms, formula {predicted:.3} ms",
            run.poll_ms,
            run.mean()
        );
    }
}
