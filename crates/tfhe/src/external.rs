//! External products: a matrix product of the client's values by the
//! server's with no bootstrap per product (docs/external-products.md).
//!
//! The client encrypts each value of a sample as a GGSW ciphertext under the
//! GLWE key of the set. The server refreshes each of its own operands once
//! with a *precise* bootstrapping key (the same secret keys, more
//! decomposition levels, so a far smaller answer noise), keeping the
//! rotated accumulator, a GLWE ciphertext whose constant coefficient holds
//! the operand at the torus position `w/m`. One external product, GGSW ×
//! GLWE, multiplies that polynomial by the client's value; the products of
//! a dot product are summed as GLWE ciphertexts and the sum's constant
//! coefficient is extracted: an LWE ciphertext of `Σ x·w mod m` at `1/m`,
//! under the same key as every bootstrap's answer, which the circuit reads
//! with the torus reads it already has. The noise of that sum is `Σ x²`
//! times the precise answer's (`silc_passes::params::external` bounds
//! it); the checker proves every read of it within the set's bound.

use aligned_vec::ABox;
use rayon::prelude::*;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::Ciphertext;

use crate::batch;
use crate::keys::{ClientKeys, ServerKeys};

/// The precise bootstrapping key's decomposition: base `2^11`, 3 levels
/// (measured: answer noise σ = 2^-25.3 against 2^-15.0 for the set's own
/// key, a rotation 2.0 times as long; docs/external-products.md).
pub const PRECISE_BASE_LOG: usize = 11;
pub const PRECISE_LEVELS: usize = 3;

/// The client's GGSW ciphertexts' decomposition: base `2^15`, 2 levels.
pub const GGSW_BASE_LOG: usize = 15;
pub const GGSW_LEVELS: usize = 2;

/// A bootstrapping key of the precise decomposition under the set's secret
/// keys, in the Fourier domain: what refreshes the server's operands.
pub struct PreciseKey {
    pub bsk: FourierLweBootstrapKeyOwned,
}

/// The client's value as a GGSW ciphertext, in the Fourier domain.
pub type Ggsw = FourierGgswCiphertext<ABox<[c64]>>;

/// A refreshed operand: the rotated accumulator.
pub type Acc = GlweCiphertextOwned<u64>;

impl ClientKeys {
    /// The GLWE secret key of the set (the large LWE key, as polynomials).
    pub(crate) fn glwe_key(&self) -> GlweSecretKeyOwned<u64> {
        let params = self.key.parameters();
        let large = match &self.key.atomic_pattern {
            AtomicPatternClientKey::Standard(ap) => ap.large_lwe_secret_key(),
            AtomicPatternClientKey::KeySwitch32(ap) => ap.large_lwe_secret_key(),
        };
        GlweSecretKey::from_container(large.as_ref().to_vec(), params.polynomial_size())
    }

    /// Generates the precise bootstrapping key (about 1.5 s and 170 MB at
    /// 4 bits): the seeded key of [`ClientKeys::precise_key_seeded`],
    /// expanded as the server expands it.
    pub fn precise_key(&self) -> PreciseKey {
        PreciseKey::from_seeded(self.precise_key_seeded())
    }

    /// Encrypts logical values as GGSW ciphertexts: the seeded list of
    /// [`ClientKeys::encrypt_ggsw_seeded`], expanded as the server expands
    /// it.
    pub fn encrypt_ggsw(&self, values: &[i64]) -> Vec<Ggsw> {
        crate::upload::expand_ggsws(&self.encrypt_ggsw_seeded(values))
    }
}

thread_local! {
    /// Scratch memory of this thread's external products.
    static BUFFERS: std::cell::RefCell<ComputationBuffers> = std::cell::RefCell::new(ComputationBuffers::new());
}

impl PreciseKey {
    /// Refreshes every input through `table` with this key: the set's
    /// keyswitch and modulus switch, then one blind rotation whose
    /// accumulator is kept. `table` is an accumulator of the set (for a
    /// product, `torus::lut_torus` of the operand's logical values at
    /// `1/m`). Batches of [`crate::exec::MAX_BATCH`] on rayon's threads.
    /// An error for a server key of another kind than keyswitch-then-
    /// classic-bootstrap, or a trivial input.
    pub fn refresh(
        &self,
        server: &ServerKeys,
        inputs: &[&Ciphertext],
        table: &LookupTableOwned,
    ) -> Result<Vec<Acc>, String> {
        let modulus = table.acc.ciphertext_modulus();
        let parts: Vec<Option<Vec<Acc>>> = inputs
            .par_chunks(crate::exec::MAX_BATCH)
            .map(|chunk| {
                let (msed, _) = batch::switch(&server.key, chunk)?;
                let tables = std::iter::repeat_n(table.acc.as_ref(), chunk.len());
                let accs = batch::blind_rotate(&self.bsk, &msed, tables, modulus);
                Some(
                    accs.iter()
                        .map(|a| GlweCiphertext::from_container(a.as_ref().to_vec(), a.polynomial_size(), modulus))
                        .collect(),
                )
            })
            .collect();
        let parts: Option<Vec<Vec<Acc>>> = parts.into_iter().collect();
        let parts = parts.ok_or("a refresh by the precise key needs a keyswitch-then-bootstrap server key of the classic kind and encrypted (not trivial) operands")?;
        Ok(parts.into_iter().flatten().collect())
    }
}

