//! Charts: data you can export plus a function that draws it on any plotters
//! `DrawingArea`.
//!
//! A [`Chart`] holds its title, axis labels and series. [`Chart::draw`] draws it on any
//! plotters drawing area; [`Chart::show`] renders an SVG that the evcxr kernel displays
//! inline; [`Chart::to_svg`], [`Chart::save_png`] and [`Chart::write_csv`] are what tests
//! and the chart command use. Text is set in DejaVu Sans, which the crate embeds, so a
//! chart looks the same on every machine and needs no system fonts.
//!
//! [`book`] builds every chart of the workbook from its scenario and a seed.

pub mod book;
pub mod cqrs;
mod draw;
pub mod locks;
pub mod perf;
pub mod replay;

use std::io::Write;
use std::path::Path;

use serde::Serialize;

pub use draw::{PALETTE, register_fonts};

use crate::Error;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mark {
    /// A line through the points.
    Line,
    /// A line with a dot at each point.
    LineDots,
    /// Dots only.
    Dots,
    /// A dashed reference line (capacity, a formula).
    Reference,
    /// A line with hollow circles (a second kind of point beside [`Mark::LineDots`]).
    Hollow,
    /// A state, drawn as a plain line (in a Gantt chart: a bar saying what users could
    /// see).
    State,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub mark: Mark,
}

impl Series {
    /// A series drawn as a line.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { name: name.into(), points, mark: Mark::Line }
    }

    /// The same series with another mark.
    pub fn with_mark(mut self, mark: Mark) -> Self {
        self.mark = mark;
        self
    }
}

/// The kind of chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// x-y lines and dots.
    Lines,
    /// One row per series: each point's x is a time, its y is ignored; dots on a line
    /// (attempts of a request over time).
    Timeline,
    /// Bars on rows (a Gantt chart): each series is drawn on the row named by its name
    /// (series may share a row), each point `(start, end)` is a bar, coloured by the
    /// series' [`Mark`] as [`gantt_meaning`] says.
    Gantt,
}

/// What a bar's colour means in a [`Kind::Gantt`] chart, by the series' mark.
pub fn gantt_meaning(mark: Mark) -> &'static str {
    match mark {
        Mark::Line => "step done",
        Mark::LineDots => "compensation done",
        Mark::Dots => "step failed",
        Mark::Reference => "no answer (service down): retried",
        Mark::Hollow => "done, but the answer was lost: retried",
        Mark::State => "what other users can see",
    }
}

/// A shaded stretch of the x axis (an outage, a slowdown), drawn behind the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// Where it starts.
    pub from: f64,
    /// Where it ends.
    pub to: f64,
    /// A label drawn at its top.
    pub label: String,
}

/// A chart: what to draw, independent of where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// Title, drawn at the top.
    pub title: String,
    /// A note under the title (the seed and the key settings).
    pub caption: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The data.
    pub series: Vec<Series>,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Kind of chart.
    pub kind: Kind,
    /// Shaded stretches of the x axis.
    pub bands: Vec<Band>,
    /// A Gantt chart's own legend: what each mark's colour means (marks not listed keep
    /// [`gantt_meaning`]).
    pub key: Vec<(Mark, String)>,
}

/// A chart drawn for a notebook: the same picture as SVG and as PNG, which the evcxr
/// Jupyter kernel shows inline (it calls `evcxr_display`).
///
/// Both go out as one display bundle. JupyterLab draws the SVG in a notebook the user
/// trusts and the PNG in one it does not: it never renders SVG from an untrusted
/// notebook (one executed elsewhere, such as the main job's `data/executed/`), so without
/// the PNG those charts would not appear at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// The chart as SVG.
    pub svg: String,
    /// The chart as PNG bytes.
    pub png: Vec<u8>,
}

impl Figure {
    /// Prints both forms in evcxr's display protocol (the PNG base64-encoded, as the
    /// protocol asks for binary content).
    pub fn evcxr_display(&self) {
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD.encode(&self.png);
        // One `println!`: nothing else can interleave with the bundle.
        println!(
            "EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT image/png\n{png}\nEVCXR_END_CONTENT",
            self.svg
        );
    }
}

/// Default size of a chart, in pixels.
pub const SIZE: (u32, u32) = (960, 480);

impl Chart {
    /// An empty line chart.
    pub fn lines(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            caption: String::new(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_y: false,
            kind: Kind::Lines,
            bands: Vec::new(),
            key: Vec::new(),
        }
    }

    /// An empty Gantt chart (see [`Kind::Gantt`]).
    pub fn gantt(title: impl Into<String>, x_label: impl Into<String>) -> Self {
        Self { kind: Kind::Gantt, ..Self::lines(title, x_label, "") }
    }

    /// Shades `from..to` on the x axis, with a label.
    pub fn shade(mut self, from: f64, to: f64, label: impl Into<String>) -> Self {
        self.bands.push(Band { from, to, label: label.into() });
        self
    }

    /// An empty timeline.
    pub fn timeline(title: impl Into<String>, x_label: impl Into<String>) -> Self {
        Self { kind: Kind::Timeline, ..Self::lines(title, x_label, "") }
    }

