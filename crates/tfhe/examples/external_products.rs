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

const N: usize = 2048;
const SMALL_N: usize = 866;
/// The dot product's torus scale: `v / M`, `M = 2^10` covers the exact sum.
const M: u64 = 1024;
/// Terms per dot product: Breast Cancer's 30 features and the bias.
const K: usize = 31;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn std_dev(errors: &[f64]) -> f64 {
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// The signed torus error of `plain` against the exact `value / modulus`.
fn torus_error(plain: u64, value: i64, modulus: u64) -> f64 {
    let exact = (value.rem_euclid(modulus as i64) as u64).wrapping_mul(u64::MAX / modulus + 1);
    plain.wrapping_sub(exact) as i64 as f64 / 2f64.powi(64)
}

fn main() {
    let trials: usize = std::env::args().nth(1).map(|a| a.parse().expect("TRIALS is a number")).unwrap_or(64);
    // The 4-bit Gaussian set silc uses (tfhe-rs 1.8, v1_4 MESSAGE_2_CARRY_2 KS-PBS 2^-128).
    let lwe_noise = Gaussian::from_dispersion_parameter(StandardDev(2.046151696979124e-06), 0.0);
    let glwe_noise = Gaussian::from_dispersion_parameter(StandardDev(2.845267479601915e-15), 0.0);
    let modulus = CiphertextModulus::new_native();
    let glwe_size = GlweSize(2);
    let poly = PolynomialSize(N);

    let mut boxed = new_seeder();
    let seeder = boxed.as_mut();
    let mut enc = EncryptionRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed(), seeder);
    let mut secret = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
    let small_key = allocate_and_generate_new_binary_lwe_secret_key::<u64, _>(LweDimension(SMALL_N), &mut secret);
    let glwe_key =
        allocate_and_generate_new_binary_glwe_secret_key::<u64, _>(glwe_size.to_glwe_dimension(), poly, &mut secret);
    let big_key = glwe_key.clone().into_lwe_secret_key();
    let ksk = allocate_and_generate_new_lwe_keyswitch_key(
        &big_key,
        &small_key,
        DecompositionBaseLog(3),
        DecompositionLevelCount(5),
        lwe_noise,
        modulus,
        &mut enc,
    );
    let fourier_bsk = |base: usize, levels: usize, enc: &mut EncryptionRandomGenerator<DefaultRandomGenerator>| {
        let bsk = par_allocate_and_generate_new_lwe_bootstrap_key(
            &small_key,
            &glwe_key,
            DecompositionBaseLog(base),
            DecompositionLevelCount(levels),
            glwe_noise,
            modulus,
            enc,
        );
        let mut f = FourierLweBootstrapKey::new(
            bsk.input_lwe_dimension(),
            bsk.glwe_size(),
            bsk.polynomial_size(),
            bsk.decomposition_base_log(),
            bsk.decomposition_level_count(),
        );
        convert_standard_lwe_bootstrap_key_to_fourier(&bsk, &mut f);
        f
    };
    let standard = fourier_bsk(23, 1, &mut enc);
    let precise_sets = [(15usize, 2usize), (11, 3)];
    let precise: Vec<_> = precise_sets.iter().map(|&(b, l)| fourier_bsk(b, l, &mut enc)).collect();

    // Inputs at rest: a 3-bit value w in [-4, 3] at the 4-bit grid (w + 4) / 32.
    let delta_in = 1u64 << 59;
    let encrypt_grid = |w: i64, enc: &mut EncryptionRandomGenerator<DefaultRandomGenerator>| {
        allocate_and_encrypt_new_lwe_ciphertext(
            &big_key,
            Plaintext(((w + 4) as u64) * delta_in),
            glwe_noise,
            modulus,
            enc,
        )
    };
    // Tables: the identity on the grid (a 4-bit answer), and w ↦ w / M.
    let identity = generate_programmable_bootstrap_glwe_lut(poly, glwe_size, 16, modulus, delta_in, |v: u64| v);
    let to_scale =
        generate_programmable_bootstrap_glwe_lut(poly, glwe_size, 16, modulus, u64::MAX / M + 1, |v: u64| {
            (v as i64 - 4).rem_euclid(M as i64) as u64
        });
    let log_2n = CiphertextModulusLog(poly.to_blind_rotation_input_modulus_log().0);
    // Keyswitch, modulus switch and blind rotation of one input: the accumulator GLWE.
    let rotate = |ct: &LweCiphertextOwned<u64>, lut: &GlweCiphertextOwned<u64>, bsk: &FourierLweBootstrapKeyOwned| {
        let mut small = LweCiphertext::new(0u64, LweDimension(SMALL_N).to_lwe_size(), modulus);
        keyswitch_lwe_ciphertext(&ksk, ct, &mut small);
        let switched = lwe_ciphertext_modulus_switch::<u64, usize, _>(small.as_view(), log_2n);
        let mut acc = lut.clone();
        blind_rotate_assign(&switched, &mut acc, bsk);
        acc
    };
    let extract = |acc: &GlweCiphertextOwned<u64>| {
        let mut out = LweCiphertext::new(0u64, big_key.lwe_dimension().to_lwe_size(), modulus);
        extract_lwe_sample_from_glwe_ciphertext(acc, &mut out, MonomialDegree(0));
        out
    };
    let value = |i: usize| (i as i64 * 5 + 3) % 8 - 4;

    // Noise and time of the 4-bit bootstrap.
    let mut errors = Vec::new();
    let mut secs = Vec::new();
    for i in 0..trials {
        let w = value(i);
        let ct = encrypt_grid(w, &mut enc);
        let t = Instant::now();
        let out = extract(&rotate(&ct, &identity, &standard));
        secs.push(t.elapsed().as_secs_f64());
        errors.push(torus_error(decrypt_lwe_ciphertext(&big_key, &out).0, w + 4, 32));
    }
    let sigma_pbs = std_dev(&errors);
    let t_pbs = median(secs);
    println!(
        "4-bit set bootstrap (base 2^23, 1 level): {:.2} ms, answer noise σ = 2^{:.2}",
        t_pbs * 1e3,
        sigma_pbs.log2()
    );

    for (&(base, levels), bsk) in precise_sets.iter().zip(&precise) {
        // Precise answers: each operand refreshed once, at the scale 1/M.
        let mut secs = Vec::new();
        let mut errors = Vec::new();
        let mut accs = Vec::new();
        let mut ws = Vec::new();
        for i in 0..trials * K {
            let w = value(i * 7 + 1);
            let ct = encrypt_grid(w, &mut enc);
            let t = Instant::now();
            let acc = rotate(&ct, &to_scale, bsk);
            secs.push(t.elapsed().as_secs_f64());
            if i < trials {
                errors.push(torus_error(decrypt_lwe_ciphertext(&big_key, &extract(&acc)).0, w, M));
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
                let mut g = GgswCiphertext::new(0u64, glwe_size, poly, g_base, g_levels, modulus);
                encrypt_constant_ggsw_ciphertext(&glwe_key, &mut g, Cleartext(x as u64), glwe_noise, &mut enc);
                let mut f = FourierGgswCiphertext::new(glwe_size, poly, g_base, g_levels);
                convert_standard_ggsw_ciphertext_to_fourier(&g, &mut f);
                f
            })
            .collect();

        let fft = Fft::new(poly);
        let fft = fft.as_view();
        let mut buffers = ComputationBuffers::new();
        buffers.resize(
            add_external_product_assign_mem_optimized_requirement::<u64>(glwe_size, poly, fft)
                .unaligned_bytes_required(),
        );
        let mut errors = Vec::new();
        let mut secs = Vec::new();
        let mut exact_reads = 0;
        for t in 0..trials {
            let mut sum = GlweCiphertext::new(0u64, glwe_size, poly, modulus);
            let mut exact = 0i64;
            let start = Instant::now();
            for j in t * K..(t + 1) * K {
                add_external_product_assign_mem_optimized(&mut sum, &ggsws[j], &accs[j], fft, buffers.stack());
                exact += xs[j] * ws[j];
            }
            secs.push(start.elapsed().as_secs_f64() / K as f64);
            let plain = decrypt_lwe_ciphertext(&big_key, &extract(&sum)).0;
            // Decrypted and rounded at 1/M, the sum is the exact integer.
            let read = (plain.wrapping_add(1 << (63 - M.trailing_zeros()))) >> (64 - M.trailing_zeros());
            exact_reads += usize::from(read == exact.rem_euclid(M as i64) as u64);
            errors.push(torus_error(plain, exact, M));
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
