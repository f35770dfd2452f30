//! [`Quant`]: how real numbers map onto a training step's integers — what the
//! client needs to quantize data and initial weights and to read trained
//! weights back. Produced by the `lower` pass, stored in compiled artifacts.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quant {
    /// A standardized feature `z` is stored as `clamp(round(z / input_scale))`.
    pub input_scale: f64,
    pub input_bits: u32,
    /// The client stores a feature's rank bin instead (`input N
    /// bins=quantile;`): `2^input_bits` bins of equal count over the
    /// training set, centred on 0; `input_scale` is then the real value the
    /// circuit gives one bin.
    #[serde(default)]
    pub input_quantile: bool,
    /// Real weight = integer × scale, per layer, for the integer the matrix
    /// products use (the high digit of a two-digit weight).
    pub weight_scales: Vec<f64>,
    /// Width of that integer (signed).
    pub weight_bits: u32,
    /// Width of a two-digit weight's low digit (0: one digit). The weight
    /// tensor is then `[2, rows, cols]`, high digit first, and the weight is
    /// `(hi·2^L + lo) × scale / 2^L`, `lo` balanced in `[-2^(L-1), 2^(L-1))`.
    #[serde(default)]
    pub weight_lo_bits: u32,
    /// The label input holds `label_value` for the true class, 0 elsewhere.
    pub label_value: i64,
    /// Real logit = integer × scale.
    pub logit_scale: f64,
    /// Per layer, the real value of the constant input column that carries
    /// the bias (`None`: the layer has no bias). A layer with a bias has one
    /// more weight row: real bias = that row's integer (both digits combined,
    /// see [`Quant::combined_weights`]) × [`Quant::weight_unit`] × this.
    #[serde(default)]
    pub biases: Vec<Option<f64>>,
}

impl Quant {
    /// Layer `l`'s weights as one integer each (`hi·2^L + lo` for two
    /// digits), from the tensor the circuit holds; real weight = integer ×
    /// [`Quant::weight_unit`].
    pub fn combined_weights(&self, data: &[i64]) -> Vec<i64> {
        if self.weight_lo_bits == 0 {
            return data.to_vec();
        }
        let (hi, lo) = data.split_at(data.len() / 2);
        hi.iter().zip(lo).map(|(&h, &l)| (h << self.weight_lo_bits) + l).collect()
    }

    /// The real value of one unit of [`Quant::combined_weights`] in layer `l`.
    pub fn weight_unit(&self, l: usize) -> f64 {
        self.weight_scales[l] / (1u64 << self.weight_lo_bits) as f64
    }

    /// The constant column's real value for layer `l`, if it has a bias.
    pub fn bias_input(&self, l: usize) -> Option<f64> {
        self.biases.get(l).copied().flatten()
    }
}
