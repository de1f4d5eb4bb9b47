//! The OpenAPI 3.0 description of the API, generated from the widgets' parameters (the
//! same ones the server validates with), so the two cannot drift apart.

use serde_json::{Map, Value, json};

use super::params::MAX_SEED;
use super::widgets::Widget;

/// The document `GET /api/openapi.json` serves.
pub fn document(widgets: &[Widget]) -> Value {
    let mut paths = Map::new();
    paths.insert(
        "/api/scenarios".into(),
        json!({"get": {
            "operationId": "scenarios",
            "summary": "Every widget with its parameters: name, type, unit, range, default",
            "responses": {"200": {"description": "the widgets", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Scenarios"}}}}},
        }}),
    );
    paths.insert(
        "/api/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": {"description": "the OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }}),
    );
    for w in widgets {
        let props: Map<String, Value> = w.params.iter().map(|p| (p.name.to_string(), p.schema())).collect();
        let body = json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED, "default": crate::charts::book::SEED,
                         "description": "the random seed of the run"},
                "params": {"type": "object", "additionalProperties": false, "properties": props},
            },
        });
        let json_of = |schema: &str| json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}});
        paths.insert(
            format!("/api/run/{}", w.id),
            json!({"post": {
                "operationId": format!("run_{}", w.id.replace('-', "_")),
                "summary": format!("Runs the widget \"{}\" (chapter {}) with these parameters and seed", w.title, w.chapter),
                "requestBody": {"required": false, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "the run: chart as SVG, key numbers, CSV (or the cached default run, with `fallback` saying why, when the run exceeded its budget)", "content": json_of("RunResult")},
                    "400": {"description": "a field is invalid: which, and what it allows", "content": json_of("Invalid")},
                    "413": {"description": "the body is larger than the server's limit", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "504": {"description": "the request exceeded the server's deadline", "content": json_of("Invalid")},
                },
            }}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Unbreakable play", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The workbook's widgets, live: each runs a seeded scenario of the laboratory and answers its chart, key numbers and CSV."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": {
            "Scenarios": {"type": "object", "required": ["scenarios"], "properties": {"scenarios": {"type": "array", "items": {
                "type": "object", "required": ["id", "title", "chapter", "params", "default_seed"],
                "properties": {
                    "id": {"type": "string"}, "title": {"type": "string"}, "chapter": {"type": "string"},
                    "default_seed": {"type": "integer"},
                    "params": {"type": "array", "items": {"type": "object", "required": ["name", "label", "type", "unit", "default"],
                        "properties": {
                            "name": {"type": "string"}, "label": {"type": "string"}, "unit": {"type": "string"},
                            "type": {"type": "string", "enum": ["integer", "number", "boolean", "choice"]},
                            "min": {"type": "number"}, "max": {"type": "number"}, "step": {"type": "number"},
                            "options": {"type": "array", "items": {"type": "string"}},
                            "default": {},
                        }}},
                }}}}},
            "RunResult": {"type": "object", "additionalProperties": false,
                "required": ["scenario", "seed", "params", "numbers", "svg", "csv", "elapsed_ms", "fallback"],
                "properties": {
                    "scenario": {"type": "string"}, "seed": {"type": "integer", "minimum": 0},
                    "params": {"type": "object"},
                    "numbers": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                        "required": ["name", "value", "unit"],
                        "properties": {"name": {"type": "string"}, "value": {"type": "number", "nullable": true}, "unit": {"type": "string", "description": "empty for a count, `share` for a fraction, `yes/no` for 1 (yes) or 0 (no)"}}}},
                    "svg": {"type": "string"}, "csv": {"type": "string"},
                    "elapsed_ms": {"type": "number", "minimum": 0},
                    "fallback": {"type": "string", "nullable": true},
                }},
            "Invalid": {"type": "object", "additionalProperties": false, "required": ["field", "message", "allowed"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "allowed": {"type": "string"}}},
        }},
    })
}
