//! `silc eval`: the accuracy of a weights file (from `decrypt` or
//! `simulate --save`) on test data, standardized with the statistics stored
//! in the file: in float arithmetic with the dequantized weights, or with
//! `--model`, by the circuit's own integer forward pass up to the last
//! layer's exact product, the prediction `silc simulate` reports as its test
//! accuracy (`silc_sim::train::predictor`). A file with an `ensemble` (the
//! weights after earlier epochs) predicts by the sum of its members'
//! logits, unless `--last`.

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
    /// Predict as `silc simulate` measures: the model's integer forward pass
    /// (its quantized input, activations and weights' high digits) up to the
    /// last layer's exact product. The model must be the one trained.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Predict with the last weights alone, not the sum of the logits of
    /// every ensemble member the file holds (`ensemble N;` in the model).
    #[arg(long)]
    pub last: bool,
    #[arg(long)]
    pub json: bool,
}

/// The ensemble members' `layers` arrays, the oldest first and the last
/// weights last (only those with `--last`), each with a name for messages.
fn members<'v>(
    name: &str,
    v: &'v serde_json::Value,
    last_only: bool,
    bad: &dyn Fn() -> String,
) -> Result<Vec<(String, &'v [serde_json::Value])>, String> {
    let mut out = Vec::new();
    let ensemble = match v.get("ensemble") {
        None => &[][..],
        Some(e) => e.as_array().map(Vec::as_slice).ok_or_else(|| {
            format!("error: {name}: `ensemble` must be a list of earlier weights, each with `epoch` and `layers`")
        })?,
    };
    if !last_only {
        for (k, m) in ensemble.iter().enumerate() {
            let layers = m["layers"]
                .as_array()
                .ok_or_else(|| format!("error: {name}: ensemble member {} has no `layers` list", k + 1))?;
            let epoch = m["epoch"].as_u64().map_or(format!("#{}", k + 1), |e| e.to_string());
            out.push((format!("ensemble member {} (epoch {epoch}): ", k + 1), layers.as_slice()));
        }
    }
    out.push((String::new(), v["layers"].as_array().ok_or_else(bad)?.as_slice()));
    Ok(out)
}

/// One member's dense layers in float: `(inputs, outputs, relu, weights, biases)`.
type FloatLayer = (usize, usize, bool, Vec<f64>, Vec<f64>);

/// Accuracy of the decrypted (dequantized) weights on standardized test data.
pub fn run(args: &EvalArgs) -> Result<(), String> {
    let name = args.weights.display().to_string();
    let v: serde_json::Value = serde_json::from_slice(&crate::io::read(&args.weights)?)
        .map_err(|e| format!("error: {name}: not a weights file: {e}"))?;
    let bad = || format!("error: {name}: not a silc weights file (missing layers or standardization)");
    let members = members(&name, &v, args.last, &bad)?;
    // The standardization (with the rank table of `input N bins=quantile;`)
    // is the client's, as `encrypt` or `simulate --save` wrote it.
    let stats: Standardizer = serde_json::from_value(v["standardization"].clone())
        .map_err(|e| format!("error: {name}: `standardization` is not a silc standardization: {e}"))?;
    let mut nets: Vec<Vec<FloatLayer>> = Vec::new();
    for (who, layers) in &members {
        let ws = float_layers(&name, who, layers, &bad)?;
        if nets.first().is_some_and(|first| first.iter().map(|l| (l.0, l.1)).ne(ws.iter().map(|l| (l.0, l.1)))) {
            return Err(format!("error: {name}: {who}its layers' shapes differ from the other weights' in the file"));
        }
        nets.push(ws);
    }
    let ws = nets.last().expect("the last weights are a member");
    let test = data::load(&args.test, &args.label.clone().unwrap_or_default())?;
    if test.n_features != ws[0].0 || stats.mean.len() != test.n_features {
        return Err(format!(
            "error: {}: rows have {} features, the model expects {}",
            args.test.display(),
            test.n_features,
            ws[0].0
        ));
    }
    if let Some(model) = &args.model {
        return circuit_accuracy(args, model, &v, &members, &stats, &test);
    }
    let mut correct = 0;
    for i in 0..test.len() {
        let x = stats.standardize(test.row(i));
        let mut sum = vec![0.0; ws.last().expect("layers").1];
        for ws in &nets {
            let mut a = x.clone();
            for (n_in, n_out, relu, w, b) in ws {
                let mut z = b.clone();
                for r in 0..*n_in {
                    for (c, zc) in z.iter_mut().enumerate() {
                        *zc += a[r] * w[r * n_out + c];
                    }
                }
                a = if *relu { z.into_iter().map(|x| x.max(0.0)).collect() } else { z };
            }
            sum.iter_mut().zip(&a).for_each(|(s, v)| *s += v);
        }
        let pred = (0..sum.len()).fold(0, |b, j| if sum[j] > sum[b] { j } else { b });
        correct += usize::from(pred == test.labels[i]);
    }
    let acc = correct as f64 / test.len().max(1) as f64;
    let k = nets.len();
    if args.json {
        crate::emit(&format!("{}\n", json!({ "accuracy": acc, "samples": test.len(), "ensemble": k })));
    } else {
        crate::emit(&format!("accuracy {:.1}% on {} samples{}\n", 100.0 * acc, test.len(), by_members(k)));
    }
    Ok(())
}

