//! The plotters code behind [`Chart::draw`](super::Chart::draw).

use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{Chart, Kind, Mark};
use crate::Error;

/// Okabe-Ito colours, then two of Paul Tol's (wine, olive): distinguishable with the
/// common forms of colour blindness.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
    // Two more, so that a chart of nine or ten series (three payloads by three codecs
    // in chapter 08) does not reuse the first colour.
    RGBColor(136, 34, 85),
    RGBColor(153, 153, 51),
];

const FONT: &str = "sans-serif";

/// Registers the embedded DejaVu Sans as the `sans-serif` family (once per process).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded fonts are valid TrueType files; if registration failed, text
        // drawing would report an error through `draw`, never a panic.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Chart(e.to_string())
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `(lo, hi)` of the values, widened if empty or flat.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - pad, hi + pad);
    }
    (lo, hi)
}

pub(super) fn draw<DB: DrawingBackend>(c: &Chart, area: &DrawingArea<DB, Shift>) -> Result<(), Error> {
    register_fonts();
    area.fill(&WHITE).map_err(err)?;
    let head = if c.caption.is_empty() { 40 } else { 62 };
    let (top, body) = area.split_vertically(head);
    top.draw_text(&c.title, &(FONT, 20).into_font().style(FontStyle::Bold).color(&BLACK), (14, 10))
        .map_err(err)?;
    if !c.caption.is_empty() {
        top.draw_text(&c.caption, &(FONT, 13).into_font().color(&RGBColor(90, 90, 90)), (14, 38))
            .map_err(err)?;
    }
    match c.kind {
        Kind::Lines => lines(c, &body),
        Kind::Timeline => timeline(c, &body),
        Kind::Gantt => gantt(c, &body),
    }
}