    /// In a Gantt chart, says that bars with `mark` mean `meaning`.
    pub fn key(mut self, mark: Mark, meaning: impl Into<String>) -> Self {
        self.key.push((mark, meaning.into()));
        self
    }

    /// What a Gantt bar with `mark` means in this chart.
    pub fn meaning(&self, mark: Mark) -> &str {
        self.key.iter().find(|(m, _)| *m == mark).map_or(gantt_meaning(mark), |(_, t)| t.as_str())
    }

    /// Adds a series.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Sets the caption.
    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = caption.into();
        self
    }

    /// Uses a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Draws the chart on any plotters drawing area.
    ///
    /// # Errors
    /// [`Error::Chart`] if the backend fails.
    pub fn draw<DB: plotters::prelude::DrawingBackend>(
        &self,
        area: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), Error> {
        draw::draw(self, area)
    }

    /// The chart as an SVG document of `size` pixels.
    ///
    /// # Errors
    /// [`Error::Chart`] if drawing fails.
    pub fn to_svg(&self, size: (u32, u32)) -> Result<String, Error> {
        use plotters::prelude::*;
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| Error::Chart(e.to_string()))?;
        }
        Ok(s)
    }

    /// The chart for inline display in a notebook (default size), as SVG and PNG.
    ///
    /// # Errors
    /// [`Error::Chart`] if drawing or encoding fails.
    pub fn show(&self) -> Result<Figure, Error> {
        Ok(Figure { svg: self.to_svg(SIZE)?, png: self.to_png(SIZE)? })
    }

    /// Draws the chart as PNG bytes, in memory.
    ///
    /// # Errors
    /// [`Error::Chart`] if drawing or encoding fails.
    pub fn to_png(&self, size: (u32, u32)) -> Result<Vec<u8>, Error> {
        use image::ImageEncoder as _;
        use plotters::prelude::*;
        let (w, h) = size;
        let mut rgb = vec![0u8; (w as usize) * (h as usize) * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| Error::Chart(e.to_string()))?;
        }
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, w, h, image::ColorType::Rgb8)
            .map_err(|e| Error::Chart(format!("PNG encoding: {e}")))?;
        Ok(png)
    }

    /// Writes the chart as a PNG file.
    ///
    /// # Errors
    /// [`Error::Chart`] if drawing or writing fails.
    pub fn save_png(&self, path: &Path, size: (u32, u32)) -> Result<(), Error> {
        use plotters::prelude::*;
        let root = BitMapBackend::new(path, size).into_drawing_area();
        self.draw(&root)?;
        root.present().map_err(|e| Error::Chart(format!("{}: {e}", path.display())))
    }

    /// Writes the chart's data as CSV in long form: `series,x,y`.
    ///
    /// # Errors
    /// [`Error::Data`] or [`Error::Io`] if writing fails.
    pub fn write_csv(&self, w: impl Write) -> Result<(), Error> {
        let mut w = csv::Writer::from_writer(w);
        w.write_record(["series", &label_or(&self.x_label, "x"), &label_or(&self.y_label, "y")])?;
        for s in &self.series {
            for (x, y) in &s.points {
                w.write_record([s.name.as_str(), &x.to_string(), &y.to_string()])?;
            }
        }
        w.flush()?;
        Ok(())
    }
}

fn label_or(label: &str, fallback: &str) -> String {
    if label.is_empty() { fallback.to_string() } else { label.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        Chart::lines("t", "x", "y")
            .with(Series::line("a", vec![(0.0, 1.0), (1.0, 2.0)]))
            .with(Series::line("b", vec![(0.0, 3.0), (1.0, 0.5)]).with_mark(Mark::Reference))
            .caption("seed 1")
    }

    #[test]
    fn svg_is_deterministic_and_has_the_text() {
        let a = sample().to_svg(SIZE).unwrap();
        assert_eq!(a, sample().to_svg(SIZE).unwrap());
        assert!(a.contains("seed 1") && a.starts_with("<svg"));
        let log = sample().log_y().to_svg(SIZE).unwrap();
        assert_ne!(a, log);
    }

    /// A notebook shows both forms in one bundle, so a viewer that will not render SVG
    /// (JupyterLab, for an untrusted notebook) still gets the chart as PNG.
    #[test]
    fn a_shown_chart_carries_the_same_picture_as_png() {
        let f = sample().show().unwrap();
        assert!(f.svg.starts_with("<svg"));
        assert_eq!(&f.png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
        assert_eq!(f, sample().show().unwrap(), "deterministic, byte for byte");
        let decoded = image::load_from_memory(&f.png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), SIZE);
    }

    #[test]
    fn empty_and_degenerate_data_still_draw() {
        Chart::lines("empty", "x", "y").to_svg(SIZE).unwrap();
        Chart::lines("flat", "x", "y")
            .with(Series::line("z", vec![(1.0, 0.0)]))
            .log_y()
            .to_svg(SIZE)
            .unwrap();
        Chart::timeline("tl", "s").with(Series::line("r", vec![(0.0, 0.0)])).to_svg(SIZE).unwrap();
    }

    #[test]
    fn csv_is_long_form() {
        let mut out = Vec::new();
        sample().write_csv(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().next(), Some("series,x,y"));
        assert_eq!(text.lines().count(), 5);
    }
}
