//! Events as stored rows (type, schema version, JSON payload) and back, through
//! upcasters: what the durable stores (SQLite, PostgreSQL) share.

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{EventStoreError, EventType};

/// Turns a payload stored under an old schema version into the next version's shape.
pub type Upcaster = Box<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// The upcasters registered on a store, by `(event type, from version)`.
#[derive(Default)]
pub(crate) struct Upcasters(HashMap<(String, u32), Upcaster>);

impl Upcasters {
    pub(crate) fn insert(&mut self, event_type: &str, from: u32, upcast: Upcaster) {
        self.0.insert((event_type.to_string(), from), upcast);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Decodes one stored payload, upcasting it first if an upcaster is registered
    /// for its type and version (they chain: 1 -> 2, then 2 -> 3 if registered).
    pub(crate) fn decode<E: DeserializeOwned>(
        &self,
        position: u64,
        event_type: &str,
        schema: u32,
        data: &str,
    ) -> Result<E, EventStoreError> {
        let codec = |source: String| EventStoreError::Codec {
            position,
            event_type: event_type.to_string(),
            schema,
            source: source.into(),
        };
        if self.0.is_empty() {
            return serde_json::from_str(data).map_err(|e| codec(e.to_string()));
        }
        let mut version = schema;
        let mut value: Option<Value> = None;
        while let Some(up) = self.0.get(&(event_type.to_string(), version)) {
            let v = match value.take() {
                Some(v) => v,
                None => serde_json::from_str(data).map_err(|e| codec(e.to_string()))?,
            };
            value = Some(up(v).map_err(codec)?);
            version = version.checked_add(1).ok_or_else(|| {
                codec(format!(
                    "an upcaster is registered from schema version {version}, which has no next version"
                ))
            })?;
        }
        match value {
            Some(v) => serde_json::from_value(v).map_err(|e| codec(e.to_string())),
            None => serde_json::from_str(data).map_err(|e| codec(e.to_string())),
        }
    }
}

/// Each event as `(type, schema version, JSON)`.
pub(crate) fn encode<E: Serialize + EventType>(
    events: &[E],
) -> Result<Vec<(&'static str, u32, String)>, EventStoreError> {
    events
        .iter()
        .map(|e| {
            serde_json::to_string(e).map(|json| (e.event_type(), e.schema_version(), json)).map_err(|err| {
                EventStoreError::Codec {
                    position: 0,
                    event_type: e.event_type().to_string(),
                    schema: e.schema_version(),
                    source: Box::new(err),
                }
            })
        })
        .collect()
}

/// A snapshot as JSON.
pub(crate) fn encode_snapshot<S: Serialize>(state: &S) -> Result<String, EventStoreError> {
    serde_json::to_string(state).map_err(|e| EventStoreError::Codec {
        position: 0,
        event_type: "snapshot".into(),
        schema: 0,
        source: Box::new(e),
    })
}

/// A snapshot from JSON.
pub(crate) fn decode_snapshot<S: DeserializeOwned>(json: &str) -> Result<S, EventStoreError> {
    serde_json::from_str(json).map_err(|e| EventStoreError::Codec {
        position: 0,
        event_type: "snapshot".into(),
        schema: 0,
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upcaster_from_the_last_schema_version_is_an_error_not_an_overflow() {
        let mut up = Upcasters::default();
        up.insert("Moved", u32::MAX, Box::new(Ok));
        up.insert("Moved", 0, Box::new(Ok));
        let r = up.decode::<u32>(7, "Moved", u32::MAX, "1");
        assert!(matches!(&r, Err(EventStoreError::Codec { position: 7, schema: u32::MAX, .. })), "{r:?}");
        // Below the last version the chain still runs.
        let mut up = Upcasters::default();
        up.insert("Moved", 1, Box::new(|v| Ok(Value::from(v.as_u64().unwrap_or(0) + 1))));
        assert_eq!(up.decode::<u32>(1, "Moved", 1, "1").unwrap(), 2);
    }
}
