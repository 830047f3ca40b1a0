//! SVG pictures a person looks at: the exploration heatmap of the paper's figures 8 and
//! 14–23, and stacked energy breakdowns as in figures 7, 9 and 11 (plotters, SVG
//! backend only).

use crate::cost::Report;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Errors from drawing, as text (plotters' error type is generic over the backend).
#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {message}")]
pub struct PlotError {
    pub path: String,
    pub message: String,
}

fn err(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |message| PlotError {
        path: path.display().to_string(),
        message,
    }
}

/// A viridis-like colour for `v` on a log scale between `lo` (dark purple) and `hi`
/// (yellow).
fn heat(v: f64, lo: f64, hi: f64) -> RGBColor {
    let t = if hi > lo && v > 0.0 && lo > 0.0 {
        ((v.ln() - lo.ln()) / (hi.ln() - lo.ln())).clamp(0.0, 1.0)
    } else if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws the series labels of `chart` at `position`, boxed.
fn legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
    e: &impl Fn(String) -> PlotError,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(x.to_string()))
}

/// The unit an energy axis reads best in, for values up to `max_pj`: pJ per unit and
/// its name (`mJ` rather than `25000.0 µJ`).
pub fn energy_unit(max_pj: f64) -> (f64, &'static str) {
    match max_pj.abs() {
        m if m >= 1e9 => (1e9, "mJ"),
        m if m >= 1e6 => (1e6, "µJ"),
        m if m >= 1e3 => (1e3, "nJ"),
        _ => (1.0, "pJ"),
    }
}

/// A faint grid at the labelled ticks only (no minor lines).
fn faint() -> ShapeStyle {
    BLACK.mix(0.12).into()
}

/// Text that stays readable on a cell of colour `c`.
fn ink(c: RGBColor) -> RGBColor {
    let luminance = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if luminance > 140.0 { BLACK } else { WHITE }
}

/// One cell of a heatmap: grid position, value, label.
pub struct Cell {
    pub x: usize,
    pub y: usize,
    pub value: f64,
    pub label: String,
}

/// A heatmap over a grid whose columns and rows are named by `x_ticks` and `y_ticks`;
/// `best` is outlined; grid positions without a cell are drawn grey and the legend
/// says they are `missing` (e.g. "cannot run").
#[allow(clippy::too_many_arguments)]
pub fn heatmap(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_ticks: &[String],
    y_ticks: &[String],
    cells: &[Cell],
    (best, missing): (Option<(usize, usize)>, &str),
) -> Result<(), PlotError> {
    let e = err(path);
    let (nx, ny) = (x_ticks.len().max(1), y_ticks.len().max(1));
    // Wide enough for the grid and for the title.
    let w = (80 * nx as u32 + 140).max(8 * title.chars().count() as u32 + 40);
    let h = 80 * ny as u32 + 130;
    let root = SVGBackend::new(path, (w.max(420) + 150, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let (root, bar_area) = root.split_horizontally(w.max(420));
    // Cells are centred on integer coordinates so that the axis labels sit under them.
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(nx as f64 - 0.5), -0.5..(ny as f64 - 0.5))
        .map_err(|x| e(x.to_string()))?;
    let tick = |ticks: &[String], v: f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            ticks.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(nx)
        .y_labels(ny)
        .x_label_formatter(&|v| tick(x_ticks, *v))
        .y_label_formatter(&|v| tick(y_ticks, *v))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let lo = cells.iter().map(|c| c.value).fold(f64::INFINITY, f64::min);
    let hi = cells.iter().map(|c| c.value).fold(0.0, f64::max);
    let holes: Vec<(usize, usize)> = (0..ny)
        .flat_map(|y| (0..nx).map(move |x| (x, y)))
        .filter(|&(x, y)| !cells.iter().any(|c| (c.x, c.y) == (x, y)))
        .collect();
    draw_cells(&mut chart, cells, &holes, (lo, hi)).map_err(&e)?;
    if let Some((bx, by)) = best {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                cell_corners(bx, by),
                ShapeStyle::from(&RED).stroke_width(3),
            )))
            .map_err(|x| e(x.to_string()))?;
    }
    colour_bar(&bar_area, lo, hi, best.is_some()).map_err(&e)?;
    if !holes.is_empty() {
        let y = 60 + 240 + if best.is_some() { 64 } else { 40 };
        bar_area
            .draw(&Rectangle::new([(14, y), (34, y + 16)], HOLE.filled()))
            .map_err(|x| e(x.to_string()))?;
        bar_area
            .draw(&Text::new(
                missing.to_string(),
                (40, y + 2),
                ("sans-serif", 12),
            ))
            .map_err(|x| e(x.to_string()))?;
    }
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// A heatmap cell's square, centred on its grid position.
fn cell_corners(x: usize, y: usize) -> [(f64, f64); 2] {
    let (x, y) = (x as f64, y as f64);
    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)]
}

