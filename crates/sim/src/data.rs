//! A labelled data set in memory, and the client's quantization of it.
//!
//! Quantization statistics (per-feature mean and standard deviation, and for
//! `input N bins=quantile;` each feature's sorted distinct values with their
//! counts) come from the training set only; the same rule is applied to the
//! test set and is what `silc encrypt` applies before encrypting.

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

/// Standardization fitted on the training set, then fixed-point rounding;
/// or, with `ranks`, each feature's rank bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Rank bins instead of standardization (`input N bins=quantile;`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<Ranks>,
}

/// Each feature's rank bin among the training set's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranks {
    /// Signed bits of a bin: `2^bits` bins of equal count, centred on 0.
    pub bits: u32,
    /// The real value the circuit gives one bin (`Quant::input_scale`).
    pub scale: f64,
    /// Per feature, the training set's distinct values in increasing order,
    /// each with how many samples hold it.
    pub values: Vec<Vec<(f64, u32)>>,
}

impl Standardizer {
    /// [`Standardizer::fit`], with rank bins of `bits` bits worth `scale`
    /// each when `quantile` is `Some((bits, scale))`.
    pub fn fit_for(train: &Dataset, quantile: Option<(u32, f64)>) -> Self {
        let mut s = Self::fit(train);
        if let Some((bits, scale)) = quantile {
            let values = (0..train.n_features)
                .map(|j| {
                    let mut col: Vec<f64> = (0..train.len()).map(|i| train.row(i)[j]).collect();
                    col.sort_by(f64::total_cmp);
                    let mut distinct: Vec<(f64, u32)> = Vec::new();
                    for v in col {
                        match distinct.last_mut() {
                            Some((last, n)) if *last == v => *n += 1,
                            _ => distinct.push((v, 1)),
                        }
                    }
                    distinct
                })
                .collect();
            s.ranks = Some(Ranks { bits, scale, values });
        }
        s
    }

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
        Standardizer { mean, std, ranks: None }
    }

    /// The real value of each feature the model sees: standardized, or with
    /// ranks, its bin times the bin's real value.
    pub fn standardize(&self, row: &[f64]) -> Vec<f64> {
        if let Some(r) = &self.ranks {
            return row.iter().zip(&r.values).map(|(&x, v)| rank_bin(v, x, r.bits) as f64 * r.scale).collect();
        }
        row.iter().zip(&self.mean).zip(&self.std).map(|((x, m), s)| (x - m) / s).collect()
    }

    /// `clamp(round(z / scale))` to signed `bits` bits, for each standardized
    /// feature; with ranks, each feature's rank bin instead.
    pub fn quantize(&self, row: &[f64], scale: f64, bits: u32) -> Vec<i64> {
        let hi = (1i64 << (bits - 1)) - 1;
        if let Some(r) = &self.ranks {
            return row.iter().zip(&r.values).map(|(&x, v)| rank_bin(v, x, bits)).collect();
        }
        self.standardize(row).into_iter().map(|z| ((z / scale).round() as i64).clamp(-hi - 1, hi)).collect()
    }
}

/// The bin, among `2^bits` of equal count centred on 0, of `x`'s mid-rank
/// among the training values `distinct` (sorted, with counts): the share of
/// values below `x` plus half the share equal to it. Ties share one bin, so
/// a feature that is mostly one value (a blank pixel) or constant lands in
/// the bin of its middle rank, not at an end.
fn rank_bin(distinct: &[(f64, u32)], x: f64, bits: u32) -> i64 {
    let total: u64 = distinct.iter().map(|d| u64::from(d.1)).sum();
    if total == 0 {
        return 0;
    }
    let (mut below, mut equal) = (0u64, 0u64);
    for &(v, n) in distinct {
        if v < x {
            below += u64::from(n);
        } else if v == x {
            equal = u64::from(n);
        }
    }
    let bins = 1i64 << bits;
    // ⌊(below + equal/2)/total · bins⌋ in integers.
    let bin = ((2 * below + equal) as i64 * bins).div_euclid(2 * total as i64);
    bin.min(bins - 1) - bins / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[f64]) -> Dataset {
        let labels = vec![0; values.len()];
        Dataset { features: values.to_vec(), labels, n_features: 1, classes: vec!["a".into()] }
    }

    #[test]
    fn rank_bins_have_equal_counts_and_ties_share_the_middle() {
        let train = column(&(0..16).map(f64::from).collect::<Vec<_>>());
        let s = Standardizer::fit_for(&train, Some((3, 0.5)));
        // 16 distinct values, 8 bins: two per bin, from -4 to 3.
        let bins: Vec<i64> = (0..16).map(|v| s.quantize(&[f64::from(v)], 1.0, 3)[0]).collect();
        assert_eq!(bins, vec![-4, -4, -3, -3, -2, -2, -1, -1, 0, 0, 1, 1, 2, 2, 3, 3]);
        // Values outside the training range go to the end bins.
        assert_eq!(s.quantize(&[-5.0], 1.0, 3), vec![-4]);
        assert_eq!(s.quantize(&[99.0], 1.0, 3), vec![3]);
        // A constant feature sits in the middle, not at an end.
        let flat = Standardizer::fit_for(&column(&[2.0; 10]), Some((3, 0.5)));
        assert_eq!(flat.quantize(&[2.0], 1.0, 3), vec![0]);
        // The real value of a bin is its scale: what eval and the float
        // reference see.
        assert_eq!(s.standardize(&[15.0]), vec![1.5]);
        assert_eq!(s.mean, Standardizer::fit(&train).mean);
    }

    #[test]
    fn ranks_travel_through_json() {
        let s = Standardizer::fit_for(&column(&[1.0, 1.0, 3.0]), Some((3, 0.5)));
        let back: Standardizer = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.ranks, s.ranks);
        let plain: Standardizer = serde_json::from_str(r#"{"mean":[0.0],"std":[1.0]}"#).unwrap();
        assert_eq!(plain.ranks, None);
    }
}
