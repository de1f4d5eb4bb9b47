//! DataFrames as HTML tables in a notebook, with polars' text table as the plain-text
//! form.
//!
//! evcxr shows a value through its `Debug` form unless the value's type has an
//! `evcxr_display` method, and a polars `DataFrame` has none. End a cell with
//! `df.table()` (the [`AsTable`] trait is in the prelude) and Jupyter draws an HTML table,
//! as it does for pandas; terminals and plain-text viewers get the usual text table.

use std::fmt::Write as _;

use polars::prelude::*;

/// The most rows a [`Table`] draws: the first and last `MAX_ROWS / 2` of a longer frame,
/// with a row of dots between them.
pub const MAX_ROWS: usize = 20;

/// A DataFrame shown as a table (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Table(pub DataFrame);

/// `.table()` on a DataFrame: show it as an HTML table in a notebook.
pub trait AsTable {
    /// The frame, shown as a table.
    fn table(&self) -> Table;
}

impl AsTable for DataFrame {
    fn table(&self) -> Table {
        Table(self.clone())
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn cell(v: &AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => "null".to_string(),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

impl Table {
    /// The table as HTML: a header of names and types, at most [`MAX_ROWS`] rows, and the
    /// frame's shape underneath.
    pub fn to_html(&self) -> String {
        let df = &self.0;
        let (h, w) = df.shape();
        let rows: Vec<Option<usize>> = if h <= MAX_ROWS {
            (0..h).map(Some).collect()
        } else {
            (0..MAX_ROWS / 2).map(Some).chain([None]).chain((h - MAX_ROWS / 2..h).map(Some)).collect()
        };
        let mut s = String::from("<table class=\"dataframe\">\n<thead><tr>");
        for c in df.columns() {
            let _ = write!(
                s,
                "<th>{}<br><small>{}</small></th>",
                escape(c.name()),
                escape(&c.dtype().to_string())
            );
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for r in rows {
            s.push_str("<tr>");
            for c in df.columns() {
                let text = match r {
                    Some(i) => c.get(i).map(|v| cell(&v)).unwrap_or_default(),
                    None => "…".to_string(),
                };
                let _ = write!(s, "<td>{}</td>", escape(&text));
            }
            s.push_str("</tr>\n");
        }
        let _ = write!(s, "</tbody>\n</table>\n<p><small>shape: ({h}, {w})</small></p>");
        s
    }

    /// Prints the HTML table and the text table as one display bundle, in evcxr's
    /// protocol.
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT text/plain\n{}\nEVCXR_END_CONTENT",
            self.to_html(),
            self.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_types_values_and_escapes() {
        let df = df!["name" => ["<b>", "ok"], "n" => [1i64, 2]].unwrap();
        let html = df.table().to_html();
        assert!(html.contains("<th>name<br><small>str</small></th>"), "{html}");
        assert!(html.contains("<td>&lt;b&gt;</td>") && html.contains("<td>2</td>"), "{html}");
        assert!(html.ends_with("shape: (2, 2)</small></p>"));
    }

    #[test]
    fn long_frames_show_their_head_and_tail() {
        let df = df!["i" => (0..100i64).collect::<Vec<_>>()].unwrap();
        let html = df.table().to_html();
        assert_eq!(html.matches("<tr>").count(), 1 + MAX_ROWS + 1, "header, rows and the dots");
        assert!(html.contains("<td>0</td>") && html.contains("<td>99</td>") && !html.contains("<td>50</td>"));
        assert!(html.contains("shape: (100, 1)"));
    }
}
