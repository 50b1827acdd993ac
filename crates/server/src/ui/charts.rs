//! SVG charts drawn on the server (the project's own SVG, no script): a sparkline, a budget
//! bar and a time-series chart with threshold lines, event markers (deploys, alert
//! transitions) and shaded intervals (alerts firing). Every chart is an `<svg role="img">`
//! with a `<title>` and a `<desc>`; pages add a text alternative (table or sentence) next to it.

use std::fmt::Write;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for an SVG attribute (one decimal, never NaN).
fn n(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "0".into()
    }
}

/// The colour of a status word (same palette as the stylesheet, AA on white).
pub fn status_colour(status: &str) -> &'static str {
    match status {
        "ok" => "#1b6e3a",
        "warning" | "pending" => "#8a5300",
        "exhausted" | "firing" => "#b3261e",
        _ => "#5b636e",
    }
}

/// A small inline line of `values` (None = gap), `width` × `height` pixels.
pub fn sparkline(
    values: &[Option<f64>],
    width: u32,
    height: u32,
    title: &str,
    colour: &str,
) -> String {
    let mut svg = format!(
        r#"<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"><title>{}</title>"#,
        escape(title)
    );
    let finite: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() || values.len() < 2 {
        let _ = write!(
            svg,
            r##"<line x1="0" y1="{y}" x2="{width}" y2="{y}" stroke="#aab1ba" stroke-dasharray="3 3"/></svg>"##,
            y = height / 2
        );
        return svg;
    }
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    if (hi - lo).abs() < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let (w, h) = (f64::from(width), f64::from(height));
    let step = w / (values.len() - 1) as f64;
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v.filter(|v| v.is_finite()) {
            Some(v) => {
                let x = i as f64 * step;
                let y = h - 1.0 - (v - lo) / (hi - lo) * (h - 2.0);
                let _ = write!(d, "{}{} {} ", if pen_down { "L" } else { "M" }, n(x), n(y));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = write!(
        svg,
        r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="1.5"/></svg>"#,
        d.trim_end()
    );
    svg
}

/// A horizontal bar of the budget left (`remaining` 1 = full, ≤ 0 = empty).
pub fn budget_bar(remaining: f64, width: u32, status: &str) -> String {
    let share = if remaining.is_finite() {
        remaining.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let fill = f64::from(width) * share;
    format!(
        r##"<svg class="bar" xmlns="http://www.w3.org/2000/svg" width="{width}" height="12" viewBox="0 0 {width} 12" role="img"><title>{:.1}% of the error budget left</title><rect x="0" y="0" width="{width}" height="12" rx="2" fill="#e3e6ea"/><rect x="0" y="0" width="{}" height="12" rx="2" fill="{}"/></svg>"##,
        remaining * 100.0,
        n(fill),
        status_colour(status)
    )
}

/// One line of a [`TimeChart`].
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    pub points: Vec<(i64, Option<f64>)>,
}

/// A horizontal line at a value (an objective, an alert threshold).
pub struct Threshold {
    pub label: String,
    pub value: f64,
    pub colour: &'static str,
}

/// A vertical marker at a time (a deploy, an alert transition).
pub struct Marker {
    pub at: i64,
    pub label: String,
    pub colour: &'static str,
}

/// A shaded time interval (an alert firing).
pub struct Band {
    pub from: i64,
    pub to: i64,
    pub label: String,
    pub colour: &'static str,
}

/// A time-series chart: x is time (unix seconds), y a value formatted by `format_y`.
pub struct TimeChart {
    /// Unique on the page (ids of the title and description).
    pub id: String,
    pub title: String,
    pub desc: String,
    pub from: i64,
    pub to: i64,
    /// The y range; widened to the data and thresholds when those fall outside.
    pub y_min: Option<f64>,
    pub y_max: Option<f64>,
    /// A value the axis never goes above (an SLI tops out at 100%).
    pub ceiling: Option<f64>,
    pub series: Vec<Series>,
    pub thresholds: Vec<Threshold>,
    pub markers: Vec<Marker>,
    pub bands: Vec<Band>,
    pub format_y: fn(f64) -> String,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;

impl TimeChart {
    pub fn new(
        id: &str,
        title: &str,
        from: i64,
        to: i64,
        format_y: fn(f64) -> String,
    ) -> TimeChart {
        TimeChart {
            id: id.to_string(),
            title: title.to_string(),
            desc: String::new(),
            from,
            to: to.max(from + 1),
            y_min: None,
            y_max: None,
            ceiling: None,
            series: Vec::new(),
            thresholds: Vec::new(),
            markers: Vec::new(),
            bands: Vec::new(),
            format_y,
        }
    }

    fn y_range(&self) -> (f64, f64) {
        let values = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|(_, v)| *v))
            .chain(self.thresholds.iter().map(|t| t.value))
            .filter(|v| v.is_finite());
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if let Some(m) = self.y_min {
            lo = if lo.is_finite() { lo.min(m) } else { m };
        }
        if let Some(m) = self.y_max {
            hi = if hi.is_finite() { hi.max(m) } else { m };
        }
        if !lo.is_finite() || !hi.is_finite() {
            return (0.0, 1.0);
        }
        if (hi - lo).abs() < 1e-12 {
            let pad = if lo.abs() > 1e-9 {
                lo.abs() * 0.01
            } else {
                0.5
            };
            return (lo - pad, hi + pad);
        }
        let pad = (hi - lo) * 0.05;
        (
            if self.y_min.is_some_and(|m| m >= lo) {
                lo
            } else {
                lo - pad
            },
            {
                let top = if self.y_max.is_some_and(|m| m <= hi) {
                    hi
                } else {
                    hi + pad
                };
                self.ceiling.map_or(top, |c| top.min(c.max(hi)))
            },
        )
    }

    /// The chart as an inline `<svg>`.
    pub fn render(&self) -> String {
        let (lo, hi) = self.y_range();
        let span = (self.to - self.from) as f64;
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let x = |t: i64| LEFT + ((t - self.from) as f64 / span).clamp(0.0, 1.0) * plot_w;
        let y = |v: f64| TOP + (1.0 - ((v - lo) / (hi - lo)).clamp(-0.02, 1.02)) * plot_h;
        let id = escape(&self.id);
        let mut s = format!(
            r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-title {id}-desc" font-family="system-ui, sans-serif" font-size="11"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
            escape(&self.title),
            escape(&self.desc)
        );
        // Bands under everything.
        for b in &self.bands {
            let (x0, x1) = (x(b.from.max(self.from)), x(b.to.min(self.to)));
            if x1 <= x0 {
                continue;
            }
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.15"><title>{}</title></rect>"#,
                n(x0),
                n(TOP),
                n(x1 - x0),
                n(plot_h),
                b.colour,
                escape(&b.label)
            );
        }
        // Grid and y labels.
        for i in 0..=4 {
            let v = lo + (hi - lo) * f64::from(i) / 4.0;
            let yy = y(v);
            let _ = write!(
                s,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e3e6ea"/><text x="{}" y="{}" text-anchor="end" fill="#4d5560">{}</text>"##,
                n(LEFT),
                n(yy),
                n(W - RIGHT),
                n(yy),
                n(LEFT - 6.0),
                n(yy + 4.0),
                escape(&(self.format_y)(v))
            );
        }
        // Time axis.
        let _ = write!(
            s,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#7a838f"/>"##,
            n(LEFT),
            n(TOP + plot_h),
            n(W - RIGHT),
            n(TOP + plot_h)
        );
        for i in 0..=4 {
            let t = self.from + ((self.to - self.from) as f64 * f64::from(i) / 4.0) as i64;
            let anchor = match i {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="{anchor}" fill="#4d5560">{}</text>"##,
                n(x(t)),
                n(TOP + plot_h + 16.0),
                escape(&axis_time(t, self.to - self.from))
            );
        }
        // Thresholds.
        for t in &self.thresholds {
            let yy = y(t.value);
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-dasharray="6 4"><title>{}</title></line><text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>"#,
                n(LEFT),
                n(yy),
                n(W - RIGHT),
                n(yy),
                t.colour,
                escape(&t.label),
                n(W - RIGHT - 2.0),
                n(yy - 3.0),
                t.colour,
                escape(&t.label)
            );
        }
        // Series.
        for series in &self.series {
            let mut d = String::new();
            let mut pen_down = false;
            for (t, v) in &series.points {
                match v.filter(|v| v.is_finite()) {
                    Some(v) if *t >= self.from && *t <= self.to => {
                        let _ = write!(
                            d,
                            "{}{} {} ",
                            if pen_down { "L" } else { "M" },
                            n(x(*t)),
                            n(y(v))
                        );
                        pen_down = true;
                    }
                    _ => pen_down = false,
                }
            }
            if !d.is_empty() {
                let _ = write!(
                    s,
                    r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></path>"#,
                    d.trim_end(),
                    series.colour,
                    escape(&series.label)
                );
            }
        }
        // Markers on top.
        for m in &self.markers {
            if m.at < self.from || m.at > self.to {
                continue;
            }
            let xx = x(m.at);
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1.5"><title>{}</title></line><path d="M{} {} l-4 -7 h8 z" fill="{}"><title>{}</title></path>"#,
                n(xx),
                n(TOP),
                n(xx),
                n(TOP + plot_h),
                m.colour,
                escape(&m.label),
                n(xx),
                n(TOP),
                m.colour,
                escape(&m.label)
            );
        }
        // Legend.
        let mut lx = LEFT;
        let ly = H - 10.0;
        let legend = self
            .series
            .iter()
            .map(|s| (s.label.as_str(), s.colour, false))
            .chain(
                self.thresholds
                    .iter()
                    .map(|t| (t.label.as_str(), t.colour, true)),
            );
        for (label, colour, dashed) in legend {
            let dash = if dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = write!(
                s,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}" fill="#1a1d21">{}</text>"##,
                n(lx),
                n(ly - 4.0),
                n(lx + 16.0),
                n(ly - 4.0),
                n(lx + 20.0),
                n(ly),
                escape(label)
            );
            lx += 28.0 + label.chars().count() as f64 * 6.0;
            if lx > W - 80.0 {
                break;
            }
        }
        s.push_str("</svg>");
        s
    }
}

