//! A labelled data set in memory, and the client's quantization of it.
//!
//! Quantization statistics (per-feature mean and standard deviation) come
//! from the training set only; the same rule is applied to the test set and
//! is what `silc encrypt` applies before encrypting.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Row-major `[n, features]`.
    pub features: Vec<f64>,
    pub labels: Vec<usize>,
    pub n_features: usize,
    /// Class names in index order (from the file's labels).
    pub classes: Vec<String>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }
}

/// Standardization fitted on the training set, then fixed-point rounding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    pub fn fit(train: &Dataset) -> Self {
        let (n, f) = (train.len().max(1) as f64, train.n_features);
        let mut mean = vec![0.0; f];
        for i in 0..train.len() {
            for (m, x) in mean.iter_mut().zip(train.row(i)) {
                *m += x / n;
            }
        }
        let mut var = vec![0.0; f];
        for i in 0..train.len() {
            for ((v, x), m) in var.iter_mut().zip(train.row(i)).zip(&mean) {
                *v += (x - m) * (x - m) / n;
            }
        }
        // A constant feature (an always-blank pixel) gets std 1: it maps to 0.
        let std = var.into_iter().map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 }).collect();
        Standardizer { mean, std }
    }

    pub fn standardize(&self, row: &[f64]) -> Vec<f64> {
        row.iter().zip(&self.mean).zip(&self.std).map(|((x, m), s)| (x - m) / s).collect()
    }

    /// `clamp(round(z / scale))` to signed `bits` bits, for each standardized feature.
    pub fn quantize(&self, row: &[f64], scale: f64, bits: u32) -> Vec<i64> {
        let hi = (1i64 << (bits - 1)) - 1;
        self.standardize(row).into_iter().map(|z| ((z / scale).round() as i64).clamp(-hi - 1, hi)).collect()
    }
}
