//! One observable's week as an SVG chart (plotters' SVG backend): the weekly average as a
//! line inside its ± deviation band (or error bars), the values recorded in the last week
//! as dots on top, the anomalies as red crosses, and a line at the present slot.

use plotters::prelude::*;

use super::data::{slot_start, Series};
use homeostat_core::stats::SLOTS;

/// Chart size in pixels.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 300;

/// How the deviation is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deviation {
    /// A shaded band from average − deviation to average + deviation.
    Band,
    /// A vertical error bar every half hour (cfenvgraph's `t,y,dy`).
    Bars,
}

/// Slots in a day.
const DAY: f32 = (SLOTS / 7) as f32;

const AVERAGE: RGBColor = RGBColor(31, 90, 170);
const VALUE: RGBColor = RGBColor(40, 40, 40);
const ANOMALY: RGBColor = RGBColor(210, 30, 30);
const NOW: RGBColor = RGBColor(120, 160, 60);

/// The chart of `series`; `now_slot` is marked, `note` (for an empty week) written in the
/// middle. Text reaches the SVG through plotters, which escapes `<`, `>`, `&` and quotes.
pub fn render(
    series: &Series,
    title: &str,
    deviation: Deviation,
    now_slot: usize,
    note: Option<&str>,
) -> anyhow::Result<String> {
    let mut svg = String::with_capacity(256 * 1024);
    draw(&mut svg, series, title, deviation, now_slot, note)
        .map_err(|e| anyhow::anyhow!("chart of {}: {e}", series.name))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    series: &Series,
    title: &str,
    deviation: Deviation,
    now_slot: usize,
    note: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (lo, hi) = y_range(series);
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(0f32..7f32, lo..hi)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|d| slot_start((*d * DAY) as usize).chars().take(3).collect())
        .light_line_style(WHITE)
        .draw()?;
    // x in days from Monday 00:00, at the middle of each slot.
    let x = |i: usize| (i as f32 + 0.5) / DAY;
    let slots = &series.slots;
    match deviation {
        Deviation::Band => {
            let upper = slots
                .iter()
                .enumerate()
                .map(|(i, s)| (x(i), s.expect + s.dev));
            let lower = slots
                .iter()
                .enumerate()
                .rev()
                .map(|(i, s)| (x(i), s.expect - s.dev));
            chart.draw_series(std::iter::once(Polygon::new(
                upper.chain(lower).collect::<Vec<_>>(),
                AVERAGE.mix(0.2).filled(),
            )))?;
        }
        Deviation::Bars => {
            chart.draw_series(slots.iter().enumerate().step_by(6).map(|(i, s)| {
                ErrorBar::new_vertical(
                    x(i),
                    s.expect - s.dev,
                    s.expect,
                    s.expect + s.dev,
                    AVERAGE.mix(0.5).stroke_width(1),
                    4,
                )
            }))?;
        }
    }
    chart.draw_series(LineSeries::new(
        slots.iter().enumerate().map(|(i, s)| (x(i), s.expect)),
        AVERAGE.stroke_width(2),
    ))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x(now_slot), lo), (x(now_slot), hi)],
        NOW.stroke_width(1),
    )))?;
    chart.draw_series(slots.iter().enumerate().filter_map(|(i, s)| {
        s.recorded
            .map(|(v, _)| Circle::new((x(i), v), 2, VALUE.filled()))
    }))?;
    chart.draw_series(slots.iter().enumerate().filter_map(|(i, s)| {
        s.recorded
            .filter(|_| s.anomaly)
            .map(|(v, _)| Cross::new((x(i), v), 5, ANOMALY.stroke_width(2)))
    }))?;
    if let Some(note) = note {
        let mid = (WIDTH as i32 / 2 - 4 * note.len() as i32, HEIGHT as i32 / 2);
        root.draw(&Text::new(
            note,
            mid,
            ("sans-serif", 16).into_font().color(&VALUE),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// From the lowest to the highest figure drawn, 5 % of room above; 0..1 when all is 0.
fn y_range(series: &Series) -> (f32, f32) {
    let mut lo = 0.0f32;
    let mut hi = 0.0f32;
    for s in &series.slots {
        lo = lo.min(s.expect - s.dev);
        hi = hi.max(s.expect + s.dev);
        if let Some((v, _)) = s.recorded.filter(|(v, _)| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !(hi - lo).is_finite() || hi - lo <= 0.0 {
        return (0.0, 1.0);
    }
    (lo, hi + 0.05 * (hi - lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::data::Slot;

    fn week(anomaly_at: usize) -> Series {
        let slots = (0..SLOTS)
            .map(|i| Slot {
                expect: 10.0 + (i % 288) as f32 / 10.0,
                dev: 2.0,
                recorded: (i % 3 == 0).then_some((12.0, 1_704_067_200)),
                anomaly: i == anomaly_at,
            })
            .collect();
        Series {
            name: "www_in".into(),
            slots,
        }
    }

    #[test]
    fn draws_every_part_and_escapes_the_title() {
        let svg = render(&week(99), "www_in on <script>&", Deviation::Band, 5, None).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&amp;"));
        assert!(svg.contains("<polygon") && svg.contains("<polyline"));
        // A dot for every third slot, and one red cross (two strokes) for the anomaly.
        assert_eq!(svg.matches("<circle").count(), SLOTS / 3);
        assert_eq!(svg.matches("#D21E1E").count(), 2, "one cross");
        let bars = render(&week(99), "t", Deviation::Bars, 5, None).unwrap();
        assert!(!bars.contains("<polygon"));
        assert!(bars.matches("<line").count() >= SLOTS / 6);
    }

    #[test]
    fn empty_week_has_a_note() {
        let empty = Series {
            name: "users".into(),
            slots: vec![
                Slot {
                    expect: 0.0,
                    dev: 0.0,
                    recorded: None,
                    anomaly: false
                };
                SLOTS
            ],
        };
        let svg = render(&empty, "users", Deviation::Band, 0, Some("no samples yet")).unwrap();
        assert!(svg.contains("no samples yet"));
        assert_eq!(svg.matches("<circle").count(), 0);
    }
}
