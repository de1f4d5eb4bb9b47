//! Self-checking exercises for the Unbreakable workbook, in the manner of rustlings.
//!
//! Each exercise is its own test target under `exercises/NN-chapter/`, and its tests fail
//! until it is solved. Run them with `./workbook exercises` (`--watch` re-checks on every
//! save; `NN` shows one chapter). Solutions are in `solutions/`, mirroring `exercises/`.
//! This library is empty: it exists because a package needs one target besides its tests.