/// The cells in their colours with their labels, and the positions without a value.
fn draw_cells(
    chart: &mut ChartContext<
        SVGBackend,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    cells: &[Cell],
    holes: &[(usize, usize)],
    (lo, hi): (f64, f64),
) -> Result<(), String> {
    chart
        .draw_series(
            cells
                .iter()
                .map(|c| Rectangle::new(cell_corners(c.x, c.y), heat(c.value, lo, hi).filled())),
        )
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(cells.iter().map(|c| {
            let style = ("sans-serif", 12)
                .into_font()
                .color(&ink(heat(c.value, lo, hi)))
                .pos(Pos::new(HPos::Center, VPos::Center));
            Text::new(c.label.clone(), (c.x as f64, c.y as f64), style)
        }))
        .map_err(|x| x.to_string())?;
    chart
        .draw_series(
            holes
                .iter()
                .map(|&(x, y)| Rectangle::new(cell_corners(x, y), HOLE.filled())),
        )
        .map_err(|x| x.to_string())?;
    Ok(())
}

/// The colour of a heatmap position without a value.
const HOLE: RGBColor = RGBColor(215, 215, 215);

/// The heatmap's scale: the colours from `lo` (bottom) to `hi` (top) on the same
/// (logarithmic when positive) scale as the cells, and what the red outline means.
fn colour_bar(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    lo: f64,
    hi: f64,
    marked_best: bool,
) -> Result<(), String> {
    let (top, height, steps) = (60i32, 240i32, 48i32);
    let value_at = |k: i32| {
        let t = k as f64 / steps as f64;
        if lo > 0.0 && hi > lo {
            (lo.ln() + t * (hi.ln() - lo.ln())).exp()
        } else {
            lo + t * (hi - lo)
        }
    };
    for k in 0..steps {
        let y0 = top + height - (k + 1) * height / steps;
        let y1 = top + height - k * height / steps;
        area.draw(&Rectangle::new(
            [(14, y0), (34, y1)],
            heat(value_at(k), lo, hi).filled(),
        ))
        .map_err(|x| x.to_string())?;
    }
    let scale = if lo > 0.0 && hi > lo {
        "log scale"
    } else {
        "linear"
    };
    // Five labelled ticks along the bar, at even steps of the scale.
    for k in 0..=4 {
        let y = top + height - k * height / 4;
        area.draw(&PathElement::new([(34, y), (38, y)], BLACK))
            .map_err(|x| x.to_string())?;
        area.draw(&Text::new(
            readable(value_at(k * steps / 4)),
            (41, y - 6),
            ("sans-serif", 12),
        ))
        .map_err(|x| x.to_string())?;
    }
    area.draw(&Text::new(
        scale.to_string(),
        (10, top + height + 14),
        ("sans-serif", 12),
    ))
    .map_err(|x| x.to_string())?;
    if marked_best {
        area.draw(&Rectangle::new(
            [(14, top + height + 40), (34, top + height + 56)],
            ShapeStyle::from(&RED).stroke_width(3),
        ))
        .map_err(|x| x.to_string())?;
        area.draw(&Text::new(
            "best",
            (40, top + height + 42),
            ("sans-serif", 12),
        ))
        .map_err(|x| x.to_string())?;
    }
    Ok(())
}

/// Components in distinct hues (DRAM blue, global SRAM orange, local buffers green, NoC
/// grey, PE purple); within one, weights dark, features middle, state light.
const PARTS: [(&str, &str, RGBColor); 13] = [
    ("dram", "W", RGBColor(8, 48, 107)),
    ("dram", "F", RGBColor(49, 130, 189)),
    ("dram", "V", RGBColor(158, 202, 225)),
    ("global_sram", "W", RGBColor(127, 39, 4)),
    ("global_sram", "F", RGBColor(230, 85, 13)),
    ("global_sram", "V", RGBColor(253, 174, 107)),
    ("local_buffers", "W", RGBColor(0, 90, 50)),
    ("local_buffers", "F", RGBColor(49, 163, 84)),
    ("local_buffers", "V", RGBColor(161, 217, 155)),
    ("noc", "W", RGBColor(60, 60, 60)),
    ("noc", "F", RGBColor(130, 130, 130)),
    ("noc", "V", RGBColor(200, 200, 200)),
    ("pe", "compute", RGBColor(117, 107, 177)),
];