/// A time label fit for a span: dates for long spans, hours and minutes for short ones (UTC).
fn axis_time(at: i64, span: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_second(at) else {
        return at.to_string();
    };
    let format = if span > 3 * 86_400 {
        "%m-%d"
    } else if span > 86_400 {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    };
    t.strftime(format).to_string()
}

/// Formats a ratio as a percentage with enough decimals to tell 99.9 from 99.95.
pub fn ratio_axis(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// Formats a plain number (burn rates: `14.4×`).
pub fn times_axis(v: f64) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.0}×")
    } else {
        format!("{v:.1}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_titled_svg() {
        let mut chart = TimeChart::new("c", "SLI <over> time", 0, 3600, ratio_axis);
        chart.desc = "desc & more".into();
        chart.series.push(Series {
            label: "SLI".into(),
            colour: "#0b57b0",
            points: vec![(0, Some(0.99)), (1800, None), (3600, Some(0.995))],
        });
        chart.thresholds.push(Threshold {
            label: "objective".into(),
            value: 0.99,
            colour: "#b3261e",
        });
        chart.markers.push(Marker {
            at: 100,
            label: "deploy v2".into(),
            colour: "#6a3d9a",
        });
        let svg = chart.render();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title id=\"c-title\">SLI &lt;over&gt; time</title>"));
        assert!(svg.contains("desc &amp; more"));
        assert!(svg.contains("deploy v2"));
        assert!(!svg.contains("NaN"));
        let spark = sparkline(
            &[None, Some(1.0), Some(f64::NAN), Some(0.5)],
            80,
            20,
            "t",
            "#000",
        );
        assert!(spark.contains("<title>t</title>") && !spark.contains("NaN"));
        assert!(sparkline(&[], 80, 20, "t", "#000").contains("<line"));
        assert!(budget_bar(-0.5, 100, "exhausted").contains(r#"width="0.0""#));
    }
}
