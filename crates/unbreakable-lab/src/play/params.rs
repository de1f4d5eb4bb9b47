//! A widget's parameters: what each is (type, unit, allowed range, default), and a
//! request's JSON body checked against them.
//!
//! The one description serves the list of widgets (`GET /api/scenarios`), the OpenAPI
//! document and the validation of every run, so the three cannot drift apart.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The largest seed a client may send: 2^32 - 1 (every JavaScript number up to it is an
/// exact integer, and the scenarios take any `u64`).
pub const MAX_SEED: u64 = u32::MAX as u64;

/// What kind of value a parameter takes, with its range and default.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Integer {
        /// Least allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
        /// Taken when the request leaves it out.
        default: i64,
    },
    /// A number in `min..=max`.
    Number {
        /// Least allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
        /// Taken when the request leaves it out.
        default: f64,
        /// The step of the widget's slider.
        step: f64,
    },
    /// `true` or `false`.
    Boolean {
        /// Taken when the request leaves it out.
        default: bool,
    },
    /// One of a list of names.
    Choice {
        /// The names allowed, in the order the widget lists them.
        options: &'static [&'static str],
        /// Taken when the request leaves it out.
        default: &'static str,
    },
}

/// One parameter of a widget.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The key in the request's `params` object, such as `base_ms`.
    pub name: &'static str,
    /// What the widget's label says.
    pub label: &'static str,
    /// Unit of the value (`ms`, `s`, `requests/s`; empty for none).
    pub unit: &'static str,
    /// Its type, range and default.
    pub kind: Kind,
}

impl Param {
    /// A whole number in `min..=max`.
    pub const fn int(
        name: &'static str,
        label: &'static str,
        unit: &'static str,
        min: i64,
        max: i64,
        default: i64,
    ) -> Self {
        Self { name, label, unit, kind: Kind::Integer { min, max, default } }
    }

    /// A number in `min..=max`, with the slider's step.
    pub const fn num(
        name: &'static str,
        label: &'static str,
        unit: &'static str,
        (min, max, step): (f64, f64, f64),
        default: f64,
    ) -> Self {
        Self { name, label, unit, kind: Kind::Number { min, max, default, step } }
    }

    /// `true` or `false`.
    pub const fn bool(name: &'static str, label: &'static str, default: bool) -> Self {
        Self { name, label, unit: "", kind: Kind::Boolean { default } }
    }

    /// One of `options`.
    pub const fn choice(
        name: &'static str,
        label: &'static str,
        options: &'static [&'static str],
        default: &'static str,
    ) -> Self {
        Self { name, label, unit: "", kind: Kind::Choice { options, default } }
    }

    /// Its default, as JSON.
    pub fn default_value(&self) -> Value {
        match self.kind {
            Kind::Integer { default, .. } => json!(default),
            Kind::Number { default, .. } => json!(default),
            Kind::Boolean { default } => json!(default),
            Kind::Choice { default, .. } => json!(default),
        }
    }

    /// What is allowed, in words: `10 to 5000 ms`, `one of: none, full`.
    pub fn allowed(&self) -> String {
        let unit = if self.unit.is_empty() { String::new() } else { format!(" {}", self.unit) };
        match self.kind {
            Kind::Integer { min, max, .. } => format!("a whole number from {min} to {max}{unit}"),
            Kind::Number { min, max, .. } => format!("a number from {min} to {max}{unit}"),
            Kind::Boolean { .. } => "true or false".to_string(),
            Kind::Choice { options, .. } => format!("one of: {}", options.join(", ")),
        }
    }

    /// The parameter as the list of widgets gives it: name, label, type, unit, range,
    /// default (and the options of a choice).
    pub fn describe(&self) -> Value {
        let mut v = json!({
            "name": self.name, "label": self.label, "unit": self.unit, "default": self.default_value(),
        });
        let extra = match self.kind {
            Kind::Integer { min, max, .. } => json!({"type": "integer", "min": min, "max": max, "step": 1}),
            Kind::Number { min, max, step, .. } => {
                json!({"type": "number", "min": min, "max": max, "step": step})
            }
            Kind::Boolean { .. } => json!({"type": "boolean"}),
            Kind::Choice { options, .. } => json!({"type": "choice", "options": options}),
        };
        if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
            v.extend(extra);
        }
        v
    }

    /// The parameter's JSON Schema (for the OpenAPI document).
    pub fn schema(&self) -> Value {
        let mut s = match self.kind {
            Kind::Integer { min, max, default } => {
                json!({"type": "integer", "minimum": min, "maximum": max, "default": default})
            }
            Kind::Number { min, max, default, .. } => {
                json!({"type": "number", "minimum": min, "maximum": max, "default": default})
            }
            Kind::Boolean { default } => json!({"type": "boolean", "default": default}),
            Kind::Choice { options, default } => {
                json!({"type": "string", "enum": options, "default": default})
            }
        };
        let unit = if self.unit.is_empty() { String::new() } else { format!(" ({})", self.unit) };
        s["description"] = json!(format!("{}{unit}", self.label));
        s
    }

    fn check(&self, v: &Value) -> Result<Value, Invalid> {
        let bad = || Invalid::new(self.name, format!("must be {}", self.allowed()), self.allowed());
        match self.kind {
            Kind::Integer { min, max, .. } => {
                // 3.0 is a whole number too (JavaScript sends numbers that way).
                let n = v.as_i64().or_else(|| {
                    v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64)
                });
                match n {
                    Some(n) if (min..=max).contains(&n) => Ok(json!(n)),
                    _ => Err(bad()),
                }
            }
            Kind::Number { min, max, .. } => match v.as_f64() {
                Some(f) if f.is_finite() && (min..=max).contains(&f) => Ok(json!(f)),
                _ => Err(bad()),
            },
            Kind::Boolean { .. } => v.as_bool().map(Value::Bool).ok_or_else(bad),
            Kind::Choice { options, .. } => match v.as_str() {
                Some(s) if options.contains(&s) => Ok(json!(s)),
                _ => Err(bad()),
            },
        }
    }
}

