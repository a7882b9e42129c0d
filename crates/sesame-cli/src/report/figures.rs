//! SVG figures of the report, drawn with `plotters`: seed scatter per variant, accuracy vs σ, SE gate per layer
//! (paper Fig. 4) and HANS bars (paper Fig. 3). Each function writes one file and is deterministic, so a
//! re-run of the report over the same run directories reproduces the same bytes.

use std::path::Path;

use plotters::prelude::*;

use crate::error::SesameError;

fn out_err(path: &Path, e: impl std::fmt::Display) -> SesameError {
    SesameError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Colours of series, in order.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `[lo, hi]` widened by 10 % of its span (or ±0.05 when flat), for axis limits.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    if span <= 1e-9 {
        (lo - 0.05, hi + 0.05)
    } else {
        (lo - 0.1 * span, hi + 0.1 * span)
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// The label of category `x` on an axis whose categories sit at 0, 1, 2, …; empty between them.
fn category(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// One column per variant; each seed's score as a dot, the mean as a bar. Scores in percent.
pub fn seed_scatter(
    path: &Path,
    title: &str,
    y_label: &str,
    columns: &[(String, Vec<f64>)],
) -> Result<(), SesameError> {
    let Some((lo, hi)) = min_max(columns.iter().flat_map(|(_, s)| s.iter().copied())) else {
        return Ok(());
    };
    let (lo, hi) = padded(lo, hi);
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| out_err(path, e))?;
    let n = columns.len();
    let labels: Vec<String> = columns.iter().map(|(l, _)| l.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
        .map_err(|e| out_err(path, e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| category(&labels, *x))
        .y_desc(y_label)
        .draw()
        .map_err(|e| out_err(path, e))?;
    for (i, (_, scores)) in columns.iter().enumerate() {
        let c = colour(i);
        let x = i as f64;
        let k = scores.len().max(1) as f64;
        chart
            .draw_series(scores.iter().enumerate().map(|(j, &s)| {
                // Spread the dots a little so equal scores stay visible.
                let dx = 0.25 * ((j as f64 + 0.5) / k - 0.5);
                Circle::new((x + dx, s), 4, c.filled())
            }))
            .map_err(|e| out_err(path, e))?;
        if !scores.is_empty() {
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x - 0.3, mean), (x + 0.3, mean)],
                    c.stroke_width(2),
                )))
                .map_err(|e| out_err(path, e))?;
        }
    }
    root.present().map_err(|e| out_err(path, e))
}

/// A named series of `(x, mean, std)` points.
pub type Series = (String, Vec<(f64, f64, f64)>);

/// A line per series over a numeric x axis, with ±1 std error bars: `(label, [(x, mean, std)])`.
pub fn lines_with_errors(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), SesameError> {
    let points = || series.iter().flat_map(|(_, p)| p.iter());
    let (Some((x_lo, x_hi)), Some((y_lo, y_hi))) = (
        min_max(points().map(|p| p.0)),
        min_max(points().flat_map(|p| [p.1 - p.2, p.1 + p.2])),
    ) else {
        return Ok(());
    };
    let (x_lo, x_hi) = padded(x_lo, x_hi);
    let (y_lo, y_hi) = padded(y_lo, y_hi);
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| out_err(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(|e| out_err(path, e))?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        })
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| out_err(path, e))?;
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))
            .map_err(|e| out_err(path, e))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, c.filled())))
            .map_err(|e| out_err(path, e))?;
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.2 > 0.0)
                    .map(|p| PathElement::new(vec![(p.0, p.1 - p.2), (p.0, p.1 + p.2)], c)),
            )
            .map_err(|e| out_err(path, e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| out_err(path, e))?;
    root.present().map_err(|e| out_err(path, e))
}

/// Grouped bars: one group per category, one bar per series, values in percent: `(series, values per group)`.
pub fn grouped_bars(
    path: &Path,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), SesameError> {
    if groups.is_empty() || series.is_empty() {
        return Ok(());
    }
    let root = SVGBackend::new(path, (900, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| out_err(path, e))?;
    let n = groups.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..105f64)
        .map_err(|e| out_err(path, e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| category(groups, *x))
        .x_label_style(("sans-serif", 11))
        .y_desc(y_label)
        .draw()
        .map_err(|e| out_err(path, e))?;
    let width = 0.8 / series.len() as f64;
    for (s, (label, values)) in series.iter().enumerate() {
        let c = colour(s);
        chart
            .draw_series(values.iter().enumerate().map(|(g, &v)| {
                let x0 = g as f64 - 0.4 + s as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], c.filled())
            }))
            .map_err(|e| out_err(path, e))?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| out_err(path, e))?;
    root.present().map_err(|e| out_err(path, e))
}
