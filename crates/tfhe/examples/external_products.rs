//! What a product costs when the client encrypts the sample as GGSW
//! ciphertexts: an experiment for issue 10's bar (docs/external-products.md).
//!
//! A blind rotation is a chain of external products, GGSW × GLWE, one per
//! element of the LWE mask. A single external product multiplies an
//! encrypted GLWE by the small integer a GGSW encrypts, with no bootstrap.
//! Every product of the first layer (`x·W`) and of its weight gradient
//! (`xᵀ·δ`) has one operand that the client knows, the sample; if the client
//! uploads each feature as a GGSW ciphertext, the server multiplies the
//! weight or delta by it with one external product and sums the results as
//! GLWE ciphertexts. The whole exact dot product then sits at the torus
//! position `v / M` of one ciphertext, to be read by a few bootstraps per
//! output instead of one or more per product.
//!
//! What the product multiplies is the operand's noise, by the feature (up to
//! 4 in magnitude here). A weight straight out of the 4-bit set's bootstrap
//! is far too noisy for a sum of 31 such products; this program therefore
//! refreshes the operand with a blind rotation through a second
//! bootstrapping key of more decomposition levels ("precise"), under the
//! same keys, and measures:
//!
//! - the time of one bootstrap of the 4-bit set, of one precise blind
//!   rotation, and of one external product (single thread, median of runs);
//! - the noise, as a standard deviation on the torus, of a 4-bit bootstrap's
//!   answer, of a precise answer, and of a 31-term dot product of 3-bit
//!   features and 3-bit operands built from precise answers;
//! - whether that dot product can be read exactly: read digit by digit, the
//!   low digit of 32 values multiplies the noise by `M / 32`; in the 4-bit
//!   set's own unit (a fresh answer's variance), that read must stay within
//!   its noise bound ν = 5 at the same failure probability.
//!
//! Run: cargo run --release -p silc-tfhe --example external_products [-- TRIALS]

use std::time::Instant;

use tfhe::core_crypto::prelude::*;

mod common;
use common::{median, std_dev, torus_error, value, Lab, DELTA_IN};

/// The dot product's torus scale: `v / M`, `M = 2^10` covers the exact sum.
const M: u64 = 1024;
/// Terms per dot product: Breast Cancer's 30 features and the bias.
const K: usize = 31;

fn main() {
    let trials: usize = std::env::args().nth(1).map(|a| a.parse().expect("TRIALS is a number")).unwrap_or(64);
    let mut lab = Lab::new();
    let standard = lab.fourier_bsk(23, 1);
    let precise_sets = [(15usize, 2usize), (11, 3)];
    let precise: Vec<_> = precise_sets.iter().map(|&(b, l)| lab.fourier_bsk(b, l)).collect();

    // Tables: the identity on the grid (a 4-bit answer), and w ↦ w / M.
    let identity = lab.table(DELTA_IN, &|w| w + 4);
    let to_scale = lab.table(u64::MAX / M + 1, &|w| w);

    // Noise and time of the 4-bit bootstrap.
    let (t_pbs, sigma_pbs) = lab.measure(&standard, &identity, (4, 32), trials);
    println!(
        "4-bit set bootstrap (base 2^23, 1 level): {:.2} ms, answer noise σ = 2^{:.2}",
        t_pbs * 1e3,
        sigma_pbs.log2()
    );

    let fft = Fft::new(lab.poly);
    let fft = fft.as_view();
    let mut buffers = lab.external_product_buffers(fft);
    for (&(base, levels), bsk) in precise_sets.iter().zip(&precise) {
        // Precise answers: each operand refreshed once, at the scale 1/M.
        let mut secs = Vec::new();
        let mut errors = Vec::new();
        let mut accs = Vec::new();
        let mut ws = Vec::new();
        for i in 0..trials * K {
            let w = value(i * 7 + 1);
            let ct = lab.encrypt_grid(w);
            let t = Instant::now();
            let acc = lab.rotate(&ct, &to_scale, bsk);
            secs.push(t.elapsed().as_secs_f64());
            if i < trials {
                errors.push(torus_error(lab.decrypt(&lab.extract(&acc)), w, M));
            }
            accs.push(acc);
            ws.push(w);
        }
        let sigma_precise = std_dev(&errors);
        let t_precise = median(secs);

        // The client's GGSW forms of the features, x in [-4, 3].
        let (g_base, g_levels) = (DecompositionBaseLog(15), DecompositionLevelCount(2));
        let xs: Vec<i64> = (0..trials * K).map(|i| value(i * 3 + 2)).collect();
        let ggsws: Vec<_> = xs
            .iter()
            .map(|&x| {
                let mut g = GgswCiphertext::new(0u64, lab.glwe_size, lab.poly, g_base, g_levels, lab.modulus);
                encrypt_constant_ggsw_ciphertext(
                    &lab.glwe_key,
                    &mut g,
                    Cleartext(x as u64),
                    lab.glwe_noise,
                    &mut lab.enc,
                );
                let mut f = FourierGgswCiphertext::new(lab.glwe_size, lab.poly, g_base, g_levels);
                convert_standard_ggsw_ciphertext_to_fourier(&g, &mut f);
                f
            })
            .collect();

        let mut errors = Vec::new();
        let mut secs = Vec::new();
        let mut exact_reads = 0;
        for t in 0..trials {
            let mut sum = GlweCiphertext::new(0u64, lab.glwe_size, lab.poly, lab.modulus);
            let mut exact = 0i64;
            let start = Instant::now();
            for j in t * K..(t + 1) * K {
                add_external_product_assign_mem_optimized(&mut sum, &ggsws[j], &accs[j], fft, buffers.stack());
                exact += xs[j] * ws[j];
            }
            secs.push(start.elapsed().as_secs_f64() / K as f64);
            let out = lab.extract(&sum);
            // Decrypted and rounded at 1/M, the sum is the exact integer.
            exact_reads += usize::from(lab.read_at(&out, M) == exact.rem_euclid(M as i64) as u64);
            errors.push(torus_error(lab.decrypt(&out), exact, M));
        }
        let sigma_dot = std_dev(&errors);
        let t_ext = median(secs);
        let low_digit_units = (sigma_dot * (M / 32) as f64 / sigma_pbs).powi(2);
        println!(
            "precise key (base 2^{base}, {levels} levels): rotation {:.2} ms ({:.2}× the 4-bit bootstrap), answer noise σ = 2^{:.2}",
            t_precise * 1e3,
            t_precise / t_pbs,
            sigma_precise.log2()
        );
        println!(
            "  external product (GGSW base 2^15, 2 levels): {:.1} µs ({:.0} per 4-bit bootstrap); \
             {K}-term dot product at v/{M}: {exact_reads}/{trials} decrypt to the exact sum, noise σ = 2^{:.2}; \
             its low digit read at 32 values weighs {:.3} fresh answers (ν = 5)",
            t_ext * 1e6,
            t_pbs / t_ext,
            sigma_dot.log2(),
            low_digit_units
        );
        assert_eq!(exact_reads, trials, "a dot product of external products lost its exact value");
    }
}