/// A request the server refuses: the field at fault, what is wrong, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field (`seed`, `params.base_ms`, or `body`).
    pub field: String,
    /// What is wrong, and what to send instead.
    pub message: String,
    /// What the field allows, in words.
    pub allowed: String,
}

impl Invalid {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>, allowed: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), allowed: allowed.into() }
    }
}

/// A request's parameters once checked: every parameter of the widget is present (sent
/// or default) and within its range.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Values(BTreeMap<&'static str, Value>);

impl Values {
    /// Every parameter at its default.
    pub fn defaults(params: &[Param]) -> Self {
        Self(params.iter().map(|p| (p.name, p.default_value())).collect())
    }

    /// A whole-number parameter (0 if the widget has no such parameter: a bug the
    /// widget's tests catch).
    pub fn int(&self, name: &str) -> i64 {
        self.0.get(name).and_then(Value::as_i64).unwrap_or(0)
    }

    /// A whole-number parameter as `u32` (its range is within `u32` for every widget).
    pub fn u32(&self, name: &str) -> u32 {
        u32::try_from(self.int(name).max(0)).unwrap_or(u32::MAX)
    }

    /// A whole-number parameter as `u64` (negative values read as 0).
    pub fn u64(&self, name: &str) -> u64 {
        u64::try_from(self.int(name)).unwrap_or(0)
    }

