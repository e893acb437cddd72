//! PNG plots: metric curves, the sampling distribution over time (heatmap of bins x policy
//! updates, linear and log scale), and a retrieval grid. Text uses an embedded font (Ubuntu
//! Light from epaint_default_fonts), so nothing depends on the system's fonts.
use anyhow::{anyhow, Result};
use image::{imageops, Rgb, RgbImage};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

fn ensure_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT);
    });
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotting failed: {e:?}")
}

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

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// A white 900x520 canvas with a titled epoch / value frame.
fn line_frame<'a, 'b>(root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>, title: &str, x_max: f64, y_max: f64, y_desc: &str) -> Result<Chart<'a, 'b>> {
    ensure_font();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..x_max, 0f64..(y_max * 1.05))
        .map_err(err)?;
    chart.configure_mesh().x_desc("epoch").x_label_formatter(&integer_label).y_desc(y_desc).draw().map_err(err)?;
    Ok(chart)
}

/// An x-axis label for counts (epochs, policy updates): the whole number, and no label where
/// the axis ticks fall between two (2, not 2.0; nothing at 2.5).
pub fn integer_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{:.0}", x.round())
    } else {
        String::new()
    }
}

fn draw_legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

/// Curves of several metrics over epochs, one line each.
pub fn metric_curves(path: &Path, title: &str, epochs: &[f64], series: &[(String, Vec<f64>)]) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    draw_metric_curves(&root, title, epochs, series)?;
    root.present().map_err(err)?;
    Ok(())
}