/// Stacked bars of energy per inference by component and operand, one bar per report.
pub fn breakdown(path: &Path, title: &str, bars: &[(String, &Report)]) -> Result<(), PlotError> {
    let e = err(path);
    let (scale, unit) = energy_unit(
        bars.iter()
            .map(|(_, r)| r.energy_pj.total)
            .fold(0.0, f64::max),
    );
    let top = bars
        .iter()
        .map(|(_, r)| r.energy_pj.total / scale)
        .fold(0.0, f64::max)
        * 1.1;
    let width = 260 + 140 * bars.len() as u32;
    let root = SVGBackend::new(path, (width.max(560), 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..bars.len() as f64, 0f64..top.max(1e-9))
        .map_err(|x| e(x.to_string()))?;
    let names: Vec<String> = bars.iter().map(|(n, _)| n.clone()).collect();
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .disable_x_mesh()
        .y_desc(format!("energy per inference ({unit})"))
        .y_label_formatter(&|v| readable(*v))
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&|v| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 0.26 && i < names.len() {
                names[i].clone()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|x| e(x.to_string()))?;
    for (component, operand, color) in PARTS {
        let mut segs = Vec::new();
        for (i, (_, r)) in bars.iter().enumerate() {
            let below: f64 = PARTS
                .iter()
                .take_while(|(c, o, _)| (*c, *o) != (component, operand))
                .map(|(c, o, _)| part(r, c, o))
                .sum::<f64>()
                / scale;
            let v = part(r, component, operand) / scale;
            if v > 0.0 {
                let x = i as f64;
                segs.push(Rectangle::new(
                    [(x + 0.2, below), (x + 0.8, below + v)],
                    color.filled(),
                ));
            }
        }
        if segs.is_empty() {
            continue;
        }
        chart
            .draw_series(segs)
            .map_err(|x| e(x.to_string()))?
            .label(format!("{component} {operand}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, &e)?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

fn part(r: &Report, component: &str, operand: &str) -> f64 {
    r.energy_matrix_pj
        .get(component)
        .and_then(|row| row.get(operand))
        .copied()
        .unwrap_or(0.0)
}

const LINE_COLORS: [RGBColor; 4] = [
    RGBColor(59, 82, 139),
    RGBColor(200, 110, 40),
    RGBColor(33, 145, 140),
    RGBColor(150, 40, 110),
];

/// Predicted (x) against measured (y) values, one colour per group, with the y = x
/// line: points above it took longer than predicted.
pub fn scatter(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[(String, Vec<(f64, f64)>)],
) -> Result<(), PlotError> {
    let e = err(path);
    let all = || {
        groups
            .iter()
            .flat_map(|(_, p)| p.iter())
            .flat_map(|&(x, y)| [x, y])
    };
    let lo = all().fold(f64::INFINITY, f64::min);
    let hi = all().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (0.0, 1.0)
    };
    // The key goes below the chart, a row per group: inside, it would hide points.
    let key_rows = groups.len() as u32 + 1;
    let root = SVGBackend::new(path, (640, 600 + 18 * key_rows + 12)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let (plot_area, key_area) = root.split_vertically(600);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 16))
        .margin(14)
        .margin_right(30)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| readable(*v))
        .y_label_formatter(&|v| readable(*v))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    chart
        .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.5)))
        .map_err(|x| e(x.to_string()))?;
    let row = |j: usize| 8 + 18 * j as i32;
    key_area
        .draw(&PathElement::new(
            [(76, row(0)), (90, row(0))],
            BLACK.mix(0.5),
        ))
        .map_err(|x| e(x.to_string()))?;
    key_text(&key_area, "y = x", row(0), &e)?;
    for (i, (name, points)) in groups.iter().enumerate() {
        // Past the palette, the colours come again with another marker.
        let color = LINE_COLORS[i % LINE_COLORS.len()];
        let shape = i / LINE_COLORS.len();
        chart
            .draw_series(points.iter().map(|&p| marker(shape, p, color)))
            .map_err(|x| e(x.to_string()))?;
        key_area
            .draw(&marker(shape, (83, row(i + 1)), color))
            .map_err(|x| e(x.to_string()))?;
        key_text(&key_area, name, row(i + 1), &e)?;
    }
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// A row of a key drawn below a chart: its text, left-aligned after the marker.
fn key_text(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    text: &str,
    y: i32,
    e: &impl Fn(String) -> PlotError,
) -> Result<(), PlotError> {
    let style = TextStyle::from(("sans-serif", 13)).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(text.to_string(), (100, y), style))
        .map_err(|x| e(x.to_string()))
}

