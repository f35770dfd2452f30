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
    // The standardization (with the rank table of `input N bins=quantile;`)
    // is the client's, as `encrypt` or `simulate --save` wrote it.
    let stats: Standardizer = serde_json::from_value(v["standardization"].clone())
        .map_err(|e| format!("error: {name}: `standardization` is not a silc standardization: {e}"))?;
    let mut ws: Vec<(usize, usize, bool, Vec<f64>, Vec<f64>)> = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let shape: Vec<usize> = serde_json::from_value(l["shape"].clone()).map_err(|_| bad())?;
        let w: Vec<f64> = serde_json::from_value(l["weights"].clone()).map_err(|_| bad())?;
        if shape.len() != 2 || w.len() != shape[0] * shape[1] {
            return Err(bad());
        }
        let b: Vec<f64> = match l.get("biases") {
            None => vec![0.0; shape[1]],
            Some(b) => {
                serde_json::from_value(b.clone()).ok().filter(|b: &Vec<f64>| b.len() == shape[1]).ok_or_else(|| {
                    format!("error: {name}: layer {}: `biases` must hold {} numbers, one per output", i + 1, shape[1])
                })?
            }
        };
        if ws.last().is_some_and(|prev| prev.1 != shape[0]) {
            return Err(format!(
                "error: {name}: layer {} takes {} inputs but the layer before gives {}",
                i + 1,
                shape[0],
                ws.last().map_or(0, |p| p.1)
            ));
        }
        ws.push((shape[0], shape[1], l["relu"].as_bool().unwrap_or(false), w, b));
    }
    if ws.is_empty() {
        return Err(bad());
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
        for (n_in, n_out, relu, w, b) in &ws {
            let mut z = b.clone();
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