fn draw_metric_curves(root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, title: &str, epochs: &[f64], series: &[(String, Vec<f64>)]) -> Result<()> {
    let x_max = epochs.iter().copied().fold(1.0, f64::max);
    let y_max = series.iter().flat_map(|s| s.1.iter().copied()).filter(|v| v.is_finite()).fold(1e-6, f64::max);
    let mut chart = line_frame(root, title, x_max, y_max, "value")?;
    for (i, (name, values)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = epochs.iter().copied().zip(values.iter().copied()).filter(|p| p.1.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(err)?;
    }
    draw_legend(&mut chart)
}

/// metrics.png: the test metrics over epochs (top) and the training loss, the mean over
/// each epoch's iterations (bottom). `loss` is aligned with `epochs` (NaN = no value, e.g.
/// the untrained row).
pub fn metric_curves_with_loss(path: &Path, epochs: &[f64], series: &[(String, Vec<f64>)], loss: &[f64]) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(520);
    draw_metric_curves(&top, "test metrics", epochs, series)?;
    let points: Vec<(f64, f64)> = epochs.iter().copied().zip(loss.iter().copied()).filter(|p| p.1.is_finite()).collect();
    draw_lines(&bottom, "training loss (mean over the epoch)", "epoch", "loss", &[("training loss".to_string(), points)], false)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The y range of a set of points, padded by 5 % (a flat or empty series gets +-0.5).
fn y_range(series: &[(String, Vec<(f64, f64)>)]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Lines of (x, y) points on one frame whose y range fits the data (negative values too),
/// with a legend when there are several series (or `legend`).
fn draw_lines(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)], legend: bool) -> Result<()> {
    ensure_font();
    area.fill(&WHITE).map_err(err)?;
    let x_max = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).filter(|v| v.is_finite()).fold(1.0, f64::max);
    let x_min = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).filter(|v| v.is_finite()).fold(0.0, f64::min);
    let (lo, hi) = y_range(series);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max, lo..hi)
        .map_err(err)?;
    chart.configure_mesh().x_desc(x_desc).x_label_formatter(&integer_label).y_desc(y_desc).draw().map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        if points.len() <= 60 {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(err)?;
        }
    }
    if legend || series.len() > 1 {
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// Several runs' curves on one plot (900x520): `series` = (run name, (x, y) points).
pub fn overlay(path: &Path, title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    draw_lines(&root, title, x_desc, y_desc, series, true)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The course of a PADS policy (900x780, three panels over the policy updates): the
/// validation metric its reward is computed from (`metric_label`), the reward (sign of that
/// metric's change, -1 / 0 / +1) with its running mean over 10 updates, and the policy loss.
pub fn policy_curves(path: &Path, records: &[crate::policy::agent::PolicyRecord], metric_label: &str) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 780)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    let x = |r: &crate::policy::agent::PolicyRecord| r.call as f64 + 1.0;
    let metric: Vec<(f64, f64)> = records.iter().filter_map(|r| r.reward_metric.map(|m| (x(r), m))).collect();
    draw_lines(&panels[0], &format!("reward metric: {metric_label}"), "policy update", "value", &[(metric_label.to_string(), metric)], false)?;
    let rewards: Vec<(f64, f64)> = records.iter().filter_map(|r| r.reward.map(|v| (x(r), v))).collect();
    let running: Vec<(f64, f64)> = rewards
        .iter()
        .enumerate()
        .map(|(i, &(xx, _))| {
            let from = i.saturating_sub(9);
            let w = &rewards[from..=i];
            (xx, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)
        })
        .collect();
    draw_lines(&panels[1], "reward (sign of the metric's change)", "policy update", "reward", &[("reward".to_string(), rewards), ("mean of the last 10".to_string(), running)], true)?;
    let loss: Vec<(f64, f64)> = records.iter().filter_map(|r| r.policy_loss.map(|v| (x(r), v))).collect();
    draw_lines(&panels[2], "policy loss", "policy update", "loss", &[("policy loss".to_string(), loss)], false)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Viridis-like colour ramp for t in [0, 1].
fn ramp(t: f64) -> RGBColor {
    let stops = [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor((a.0 + (b.0 - a.0) * f) as u8, (a.1 + (b.1 - a.1) * f) as u8, (a.2 + (b.2 - a.2) * f) as u8)
}

/// Lower clip of the log-scale heatmap: bins below 1e-6 are drawn in the floor colour.
/// The distribution clips probabilities at 1e-15, and a scale reaching down there spends
/// most of its colours on bins that are practically never drawn; 1e-6 keeps the structure
/// of the bins a batch can sample (a batch of 112 holds ~10^4 anchor-negative pairs).
pub const LOG_FLOOR: f64 = 1e-6;

/// Heatmap of the sampling distribution: x = policy update, y = distance bin (support
/// values on the axis), colour = probability (or log10 probability, clipped below at
/// `LOG_FLOOR`), with a colour bar on the right labelled in the same unit.
pub fn distribution_heatmap(path: &Path, support: &[f64], progression: &[Vec<f64>], log: bool) -> Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (main, bar_area) = root.split_horizontally(800);
    let steps = progression.len().max(1);
    let (Some(&lo), Some(&hi)) = (support.first(), support.last()) else { return Err(anyhow!("empty support")) };
    let value = |p: f64| if log { p.max(LOG_FLOOR).log10() } else { p };
    let vals: Vec<f64> = progression.iter().flatten().map(|&p| value(p)).collect();
    let mut vmin = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let mut vmax = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !vmin.is_finite() || !vmax.is_finite() {
        (vmin, vmax) = (0.0, 1.0);
    }
    if vmax - vmin < 1e-12 {
        vmax = vmin + 1.0;
    }
    let span = vmax - vmin;
    let title = if log { "sampling distribution (log10 probability, floor 1e-6)" } else { "sampling distribution (probability)" };
    let mut chart = ChartBuilder::on(&main)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..steps as f64, lo..hi)
        .map_err(err)?;
    chart.configure_mesh().disable_mesh().x_desc("policy update").x_label_formatter(&integer_label).y_desc("anchor-negative distance").draw().map_err(err)?;
    chart
        .draw_series(progression.iter().enumerate().flat_map(|(t, probs)| {
            probs.iter().enumerate().filter(|(b, _)| b + 1 < support.len()).map(move |(b, &p)| {
                let c = ramp((value(p) - vmin) / span);
                Rectangle::new([(t as f64, support[b]), (t as f64 + 1.0, support[b + 1])], c.filled())
            })
        }))
        .map_err(err)?;
    // The colour bar: the ramp from vmin (bottom) to vmax (top), labelled in the plot's unit.
    let mut bar = ChartBuilder::on(&bar_area)
        .caption(if log { "log10 p" } else { "p" }, ("sans-serif", 15))
        .margin_top(12)
        .margin_bottom(48)
        .margin_right(8)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1.0, vmin..vmax)
        .map_err(err)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_style(("sans-serif", 13))
        .y_label_formatter(&|v| if log { format!("{v:.1}") } else { format!("{v:.3}") })
        .draw()
        .map_err(err)?;
    let n = 100;
    bar.draw_series((0..n).map(|i| {
        let a = vmin + span * i as f64 / n as f64;
        let b = vmin + span * (i + 1) as f64 / n as f64;
        Rectangle::new([(0.0, a), (1.0, b)], ramp(i as f64 / (n - 1) as f64).filled())
    }))
    .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Queries (left column) with their nearest neighbours; green border = same class, red =
