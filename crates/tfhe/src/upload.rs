//! What the external products need from the client, in the seeded form it
//! travels in: the precise bootstrapping key (in the server key file and
//! the job) and each sample's GGSW ciphertexts (in the job), and their
//! expansion on the server, each checked first against the dimensions the
//! parameter set and [`crate::external`]'s decompositions fix.
//!
//! Seeded, a ciphertext's masks are a seed the server regrows: the precise
//! key is about 85 MB instead of 170 MB at 4 bits, and a GGSW ciphertext
//! is 64 KiB instead of 128 KiB (its `(k+1)·levels` bodies of `N` words).
//! One sample's GGSW ciphertexts share one seed, as one list.

use rayon::prelude::*;
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::commons::math::random::Uniform;
use tfhe::core_crypto::fft_impl::fft64::crypto::bootstrap::LweBootstrapKeyConformanceParams;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;

use crate::external::{Ggsw, PreciseKey, GGSW_BASE_LOG, GGSW_LEVELS, PRECISE_BASE_LOG, PRECISE_LEVELS};
use crate::keys::ClientKeys;
use crate::params::Candidate;

/// The precise bootstrapping key as the client uploads it.
pub type SeededPreciseKey = SeededLweBootstrapKeyOwned<u64>;

/// One sample's GGSW ciphertexts as the client uploads them.
pub type SeededGgsws = SeededGgswCiphertextListOwned<u64>;

fn seeder() -> Box<dyn Seeder> {
    new_seeder()
}

/// The dimensions a precise key of the set `c` has.
fn precise_shape(c: &Candidate) -> LweBootstrapKeyConformanceParams<u64> {
    let p = &c.params;
    LweBootstrapKeyConformanceParams {
        decomp_base_log: DecompositionBaseLog(PRECISE_BASE_LOG),
        decomp_level_count: DecompositionLevelCount(PRECISE_LEVELS),
        input_lwe_dimension: p.lwe_dimension(),
        output_glwe_size: p.glwe_dimension().to_glwe_size(),
        polynomial_size: p.polynomial_size(),
        ciphertext_modulus: p.ciphertext_modulus(),
    }
}

/// The dimensions of `count` GGSW ciphertexts of the set `c`.
fn ggsw_shape(c: &Candidate, count: usize) -> GgswCiphertextListConformanceParams<u64> {
    let p = &c.params;
    GgswCiphertextListConformanceParams {
        len: count,
        glwe_size: p.glwe_dimension().to_glwe_size(),
        polynomial_size: p.polynomial_size(),
        decomp_base_log: DecompositionBaseLog(GGSW_BASE_LOG),
        decomp_level_count: DecompositionLevelCount(GGSW_LEVELS),
        ciphertext_modulus: p.ciphertext_modulus(),
    }
}

impl ClientKeys {
    /// The small LWE key's bits as 64-bit numbers (the KS32 set holds them
    /// as 32-bit ones): the key a blind rotation's GGSWs encrypt.
    fn small_key_bits(&self) -> LweSecretKeyOwned<u64> {
        let bits: Vec<u64> = match &self.key.atomic_pattern {
            AtomicPatternClientKey::Standard(ap) => ap.small_lwe_secret_key().as_ref().to_vec(),
            AtomicPatternClientKey::KeySwitch32(ap) => {
                ap.small_lwe_secret_key().as_ref().iter().map(|&b| u64::from(b)).collect()
            }
        };
        LweSecretKey::from_container(bits)
    }

    /// Generates the precise bootstrapping key, seeded (about 1.5 s and
    /// 85 MB at 4 bits).
    pub fn precise_key_seeded(&self) -> SeededPreciseKey {
        let params = self.key.parameters();
        par_allocate_and_generate_new_seeded_lwe_bootstrap_key(
            &self.small_key_bits(),
            &self.glwe_key(),
            DecompositionBaseLog(PRECISE_BASE_LOG),
            DecompositionLevelCount(PRECISE_LEVELS),
            params.glwe_noise_distribution(),
            params.ciphertext_modulus(),
            seeder().as_mut(),
        )
    }

