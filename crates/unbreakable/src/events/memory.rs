//! An event store in memory.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::recorded::check_stream;
use super::{Appended, Conflict, EventStore, EventStoreError, Expected, Recorded};

/// An event store in memory, for tests and simulations.
///
/// Events of a stream sit contiguously in one `Vec`, so a rebuild reads memory in order.
/// It grows without bound (it is an append-only log): size simulations accordingly.
///
/// # Examples
/// ```
/// use unbreakable::events::{EventStore, EventStoreError, Expected, MemoryEventStore};
///
/// let mut store = MemoryEventStore::new();
/// store.append("cart-1", Expected::Exactly(0), vec!["added"], 10).unwrap();
/// // Two writers both read version 1; the first to append wins.
/// store.append("cart-1", Expected::Exactly(1), vec!["paid"], 20).unwrap();
/// let late = store.append("cart-1", Expected::Exactly(1), vec!["emptied"], 21);
/// assert!(matches!(late, Err(EventStoreError::Conflict(c)) if c.actual == 2));
/// assert_eq!(store.version("cart-1").unwrap(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryEventStore<E> {
    index: HashMap<Arc<str>, usize>,
    streams: Vec<Vec<Recorded<E>>>,
    /// `(stream index, offset)` of each position, position `p` at `p - 1`.
    log: Vec<(u32, u32)>,
}

impl<E> Default for MemoryEventStore<E> {
    fn default() -> Self {
        Self { index: HashMap::new(), streams: Vec::new(), log: Vec::new() }
    }
}

impl<E> MemoryEventStore<E> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events it holds, in all streams.
    pub fn len(&self) -> u64 {
        self.log.len() as u64
    }

    /// `true` if it holds no events.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// The events of `stream` as a slice (empty if it does not exist): the fastest fold.
    pub fn stream(&self, stream: &str) -> &[Recorded<E>] {
        self.index.get(stream).map_or(&[], |&i| self.streams[i].as_slice())
    }
}

impl<E: Clone> EventStore<E> for MemoryEventStore<E> {
    fn append(
        &mut self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> Result<Appended, EventStoreError> {
        check_stream(stream)?;
        let actual = self.version(stream)?;
        if let Expected::Exactly(v) = expected {
            if v != actual {
                return Err(Conflict { stream: stream.to_string(), expected: v, actual }.into());
            }
        }
        let count = events.len() as u64;
        if count == 0 {
            return Ok(Appended { version: actual, first_position: 0, count: 0 });
        }
        if self.log.len() as u64 + count > u64::from(u32::MAX) {
            return Err(EventStoreError::Storage {
                source: "the in-memory store holds at most 2^32 - 1 events".into(),
            });
        }
        let i = match self.index.get(stream) {
            Some(&i) => i,
            None => {
                self.streams.push(Vec::new());
                self.index.insert(Arc::from(stream), self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        let name = Arc::clone(self.index.get_key_value(stream).map(|(k, _)| k).expect("inserted above"));
        let first_position = self.log.len() as u64 + 1;
        let s = &mut self.streams[i];
        s.reserve(events.len());
        for (k, event) in events.into_iter().enumerate() {
            let k = k as u64;
            self.log.push((i as u32, s.len() as u32));
            s.push(Recorded {
                stream: Arc::clone(&name),
                version: actual + k + 1,
                position: first_position + k,
                at_ms,
                event,
            });
        }
        Ok(Appended { version: actual + count, first_position, count })
    }

    fn version(&self, stream: &str) -> Result<u64, EventStoreError> {
        Ok(self.stream(stream).len() as u64)
    }

    fn visit_stream<F: FnMut(&Recorded<E>)>(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
        mut f: F,
    ) -> Result<u64, EventStoreError> {
        let s = self.stream(stream);
        let from = (*versions.start()).max(1);
        let to = (*versions.end()).min(s.len() as u64);
        if from > to {
            return Ok(0);
        }
        for r in &s[(from - 1) as usize..to as usize] {
            f(r);
        }
        Ok(to - from + 1)
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError> {
        let start = from.max(1) - 1;
        Ok(self
            .log
            .iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(limit)
            .map(|&(s, o)| self.streams[s as usize][o as usize].clone())
            .collect())
    }
}
