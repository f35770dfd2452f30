//! Noise of external products at 4 bits: the facts `check` uses to prove
//! the reads of an `ext_dot` within the noise bound, and `cost` to price it.
//!
//! The variances are the textbook ones of a blind rotation and an external
//! product (binary keys, torus units): a blind rotation of `n` steps with a
//! key of base `B`, `ℓ` levels and GLWE noise `σ²` answers with
//! `n·ℓ·(k+1)·N·B²/12·σ² + n·(1 + kN/2)·B^(-2ℓ)/12`; an external product
//! by the GGSW of `x` (base `B'`, `ℓ'` levels) adds
//! `(k+1)·ℓ'·N·B'²/12·σ²` and `x²·(1 + kN/2)·B'^(-2ℓ')/12`. Both 4-bit
//! sets are covered (n = 866, Gaussian σ = 2.85e-15; n = 918, TUniform
//! 2^17), each taking the larger. The unit of `check` is a fresh answer
//! of the set's own key; the formula puts the precise answer at 2^-20.2
//! of it, where `cargo run --release -p silc-tfhe --example
//! external_products` measured 2^-20.5: the figures below carry a margin
//! of 2 over the formula.

/// The 4-bit sets' dimensions: (LWE dimension n, GLWE noise variance).
const SETS: [(f64, f64); 2] = [(866.0, 2.845267479601915e-15 * 2.845267479601915e-15), (918.0, TUNIFORM_17)];

/// TUniform(17) on the 64-bit torus: `(2^35 + 1)/6 / 2^128`.
const TUNIFORM_17: f64 = (34359738368.0 + 1.0) / 6.0 / 3.402823669209385e38;

const K: f64 = 1.0;
const N: f64 = 2048.0;
/// Margin over the formula (see the module's comment).
const MARGIN: f64 = 2.0;

/// The precise bootstrapping key's and the GGSW's decompositions (as in
/// `silc_tfhe::external`).
pub const PRECISE: (u32, u32) = (11, 3);
pub const GGSW: (u32, u32) = (15, 2);
/// The set's own key.
const OWN: (u32, u32) = (23, 1);

/// The time of a refresh by the precise key, in bootstraps of the set's own
/// key (measured: 2.01, docs/external-products.md).
pub const REFRESH_PBS: f64 = 2.01;
/// The time of one external product, in bootstraps (measured: 1/623).
pub const PRODUCT_PBS: f64 = 1.0 / 623.0;

fn rotation(n: f64, var: f64, (base, levels): (u32, u32)) -> f64 {
    let b = 2f64.powi(base as i32);
    let l = levels as f64;
    n * l * (K + 1.0) * N * b * b / 12.0 * var + n * (1.0 + K * N / 2.0) * b.powf(-2.0 * l) / 12.0
}

fn each_set(f: impl Fn(f64, f64) -> f64) -> f64 {
    SETS.iter().map(|&(n, var)| f(n, var)).fold(0.0, f64::max)
}

/// A precise refresh's answer variance, in fresh answers.
pub fn refresh_ratio() -> f64 {
    MARGIN * each_set(|n, var| rotation(n, var, PRECISE) / rotation(n, var, OWN))
}

/// What one external product by the GGSW of `x` adds on top of `x²` times
/// the refreshed operand's variance, in fresh answers: the GGSW's own noise
/// and the operand's bits below the GGSW's last level.
pub fn product_ratio(x: i64) -> f64 {
    let (base, levels) = GGSW;
    let b = 2f64.powi(base as i32);
    let x2 = (x * x) as f64;
    MARGIN
        * each_set(|n, var| {
            let ggsw = (K + 1.0) * levels as f64 * N * b * b / 12.0 * var;
            let rounding = x2 * (1.0 + K * N / 2.0) * b.powf(-2.0 * levels as f64) / 12.0;
            (ggsw + rounding) / rotation(n, var, OWN)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula against the measurements of the `external_products`
    /// example: a fresh answer of the set's key σ = 2^-15.0, a precise one
    /// 2^-25.3 (the ratio of variances 2^-20.5); with the margin the figure
    /// must lie above the measurement, and not far above.
    #[test]
    fn the_precise_answer_is_about_a_millionth_of_a_fresh_one() {
        let measured = 2f64.powf(-20.52);
        let r = refresh_ratio();
        assert!(r > measured && r < 4.0 * measured, "ratio 2^{:.2}", r.log2());
        // The GGSW's own noise is below 1 % of the refresh's; its rounding,
        // which grows with x² as the refresh's share does, about 6 %.
        assert!(product_ratio(0) < 0.01 * r);
        let rounding = product_ratio(1) - product_ratio(0);
        assert!(rounding > 0.02 * r && rounding < 0.2 * r, "rounding 2^{:.2}", rounding.log2());
    }
}
