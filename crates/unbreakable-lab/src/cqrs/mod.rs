//! CQRS (chapter 09): the patterns of [`unbreakable::cqrs`], and the workbook's catalogue.
//!
//! * [`catalogue`]: the write side, a normalised product catalogue in SQLite taking
//!   commands, each change and its event committed together (the transactional outbox);
//!   the article's three products.
//! * [`view`]: the read side, the catalogue denormalised by a projection (category names
//!   joined in, search text prebuilt, availability precomputed), as a polars frame.
//! * [`generate`]: a seeded catalogue of any size, written once under `data/`.
//! * [`lag`]: projection lag after a write, simulated as a distribution.
//! * [`crud`]: the same catalogue as plain CRUD, for "when CQRS is overkill".
//! * [`code_lines`], [`CODE_SIZE`]: both paths' size, counted from their source.

pub use unbreakable::cqrs::*;
pub use unbreakable::events::EventType;

pub mod catalogue;
pub mod crud;
pub mod generate;
pub mod lag;
pub mod view;

/// Lines of code in a Rust source: lines before its `#[cfg(test)]` module that are
/// neither blank nor comments (`//`, `///`, `//!`).
pub fn code_lines(src: &str) -> usize {
    src.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("//")
        })
        .count()
}

/// The sources of both paths, as `(path, which path, source)`: the CRUD path is
/// [`crud`]; the CQRS path is the write side, the read model, and the core's outbox,
/// relay and projection modules.
pub const CODE_SIZE: [(&str, &str, &str); 6] = [
    ("lab cqrs/crud.rs", "CRUD", include_str!("crud.rs")),
    ("lab cqrs/catalogue.rs", "CQRS", include_str!("catalogue.rs")),
    ("lab cqrs/view.rs", "CQRS", include_str!("view.rs")),
    ("core cqrs/outbox.rs", "CQRS", include_str!("../../../unbreakable/src/cqrs/outbox.rs")),
    ("core cqrs/relay.rs", "CQRS", include_str!("../../../unbreakable/src/cqrs/relay.rs")),
    ("core cqrs/projection.rs", "CQRS", include_str!("../../../unbreakable/src/cqrs/projection.rs")),
];

/// Lines of code of each path: `(CRUD, CQRS)`.
pub fn code_size() -> (usize, usize) {
    let sum = |which: &str| CODE_SIZE.iter().filter(|c| c.1 == which).map(|c| code_lines(c.2)).sum();
    (sum("CRUD"), sum("CQRS"))
}
