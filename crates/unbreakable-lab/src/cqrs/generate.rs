//! A deterministic catalogue of `n` products, for the chapter's query at scale.
//!
//! Twenty categories; product names like `"Wireless Mouse Norda-4821"` (an adjective, the
//! category's noun, a brand and a model number); prices log-uniform from $5 to $2,000;
//! one product in ten out of stock. The same `(n, seed)` gives the same catalogue.
//! [`generated`] writes it once into a SQLite file under a directory (the notebook uses
//! `data/catalogue/`, which git ignores) and reopens it afterwards.

use std::path::{Path, PathBuf};

use rand::Rng;

use super::catalogue::{Catalogue, CatalogueError, Command};
use crate::sim::rng;

/// The categories: `(name, the noun its products are named with)`.
pub const CATEGORIES: [(&str, &str); 20] = [
    ("Keyboards", "Keyboard"),
    ("Mice", "Mouse"),
    ("Hubs", "Hub"),
    ("Monitors", "Monitor"),
    ("Headsets", "Headset"),
    ("Webcams", "Webcam"),
    ("Cables", "Cable"),
    ("Chargers", "Charger"),
    ("Speakers", "Speaker"),
    ("Microphones", "Microphone"),
    ("Docks", "Dock"),
    ("Drives", "Drive"),
    ("Routers", "Router"),
    ("Tablets", "Tablet"),
    ("Stands", "Stand"),
    ("Lamps", "Lamp"),
    ("Printers", "Printer"),
    ("Scanners", "Scanner"),
    ("Adapters", "Adapter"),
    ("Controllers", "Controller"),
];

const ADJECTIVES: [&str; 12] = [
    "Wireless",
    "Mechanical",
    "Ergonomic",
    "Compact",
    "Portable",
    "Gaming",
    "Silent",
    "Backlit",
    "Rugged",
    "Slim",
    "Pro",
    "Ultra",
];
const BRANDS: [&str; 8] = ["Norda", "Keyra", "Voltix", "Lumen", "Arcade", "Tessel", "Quill", "Orbis"];

/// The commands that create the catalogue: the categories (ids 1 to 20), then `n`
/// products (ids 1 to `n`).
pub fn commands(n: u64, seed: u64) -> impl Iterator<Item = Command> {
    let mut r = rng(seed);
    let cats = CATEGORIES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Command::AddCategory { id: i as i64 + 1, name: (*name).to_string() });
    let products = (1..=n).map(move |id| {
        let c = r.random_range(0..CATEGORIES.len());
        let name = format!(
            "{} {} {}-{}",
            ADJECTIVES[r.random_range(0..ADJECTIVES.len())],
            CATEGORIES[c].1,
            BRANDS[r.random_range(0..BRANDS.len())],
            r.random_range(100..10_000)
        );
        let dollars: f64 = (5f64.ln() + r.random::<f64>() * (2000f64.ln() - 5f64.ln())).exp();
        let stock = if r.random_bool(0.1) { 0 } else { r.random_range(1..=500) };
        Command::AddProduct {
            id: id as i64,
            name,
            category_id: c as i64 + 1,
            price_cents: (dollars * 100.0).round() as i64,
            stock,
        }
    });
    cats.chain(products)
}

/// Where [`generated`] keeps the catalogue of `n` products for `seed` under `dir`.
pub fn path(dir: &Path, n: u64, seed: u64) -> PathBuf {
    dir.join(format!("catalogue-{n}-seed{seed}.db"))
}

/// The generated catalogue of `n` products, opened from its file under `dir` if it was
/// built before, else built there (in one transaction, every product recorded in the
/// outbox as a `ProductAdded` event) and then opened. Returns the catalogue and whether
/// it was built now.
///
/// # Errors
/// File and SQLite errors.
pub fn generated(dir: &Path, n: u64, seed: u64) -> Result<(Catalogue, bool), CatalogueError> {
    let file = path(dir, n, seed);
    if file.exists() {
        let c = Catalogue::open(&file)?;
        if c.count("products")? == n {
            return Ok((c, false));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CatalogueError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
    let tmp = file.with_extension("building");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    {
        let mut c = Catalogue::open(&tmp)?;
        c.execute_all(commands(n, seed), 0)?;
        // Closing checkpoints the WAL into the file, so the file alone is complete.
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    std::fs::rename(&tmp, &file)
        .map_err(|e| CatalogueError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
    Ok((Catalogue::open(&file)?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_catalogue() {
        let a: Vec<_> = commands(500, 7).collect();
        assert_eq!(a, commands(500, 7).collect::<Vec<_>>());
        assert_ne!(a, commands(500, 8).collect::<Vec<_>>());
        assert_eq!(a.len(), 520);
    }
}
