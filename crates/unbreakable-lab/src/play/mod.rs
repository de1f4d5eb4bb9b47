//! The widgets' server (feature `play`): every widget of the workbook, live, on a real
//! axum service built with the crate's own layers.
//!
//! * [`params`]: a widget's parameters (type, unit, range, default) and the checking of a
//!   request against them;
//! * [`widgets`]: the widgets, each a scenario of the laboratory drawn with the chart
//!   command's chart functions;
//! * [`openapi`]: the API's OpenAPI description, generated from the same parameters;
//! * [`server`]: the router, its layers, the bounded pool the runs execute on.
//!
//! The binary `unbreakable-play` (`./workbook play`) serves it on 127.0.0.1.

pub mod openapi;
pub mod params;
pub mod server;
pub mod widgets;
