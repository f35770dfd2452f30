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
}