    /// Encrypts logical values as GGSW ciphertexts under one seed: one
    /// sample's upload.
    pub fn encrypt_ggsw_seeded(&self, values: &[i64]) -> SeededGgsws {
        let params = self.key.parameters();
        let glwe_key = self.glwe_key();
        let noise = params.glwe_noise_distribution();
        let mut seeder = seeder();
        let mut list = SeededGgswCiphertextList::new(
            0u64,
            params.glwe_dimension().to_glwe_size(),
            params.polynomial_size(),
            DecompositionBaseLog(GGSW_BASE_LOG),
            DecompositionLevelCount(GGSW_LEVELS),
            GgswCiphertextCount(values.len()),
            seeder.seed().into(),
            params.ciphertext_modulus(),
        );
        let mut generator =
            EncryptionRandomGenerator::<DefaultRandomGenerator>::new(list.compression_seed(), seeder.as_mut());
        let forks = generator
            .par_try_fork_from_config(list.encryption_fork_config(Uniform, noise))
            .expect("a fork per GGSW ciphertext of the list");
        list.par_iter_mut().zip(values.par_iter()).zip(forks).for_each(|((mut ggsw, &x), mut generator)| {
            encrypt_constant_seeded_ggsw_ciphertext_with_pre_seeded_generator(
                &glwe_key,
                &mut ggsw,
                Cleartext(x as u64),
                noise,
                &mut generator,
            );
        });
        list
    }
}

impl PreciseKey {
    /// The server's precise key from the client's seeded one: refused
    /// unless it has exactly the dimensions of the set `c`.
    pub fn expand(seeded: SeededPreciseKey, c: &Candidate) -> Result<PreciseKey, String> {
        if !seeded.is_conformant(&precise_shape(c)) {
            return Err(format!(
                "the precise bootstrapping key does not conform to {} (a 2^{PRECISE_BASE_LOG} × {PRECISE_LEVELS} key \
                 of its dimensions)",
                c.name
            ));
        }
        Ok(PreciseKey::from_seeded(seeded))
    }

    /// The seeded key regrown and moved to the Fourier domain, unchecked.
    pub(crate) fn from_seeded(seeded: SeededPreciseKey) -> PreciseKey {
        let standard = seeded.par_decompress_into_lwe_bootstrap_key();
        let mut bsk = FourierLweBootstrapKey::new(
            standard.input_lwe_dimension(),
            standard.glwe_size(),
            standard.polynomial_size(),
            standard.decomposition_base_log(),
            standard.decomposition_level_count(),
        );
        par_convert_standard_lwe_bootstrap_key_to_fourier(&standard, &mut bsk);
        PreciseKey { bsk }
    }
}

/// Whether `list` holds `count` GGSW ciphertexts of the set `c`.
pub fn ggsws_conform(list: &SeededGgsws, c: &Candidate, count: usize) -> bool {
    list.is_conformant(&ggsw_shape(c, count))
}

/// One sample's GGSW ciphertexts in the Fourier domain, from their seeded
/// form (checked by [`ggsws_conform`]).
pub fn expand_ggsws(list: &SeededGgsws) -> Vec<Ggsw> {
    let standard = list.clone().decompress_into_ggsw_ciphertext_list();
    standard
        .iter()
        .map(|g| {
            let mut f = FourierGgswCiphertext::new(
                g.glwe_size(),
                g.polynomial_size(),
                g.decomposition_base_log(),
                g.decomposition_level_count(),
            );
            convert_standard_ggsw_ciphertext_to_fourier(&g, &mut f);
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::named;

    /// A seeded precise key and a sample's GGSW list pass their own set's
    /// checks and fail another set's, or a count they do not hold.
    #[test]
    fn uploads_conform_to_their_own_set_only() {
        let p = 4;
        let ks32 = &named(p, "MESSAGE_2_CARRY_2_KS32")[0];
        let classic = &named(p, "MESSAGE_2_CARRY_2")[0];
        let client = ClientKeys::new(ks32, p);
        let key = client.precise_key_seeded();
        assert!(key.is_conformant(&precise_shape(ks32)));
        let refused = PreciseKey::expand(key.clone(), classic).err().expect("another set's key is refused");
        assert!(refused.contains("does not conform to MESSAGE_2_CARRY_2"), "{refused}");
        assert!(PreciseKey::expand(key, ks32).is_ok());
        let list = client.encrypt_ggsw_seeded(&[3, -2, 0]);
        assert!(ggsws_conform(&list, ks32, 3));
        assert!(!ggsws_conform(&list, ks32, 4));
        assert_eq!(expand_ggsws(&list).len(), 3);
    }
}
