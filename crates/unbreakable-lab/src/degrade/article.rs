//! The article's table and widget, produced by rendering the page model.

use std::time::Duration;

use serde::Serialize;

use super::page::{
    CACHE_MISS_PENALTY, Dependency, FAIL_FAST, Health, Mode, Page, Rendered, Section, Shown, Status,
    storefront,
};

/// One row of the article's table: a component down, what users get without degradation and
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The dependency that is down.
    pub component: Dependency,
    /// The page it was rendered on.
    pub page: &'static str,
    /// [`Mode::NoFallback`], in words.
    pub without: String,
    /// [`Mode::Degrade`], in words.
    pub with: String,
}

/// What `rendered` shows for `section`, in words.
pub fn describe(rendered: &Rendered, section: &Section) -> String {
    match (rendered.status, rendered.section(section.name)) {
        (Status::Error(code), _) => match rendered.failed_by {
            // The article's own words already say the page fails ("500 error page");
            // otherwise say so, so that an essential section's failure is not mistaken
            // for a broken part of a working page.
            Some(by) if by == section.name && section.symptom.contains(&code.to_string()) => {
                section.symptom.into()
            }
            Some(by) if by == section.name => {
                format!("{}: the whole page fails (HTTP {code})", section.symptom)
            }
            Some(by) => format!("HTTP {code}: {by} failed"),
            None => format!("HTTP {code}"),
        },
        (_, Some(Shown::Live)) => "works".into(),
        (_, Some(Shown::Fallback(f))) => f.describe(),
        (_, Some(Shown::Hidden)) => format!("hide the {}", section.name),
        (_, Some(Shown::Broken(symptom))) => (*symptom).into(),
        (_, None) => "not on this page".into(),
    }
}

/// The article's table, by rendering: for each of `components`, the first page with a
/// section on it is rendered with only that component down, without degradation
/// ([`Mode::NoFallback`]) and with it.
pub fn table(pages: &[Page], components: &[Dependency]) -> Vec<Row> {
    components
        .iter()
        .filter_map(|&component| {
            let (page, section) = pages
                .iter()
                .find_map(|p| p.sections.iter().find(|s| s.dependency == component).map(|s| (p, s)))?;
            let health = Health::with_down(&[component]);
            Some(Row {
                component,
                page: page.name,
                without: describe(&page.render(&health, Mode::NoFallback), section),
                with: describe(&page.render(&health, Mode::Degrade), section),
            })
        })
        .collect()
}

/// The article's five components, in its order.
pub const ARTICLE_COMPONENTS: [Dependency; 5] = [
    Dependency::Database,
    Dependency::Search,
    Dependency::Recommendations,
    Dependency::ImageCdn,
    Dependency::Payments,
];

/// The article's widget: what the product page looks like with `health`, degrading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WidgetView {
    /// FULL, DEGRADED or DOWN.
    pub level: &'static str,
    /// One line about the whole page.
    pub headline: String,
    /// How long the page took.
    pub response: Duration,
    /// One line per toggle: the dependency, UP or DOWN, and what the page does about it.
    pub lines: Vec<String>,
}

/// The article's widget over the four toggles (gateway, database, Redis cache, search).
pub fn widget(health: &Health) -> WidgetView {
    let [product, _] = storefront();
    let page = product.render(health, Mode::Degrade);
    let normal = product.render(&Health::all_up(), Mode::Degrade).latency;
    let (level, headline) = match page.status {
        Status::Full if page.latency > normal => {
            ("DEGRADED", format!("Every feature works, {} ms slower", (page.latency - normal).as_millis()))
        }
        Status::Full => ("FULL", "All systems operational".to_string()),
        Status::Degraded => ("DEGRADED", "The page works; some parts fall back".to_string()),
        Status::Error(code) => ("DOWN", format!("HTTP {code}: nothing to show")),
    };
    let toggles = [Dependency::Gateway, Dependency::Database, Dependency::Cache, Dependency::Search];
    let lines = toggles
        .iter()
        .map(|&d| {
            let effect = if health.is_up(d) {
                "responds normally within SLA.".to_string()
            } else {
                match (d, product.sections.iter().find(|s| s.dependency == d)) {
                    (Dependency::Gateway, _) => "every request fails: the gateway is the front door.".into(),
                    (Dependency::Cache, _) if health.is_up(Dependency::Database) => {
                        format!(
                            "every read goes to the database: pages are {} ms slower.",
                            (FAIL_FAST + CACHE_MISS_PENALTY - Dependency::Cache.latency()).as_millis()
                        )
                    }
                    (Dependency::Cache, _) => "no cache to fall back on.".into(),
                    (_, Some(s)) => format!("{}: {}.", s.name, describe(&page, s)),
                    (_, None) => "not used by this page.".into(),
                }
            };
            format!("{} {}: {}", d.name(), if health.is_up(d) { "UP" } else { "DOWN" }, effect)
        })
        .collect();
    WidgetView { level, headline, response: page.latency, lines }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::degrade::page::Importance;

    #[test]
    fn all_up_takes_the_articles_120_ms() {
        let v = widget(&Health::all_up());
        assert_eq!((v.level, v.response), ("FULL", Duration::from_millis(120)));
    }

    /// The table's words are what the components do when rendered.
    #[test]
    fn the_table_matches_what_the_components_do() {
        let pages = storefront();
        let rows = table(&pages, &ARTICLE_COMPONENTS);
        assert_eq!(rows.len(), 5);
        for row in &rows {
            let page = pages.iter().find(|p| p.name == row.page).unwrap();
            let section = page.sections.iter().find(|s| s.dependency == row.component).unwrap();
            let health = Health::with_down(&[row.component]);
            let without = page.render(&health, Mode::NoFallback);
            let with = page.render(&health, Mode::Degrade);
            // Degrading always serves the page, with the section's own fallback.
            assert_ne!(with.status, Status::Error(500), "{row:?}");
            assert_eq!(with.section(section.name), Some(&Shown::Fallback(section.fallback)));
            assert_eq!(row.with, section.fallback.describe());
            // Without it, an essential section takes the page down; others show their symptom.
            match section.importance {
                Importance::Essential => assert_eq!(without.status, Status::Error(500)),
                Importance::NiceToHave => {
                    assert_eq!(without.section(section.name), Some(&Shown::Broken(section.symptom)))
                }
            }
            assert!(row.without.starts_with(section.symptom), "{row:?}");
        }
        assert_eq!(rows[0].with, "show cached data with a \"data may be stale\" banner");
        assert_eq!(rows[2].with, "show popular items instead");
        assert_eq!(rows[4].without, "checkout crashes: the whole page fails (HTTP 500)");
        // Make search essential: its row now says the page fails.
        let mut pages = storefront();
        pages[0].sections[1].importance = Importance::Essential;
        let row = &table(&pages, &[Dependency::Search])[0];
        assert_eq!(row.without, "search bar returns errors: the whole page fails (HTTP 500)");
    }

    #[test]
    fn the_widget_reports_what_cannot_degrade_and_what_is_only_slower() {
        assert_eq!(widget(&Health::with_down(&[Dependency::Gateway])).level, "DOWN");
        // Cache down: every feature works, but every read goes to the database.
        let slow = widget(&Health::with_down(&[Dependency::Cache]));
        assert_eq!((slow.level, slow.response), ("DEGRADED", Duration::from_millis(267)));
    }
}
