//! The same seed gives the same numbers, the same DataFrame and the same chart, byte for
//! byte; another seed gives other numbers.

use unbreakable_lab::charts::SIZE;
use unbreakable_lab::charts::book::{SEED, catalog};
use unbreakable_lab::scenarios::herd::Herd;

#[test]
fn every_chart_is_byte_identical_for_the_same_seed() {
    for entry in catalog() {
        let a = (entry.build)(SEED).unwrap();
        let b = (entry.build)(SEED).unwrap();
        assert_eq!(a.len(), entry.ids.len(), "{:?}", entry.ids);
        for ((id, x), y) in entry.ids.iter().zip(&a).zip(&b) {
            assert_eq!(
                x.to_svg(SIZE).unwrap(),
                y.to_svg(SIZE).unwrap(),
                "{id}: SVG differs between two runs"
            );
            let (mut cx, mut cy) = (Vec::new(), Vec::new());
            x.write_csv(&mut cx).unwrap();
            y.write_csv(&mut cy).unwrap();
            assert_eq!(cx, cy, "{id}: CSV differs");
        }
    }
}

#[test]
fn png_files_are_byte_identical() {
    let dir = std::env::temp_dir().join(format!("unbreakable-png-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let entry = catalog().into_iter().find(|e| e.ids.contains(&"02-herd-load")).unwrap();
    let chart = &(entry.build)(SEED).unwrap()[0];
    let (a, b) = (dir.join("a.png"), dir.join("b.png"));
    chart.save_png(&a, SIZE).unwrap();
    chart.save_png(&b, SIZE).unwrap();
    let (x, y) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(x.len() > 10_000, "a real image");
    assert_eq!(x, y);
}

#[test]
fn another_seed_changes_the_random_charts() {
    for id in [
        "02-herd-load",
        "02-contention-calls",
        "01-chain-success",
        "10-rebuild-work",
        "11-election-timing",
        "08-pool-too-large-sim",
    ] {
        let entry = catalog().into_iter().find(|e| e.ids.contains(&id)).unwrap();
        let i = entry.ids.iter().position(|x| *x == id).unwrap();
        let a = (entry.build)(SEED).unwrap()[i].to_svg(SIZE).unwrap();
        let b = (entry.build)(SEED + 1).unwrap()[i].to_svg(SIZE).unwrap();
        assert_ne!(a, b, "{id} ignores its seed");
    }
}

#[test]
fn same_seed_same_dataframe() {
    let herd = Herd { clients: 300, ..Herd::default() };
    let a = unbreakable_lab::frames::runs(&herd.run_all(5).unwrap()).unwrap();
    let b = unbreakable_lab::frames::runs(&herd.run_all(5).unwrap()).unwrap();
    assert!(a.height() > 1000);
    assert!(a.equals_missing(&b));
    let c = unbreakable_lab::frames::runs(&herd.run_all(6).unwrap()).unwrap();
    assert!(!a.equals_missing(&c));
}
