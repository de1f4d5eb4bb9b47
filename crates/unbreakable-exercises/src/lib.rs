//! Self-checking exercises for the Unbreakable workbook, in the manner of rustlings.
//!
//! Each exercise is its own test target under `exercises/NN-chapter/`, and its tests fail
//! until it is solved. Run them with `./workbook exercises` (`NN.M` one exercise, `NN` one
//! chapter, `--watch` re-checks on every save). Solutions are in `solutions/`, mirroring
//! `exercises/`. This library holds only what the exercises' tests share.

/// The learner's code in an exercise file (`include_str!` of it): everything above its test
/// module, without comment lines. A test uses it to ask for a formula written by hand
/// rather than borrowed from the crate the exercise is about.
pub fn learner_code(file: &str) -> String {
    let code = file.find("#[cfg(test)]").map_or(file, |end| &file[..end]);
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}