/// `Σ_k x_k · w_k` of the client's GGSW ciphertexts `xs` and refreshed
/// operands `ws`, as an LWE ciphertext under the set's large key (the
/// constant coefficient of the summed external products), with the
/// metadata of `template` (a bootstrap's answer).
pub fn dot(xs: &[&Ggsw], ws: &[&Acc], template: &Ciphertext) -> Ciphertext {
    assert_eq!(xs.len(), ws.len(), "a dot product of two operands of one length");
    let first = ws.first().expect("a dot product of at least one term");
    let (size, poly, modulus) = (first.glwe_size(), first.polynomial_size(), first.ciphertext_modulus());
    let mut sum = GlweCiphertext::new(0u64, size, poly, modulus);
    let fft = Fft::new(poly);
    let fft = fft.as_view();
    BUFFERS.with(|b| {
        let mut buffers = b.borrow_mut();
        let need = add_external_product_assign_mem_optimized_requirement::<u64>(size, poly, fft);
        buffers.resize(need.unaligned_bytes_required());
        for (x, w) in xs.iter().zip(ws) {
            add_external_product_assign_mem_optimized(&mut sum, *x, *w, fft, buffers.stack());
        }
    });
    let mut out = template.clone();
    extract_lwe_sample_from_glwe_ciphertext(&sum, &mut out.ct, MonomialDegree(0));
    out.set_noise_level_to_nominal();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::named;
    use crate::torus;

    /// The client's GGSW values times refreshed operands, summed: every sum
    /// decrypts to the exact `Σ x·w mod m` at `1/m`, on the KS32 set of
    /// 4 bits, with a noise far inside what a read of it may carry.
    #[test]
    fn external_dot_products_are_exact() {
        let p = 4;
        let client = ClientKeys::new(&named(p, "MESSAGE_2_CARRY_2_KS32")[0], p);
        let server = client.server_keys();
        let precise = client.precise_key();
        let m = 224i64;
        let (rows, k, cols) = (3usize, 31usize, 2usize);
        let x: Vec<i64> = (0..rows * k).map(|i| (i as i64 * 5 + 3) % 9 - 4).collect();
        let w: Vec<i64> = (0..k * cols).map(|i| (i as i64 * 3 + 1) % 8 - 4).collect();
        let ggsw = client.encrypt_ggsw(&x);
        // The operands as a bootstrap's answers hold them, stored `w + 4`.
        let stored = silc_sim::Tensor::new(vec![k * cols], w.iter().map(|v| v + 4).collect());
        let cts = client.encrypt(&stored).cts;
        let logical: Vec<i64> = (0..16).map(|s| s - 4).collect();
        let table = torus::lut_torus(&server.key, &logical, m, p);
        let accs = precise.refresh(&server, &cts.iter().collect::<Vec<_>>(), &table).expect("refreshes");
        let large = match &client.key.atomic_pattern {
            AtomicPatternClientKey::KeySwitch32(ap) => ap.large_lwe_secret_key(),
            AtomicPatternClientKey::Standard(ap) => ap.large_lwe_secret_key(),
        };
        let mut worst = 0f64;
        for r in 0..rows {
            for c in 0..cols {
                let xs: Vec<&Ggsw> = (0..k).map(|j| &ggsw[r * k + j]).collect();
                let ws: Vec<&Acc> = (0..k).map(|j| &accs[j * cols + c]).collect();
                let out = dot(&xs, &ws, &cts[0]);
                let exact: i64 = (0..k).map(|j| x[r * k + j] * w[j * cols + c]).sum();
                let phase = decrypt_lwe_ciphertext(&large, &out.ct).0;
                let want = torus::phase(exact.rem_euclid(m), m);
                let err = phase.wrapping_sub(want) as i64 as f64 / 2f64.powi(64);
                worst = worst.max(err.abs());
                let got = ((phase as f64 / 2f64.powi(64)) * m as f64).round() as i64 % m;
                assert_eq!(got, exact.rem_euclid(m), "row {r}, column {c}");
            }
        }
        // A read multiplies the error by 32 at most here (the residue
        // modulo 7 of a sum at 1/224): it must stay far below 1/(4·7).
        assert!(worst * 32.0 < 1.0 / 280.0, "worst torus error {worst:e}");
    }
}
