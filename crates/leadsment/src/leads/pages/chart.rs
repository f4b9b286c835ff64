//! The overview's time series as inline SVG drawn on the server: a bar per bucket for visits
//! and a line for visitors, each bar with a `<title>` giving its values, and a table as the
//! text alternative.

use super::format::count;

pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 180.0;
const TOP: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    /// The whole bucket's height, so hovering anywhere in the column shows its values.
    pub hit_h: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// `x,y x,y …` of the visitors line.
    pub line: String,
    /// Grid lines: their y and the value they mark.
    pub grid: Vec<(String, String)>,
    /// A few labels along the bottom: x and text.
    pub labels: Vec<(String, String)>,
}

/// One bucket: its label, visitors, visits and pageviews.
pub struct Point<'a> {
    pub label: &'a str,
    pub visitors: i64,
    pub visits: i64,
    pub pageviews: i64,
}

/// A round number at or above `n` for the top of the scale.
fn nice_max(n: i64) -> i64 {
    if n <= 5 {
        return 5;
    }
    let magnitude = 10i64.pow((n as f64).log10().floor() as u32);
    for step in [1, 2, 5, 10] {
        if step * magnitude >= n {
            return step * magnitude;
        }
    }
    10 * magnitude
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

pub fn draw(points: &[Point<'_>]) -> Chart {
    let max = nice_max(
        points
            .iter()
            .map(|p| p.visits.max(p.visitors))
            .max()
            .unwrap_or(0),
    );
    let n = points.len().max(1) as f64;
    let slot = WIDTH / n;
    let gap = (slot * 0.2).min(4.0);
    let y = |v: i64| HEIGHT - (v as f64 / max as f64) * (HEIGHT - TOP);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let top = y(p.visits);
            Bar {
                x: f(i as f64 * slot + gap / 2.0),
                y: f(top),
                w: f((slot - gap).max(1.0)),
                h: f(HEIGHT - top),
                hit_h: f(HEIGHT),
                title: format!(
                    "{}: {} visitors, {} visits, {} pageviews",
                    p.label,
                    count(p.visitors),
                    count(p.visits),
                    count(p.pageviews)
                ),
            }
        })
        .collect();
    let line = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{},{}", f(i as f64 * slot + slot / 2.0), f(y(p.visitors))))
        .collect::<Vec<_>>()
        .join(" ");
    let grid = [0, max / 2, max]
        .into_iter()
        .map(|v| (f(y(v)), count(v)))
        .collect();
    let every = (points.len() / 6).max(1);
    let labels = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| (f(i as f64 * slot + slot / 2.0), p.label.to_owned()))
        .collect();
    Chart {
        bars,
        line,
        grid,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_up_and_titles_carry_values() {
        assert_eq!(nice_max(0), 5);
        assert_eq!(nice_max(17), 20);
        assert_eq!(nice_max(430), 500);
        let c = draw(&[
            Point {
                label: "Mon 2 Nov",
                visitors: 3,
                visits: 4,
                pageviews: 1200,
            },
            Point {
                label: "Tue 3 Nov",
                visitors: 0,
                visits: 0,
                pageviews: 0,
            },
        ]);
        assert_eq!(
            c.bars[0].title,
            "Mon 2 Nov: 3 visitors, 4 visits, 1,200 pageviews"
        );
        assert_eq!(c.bars[1].h, "0.0");
    }
}