/// another class.
pub fn retrieval_grid(path: &Path, rows: &[(RgbImage, Vec<(RgbImage, bool)>)], thumb: u32) -> Result<()> {
    let cols = 1 + rows.iter().map(|r| r.1.len()).max().unwrap_or(0) as u32;
    let cell = thumb + 8;
    let gap = 12;
    let mut canvas = RgbImage::from_pixel(cols * cell + gap, rows.len().max(1) as u32 * cell, Rgb([255, 255, 255]));
    let mut put = |img: &RgbImage, x: u32, y: u32, border: Rgb<u8>| {
        for by in 0..cell {
            for bx in 0..cell {
                canvas.put_pixel(x + bx, y + by, border);
            }
        }
        let t = imageops::resize(img, thumb, thumb, imageops::FilterType::Triangle);
        imageops::overlay(&mut canvas, &t, (x + 4) as i64, (y + 4) as i64);
    };
    for (r, (query, neighbours)) in rows.iter().enumerate() {
        let y = r as u32 * cell;
        put(query, 0, y, Rgb([60, 60, 60]));
        for (c, (img, right)) in neighbours.iter().enumerate() {
            let colour = if *right { Rgb([30, 170, 60]) } else { Rgb([210, 40, 40]) };
            put(img, gap + (c as u32 + 1) * cell, y, colour);
        }
    }
    canvas.save(path).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// One line per group (mean) with a shaded band (mean +- spread), e.g. Recall@1 per sampler.
pub fn band_curves(path: &Path, title: &str, curves: &[(String, Vec<f64>, Vec<f64>, Vec<f64>)]) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    let x_max = curves.iter().flat_map(|c| c.1.iter().copied()).fold(1.0, f64::max);
    let y_max = curves
        .iter()
        .flat_map(|c| c.2.iter().zip(&c.3).map(|(m, s)| m + s))
        .filter(|v| v.is_finite())
        .fold(1e-6, f64::max);
    let mut chart = line_frame(&root, title, x_max, y_max, "Recall@1")?;
    for (i, (name, xs, mean, spread)) in curves.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut band: Vec<(f64, f64)> = xs.iter().zip(mean.iter().zip(spread)).map(|(&x, (m, s))| (x, m + s)).collect();
        band.extend(xs.iter().zip(mean.iter().zip(spread)).rev().map(|(&x, (m, s))| (x, m - s)));
        chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.18).filled()))).map_err(err)?;
        let line: Vec<(f64, f64)> = xs.iter().copied().zip(mean.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    draw_legend(&mut chart)?;
    root.present().map_err(err)?;
    Ok(())
}
