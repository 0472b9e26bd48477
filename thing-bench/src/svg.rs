//! A bar chart of ratios to a baseline as a hand-written SVG: one panel per
//! backend, one group of bars per workload, one bar per contender, on a log
//! scale with a line at 1.0× and each bar's 95 % interval as a whisker.

use std::fmt::Write;

/// One contender's ratio in one workload.
#[derive(Debug, Clone)]
pub struct Bar {
    /// The contender; its colour is its place in the chart's series.
    pub series: String,
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
}

/// The bars of one workload.
#[derive(Debug, Clone)]
pub struct Group {
    pub label: String,
    pub bars: Vec<Bar>,
}

/// The workloads of one backend.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub groups: Vec<Group>,
}

const WIDTH: f64 = 1280.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL_HEIGHT: f64 = 300.0;
const PANEL_GAP: f64 = 90.0;
const TOP: f64 = 90.0;
const COLOURS: [&str; 8] = [
    "#4d4d4d", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
];

/// The vertical range of the chart: whole powers of ten around every value.
fn decades(panels: &[Panel]) -> (f64, f64) {
    let values = panels
        .iter()
        .flat_map(|panel| &panel.groups)
        .flat_map(|group| &group.bars)
        .flat_map(|bar| [bar.ratio, bar.low, bar.high])
        .filter(|value| value.is_finite() && *value > 0.0);
    let (low, high) = values.fold((1.0f64, 1.0f64), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    (low.log10().floor(), high.log10().ceil().max(1.0))
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where a ratio lands in a panel whose plot starts at `top`.
struct Scale {
    top: f64,
    low: f64,
    high: f64,
}

impl Scale {
    fn y(&self, ratio: f64) -> f64 {
        let ratio = ratio.max(10f64.powf(self.low));
        let share = (ratio.log10() - self.low) / (self.high - self.low);
        self.top + PANEL_HEIGHT * (1.0 - share.clamp(0.0, 1.0))
    }
}

fn axis(out: &mut String, scale: &Scale) {
    let right = WIDTH - RIGHT;
    for decade in scale.low as i32..=scale.high as i32 {
        for step in [1.0, 2.0, 5.0] {
            let value = step * 10f64.powi(decade);
            if value.log10() > scale.high + 1e-9 {
                continue;
            }
            let y = scale.y(value);
            let (stroke, width) = if step == 1.0 {
                ("#bbbbbb", 1.0)
            } else {
                ("#e5e5e5", 0.7)
            };
            let _ = writeln!(
                out,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="{stroke}" stroke-width="{width}"/>"#
            );
            let decimals = (-decade).max(0) as usize;
            let label = format!("{value:.decimals$}×");
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{label}</text>"#,
                LEFT - 6.0,
                y + 4.0
            );
        }
    }
    let one = scale.y(1.0);
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{one:.1}" x2="{right}" y2="{one:.1}" stroke="#000000" stroke-width="1.6"/>"##
    );
}

fn bars(out: &mut String, scale: &Scale, group: &Group, x: f64, width: f64, series: &[&str]) {
    let bar_width = width * 0.8 / series.len().max(1) as f64;
    let one = scale.y(1.0);
    for bar in &group.bars {
        let Some(index) = series.iter().position(|name| *name == bar.series) else {
            continue;
        };
        let left = x + width * 0.1 + bar_width * index as f64;
        let y = scale.y(bar.ratio);
        let (top, height) = if y < one {
            (y, one - y)
        } else {
            (one, y - one)
        };
        let middle = left + bar_width / 2.0;
        let _ = writeln!(
            out,
            r#"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {} {:.3}× ({:.3}–{:.3})</title></rect>"#,
            bar_width * 0.9,
            height.max(0.5),
            COLOURS[index % COLOURS.len()],
            escape(&group.label),
            escape(&bar.series),
            bar.ratio,
            bar.low,
            bar.high
        );
        let _ = writeln!(
            out,
            r##"<line x1="{middle:.1}" y1="{:.1}" x2="{middle:.1}" y2="{:.1}" stroke="#000000" stroke-width="1"/>"##,
            scale.y(bar.low),
            scale.y(bar.high)
        );
    }
}

fn group_label(out: &mut String, label: &str, x: f64, y: f64) {
    // Up to two lines, split at the space nearest the middle.
    let lines: Vec<&str> = match label.len() > 18 {
        true => {
            let middle = label.len() / 2;
            let split = label
                .match_indices(' ')
                .map(|(at, _)| at)
                .min_by_key(|at| at.abs_diff(middle));
            match split {
                Some(at) => vec![&label[..at], &label[at + 1..]],
                None => vec![label],
            }
        }
        false => vec![label],
    };
    for (line, text) in lines.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
            y + 14.0 * line as f64,
            escape(text)
        );
    }
}

fn panel(out: &mut String, panel: &Panel, top: f64, range: (f64, f64), series: &[&str]) {
    let scale = Scale {
        top,
        low: range.0,
        high: range.1,
    };
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
        top - 10.0,
        escape(&panel.title)
    );
    axis(out, &scale);
    let width = (WIDTH - LEFT - RIGHT) / panel.groups.len().max(1) as f64;
    for (index, group) in panel.groups.iter().enumerate() {
        let x = LEFT + width * index as f64;
        bars(out, &scale, group, x, width, series);
        group_label(
            out,
            &group.label,
            x + width / 2.0,
            top + PANEL_HEIGHT + 16.0,
        );
    }
}

fn legend(out: &mut String, series: &[&str]) {
    let mut x = LEFT;
    for (index, name) in series.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="52" width="12" height="12" fill="{}"/><text x="{:.1}" y="62" font-size="12">{}</text>"#,
            COLOURS[index % COLOURS.len()],
            x + 16.0,
            escape(name)
        );
        x += 34.0 + 7.4 * name.chars().count() as f64;
    }
}

/// The chart: `series` names the contenders in the order of their bars (bars
/// of other contenders are left out).
pub fn ratio_chart(title: &str, subtitle: &str, series: &[&str], panels: &[Panel]) -> String {
    let range = decades(panels);
    let height = TOP + panels.len() as f64 * (PANEL_HEIGHT + PANEL_GAP);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="17" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="40" font-size="12">{}</text>"#,
        escape(subtitle)
    );
    legend(&mut out, series);
    for (index, one) in panels.iter().enumerate() {
        let top = TOP + 20.0 + index as f64 * (PANEL_HEIGHT + PANEL_GAP);
        panel(&mut out, one, top, range, series);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::{Bar, Group, Panel, ratio_chart};

    fn bar(series: &str, ratio: f64) -> Bar {
        Bar {
            series: series.into(),
            ratio,
            low: ratio * 0.9,
            high: ratio * 1.1,
        }
    }

    #[test]
    fn chart_has_a_bar_per_known_contender_and_the_one_line() {
        let panels = [Panel {
            title: "PostgreSQL".into(),
            groups: vec![Group {
                label: "by_id & <lists>".into(),
                bars: vec![bar("raw", 1.0), bar("fast", 0.004), bar("other", 3.0)],
            }],
        }];
        let svg = ratio_chart("t", "s", &["raw", "fast"], &panels);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<title>").count(), 2);
        assert!(svg.contains("by_id &amp; &lt;lists&gt;"));
        assert!(svg.contains(r##"stroke="#000000" stroke-width="1.6""##));
        // 0.004 reaches down to the 0.001 decade.
        assert!(svg.contains(">0.001×<"));
        assert!(svg.contains(">10×<"));
    }
}
