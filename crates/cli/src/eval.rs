//! `silc eval`: the accuracy of a weights file (from `decrypt` or
//! `simulate --save`) on test data, standardized with the statistics stored
//! in the file, in float arithmetic with the dequantized weights.

use std::path::PathBuf;

use serde_json::json;
use silc_sim::data::Standardizer;

use crate::data::{self, LabelColumn};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Weights from `silc decrypt`.
    pub weights: PathBuf,
    /// Test data (CSV or MNIST IDX).
    #[arg(long, value_name = "DATA")]
    pub test: PathBuf,
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<LabelColumn>,
    #[arg(long)]
    pub json: bool,
}

/// Accuracy of the decrypted (dequantized) weights on standardized test data.
pub fn run(args: &EvalArgs) -> Result<(), String> {
    let name = args.weights.display().to_string();
    let v: serde_json::Value = serde_json::from_slice(&crate::io::read(&args.weights)?)
        .map_err(|e| format!("error: {name}: not a weights file: {e}"))?;
    let bad = || format!("error: {name}: not a silc weights file (missing layers or standardization)");
    let layers = v["layers"].as_array().ok_or_else(bad)?;
    let stats = Standardizer {
        mean: serde_json::from_value(v["standardization"]["mean"].clone()).map_err(|_| bad())?,
        std: serde_json::from_value(v["standardization"]["std"].clone()).map_err(|_| bad())?,
    };
    let mut ws: Vec<(usize, usize, bool, Vec<f64>)> = Vec::new();
    for l in layers {
        let shape: Vec<usize> = serde_json::from_value(l["shape"].clone()).map_err(|_| bad())?;
        let w: Vec<f64> = serde_json::from_value(l["weights"].clone()).map_err(|_| bad())?;
        if shape.len() != 2 || w.len() != shape[0] * shape[1] {
            return Err(bad());
        }
        ws.push((shape[0], shape[1], l["relu"].as_bool().unwrap_or(false), w));
    }
    let test = data::load(&args.test, &args.label.clone().unwrap_or_default())?;
    if test.n_features != ws[0].0 || stats.mean.len() != test.n_features {
        return Err(format!(
            "error: {}: rows have {} features, the model expects {}",
            args.test.display(),
            test.n_features,
            ws[0].0
        ));
    }
    let mut correct = 0;
    for i in 0..test.len() {
        let mut a = stats.standardize(test.row(i));
        for (n_in, n_out, relu, w) in &ws {
            let mut z = vec![0.0; *n_out];
            for r in 0..*n_in {
                for (c, zc) in z.iter_mut().enumerate() {
                    *zc += a[r] * w[r * n_out + c];
                }
            }
            a = if *relu { z.into_iter().map(|x| x.max(0.0)).collect() } else { z };
        }
        let pred = (0..a.len()).fold(0, |b, j| if a[j] > a[b] { j } else { b });
        correct += usize::from(pred == test.labels[i]);
    }
    let acc = correct as f64 / test.len().max(1) as f64;
    if args.json {
        crate::emit(&format!("{}\n", json!({ "accuracy": acc, "samples": test.len() })));
    } else {
        crate::emit(&format!("accuracy {:.1}% on {} samples\n", 100.0 * acc, test.len()));
    }
    Ok(())
}
