//! The weights file (`weights.json`) written by `silc decrypt` and by
//! `silc simulate --save`: per layer the integer weights, their scale and the
//! real weights, plus the client's standardization so `silc eval` can
//! prepare test data the same way.

use serde::{Deserialize, Serialize};
use serde_json::json;
use silc_sim::Tensor;

/// What a client needs to read trained weights back: kept in the client
/// key's header, known to `simulate` from the compiled model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub precision: u32,
    pub quant: silc_ir::Quant,
    pub relu: Vec<bool>,
    /// Shape and stored offset of each weight input `w1`, `w2`, ...
    pub weights: Vec<(Vec<usize>, i64)>,
}

impl ModelInfo {
    pub fn new(spec: &silc_frontend::ModelSpec, quant: &silc_ir::Quant, g: &silc_ir::Graph) -> Self {
        let weights = (0..spec.layers.len())
            .map(|l| {
                let ty = g.ty(g.find(&format!("w{}", l + 1)).expect("the step has every weight input"));
                (ty.shape.clone(), ty.offset)
            })
            .collect();
        ModelInfo {
            name: spec.name.clone(),
            precision: g.bits,
            quant: quant.clone(),
            relu: spec.layers.iter().map(|l| l.relu).collect(),
            weights,
        }
    }
}

/// The weights file's JSON. A layer with a bias keeps it apart from the
/// weights: `weights` is `[inputs × outputs]` and `biases` has one real value
/// per output (the circuit's last weight row times the constant it meets).
///
/// `earlier` holds the ensemble's members before the last weights, as
/// `(epoch, weights)`, the oldest first; each becomes an entry of
/// `ensemble` with the same per-layer form as `layers`.
pub fn to_json(
    info: &ModelInfo,
    ints: &[Tensor],
    earlier: &[(usize, Vec<Tensor>)],
    stats: Option<&serde_json::Value>,
) -> serde_json::Value {
    let ensemble: Vec<serde_json::Value> =
        earlier.iter().map(|(epoch, w)| json!({ "epoch": epoch, "layers": layers_json(info, w) })).collect();
    let mut v = json!({ "model": info.name, "precision": info.precision, "layers": layers_json(info, ints) });
    if !ensemble.is_empty() {
        v["ensemble"] = json!(ensemble);
    }
    v["standardization"] = json!(stats);
    v
}

/// Per layer: the integers, their scale and the real weights (and biases).
/// A model with a reference class (`Quant::reference`: two or three
/// classes) holds one column fewer in its last layer: its integers are
/// those columns' (`"reference_class": true`), and its real weights and
/// biases are the model the `.mlp` declares, the last class's logit zero
/// (with two classes, class 0's logit is the difference `z₀ − z₁`).
fn layers_json(info: &ModelInfo, ints: &[Tensor]) -> Vec<serde_json::Value> {
    ints.iter()
        .enumerate()
        .map(|(l, w)| {
            let scale = info.quant.weight_unit(l);
            let ints = info.quant.combined_weights(&w.data);
            let (rows, n_out) = (w.shape[w.shape.len() - 2], w.shape[w.shape.len() - 1]);
            let bias = info.quant.bias_input(l);
            let n_in = rows - usize::from(bias.is_some());
            let (body, last) = ints.split_at(n_in * n_out);
            let reference = info.quant.reference && l + 1 == info.relu.len();
            let real = |v: &[i64], s: f64| -> Vec<f64> {
                let r: Vec<f64> = v.iter().map(|&v| v as f64 * s).collect();
                if reference {
                    silc_ir::quant::with_reference_column(&r, n_out)
                } else {
                    r
                }
            };
            let cols = n_out + usize::from(reference);
            let mut v = json!({
                "name": format!("w{}", l + 1), "shape": [n_in, cols], "relu": info.relu[l],
                "integers": body, "scale": scale,
                "weights": real(body, scale),
            });
            if reference {
                v["reference_class"] = json!(true);
            }
            if let Some(c) = bias {
                v["bias_integers"] = json!(last);
                v["bias_scale"] = json!(scale * c);
                v["biases"] = json!(real(last, scale * c));
            }
            v
        })
        .collect()
}
