//! [`Quant`]: how real numbers map onto a training step's integers — what the
//! client needs to quantize data and initial weights and to read trained
//! weights back. Produced by the `lower` pass, stored in compiled artifacts.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quant {
    /// A standardized feature `z` is stored as `clamp(round(z / input_scale))`.
    pub input_scale: f64,
    pub input_bits: u32,
    /// Real weight = integer × scale, per layer.
    pub weight_scales: Vec<f64>,
    pub weight_bits: u32,
    /// The label input holds `label_value` for the true class, 0 elsewhere.
    pub label_value: i64,
    /// Real logit = integer × scale.
    pub logit_scale: f64,
    /// Per layer, the real value of the constant input column that carries
    /// the bias (`None`: the layer has no bias). A layer with a bias has one
    /// more weight row: real bias = last row's integer × weight scale × this.
    #[serde(default)]
    pub biases: Vec<Option<f64>>,
}

impl Quant {
    /// The constant column's real value for layer `l`, if it has a bias.
    pub fn bias_input(&self, l: usize) -> Option<f64> {
        self.biases.get(l).copied().flatten()
    }
}