/// A filled circle, a triangle or a cross (by `shape`, cycling) at `at`.
fn marker<C, DB: DrawingBackend>(shape: usize, at: C, color: RGBColor) -> DynElement<'static, DB, C>
where
    C: Clone + 'static,
{
    match shape % 3 {
        0 => Circle::new(at, 3, color.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 4, color.filled()).into_dyn(),
        _ => Cross::new(at, 3, color.stroke_width(2)).into_dyn(),
    }
}

/// Global-SRAM occupancy over time, one step line per core, with the capacity; behind
/// it, what the first core computes (`bands`: from, to, index into `band_names`), one
/// light colour per name, named in the legend.
pub fn occupancy(
    path: &Path,
    title: &str,
    series: &[(String, &[(u64, u64)])],
    capacity_bits: u64,
    end: u64,
    (bands, band_names): (&[(u64, u64, usize)], &[String]),
) -> Result<(), PlotError> {
    let e = err(path);
    let kib = |bits: u64| bits as f64 / 8192.0;
    let top = kib(capacity_bits) * 1.12;
    let root = SVGBackend::new(path, (1000, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0u64..end.max(1), 0f64..top)
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .x_label_formatter(&|v: &u64| readable(*v as f64))
        .x_desc("cycle")
        .y_desc("global SRAM in use (KiB)")
        .y_label_formatter(&|v| readable(*v))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    // What is computing, one light colour per group.
    let band_color = |g: usize| BAND_COLORS[g % BAND_COLORS.len()];
    chart
        .draw_series(bands.iter().map(|(from, to, g)| {
            Rectangle::new([(*from, 0.0), (*to, top)], band_color(*g).filled())
        }))
        .map_err(|x| e(x.to_string()))?;
    for (g, name) in band_names.iter().enumerate() {
        if !bands.iter().any(|b| b.2 == g) {
            continue;
        }
        let c = band_color(g);
        chart
            .draw_series(std::iter::empty::<Rectangle<(u64, f64)>>())
            .map_err(|x| e(x.to_string()))?
            .label(format!("computing {name}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    // The capacity as a dashed line, so that a trace at capacity shows between dashes.
    let cap = kib(capacity_bits);
    let step = (end.max(1) / 120).max(1);
    chart
        .draw_series((0..end.max(1)).step_by(2 * step as usize).map(|x0| {
            PathElement::new(
                [(x0, cap), ((x0 + step).min(end.max(1)), cap)],
                RED.stroke_width(1),
            )
        }))
        .map_err(|x| e(x.to_string()))?
        .label("capacity")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED));
    for (i, (name, points)) in series.iter().enumerate() {
        let color = LINE_COLORS[i % LINE_COLORS.len()];
        // A step function: each level holds until the next change.
        let mut steps = Vec::with_capacity(points.len() * 2 + 1);
        let mut last = 0f64;
        for &(t, bits) in points.iter() {
            steps.push((t, last));
            last = kib(bits);
            steps.push((t, last));
        }
        steps.push((end.max(1), last));
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(1)))
            .map_err(|x| e(x.to_string()))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color));
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft, &e)?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// Cycles of `[from, to)` intervals falling in each of `bins` bins of `width` cycles.
fn binned(intervals: impl Iterator<Item = (u64, u64)>, width: u64, bins: usize) -> Vec<f64> {
    let mut out = vec![0f64; bins];
    for (from, to) in intervals {
        let mut at = from;
        while at < to {
            let b = (at / width) as usize;
            let next = ((at / width + 1) * width).min(to);
            if let Some(slot) = out.get_mut(b) {
                *slot += (next - at) as f64;
            }
            at = next;
        }
    }
    out
}