    /// A number parameter.
    pub fn num(&self, name: &str) -> f64 {
        self.0.get(name).and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// A boolean parameter.
    pub fn bool(&self, name: &str) -> bool {
        self.0.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A choice parameter.
    pub fn choice(&self, name: &str) -> &str {
        self.0.get(name).and_then(Value::as_str).unwrap_or("")
    }

    /// The values as a JSON object (echoed in each run's answer).
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    /// Sets one value (for tests and the benchmark; not checked).
    pub fn set(mut self, name: &'static str, v: Value) -> Self {
        self.0.insert(name, v);
        self
    }
}

/// Checks a run request's body, `{"seed": 42, "params": {...}}` (both optional), against
/// the widget's parameters: the seed (default `default_seed`) and every parameter, sent or
/// default.
///
/// # Errors
/// [`Invalid`] naming the first field at fault: a body that is not a JSON object, an
/// unknown key, a value of the wrong type or outside its range.
pub fn validate(params: &[Param], body: &[u8], default_seed: u64) -> Result<(u64, Values), Invalid> {
    // Only an empty body means "every default"; whitespace alone is not JSON.
    let top = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(Invalid::new(
                    "body",
                    "must be a JSON object",
                    "{\"seed\": ..., \"params\": {...}}",
                ));
            }
            Err(e) => return Err(Invalid::new("body", format!("is not JSON: {e}"), "a JSON object")),
        }
    };
    let mut seed = default_seed;
    let mut values = Values::defaults(params);
    for (k, v) in &top {
        match k.as_str() {
            "seed" => {
                let allowed = format!("a whole number from 0 to {MAX_SEED}");
                seed = v
                    .as_u64()
                    .filter(|s| *s <= MAX_SEED)
                    .ok_or_else(|| Invalid::new("seed", format!("must be {allowed}"), allowed.clone()))?;
            }
            "params" => {
                let Value::Object(m) = v else {
                    return Err(Invalid::new(
                        "params",
                        "must be a JSON object",
                        "an object of the widget's parameters",
                    ));
                };
                for (name, v) in m {
                    let Some(p) = params.iter().find(|p| p.name == name) else {
                        let names: Vec<_> = params.iter().map(|p| p.name).collect();
                        return Err(Invalid::new(
                            format!("params.{name}"),
                            format!(
                                "is not a parameter of this widget; its parameters are: {}",
                                names.join(", ")
                            ),
                            names.join(", "),
                        ));
                    };
                    let v = p.check(v).map_err(|e| Invalid { field: format!("params.{}", e.field), ..e })?;
                    values.0.insert(p.name, v);
                }
            }
            other => {
                return Err(Invalid::new(other, "is not a field of a run request", "seed, params"));
            }
        }
    }
    Ok((seed, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[Param] = &[
        Param::int("base_ms", "base delay", "ms", 10, 5000, 1000),
        Param::num("loss", "messages lost", "", (0.0, 0.9, 0.05), 0.1),
        Param::bool("keyed", "idempotency key", true),
        Param::choice("jitter", "jitter", &["none", "full"], "full"),
    ];

    fn refused(body: &str) -> Invalid {
        validate(PARAMS, body.as_bytes(), 42).unwrap_err()
    }

    #[test]
    fn an_empty_body_takes_every_default() {
        let (seed, v) = validate(PARAMS, b"", 42).unwrap();
        assert_eq!(seed, 42);
        assert_eq!(
            (v.int("base_ms"), v.num("loss"), v.bool("keyed"), v.choice("jitter")),
            (1000, 0.1, true, "full")
        );
        assert_eq!(validate(PARAMS, b"{}", 42).unwrap().1, v);
    }

    #[test]
    fn values_in_range_are_taken() {
        let (seed, v) = validate(
            PARAMS,
            br#"{"seed": 7, "params": {"base_ms": 10.0, "loss": 0.9, "jitter": "none"}}"#,
            42,
        )
        .unwrap();
        assert_eq!((seed, v.int("base_ms"), v.num("loss"), v.choice("jitter")), (7, 10, 0.9, "none"));
    }

    #[test]
    fn each_refusal_names_the_field_and_what_it_allows() {
        let e = refused(r#"{"params": {"base_ms": 5001}}"#);
        assert_eq!(e.field, "params.base_ms");
        assert_eq!(e.allowed, "a whole number from 10 to 5000 ms");
        assert_eq!(refused(r#"{"params": {"base_ms": 9}}"#).field, "params.base_ms");
        assert_eq!(refused(r#"{"params": {"base_ms": 1.5}}"#).field, "params.base_ms");
        assert_eq!(refused(r#"{"params": {"base_ms": "7"}}"#).field, "params.base_ms");
        assert_eq!(refused(r#"{"params": {"loss": 0.91}}"#).field, "params.loss");
        assert_eq!(refused(r#"{"params": {"keyed": 1}}"#).field, "params.keyed");
        assert_eq!(refused(r#"{"params": {"jitter": "half"}}"#).allowed, "one of: none, full");
        assert_eq!(refused(r#"{"params": {"retries": 3}}"#).field, "params.retries");
        assert_eq!(refused(r#"{"params": []}"#).field, "params");
        assert_eq!(refused(r#"{"seed": -1}"#).field, "seed");
        assert_eq!(refused(r#"{"seed": 4294967296}"#).field, "seed");
        assert_eq!(refused(r#"{"seed": 1e300}"#).field, "seed");
        assert_eq!(refused(r#"{"other": 1}"#).field, "other");
        assert_eq!(refused("[1]").field, "body");
        assert_eq!(refused("{").field, "body");
        assert_eq!(refused("\n").field, "body", "whitespace is not an empty body");
        assert_eq!(refused(r#"{"params": {"base_ms": 1e400}}"#).field, "body", "serde_json refuses 1e400");
    }
}
