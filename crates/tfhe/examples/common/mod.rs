//! The bench the GGSW experiments share (`external_products`,
//! `circuit_bootstrap`): the 4-bit set's keys in tfhe-rs's core API, extra
//! bootstrapping keys under the same secret keys, bootstraps that keep the
//! accumulator, and the statistics they report.

use std::time::Instant;

use tfhe::core_crypto::prelude::*;

pub const N: usize = 2048;
pub const SMALL_N: usize = 866;
/// A 3-bit value `w` in `[-4, 3]` sits at `(w + 4) / 32` on the 4-bit grid.
pub const DELTA_IN: u64 = 1 << 59;

pub type Gen = EncryptionRandomGenerator<DefaultRandomGenerator>;

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn std_dev(errors: &[f64]) -> f64 {
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// The signed torus error of `plain` against the exact `value / modulus`.
pub fn torus_error(plain: u64, value: i64, modulus: u64) -> f64 {
    let exact = (value.rem_euclid(modulus as i64) as u64).wrapping_mul(u64::MAX / modulus + 1);
    plain.wrapping_sub(exact) as i64 as f64 / 2f64.powi(64)
}

/// Test values that cycle through `[-4, 3]`.
pub fn value(i: usize) -> i64 {
    (i as i64 * 5 + 3) % 8 - 4
}

/// The 4-bit Gaussian set silc uses (tfhe-rs 1.8, v1_4 MESSAGE_2_CARRY_2
/// KS-PBS 2^-128), with its keys, and a random generator for more keys
/// under the same secrets.
pub struct Lab {
    pub enc: Gen,
    pub glwe_noise: Gaussian<f64>,
    pub modulus: CiphertextModulus<u64>,
    pub glwe_size: GlweSize,
    pub poly: PolynomialSize,
    pub small_key: LweSecretKeyOwned<u64>,
    pub glwe_key: GlweSecretKeyOwned<u64>,
    pub big_key: LweSecretKeyOwned<u64>,
    pub ksk: LweKeyswitchKeyOwned<u64>,
}

impl Lab {
    pub fn new() -> Self {
        let lwe_noise = Gaussian::from_dispersion_parameter(StandardDev(2.046151696979124e-06), 0.0);
        let glwe_noise = Gaussian::from_dispersion_parameter(StandardDev(2.845267479601915e-15), 0.0);
        let modulus = CiphertextModulus::new_native();
        let glwe_size = GlweSize(2);
        let poly = PolynomialSize(N);
        let mut boxed = new_seeder();
        let seeder = boxed.as_mut();
        let mut enc = Gen::new(seeder.seed(), seeder);
        let mut secret = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        let small_key = allocate_and_generate_new_binary_lwe_secret_key::<u64, _>(LweDimension(SMALL_N), &mut secret);
        let glwe_key = allocate_and_generate_new_binary_glwe_secret_key::<u64, _>(
            glwe_size.to_glwe_dimension(),
            poly,
            &mut secret,
        );
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
        Lab { enc, glwe_noise, modulus, glwe_size, poly, small_key, glwe_key, big_key, ksk }
    }

    /// A bootstrapping key of decomposition `(2^base, levels)` under the
    /// set's secret keys, in the Fourier domain. The set's own is `(23, 1)`.
    pub fn fourier_bsk(&mut self, base: usize, levels: usize) -> FourierLweBootstrapKeyOwned {
        let bsk = par_allocate_and_generate_new_lwe_bootstrap_key(
            &self.small_key,
            &self.glwe_key,
            DecompositionBaseLog(base),
            DecompositionLevelCount(levels),
            self.glwe_noise,
            self.modulus,
            &mut self.enc,
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
    }

    /// A fresh encryption of the 3-bit `w` on the 4-bit grid, as a
    /// bootstrap's answer would hold it.
    pub fn encrypt_grid(&mut self, w: i64) -> LweCiphertextOwned<u64> {
        allocate_and_encrypt_new_lwe_ciphertext(
            &self.big_key,
            Plaintext(((w + 4) as u64) * DELTA_IN),
            self.glwe_noise,
            self.modulus,
            &mut self.enc,
        )
    }

    /// A table of the grid's 16 stored values (`w` at `w + 4`) to
    /// `g(w) · scale` on the torus, wrapping.
    pub fn table(&self, scale: u64, g: &dyn Fn(i64) -> i64) -> GlweCiphertextOwned<u64> {
        generate_programmable_bootstrap_glwe_lut(self.poly, self.glwe_size, 16, self.modulus, 1, |v: u64| {
            (g(v as i64 - 4) as u64).wrapping_mul(scale)
        })
    }

    /// Keyswitch, modulus switch and blind rotation of one input: the
    /// accumulator GLWE, whose constant coefficient is the answer.
    pub fn rotate(
        &self,
        ct: &LweCiphertextOwned<u64>,
        lut: &GlweCiphertextOwned<u64>,
        bsk: &FourierLweBootstrapKeyOwned,
    ) -> GlweCiphertextOwned<u64> {
        let mut small = LweCiphertext::new(0u64, LweDimension(SMALL_N).to_lwe_size(), self.modulus);
        keyswitch_lwe_ciphertext(&self.ksk, ct, &mut small);
        let log_2n = CiphertextModulusLog(self.poly.to_blind_rotation_input_modulus_log().0);
        let switched = lwe_ciphertext_modulus_switch::<u64, usize, _>(small.as_view(), log_2n);
        let mut acc = lut.clone();
        blind_rotate_assign(&switched, &mut acc, bsk);
        acc
    }

    /// The answer of an accumulator, under the big LWE key.
    pub fn extract(&self, acc: &GlweCiphertextOwned<u64>) -> LweCiphertextOwned<u64> {
        let mut out = LweCiphertext::new(0u64, self.big_key.lwe_dimension().to_lwe_size(), self.modulus);
        extract_lwe_sample_from_glwe_ciphertext(acc, &mut out, MonomialDegree(0));
        out
    }

    pub fn decrypt(&self, ct: &LweCiphertextOwned<u64>) -> u64 {
        decrypt_lwe_ciphertext(&self.big_key, ct).0
    }

    /// The exact sum's residue modulo `m` (a power of two), decrypted and
    /// rounded at `1/m`.
    pub fn read_at(&self, ct: &LweCiphertextOwned<u64>, m: u64) -> u64 {
        let bits = m.trailing_zeros();
        (self.decrypt(ct).wrapping_add(1 << (63 - bits))) >> (64 - bits)
    }

    /// Times `trials` bootstraps of test values through `bsk` and `lut`,
    /// whose answer for `w` is `w + shift` at the torus position `1/modulus`:
    /// the median seconds and the answer's noise σ.
    pub fn measure(
        &mut self,
        bsk: &FourierLweBootstrapKeyOwned,
        lut: &GlweCiphertextOwned<u64>,
        (shift, modulus): (i64, u64),
        trials: usize,
    ) -> (f64, f64) {
        let (mut secs, mut errors) = (Vec::new(), Vec::new());
        for i in 0..trials {
            let w = value(i);
            let ct = self.encrypt_grid(w);
            let t = Instant::now();
            let out = self.extract(&self.rotate(&ct, lut, bsk));
            secs.push(t.elapsed().as_secs_f64());
            errors.push(torus_error(self.decrypt(&out), w + shift, modulus));
        }
        (median(secs), std_dev(&errors))
    }

    /// Scratch for external products of this set's GLWE size.
    pub fn external_product_buffers(&self, fft: FftView<'_>) -> ComputationBuffers {
        let mut buffers = ComputationBuffers::new();
        buffers.resize(
            add_external_product_assign_mem_optimized_requirement::<u64>(self.glwe_size, self.poly, fft)
                .unaligned_bytes_required(),
        );
        buffers
    }
}
