//! The report's charts, drawn here (plotters, bitmap backend) into PNG: the
//! AR and DSO trend, the aging bars and forecast against actual units. The
//! images hold only numbers and dates (DejaVu Sans, bundled in
//! `assets/fonts/`); titles and legends are in the HTML, in its language.
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::build::{MonthUnits, TrendPoint};

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Colours the HTML legends name.
pub const AR_COLOR: RGBColor = RGBColor(31, 119, 180);
pub const DSO_COLOR: RGBColor = RGBColor(214, 39, 40);
pub const FORECAST_COLOR: RGBColor = RGBColor(255, 127, 14);
pub const ACTUAL_COLOR: RGBColor = RGBColor(44, 160, 44);
const AGING_COLORS: [RGBColor; 6] = [
    RGBColor(44, 160, 44),
    RGBColor(188, 189, 34),
    RGBColor(255, 187, 120),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(140, 20, 20),
];
/// The aging buckets as the chart labels them (days past due).
pub const AGING_LABELS: [&str; 6] = ["0", "1-30", "31-60", "61-90", "91-120", ">120"];

/// `#rrggbb` of a colour, for the HTML legends.
pub fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

pub fn aging_css(i: usize) -> String {
    css(AGING_COLORS[i.min(5)])
}

fn font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        anyhow::bail!("the bundled chart font is not valid")
    }
}

fn err(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("chart: {e:?}")
}

fn png(rgb: &[u8], w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// 1234567.8 → "1,234,568"; large values in 万 would need words, so digits only.
pub fn thousands(v: f64) -> String {
    let neg = v < 0.0;
    let n = v.abs().round() as i64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// Right margin of charts whose last x label sits on the plot's edge.
const RIGHT_ROOM: u32 = 30;

fn index_label(labels: &[String], x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 || x < 0.0 {
        return String::new();
    }
    labels.get(x.round() as usize).cloned().unwrap_or_default()
}

fn top(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.fold(0.0f64, f64::max);
    if m <= 0.0 {
        1.0
    } else {
        m * 1.15
    }
}

/// AR (yuan, top) and DSO (days, bottom) at each week's end.
pub fn ar_dso(points: &[TrendPoint]) -> anyhow::Result<Vec<u8>> {
    font()?;
    let (w, h) = (760u32, 440u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let labels: Vec<String> = points
        .iter()
        .map(|p| p.week_end.format("%m-%d").to_string())
        .collect();
    let n = points.len().max(2);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (upper, lower) = root.split_vertically(h / 2);
        let series: [(&DrawingArea<_, _>, Vec<Option<f64>>, RGBColor); 2] = [
            (
                &upper,
                points
                    .iter()
                    .map(|p| p.ar_fen.map(|f| f as f64 / 100.0))
                    .collect(),
                AR_COLOR,
            ),
            (&lower, points.iter().map(|p| p.dso).collect(), DSO_COLOR),
        ];
        for (area, values, color) in series {
            let y_max = top(values.iter().flatten().copied());
            // The last date label is centred on the right edge of the plot:
            // leave it room (about half a label) on the right.
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .margin_right(RIGHT_ROOM)
                .x_label_area_size(24)
                .y_label_area_size(80)
                .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..y_max)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_labels(n)
                .y_labels(5)
                .x_label_formatter(&|x| index_label(&labels, *x))
                .y_label_formatter(&|y| thousands(*y))
                .label_style(("sans-serif", 13))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(err)?;
            let pts: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    png(&buf, w, h)
}

/// Outstanding receivables (yuan) by days past due.
pub fn aging(buckets: &[Option<i64>]) -> anyhow::Result<Vec<u8>> {
    font()?;
    let (w, h) = (760u32, 300u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let values: Vec<f64> = buckets
        .iter()
        .map(|b| b.unwrap_or(0) as f64 / 100.0)
        .collect();
    let labels: Vec<String> = AGING_LABELS.iter().map(|s| s.to_string()).collect();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let y_max = top(values.iter().copied());
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5f64..5.5f64, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(12)
            .x_label_formatter(&|x| index_label(&labels, *x))
            .y_labels(5)
            .y_label_formatter(&|y| thousands(*y))
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let x = i as f64;
                Rectangle::new(
                    [(x - 0.35, 0.0), (x + 0.35, *v)],
                    AGING_COLORS[i.min(5)].filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(i, v)| {
                        Text::new(
                            thousands(*v),
                            (i as f64 - 0.3, *v + y_max * 0.06),
                            ("sans-serif", 12).into_font(),
                        )
                    }),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    png(&buf, w, h)
}

/// Forecast and actual units by month.
pub fn forecast(months: &[MonthUnits]) -> anyhow::Result<Vec<u8>> {
    font()?;
    let (w, h) = (760u32, 300u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let labels: Vec<String> = months.iter().map(|m| m.month.clone()).collect();
    let n = months.len().max(2);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let y_max = top(months.iter().flat_map(|m| [m.forecast, m.actual]).flatten());
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.2f64..(n - 1) as f64 + 0.2, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(n * 2)
            .x_label_formatter(&|x| index_label(&labels, *x))
            .y_labels(5)
            .y_label_formatter(&|y| thousands(*y))
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (color, pick) in [
            (
                FORECAST_COLOR,
                (|m: &MonthUnits| m.forecast) as fn(&MonthUnits) -> Option<f64>,
            ),
            (ACTUAL_COLOR, |m: &MonthUnits| m.actual),
        ] {
            let pts: Vec<(f64, f64)> = months
                .iter()
                .enumerate()
                .filter_map(|(i, m)| pick(m).map(|v| (i as f64, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    png(&buf, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn charts_are_png_images() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
        let points: Vec<TrendPoint> = (0..13)
            .map(|i| TrendPoint {
                week_end: d - chrono::Duration::days(7 * (12 - i)),
                ar_fen: Some(1_000_000 + i * 50_000),
                dso: Some(30.0 + i as f64),
            })
            .collect();
        for png in [
            ar_dso(&points).unwrap(),
            aging(&[Some(100), Some(0), None, Some(5000), Some(1), Some(2)]).unwrap(),
            forecast(&[MonthUnits {
                month: "2026-10".into(),
                forecast: Some(10.0),
                actual: Some(8.0),
            }])
            .unwrap(),
        ] {
            assert_eq!(&png[1..4], b"PNG");
            assert!(png.len() > 1000);
        }
        assert_eq!(thousands(1234567.4), "1,234,567");
    }

    /// Nothing is drawn in the last columns of the image: a label cut by the
    /// border (the last week's date once was) would touch them.
    #[test]
    fn ar_dso_labels_fit_inside_the_image() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        let points: Vec<TrendPoint> = (0..13)
            .map(|i| TrendPoint {
                week_end: d - chrono::Duration::days(7 * (12 - i)),
                ar_fen: Some(1_000_000 + i * 50_000),
                dso: Some(30.0 + i as f64),
            })
            .collect();
        let png = ar_dso(&points).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        for y in 0..h {
            for x in w - 3..w {
                let px = &buf[(y * w + x) * 3..(y * w + x) * 3 + 3];
                assert_eq!(px, [255, 255, 255], "pixel ({x}, {y}) is drawn on");
            }
        }
        assert_eq!(thousands(-999.0), "-999");
    }
}
