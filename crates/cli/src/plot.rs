//! Loss and accuracy curves as a small self-contained SVG: two panels (loss
//! on the left, test accuracy on the right), the integer run in blue and the
//! float32 run, when there is one, in orange.

use std::fmt::Write;

use silc_sim::train::EpochStats;

const W: f64 = 360.0;
const H: f64 = 240.0;
const PAD: f64 = 40.0;

fn polyline(points: &[(f64, f64)], color: &str) -> String {
    let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    format!(r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##, pts.join(" "))
}

fn panel(out: &mut String, x0: f64, title: &str, series: &[(&[f64], &str)], y_max: f64) {
    let n = series.iter().map(|(s, _)| s.len()).max().unwrap_or(1).max(2);
    let sx = |i: usize| x0 + PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64;
    let sy = |v: f64| H - PAD - (H - 2.0 * PAD) * (v / y_max).clamp(0.0, 1.0);
    writeln!(
        out,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="gray"/>"#,
        x0 + PAD,
        PAD,
        W - 2.0 * PAD,
        H - 2.0 * PAD
    )
    .unwrap();
    writeln!(out, r#"<text x="{}" y="24" font-family="sans-serif" font-size="14">{title}</text>"#, x0 + PAD).unwrap();
    writeln!(
        out,
        r#"<text x="{}" y="{}" font-family="sans-serif" font-size="10">{y_max:.2}</text>"#,
        x0 + 4.0,
        PAD + 4.0
    )
    .unwrap();
    writeln!(out, r#"<text x="{}" y="{}" font-family="sans-serif" font-size="10">0</text>"#, x0 + 24.0, H - PAD)
        .unwrap();
    writeln!(
        out,
        r#"<text x="{}" y="{}" font-family="sans-serif" font-size="10">epoch 1..{n}</text>"#,
        x0 + W / 2.0 - 20.0,
        H - 12.0
    )
    .unwrap();
    for (s, color) in series {
        let pts: Vec<(f64, f64)> = s.iter().enumerate().map(|(i, v)| (sx(i), sy(*v))).collect();
        out.push_str(&polyline(&pts, color));
        out.push('\n');
    }
}

pub fn svg(int: &[EpochStats], float: Option<&[EpochStats]>) -> String {
    let loss_i: Vec<f64> = int.iter().map(|e| e.loss).collect();
    let acc_i: Vec<f64> = int.iter().map(|e| e.test_accuracy).collect();
    let loss_f: Vec<f64> = float.unwrap_or(&[]).iter().map(|e| e.loss).collect();
    let acc_f: Vec<f64> = float.unwrap_or(&[]).iter().map(|e| e.test_accuracy).collect();
    let loss_max = loss_i.iter().chain(&loss_f).copied().fold(0.1, f64::max);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" viewBox="0 0 {} {H}">"#,
        2.0 * W,
        2.0 * W
    );
    out.push('\n');
    out.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    out.push('\n');
    panel(
        &mut out,
        0.0,
        "mean loss (blue: silc, orange: float32)",
        &[(&loss_i, "#1f77b4"), (&loss_f, "#ff7f0e")],
        loss_max,
    );
    panel(&mut out, W, "test accuracy", &[(&acc_i, "#1f77b4"), (&acc_f, "#ff7f0e")], 1.0);
    out.push_str("</svg>\n");
    out
}
