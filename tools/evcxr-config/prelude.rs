// Run by the workbook's kernel at start-up (tools/evcxr-kernel points EVCXR_CONFIG_DIR here).
// evcxr builds an empty crate when it starts, and cargo then prunes the build directory's
// Cargo.lock to nothing; the `:dep unbreakable-lab` cell would resolve every dependency
// afresh and could pick newer versions than the workspace's tests run with. Copying the
// workspace's Cargo.lock back in before that cell keeps the kernel on the same versions,
// and lets it reuse the dependencies `./workbook run` compiled for the chart command.
{
    if let (Ok(lock), Ok(dir)) = (std::env::var("UNBREAKABLE_LOCK"), std::env::var("EVCXR_TMPDIR")) {
        if let Err(e) = std::fs::copy(&lock, std::path::Path::new(&dir).join("Cargo.lock")) {
            eprintln!("the workbook's kernel could not copy {lock} into {dir}: {e}");
        }
    }
};