/// A tick label: no trailing zeros, no decimals on whole numbers.
fn tick(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() < 1e-3 {
        // Small values (a log axis down to 1e-5): 1e-4, 2.5e-5.
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Runs of consecutive points that can be drawn: a point that `keep` rejects (a zero on a
/// log axis, a NaN) breaks the line instead of being bridged.
fn segments(points: &[(f64, f64)], keep: impl Fn(f64) -> bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(x, y) in points {
        if keep(y) && x.is_finite() {
            if let Some(v) = out.last_mut() {
                v.push((x, y));
            }
        } else if out.last().is_some_and(|v| !v.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

macro_rules! plot_series {
    ($chart:ident, $c:expr, $keep:expr) => {{
        for (i, s) in $c.series.iter().enumerate() {
            let col = color(i);
            for seg in segments(&s.points, $keep) {
                let dots = s.mark == Mark::Dots || s.mark == Mark::LineDots || seg.len() == 1;
                match s.mark {
                    Mark::Line | Mark::LineDots | Mark::Hollow | Mark::State => {
                        $chart.draw_series(LineSeries::new(seg.clone(), col.stroke_width(2))).map_err(err)?;
                    }
                    Mark::Reference => {
                        $chart
                            .draw_series(DashedLineSeries::new(seg.clone(), 6, 4, BLACK.stroke_width(1)))
                            .map_err(err)?;
                    }
                    Mark::Dots => {}
                }
                if s.mark == Mark::Hollow {
                    $chart
                        .draw_series(seg.iter().map(|&p| Circle::new(p, 4, col.stroke_width(2))))
                        .map_err(err)?;
                }
                if dots && s.mark != Mark::Reference {
                    $chart.draw_series(seg.iter().map(|&p| Circle::new(p, 3, col.filled()))).map_err(err)?;
                }
            }
        }
    }};
}

/// Axes, grid and labels, then the series: the same for a linear and a log y axis (whose
/// coordinate types differ, hence a macro rather than a function).
macro_rules! mesh_and_series {
    ($chart:ident, $c:expr, $keep:expr, $lo:expr, $hi:expr) => {{
        for b in &$c.bands {
            $chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(b.from, $lo), (b.to, $hi)],
                    RGBAColor(120, 120, 120, 0.12).filled(),
                )))
                .map_err(err)?;
        }
        $chart
            .configure_mesh()
            .x_desc(&$c.x_label)
            .y_desc(&$c.y_label)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(err)?;
        for b in &$c.bands {
            let style = (FONT, 12).into_font().color(&RGBColor(90, 90, 90));
            $chart
                .draw_series(std::iter::once(Text::new(b.label.clone(), (b.from, $hi), style)))
                .map_err(err)?;
        }
        plot_series!($chart, $c, $keep);
    }};
}

/// The legend, in its own panel right of the plot, so it never hides data.
fn legend<DB: DrawingBackend>(c: &Chart, area: &DrawingArea<DB, Shift>) -> Result<(), Error> {
    let font = (FONT, 13).into_font().color(&BLACK);
    for (i, s) in c.series.iter().enumerate() {
        let y = 30 + 22 * i as i32;
        let col = color(i);
        match s.mark {
            Mark::Reference => {
                for k in 0..3 {
                    area.draw(&PathElement::new(vec![(4 + 8 * k, y), (9 + 8 * k, y)], BLACK.stroke_width(1)))
                        .map_err(err)?;
                }
            }
            Mark::Dots => area.draw(&Circle::new((14, y), 4, col.filled())).map_err(err)?,
            Mark::Hollow => {
                area.draw(&PathElement::new(vec![(4, y), (26, y)], col.stroke_width(2))).map_err(err)?;
                area.draw(&Circle::new((15, y), 4, col.stroke_width(2))).map_err(err)?;
            }
            Mark::Line | Mark::LineDots | Mark::State => {
                area.draw(&PathElement::new(vec![(4, y), (26, y)], col.stroke_width(3))).map_err(err)?;
            }
        }
        area.draw_text(&s.name, &font, (34, y - 8)).map_err(err)?;
    }
    Ok(())
}

fn lines<DB: DrawingBackend>(c: &Chart, area: &DrawingArea<DB, Shift>) -> Result<(), Error> {
    let (w, _) = area.dim_in_pixel();
    let longest = c.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as u32;
    let legend_w = if c.series.is_empty() { 0 } else { (longest * 7 + 50).clamp(120, w / 2) };
    let (plot, key) = area.split_horizontally(w - legend_w);
    legend(c, &key)?;
    let all = || c.series.iter().flat_map(|s| s.points.iter().copied());
    let (x0, x1) = span(all().map(|p| p.0).chain(c.bands.iter().flat_map(|b| [b.from, b.to])));
    let mut builder = ChartBuilder::on(&plot);
    builder.margin(14).x_label_area_size(44).y_label_area_size(70);
    if c.log_y {
        let (lo, hi) = span(all().map(|p| p.1).filter(|y| *y > 0.0));
        let (lo, hi) = if lo > 0.0 { (lo / 1.5, hi * 1.5) } else { (1.0, 10.0) };
        let mut chart = builder.build_cartesian_2d(x0..x1, (lo..hi).log_scale()).map_err(err)?;
        mesh_and_series!(chart, c, |y: f64| y > 0.0 && y.is_finite(), lo, hi);
    } else {
        let (lo, hi) = span(all().map(|p| p.1));
        let lo = lo.min(0.0);
        let hi = hi + (hi - lo) * 0.05;
        let mut chart = builder.build_cartesian_2d(x0..x1, lo..hi).map_err(err)?;
        mesh_and_series!(chart, c, |y: f64| y.is_finite(), lo, hi);
    }
    Ok(())
}

/// Axes for a chart of labelled rows (timelines, Gantt charts): x from 0 to `x1`, one row
/// per entry of `rows`, the first at the top.
fn row_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    rows: &[&str],
    x1: f64,
    x_label: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, Error> {
    let n = rows.len().max(1);
    let label_width = rows.iter().map(|s| s.len() as u32 * 8 + 20).max().unwrap_or(40);
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0.0..x1, -0.5..(n as f64 - 0.5))
        .map_err(err)?;
    let fmt = |y: &f64| {
        let i = y.round();
        if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < rows.len() {
            rows[rows.len() - 1 - i as usize].to_string()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_labels(n * 2 + 1)
        .y_label_formatter(&fmt)
        .x_label_formatter(&tick)
        .disable_y_mesh()
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

fn timeline<DB: DrawingBackend>(c: &Chart, area: &DrawingArea<DB, Shift>) -> Result<(), Error> {
    let n = c.series.len().max(1);
    let (_, x1) = span(c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let x1 = x1.max(0.0) * 1.05 + 1e-9;
    let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
    let mut chart = row_chart(area, &names, x1, &c.x_label)?;
    for (i, s) in c.series.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let col = color(i);
        let (a, b) = span(s.points.iter().map(|p| p.0));
        if !s.points.is_empty() {
            chart
                .draw_series(LineSeries::new([(a.max(0.0), y), (b, y)], col.mix(0.5).stroke_width(2)))
                .map_err(err)?;
        }
        chart.draw_series(s.points.iter().map(|p| Circle::new((p.0, y), 6, col.filled()))).map_err(err)?;
    }
    Ok(())
}

/// Colour of a Gantt bar, by the series' mark (see `gantt_meaning`).
fn gantt_color(mark: Mark) -> RGBColor {
    match mark {
        Mark::Line => PALETTE[0],
        Mark::LineDots => PALETTE[1],
        Mark::Dots => RGBColor(200, 30, 30),
        Mark::Reference => PALETTE[6],
        Mark::Hollow => PALETTE[5],
        Mark::State => PALETTE[2],
    }
}

fn gantt<DB: DrawingBackend>(c: &Chart, area: &DrawingArea<DB, Shift>) -> Result<(), Error> {
    // Rows in order of first appearance; several series may share one.
    let mut rows: Vec<&str> = Vec::new();
    for s in &c.series {
        if !rows.contains(&s.name.as_str()) {
            rows.push(&s.name);
        }
    }
    let n = rows.len().max(1);
    let mut marks: Vec<Mark> = Vec::new();
    for s in &c.series {
        if !marks.contains(&s.mark) {
            marks.push(s.mark);
        }
    }
    let (w, _) = area.dim_in_pixel();
    let longest = marks.iter().map(|m| c.meaning(*m).chars().count()).max().unwrap_or(0) as u32;
    let (plot, key) = area.split_horizontally(w - (longest * 7 + 50).clamp(120, w / 2));
    let font = (FONT, 13).into_font().color(&BLACK);
    for (i, m) in marks.iter().enumerate() {
        let y = 30 + 22 * i as i32;
        key.draw(&Rectangle::new([(4, y - 6), (26, y + 6)], gantt_color(*m).filled())).map_err(err)?;
        key.draw_text(c.meaning(*m), &font, (34, y - 8)).map_err(err)?;
    }
    let (_, x1) = span(c.series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.0, p.1])));
    let x1 = x1.max(0.0) * 1.03 + 1e-9;
    let mut chart = row_chart(&plot, &rows, x1, &c.x_label)?;
    for s in &c.series {
        let row = rows.iter().position(|r| *r == s.name).unwrap_or(0);
        let y = (n - 1 - row) as f64;
        let col = gantt_color(s.mark);
        chart
            .draw_series(s.points.iter().map(|&(a, b)| {
                Rectangle::new([(a, y - 0.3), (b.max(a + x1 * 0.002), y + 0.3)], col.filled())
            }))
            .map_err(err)?;
    }
    Ok(())
}