/// How many weight sets predicted, for the report.
fn by_members(k: usize) -> String {
    if k > 1 {
        format!(" (an ensemble of {k} epochs' weights, their logits summed)")
    } else {
        String::new()
    }
}

/// One member's layers, checked: the shapes chain and every array has its size.
fn float_layers(
    name: &str,
    who: &str,
    layers: &[serde_json::Value],
    bad: &dyn Fn() -> String,
) -> Result<Vec<FloatLayer>, String> {
    let mut ws: Vec<FloatLayer> = Vec::new();
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
                    format!(
                        "error: {name}: {who}layer {}: `biases` must hold {} numbers, one per output",
                        i + 1,
                        shape[1]
                    )
                })?
            }
        };
        if ws.last().is_some_and(|prev| prev.1 != shape[0]) {
            return Err(format!(
                "error: {name}: {who}layer {} takes {} inputs but the layer before gives {}",
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
    Ok(ws)
}

/// `--model`: the weights file's integers, back in the digits the circuit
/// holds, through the model's prediction graph.
fn circuit_accuracy(
    args: &EvalArgs,
    model: &std::path::Path,
    v: &serde_json::Value,
    members: &[(String, &[serde_json::Value])],
    stats: &Standardizer,
    test: &silc_sim::data::Dataset,
) -> Result<(), String> {
    let name = args.weights.display().to_string();
    let (spec, bytes) = crate::compile::load_spec(model)?;
    let text = String::from_utf8_lossy(&bytes);
    let shown = model.display().to_string();
    let src = silc_frontend::SourceFile::new(&shown, &text);
    let compiled = silc_passes::compile(&spec, &Default::default()).map_err(|e| crate::render::pass_error(&src, &e))?;
    let (q, high) = (&compiled.quant, compiled.high());
    if v["model"].as_str() != Some(spec.name.as_str()) || v["precision"].as_u64() != Some(u64::from(spec.bits)) {
        return Err(format!(
            "error: {name} holds model `{}` at bits {}, not `{}` at bits {} ({})",
            v["model"].as_str().unwrap_or("?"),
            v["precision"],
            spec.name,
            spec.bits,
            model.display()
        ));
    }
    let mut sets = Vec::new();
    for (who, layers) in members {
        sets.push(circuit_weights(&name, who, layers, &spec, q, high)?);
    }
    let predict = silc_sim::train::predictor(high).expect("a compiled step's logits are a rescaled product");
    let arch = silc_sim::train::Arch {
        widths: spec.widths_chain(),
        relu: spec.layers.iter().map(|l| l.relu).collect(),
        bias: q.biases.clone(),
        batch: spec.batch,
        lr: spec.lr,
        ensemble: sets.len(),
    };
    let trainer = silc_sim::train::Trainer { graph: &predict, predict: &predict, quant: q, arch: &arch };
    let quantized = silc_sim::train::Quantized {
        rows: (0..test.len()).map(|i| stats.quantize(test.row(i), q.input_scale, q.input_bits)).collect(),
        labels: test.labels.clone(),
    };
    let (exact, rescaled) = trainer.accuracy(&quantized, &sets).map_err(|e| format!("error: {e}"))?;
    if args.json {
        crate::emit(&format!(
            "{}\n",
            json!({ "accuracy": exact, "rescaled_accuracy": rescaled, "samples": test.len(), "inference": "circuit",
                    "ensemble": sets.len() })
        ));
    } else {
        crate::emit(&format!(
            "accuracy {:.1}% on {} samples (the circuit's integer forward pass, exact logits{}; {:.1}% by the last \
             weights' rescaled logits)\n",
            100.0 * exact,
            test.len(),
            by_members(sets.len()).replace(" (", ", ").replace(')', ""),
            100.0 * rescaled
        ));
    }
    Ok(())
}

/// One member's integers, back in the digits the circuit holds, checked
/// against the step's weight inputs.
fn circuit_weights(
    name: &str,
    who: &str,
    layers: &[serde_json::Value],
    spec: &silc_frontend::ModelSpec,
    q: &silc_ir::Quant,
    high: &silc_ir::Graph,
) -> Result<Vec<silc_sim::Tensor>, String> {
    let mut weights = Vec::new();
    for l in 0..spec.layers.len() {
        let want = high.ty(high.find(&format!("w{}", l + 1)).expect("the step has every weight")).clone();
        let ints = |key: &str| -> Vec<i64> {
            layers.get(l).and_then(|x| serde_json::from_value(x[key].clone()).ok()).unwrap_or_default()
        };
        let mut all = ints("integers");
        all.extend(ints("bias_integers"));
        let (rows, cols) = (want.shape[want.shape.len() - 2], want.shape[want.shape.len() - 1]);
        if all.len() != rows * cols {
            return Err(format!(
                "error: {name}: {who}layer {} holds {} weights, the model's has {rows}x{cols}",
                l + 1,
                all.len()
            ));
        }
        let data = q.split_weights(&all);
        if let Some(x) = data.iter().find(|&&x| x < want.lo || x > want.hi) {
            return Err(format!(
                "error: {name}: {who}layer {} holds the digit {x}, outside [{}, {}] at bits {}",
                l + 1,
                want.lo,
                want.hi,
                spec.bits
            ));
        }
        weights.push(silc_sim::Tensor::new(want.shape.clone(), data));
    }
    Ok(weights)
}
