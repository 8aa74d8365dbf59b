//! Charts as inline SVG, rendered on the server: a line chart of one or more series over a
//! shared x axis, and a bar chart. No JavaScript; labels are escaped.

use std::fmt::Write;

use super::html::esc;

const W: f64 = 560.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 36.0;
const COLORS: [&str; 8] = [
    "#0b5cad", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#17a2b8", "#7f8c8d", "#b7950b",
];
/// Legend entries per row, right-aligned above the plot.
const LEGEND_ROW: usize = 4;

/// One line: its legend label and (x, y) points.
pub struct Series<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut b: Option<(f64, f64)> = None;
    for v in values.filter(|v| v.is_finite()) {
        b = Some(match b {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    b
}

fn frame(out: &mut String, title: &str, y: (f64, f64), x: (f64, f64), x_label: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {W} {H}\" \
width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>\
<text x=\"{LEFT}\" y=\"15\" font-size=\"13\" font-weight=\"600\">{t}</text>",
        t = esc(title)
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let py = TOP + (H - TOP - BOTTOM) * (1.0 - f);
        let v = y.0 + (y.1 - y.0) * f;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#e6eaef\"/>\
<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6678\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            fmt_num(v)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\" fill=\"#5b6678\">{}</text>\
<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6678\">{}</text>\
<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6678\">{}</text>",
        H - 18.0,
        fmt_num(x.0),
        W - RIGHT,
        H - 18.0,
        fmt_num(x.1),
        (LEFT + W - RIGHT) / 2.0,
        H - 4.0,
        esc(x_label)
    );
}

fn scale(v: f64, (lo, hi): (f64, f64), a: f64, b: f64) -> f64 {
    if hi > lo {
        a + (v - lo) / (hi - lo) * (b - a)
    } else {
        (a + b) / 2.0
    }
}

/// A line chart; `y_range` fixes the y axis (e.g. 0..1 for fractions), else it fits the data.
/// Without any point it says so instead of drawing axes.
pub fn lines(
    title: &str,
    x_label: &str,
    series: &[Series<'_>],
    y_range: Option<(f64, f64)>,
) -> String {
    let xs = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let (Some(x), Some(y)) = (xs, ys) else {
        return format!("<p class=\"muted\">{}: no data yet.</p>", esc(title));
    };
    let y = y_range.unwrap_or((
        y.0.min(0.0),
        if y.1 > y.0.min(0.0) { y.1 } else { y.1 + 1.0 },
    ));
    let mut out = String::new();
    frame(&mut out, title, y, x, x_label);
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|(px, py)| {
                format!(
                    "{:.1},{:.1}",
                    scale(*px, x, LEFT, W - RIGHT),
                    scale(*py, y, H - BOTTOM, TOP)
                )
            })
            .collect();
        if pts.len() == 1 {
            let (cx, cy) = pts[0].split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                out,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"{color}\"/>"
            );
        } else {
            let _ = write!(
                out,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                pts.join(" ")
            );
        }
        let (row, col) = (i / LEGEND_ROW, i % LEGEND_ROW);
        let in_row = (series.len() - row * LEGEND_ROW).min(LEGEND_ROW);
        let lx = W - RIGHT - 90.0 * (in_row - col) as f64;
        let ly = 6.0 + 11.0 * row as f64;
        let _ = write!(
            out,
            "<rect x=\"{lx:.0}\" y=\"{ly:.0}\" width=\"10\" height=\"10\" fill=\"{color}\"/>\
<text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\">{}</text>",
            lx + 14.0,
            ly + 9.0,
            esc(s.label)
        );
    }
    out.push_str("</svg>");
    out
}

/// A bar chart of (label, value) in order; `y_max` fixes the top of the axis.
pub fn bars(title: &str, x_label: &str, bars: &[(String, f64)], y_max: Option<f64>) -> String {
    let Some((_, hi)) = bounds(bars.iter().map(|b| b.1)) else {
        return format!("<p class=\"muted\">{}: no data yet.</p>", esc(title));
    };
    let y = (0.0, y_max.unwrap_or(if hi > 0.0 { hi } else { 1.0 }));
    let mut out = String::new();
    frame(&mut out, title, y, (0.0, bars.len() as f64), x_label);
    let slot = (W - LEFT - RIGHT) / bars.len() as f64;
    for (i, (label, v)) in bars.iter().enumerate() {
        let top = scale(v.clamp(y.0, y.1), y, H - BOTTOM, TOP);
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
            LEFT + slot * i as f64 + slot * 0.1,
            (slot * 0.8).max(1.0),
            (H - BOTTOM - top).max(0.0),
            COLORS[0],
            esc(label),
            fmt_num(*v)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_draws_each_series_and_escapes_labels() {
        let svg = lines(
            "held <vs> earned",
            "epoch",
            &[
                Series {
                    label: "held",
                    points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)],
                },
                Series {
                    label: "<earned>",
                    points: vec![(0.0, 2.0), (2.0, 3.0)],
                },
            ],
            None,
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("held &lt;vs&gt; earned"));
        assert!(svg.contains("&lt;earned&gt;"));
        assert!(!svg.contains("<earned>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn empty_charts_say_so_and_bars_stay_in_the_frame() {
        assert!(lines("x", "t", &[], None).contains("no data yet"));
        assert!(bars("x", "t", &[], None).contains("no data yet"));
        let svg = bars(
            "uptime",
            "day",
            &[("d1".into(), 0.5), ("d2".into(), 1.0), ("d3".into(), 7.0)],
            Some(1.0),
        );
        assert_eq!(svg.matches("<rect x=").count(), 1 + 3);
        // A value above the axis is drawn at the top, never outside the chart.
        assert!(!svg.contains("height=\"-"), "{svg}");
    }
}
