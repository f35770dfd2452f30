//! What a GGSW ciphertext of a *server* value costs: an experiment for
//! issue 10's bar on Iris (docs/external-products.md, "A GGSW of a server
//! value, measured").
//!
//! `external_products` measures products whose one operand is the sample,
//! which the client can upload as GGSW ciphertexts. A second layer has no
//! such operand: its deltas and activations are made by the server. The
//! known way to turn an LWE ciphertext of a small value `v` into a GGSW of
//! `v` is circuit bootstrapping: for each decomposition level `j` of the
//! GGSW, a bootstrap answers `v / B^j`, and one private functional packing
//! keyswitch per GLWE row multiplies it by that row's secret polynomial
//! (`−S_i`, or 1 for the body row). tfhe-rs's own `circuit_bootstrap_boolean`
//! does this for one bit; here each level's bootstrap is a table of the
//! whole 3-bit value, so one GGSW carries the value, not one per bit.
//!
//! Why it is dear: an external product multiplies the GGSW's own noise by
//! the decomposition digits of the GLWE operand (`(k+1)·ℓ·N·B²/12` times its
//! variance), and its decomposition drops the operand's bits below `B^-ℓ`,
//! an error multiplied by the GGSW's value. A client's GGSW is fresh (noise
//! 2^-48); a circuit-bootstrapped one carries a bootstrap's answer, so it
//! needs a bootstrapping key far more precise than the 4-bit set's.
//!
//! This program measures, on one thread:
//!
//! - a bootstrap of the 4-bit set (the unit) and a precise bootstrap (the
//!   second key of `external_products`, base 2^11 × 3 levels), which
//!   refreshes the GLWE operands;
//! - for each case (the circuit bootstrap's own key, its packing keyswitch,
//!   the GGSW's decomposition `(B, ℓ)`): a bootstrap through that key and
//!   its answer's noise, one packing keyswitch, and one whole circuit
//!   bootstrap of a 3-bit value, in units of the 4-bit bootstrap;
//! - the noise of a `K`-term dot product of such GGSW values by refreshed
//!   operands at `v / M` (Iris's second layer: 9 terms, `M = 256`), and
//!   whether its low digit can be read at 32 values within the 4-bit set's
//!   noise bound ν = 5, in units of a fresh answer's variance. The program
//!   asserts nothing about ν: it reports, and each dot product's exact
//!   decryption is counted.
//!
//! Run: cargo run --release -p silc-tfhe --example circuit_bootstrap [-- TRIALS]

use std::collections::BTreeMap;
use std::time::Instant;

use tfhe::core_crypto::prelude::*;

mod common;
use common::{median, std_dev, torus_error, value, Lab, DELTA_IN};

/// The dot product's torus scale: `v / M`; 9 terms of 3-bit × 3-bit values
/// span at most 9 · 16 = 144 < 256 values.
const M: u64 = 256;
/// Terms per dot product: Iris's hidden width and its bias.
const K: usize = 9;

/// One circuit bootstrap case: the bootstrapping key that answers the
/// levels, the packing keyswitch, and the GGSW's decomposition, each as
/// `(log2 base, levels)`.
struct Case {
    key: (usize, usize),
    pack: (usize, usize),
    ggsw: (usize, usize),
}

