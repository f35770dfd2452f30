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
    /// The last class is a reference class: the last layer has one column
    /// fewer than the classes, and the logits are `(z, 0)`. With two
    /// classes `z` is the logit difference `z₀ − z₁` (the same softmax; the
    /// loss is `σ(z)`, see `Op::LogisticGrad`); with three, the other two
    /// classes' logits less the reference class's.
    #[serde(default, alias = "binary")]
    pub reference: bool,
}

/// Row-major `[rows, cols]` values with one more column of zeros: the
/// trained columns of a last layer, then its reference class's
/// ([`Quant::reference`]).
pub fn with_reference_column<T: Copy + Default>(v: &[T], cols: usize) -> Vec<T> {
    v.chunks(cols).flat_map(|row| row.iter().copied().chain([T::default()])).collect()
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

    /// The inverse of [`Quant::combined_weights`]: the digits the circuit
    /// holds (the high digits, then the balanced low digits in
    /// `[-2^(L-1), 2^(L-1))`, as `semantics::sgd_two_digits` keeps them).
    pub fn split_weights(&self, combined: &[i64]) -> Vec<i64> {
        let bits = self.weight_lo_bits;
        if bits == 0 {
            return combined.to_vec();
        }
        let half = 1i64 << (bits - 1);
        let hi: Vec<i64> = combined.iter().map(|&x| (x + half).div_euclid(1 << bits)).collect();
        let lo: Vec<i64> = combined.iter().zip(&hi).map(|(&x, &h)| x - (h << bits)).collect();
        hi.into_iter().chain(lo).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn quant(lo_bits: u32) -> Quant {
        Quant {
            input_scale: 1.0,
            input_bits: 3,
            input_quantile: false,
            weight_scales: vec![1.0],
            weight_bits: 3,
            weight_lo_bits: lo_bits,
            label_value: 4,
            logit_scale: 1.0,
            biases: vec![None],
            reference: false,
        }
    }

    #[test]
    fn a_reference_column_closes_every_row() {
        assert_eq!(with_reference_column(&[1, 2, 3, 4], 2), vec![1, 2, 0, 3, 4, 0]);
        assert_eq!(with_reference_column(&[5.0, 6.0], 1), vec![5.0, 0.0, 6.0, 0.0]);
    }

    /// Every pair of a high digit and a balanced low digit combines to one
    /// integer and splits back to the same pair.
    #[test]
    fn split_weights_inverts_combined_weights() {
        for lo_bits in [0u32, 1, 3] {
            let q = quant(lo_bits);
            let (hs, ls): (Vec<i64>, Vec<i64>) = if lo_bits == 0 {
                ((-4..4).collect(), vec![])
            } else {
                let half = 1i64 << (lo_bits - 1);
                (-4..4).flat_map(|h| (-half..half).map(move |l| (h, l))).unzip()
            };
            let digits: Vec<i64> = hs.iter().chain(&ls).copied().collect();
            assert_eq!(q.split_weights(&q.combined_weights(&digits)), digits, "L = {lo_bits}");
        }
    }
}
