//! The backtest timeline as SVG: error ratio per bucket, the thresholds each tier fires at,
//! alerts as bars by tier and significant events as shaded spans, on one time axis.

use plotters::prelude::*;
use slo::BacktestResult;

/// One point per bucket: (bucket end, error ratio) with `None` for buckets without traffic.
pub struct Timeline<'a> {
    pub title: String,
    pub objective: f64,
    pub ratios: &'a [(i64, Option<f64>)],
    pub result: &'a BacktestResult,
}

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 560;

/// Renders the chart to an SVG document.
pub fn backtest_svg(t: &Timeline<'_>) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (upper, lower) = root.split_vertically(HEIGHT * 3 / 4);
        draw_ratio(&upper, t).map_err(|e| e.to_string())?;
        draw_alerts(&lower, t).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    // A title and description for screen readers (charts need text alternatives).
    let summary =
        format!(
        "<title>{}</title><desc>{} alerts, {} significant events; precision {}, recall {}</desc>",
        escape(&t.title),
        t.result.metrics.alerts,
        t.result.metrics.events,
        t.result.metrics.precision.map_or("n/a".into(), |p| format!("{:.0}%", p * 100.0)),
        t.result.metrics.recall.map_or("n/a".into(), |r| format!("{:.0}%", r * 100.0)),
    );
    Ok(match svg.find('>') {
        Some(i) if svg.starts_with("<svg") => format!("{}{}{}", &svg[..=i], summary, &svg[i + 1..]),
        _ => svg,
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn range(t: &Timeline<'_>) -> (i64, i64) {
    let from = t.result.from;
    let to = t.result.to.max(from + 1);
    (from, to)
}

fn hours(seconds: i64, from: i64) -> f64 {
    (seconds - from) as f64 / 3600.0
}

type Area<'a, 'b> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_ratio(area: &Area<'_, '_>, t: &Timeline<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let (from, to) = range(t);
    let budget = (1.0 - t.objective).max(1e-12);
    let thresholds: Vec<f64> = t
        .result
        .tiers
        .iter()
        .map(|m| m.burn_rate * budget)
        .collect();
    let peak = t
        .ratios
        .iter()
        .filter_map(|(_, r)| *r)
        .chain(thresholds.iter().copied())
        .fold(budget * 2.0, f64::max)
        .min(1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(&t.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..hours(to, from), 0.0..peak * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("hours since start")
        .y_desc("error ratio")
        .y_label_formatter(&|v| format!("{:.2}%", v * 100.0))
        .draw()?;
    for ev in &t.result.events {
        let (a, b) = (hours(ev.event.start, from), hours(ev.event.end, from));
        chart.draw_series(std::iter::once(Rectangle::new(
            [(a, 0.0), (b, peak * 1.05)],
            RGBColor(255, 200, 120).mix(0.35).filled(),
        )))?;
    }
    chart
        .draw_series(LineSeries::new(
            t.ratios
                .iter()
                .map(|(at, r)| (hours(*at, from), r.unwrap_or(0.0))),
            &RGBColor(31, 119, 180),
        ))?
        .label("error ratio per bucket")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(31, 119, 180)));
    chart
        .draw_series(LineSeries::new(
            [(0.0, budget), (hours(to, from), budget)],
            BLACK.stroke_width(1),
        ))?
        .label("1 - SLO")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    for (i, th) in thresholds.iter().enumerate() {
        if *th <= peak * 1.05 {
            let colour = Palette99::pick(i + 3);
            chart.draw_series(LineSeries::new(
                [(0.0, *th), (hours(to, from), *th)],
                colour.stroke_width(1),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn draw_alerts(area: &Area<'_, '_>, t: &Timeline<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let (from, to) = range(t);
    let rows = t.result.tiers.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(20)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..hours(to, from), 0.0..rows as f64)?;
    let labels: Vec<String> = t
        .result
        .tiers
        .iter()
        .map(|m| {
            format!(
                "{} {}{}",
                m.severity.as_str(),
                slo::format_duration(m.long_window),
                m.short_window
                    .map(|s| format!("/{}", slo::format_duration(s)))
                    .unwrap_or_default()
            )
        })
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .draw()?;
    // One lane per tier, labelled in its middle.
    for (i, label) in labels.iter().enumerate() {
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            (0.0, i as f64 + 0.5),
            ("sans-serif", 12).into_font(),
        )))?;
    }
    for alert in &t.result.alerts {
        let row = alert.tier as f64;
        let colour = match alert.severity {
            slo::Severity::Page => RGBColor(214, 39, 40),
            slo::Severity::Ticket => RGBColor(148, 103, 189),
        };
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (hours(alert.start, from), row + 0.15),
                (hours(alert.end.max(alert.start + 60), from), row + 0.85),
            ],
            colour.filled(),
        )))?;
    }
    Ok(())
}