/// DRAM saturation over time, in bins of equal width (stated on the axis): the share of
/// each bin the port held the bus (bursts), and the share of PE-array cycles (all cores)
/// lost to waiting for the DRAM port, both 0–100 %.
pub fn dram_utilisation(
    path: &Path,
    title: &str,
    bursts: &[(u64, u64, u64)],
    dram_stalls: &[(u64, u64)],
    cores: usize,
    end: u64,
    bins: u64,
) -> Result<(), PlotError> {
    let e = err(path);
    let end = end.max(1);
    let width = end.div_ceil(bins.max(1)).max(1);
    let n = end.div_ceil(width) as usize;
    let busy = binned(bursts.iter().map(|&(s, t, _)| (s, t)), width, n);
    let stalled = binned(dram_stalls.iter().copied(), width, n);
    let series = |v: &[f64], per: f64| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .flat_map(|(i, c)| {
                let pct = 100.0 * c / per;
                let x0 = (i as u64 * width) as f64;
                [(x0, pct), (x0 + width as f64, pct)]
            })
            .collect()
    };
    let root = SVGBackend::new(path, (1000, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let (plot_area, legend_area) = root.split_horizontally(790);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end as f64, 0f64..105.0)
        .map_err(|x| e(x.to_string()))?;
    let x_desc = format!("cycle (bins of {} cycles)", readable(width as f64));
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .x_label_formatter(&|v: &f64| readable(*v))
        .x_desc(x_desc)
        .y_desc("share of the bin (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    chart
        .draw_series(
            AreaSeries::new(series(&busy, width as f64), 0.0, LINE_COLORS[0].mix(0.35))
                .border_style(LINE_COLORS[0]),
        )
        .map_err(|x| e(x.to_string()))?;
    chart
        .draw_series(LineSeries::new(
            series(&stalled, (width * cores.max(1) as u64) as f64),
            SERIES_COLORS[1].stroke_width(2),
        ))
        .map_err(|x| e(x.to_string()))?;
    for (k, (name, color)) in [
        ("DRAM bus busy", LINE_COLORS[0]),
        ("PE array waiting for DRAM", SERIES_COLORS[1]),
    ]
    .into_iter()
    .enumerate()
    {
        let y = 40 + 22 * k as i32;
        legend_area
            .draw(&Rectangle::new([(10, y - 5), (24, y + 5)], color.filled()))
            .map_err(|x| e(x.to_string()))?;
        legend_area
            .draw(&Text::new(name, (30, y - 7), ("sans-serif", 13)))
            .map_err(|x| e(x.to_string()))?;
    }
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// A histogram of (value, count) samples, in log2 buckets of the value: one bar per
/// bucket, labelled with its least value (0, 1, 2, 4, …: a bucket holds up to twice
/// that, the axis says so).
pub fn histogram(
    path: &Path,
    title: &str,
    x_desc: &str,
    samples: &[(u64, u64)],
) -> Result<(), PlotError> {
    let e = err(path);
    let bucket = |v: u64| {
        if v == 0 {
            0
        } else {
            64 - v.leading_zeros() as usize
        }
    };
    let mut counts = vec![0u64; 65];
    for &(v, c) in samples {
        counts[bucket(v)] += c;
    }
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0) + 1;
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let width = (120 + 56 * last as u32).clamp(640, 1600);
    let root = SVGBackend::new(path, (width, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..last as f64 - 0.5, 0f64..top)
        .map_err(|x| e(x.to_string()))?;
    // Each bucket by its least value (buckets double): 0, 1, 2, 4, …, 512, 1Ki, 2Ki, …
    let range = |b: u32| -> String {
        if b == 0 {
            return "0".into();
        }
        let lo = 1u64 << (b - 1).min(63);
        match lo {
            v if v < 1 << 10 => v.to_string(),
            v if v < 1 << 20 => format!("{}Ki", v >> 10),
            v if v < 1 << 30 => format!("{}Mi", v >> 20),
            v => format!("{}Gi", v >> 30),
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .disable_x_mesh()
        .x_desc(x_desc)
        .y_desc("requests (count)")
        .y_label_formatter(&|v| readable(*v))
        .x_labels(last)
        .x_label_formatter(&|v| {
            let b = v.round();
            if (v - b).abs() < 1e-6 && b >= 0.0 {
                range(b as u32)
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|x| e(x.to_string()))?;
    chart
        .draw_series(counts.iter().take(last).enumerate().map(|(i, &c)| {
            Rectangle::new(
                [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, c as f64)],
                LINE_COLORS[2].filled(),
            )
        }))
        .map_err(|x| e(x.to_string()))?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// A number as a person reads it on an axis: `25 M`, `1.5 k`, `0.25`.
pub fn readable(v: f64) -> String {
    // A value that rounds up to the next unit is written in it (1000 k is 1 M).
    let a = v.abs() * (1.0 + 5e-6);
    let (scaled, unit) = if a >= 1e9 {
        (v / 1e9, " G")
    } else if a >= 1e6 {
        (v / 1e6, " M")
    } else if a >= 1e3 {
        (v / 1e3, " k")
    } else {
        (v, "")
    };
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// Values against the points of one sweep axis (`labels`, shown in order): optional
/// stacked bars (`stacks`, bottom first) and lines (`lines`). The legend sits outside the
/// data, to the right.
pub fn against_axis(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    labels: &[String],
    stacks: &[(String, Vec<f64>)],
    lines: &[(String, Vec<f64>)],
) -> Result<(), PlotError> {
    let e = err(path);
    let n = labels.len().max(1);
    let top = highest(n, stacks, lines) * 1.08;
    let width = 760 + 60 * n as u32;
    let root = SVGBackend::new(path, (width.min(2000), 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let (plot_area, legend_area) = root.split_horizontally(width.min(2000) - 230);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top)
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y: &f64| readable(*y))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let mut legend: Vec<(String, RGBColor, bool)> = Vec::new();
    let mut base = vec![0f64; n];
    for (k, (name, values)) in stacks.iter().enumerate() {
        let color = SERIES_COLORS[k % SERIES_COLORS.len()];
        chart
            .draw_series((0..n).map(|i| {
                let v = values.get(i).copied().unwrap_or(0.0);
                let (x, y0) = (i as f64, base[i]);
                base[i] += v;
                Rectangle::new([(x - 0.32, y0), (x + 0.32, y0 + v)], color.filled())
            }))
            .map_err(|x| e(x.to_string()))?;
        legend.push((name.clone(), color, true));
    }
    for (k, (name, values)) in lines.iter().enumerate() {
        let color = LINE_COLORS[k % LINE_COLORS.len()];
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|x| e(x.to_string()))?;
        legend.push((name.clone(), color, false));
    }
    side_legend(&legend_area, &legend, path)?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// The top of the highest stack or line over `n` points (at least 1).
fn highest(n: usize, stacks: &[(String, Vec<f64>)], lines: &[(String, Vec<f64>)]) -> f64 {
    (0..n)
        .map(|i| {
            stacks
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                .sum::<f64>()
        })
        .chain(lines.iter().flat_map(|(_, v)| v.iter().copied()))
        .fold(0.0, f64::max)
        .max(1.0)
}

/// A legend in its own area: a block for a filled series, a dash for a line.
fn side_legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    entries: &[(String, RGBColor, bool)],
    path: &Path,
) -> Result<(), PlotError> {
    let e = err(path);
    for (i, (name, color, filled)) in entries.iter().enumerate() {
        let y = 40 + 22 * i as i32;
        let mark = if *filled {
            Rectangle::new([(10, y - 6), (24, y + 6)], color.filled())
        } else {
            Rectangle::new([(10, y - 1), (24, y + 1)], color.filled())
        };
        area.draw(&mark).map_err(|x| e(x.to_string()))?;
        area.draw(&Text::new(name.clone(), (30, y - 7), ("sans-serif", 13)))
            .map_err(|x| e(x.to_string()))?;
    }
    Ok(())
}

/// Light colours behind a trace (what is computing), one per group.
const BAND_COLORS: [RGBColor; 8] = [
    RGBColor(222, 235, 247),
    RGBColor(254, 230, 206),
    RGBColor(229, 245, 224),
    RGBColor(239, 237, 245),
    RGBColor(253, 224, 221),
    RGBColor(255, 247, 188),
    RGBColor(224, 243, 248),
    RGBColor(240, 240, 240),
];

/// Colours of stacked series (busy cycles, then stall causes): one each, so that no
/// cause shares a colour with another or with the busy cycles.
const SERIES_COLORS: [RGBColor; 9] = [
    RGBColor(160, 160, 160),
    RGBColor(214, 96, 77),
    RGBColor(244, 165, 130),
    RGBColor(146, 197, 222),
    RGBColor(67, 147, 195),
    RGBColor(178, 171, 210),
    RGBColor(255, 217, 102),
    RGBColor(140, 86, 75),
    RGBColor(77, 175, 74),
];

/// Energy (x) against latency (y) of every costed schedule (grey), the non-dominated
/// ones joined by a line, and named schedules marked on top.
pub fn pareto(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    all: &[(f64, f64)],
    front: &[(f64, f64)],
    marks: &[(String, (f64, f64))],
) -> Result<(), PlotError> {
    let e = err(path);
    // The view: the front and the marked schedules with room around them (the costed
    // schedules far from the front fall outside it and are counted in the legend).
    let focus = || front.iter().chain(marks.iter().map(|(_, p)| p));
    let range = |pick: fn(&(f64, f64)) -> f64| {
        let lo = focus().map(pick).fold(f64::INFINITY, f64::min);
        let hi = focus().map(pick).fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.25;
            (lo - pad)..(hi + pad)
        } else if lo.is_finite() {
            (lo * 0.9)..(lo * 1.1 + 1e-9)
        } else {
            0.0..1.0
        }
    };
    let (xs, ys) = (range(|p| p.0), range(|p| p.1));
    let inside = |p: &&(f64, f64)| xs.contains(&p.0) && ys.contains(&p.1);
    let shown: Vec<(f64, f64)> = all.iter().filter(inside).copied().collect();
    let hidden = all.len() - shown.len();
    let root = SVGBackend::new(path, (720, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(xs, ys)
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| readable(*v))
        .y_label_formatter(&|v| readable(*v))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    chart
        .draw_series(
            shown
                .iter()
                .map(|&p| Circle::new(p, 2, RGBColor(170, 170, 170).filled())),
        )
        .map_err(|x| e(x.to_string()))?
        .label(if hidden > 0 {
            format!("costed ({hidden} more outside the view)")
        } else {
            "costed".to_string()
        })
        .legend(|(x, y)| Circle::new((x + 7, y), 2, RGBColor(170, 170, 170).filled()));
    let color = LINE_COLORS[0];
    chart
        .draw_series(LineSeries::new(
            front.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(|x| e(x.to_string()))?
        .label("Pareto front")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    chart
        .draw_series(front.iter().map(|&p| Circle::new(p, 3, color.filled())))
        .map_err(|x| e(x.to_string()))?;
    for (i, (name, p)) in marks.iter().enumerate() {
        let c = LINE_COLORS[(i + 1) % LINE_COLORS.len()];
        chart
            .draw_series(std::iter::once(Cross::new(*p, 7, c.stroke_width(3))))
            .map_err(|x| e(x.to_string()))?
            .label(name.clone())
            .legend(move |(x, y)| Cross::new((x + 7, y), 5, c.stroke_width(3)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, &e)?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

/// A search's convergence: every evaluation's value (grey points) and the best found
/// so far (a step line), against the evaluation index.
pub fn convergence(
    path: &Path,
    title: &str,
    y_desc: &str,
    points: &[(f64, f64)],
    best: &[(f64, f64)],
) -> Result<(), PlotError> {
    let e = err(path);
    let ys = || points.iter().chain(best).map(|p| p.1);
    let lo = ys().fold(f64::INFINITY, f64::min);
    let hi = ys().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else if lo.is_finite() {
        (lo * 0.9, lo * 1.1 + 1e-9)
    } else {
        (0.0, 1.0)
    };
    let n = points.iter().chain(best).map(|p| p.0).fold(1.0, f64::max);
    let root = SVGBackend::new(path, (760, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, lo..hi)
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(faint())
        .x_desc("evaluations (count)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| readable(*v))
        .y_label_formatter(&|v| readable(*v))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let grey = RGBColor(170, 170, 170);
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 2, grey.filled())))
        .map_err(|x| e(x.to_string()))?
        .label("evaluated")
        .legend(move |(x, y)| Circle::new((x + 7, y), 2, grey.filled()));
    let color = LINE_COLORS[0];
    chart
        .draw_series(LineSeries::new(best.iter().copied(), color.stroke_width(2)))
        .map_err(|x| e(x.to_string()))?
        .label("best so far")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::UpperRight, &e)?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}