fn main() {
    let trials: usize = std::env::args().nth(1).map(|a| a.parse().expect("TRIALS is a number")).unwrap_or(32);
    let mut lab = Lab::new();
    let standard = lab.fourier_bsk(23, 1);
    let precise = lab.fourier_bsk(11, 3);

    // The unit: a 4-bit bootstrap's time and answer noise.
    let identity = lab.table(DELTA_IN, &|w| w + 4);
    let (t_pbs, sigma_pbs) = lab.measure(&standard, &identity, (4, 32), trials);
    println!(
        "4-bit set bootstrap (base 2^23, 1 level): {:.2} ms, answer noise σ = 2^{:.2}",
        t_pbs * 1e3,
        sigma_pbs.log2()
    );

    // The operands: refreshed by the precise key to `w / M`, as in `external_products`.
    let to_scale = lab.table(u64::MAX / M + 1, &|w| w);
    let mut secs = Vec::new();
    let mut operands = Vec::new();
    for i in 0..trials * K {
        let w = value(i * 7 + 1);
        let ct = lab.encrypt_grid(w);
        let t = Instant::now();
        operands.push((w, lab.rotate(&ct, &to_scale, &precise)));
        secs.push(t.elapsed().as_secs_f64());
    }
    let t_precise = median(secs);
    println!(
        "precise bootstrap (base 2^11, 3 levels): {:.2} ms ({:.2} bootstraps)",
        t_precise * 1e3,
        t_precise / t_pbs
    );

    let fft = Fft::new(lab.poly);
    let fft = fft.as_view();
    let mut buffers = lab.external_product_buffers(fft);
    let cases = [
        Case { key: (11, 3), pack: (15, 2), ggsw: (10, 3) },
        Case { key: (4, 10), pack: (12, 3), ggsw: (10, 3) },
        Case { key: (4, 10), pack: (12, 3), ggsw: (7, 4) },
        Case { key: (4, 10), pack: (12, 3), ggsw: (6, 5) },
    ];
    // Keys are shared between cases, made once per decomposition.
    let mut keys = BTreeMap::new();
    let mut packs = BTreeMap::new();
    for case in &cases {
        let cb_bsk = &*keys.entry(case.key).or_insert_with(|| lab.fourier_bsk(case.key.0, case.key.1));
        // The packing keyswitch keys of circuit bootstrapping, one per GLWE
        // row, from the big LWE key (a bootstrap's answer) to the GLWE key.
        let pfpksk = &*packs.entry(case.pack).or_insert_with(|| {
            par_allocate_and_generate_new_circuit_bootstrap_lwe_pfpksk_list(
                &lab.big_key,
                &lab.glwe_key,
                DecompositionBaseLog(case.pack.0),
                DecompositionLevelCount(case.pack.1),
                lab.glwe_noise,
                lab.modulus,
                &mut lab.enc,
            )
        });

        // One private functional packing keyswitch.
        let sample = lab.extract(&operands[0].1);
        let mut glwe = GlweCiphertext::new(0u64, lab.glwe_size, lab.poly, lab.modulus);
        let mut secs = Vec::new();
        for _ in 0..trials.min(16) {
            let t = Instant::now();
            private_functional_keyswitch_lwe_ciphertext_into_glwe_ciphertext(
                &pfpksk.iter().next().unwrap(),
                &mut glwe,
                &sample,
            );
            secs.push(t.elapsed().as_secs_f64());
        }
        let t_pfks = median(secs);
        // One bootstrap through the circuit bootstrap's key, and its answer's noise.
        let (t_key, sigma_key) = lab.measure(cb_bsk, &to_scale, (0, M), trials);
        println!(
            "key base 2^{} x {} levels: bootstrap {:.2} ms ({:.2} bootstraps), answer noise σ = 2^{:.2}; \
             packing keyswitch base 2^{} x {}: {:.2} ms ({:.2} bootstraps)",
            case.key.0,
            case.key.1,
            t_key * 1e3,
            t_key / t_pbs,
            sigma_key.log2(),
            case.pack.0,
            case.pack.1,
            t_pfks * 1e3,
            t_pfks / t_pbs
        );

        // Level j's bootstrap answers `x / B^j`; the matrices run from the
        // last level to the first, as tfhe-rs lays a GGSW out.
        let (base, levels) = case.ggsw;
        let tables: Vec<_> = (1..=levels).map(|j| lab.table(1u64 << (64 - base * j), &|x| x)).collect();
        let mut secs = Vec::new();
        let mut ggsws = Vec::new();
        let mut xs = Vec::new();
        for i in 0..trials * K {
            let x = value(i * 3 + 2);
            let ct = lab.encrypt_grid(x);
            let t = Instant::now();
            let mut g = GgswCiphertext::new(
                0u64,
                lab.glwe_size,
                lab.poly,
                DecompositionBaseLog(base),
                DecompositionLevelCount(levels),
                lab.modulus,
            );
            for (index, mut matrix) in g.iter_mut().enumerate() {
                let level = lab.extract(&lab.rotate(&ct, &tables[levels - 1 - index], cb_bsk));
                for (key, mut row) in pfpksk.iter().zip(matrix.as_mut_glwe_list().iter_mut()) {
                    private_functional_keyswitch_lwe_ciphertext_into_glwe_ciphertext(&key, &mut row, &level);
                }
            }
            let mut f = FourierGgswCiphertext::new(
                lab.glwe_size,
                lab.poly,
                DecompositionBaseLog(base),
                DecompositionLevelCount(levels),
            );
            convert_standard_ggsw_ciphertext_to_fourier(&g, &mut f);
            secs.push(t.elapsed().as_secs_f64());
            ggsws.push(f);
            xs.push(x);
        }
        let t_cb = median(secs);

        let mut errors = Vec::new();
        let mut exact_reads = 0;
        for t in 0..trials {
            let mut sum = GlweCiphertext::new(0u64, lab.glwe_size, lab.poly, lab.modulus);
            let mut exact = 0i64;
            for j in t * K..(t + 1) * K {
                add_external_product_assign_mem_optimized(&mut sum, &ggsws[j], &operands[j].1, fft, buffers.stack());
                exact += xs[j] * operands[j].0;
            }
            let out = lab.extract(&sum);
            exact_reads += usize::from(lab.read_at(&out, M) == exact.rem_euclid(M as i64) as u64);
            errors.push(torus_error(lab.decrypt(&out), exact, M));
        }
        let sigma = std_dev(&errors);
        let low_digit_units = (sigma * (M / 32) as f64 / sigma_pbs).powi(2);
        println!(
            "  circuit bootstrap to GGSW (B = 2^{base}, {levels} levels): {:.2} ms ({:.2} bootstraps); \
             {K}-term dot product at v/{M}: {exact_reads}/{trials} exact, noise σ = 2^{:.2}; \
             its low digit read at 32 values weighs {:.3} fresh answers (ν = 5)",
            t_cb * 1e3,
            t_cb / t_pbs,
            sigma.log2(),
            low_digit_units
        );
    }
}
