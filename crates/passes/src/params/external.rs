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

/// The only precision these figures model: the 4-bit sets (N = 2048).
/// `compile` refuses external products at any other.
pub const BITS: u32 = 4;

/// One GGSW ciphertext of the client, seeded (its `(k+1)·ℓ` bodies of `N`
/// words; the masks regrow from the seed): 64 KiB.
pub const GGSW_KIB: u64 = (K as u64 + 1) * GGSW.1 as u64 * N as u64 * 8 / 1024;

/// Whether a model takes external products when the user does not say
/// (`--external-products auto`): `Ok` with what the sample's GGSW
/// ciphertexts upload, or `Err` with why not. They are taken wherever they
/// are modelled, at bits 4. The upload is one GGSW per feature and one for
/// the bias column (`forms` finds every run inside that one form), and the
/// sample's tables they replace are forms the client no longer uploads: on
/// the shipped examples at bits 4 a sample's upload grows 1.3 to 1.7 times
/// (MNIST: 37.5 → 62.1 MiB) for 1.1 to 2.1 times fewer bootstraps per step
/// (docs/external-products.md, "The default").
pub fn by_default(bits: u32, inputs: usize) -> Result<String, String> {
    if bits != BITS {
        return Err(format!("they are modelled for bits {BITS} only, and this model has bits {bits}"));
    }
    let kib = (inputs as u64 + 1) * GGSW_KIB;
    Ok(format!("each sample as {} GGSW ciphertexts of {GGSW_KIB} KiB ({})", inputs + 1, human_kib(kib)))
}

/// `kib` in KiB, MiB, GiB or TiB, to one decimal where it is not whole.
pub fn human_kib(kib: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut x = kib as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if x.fract() == 0.0 {
        format!("{x:.0} {}", units[u])
    } else {
        format!("{x:.1} {}", units[u])
    }
}

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

    #[test]
    fn the_default_takes_external_products_at_bits_4() {
        assert_eq!(GGSW_KIB, 64);
        assert_eq!(by_default(4, 4), Ok("each sample as 5 GGSW ciphertexts of 64 KiB (320 KiB)".to_string()));
        assert_eq!(by_default(4, 64), Ok("each sample as 65 GGSW ciphertexts of 64 KiB (4.1 MiB)".to_string()));
        assert_eq!(by_default(4, 127), Ok("each sample as 128 GGSW ciphertexts of 64 KiB (8 MiB)".to_string()));
        assert_eq!(by_default(5, 4), Err("they are modelled for bits 4 only, and this model has bits 5".to_string()));
        assert_eq!(human_kib(784 * 64 + 64), "49.1 MiB");
    }

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
