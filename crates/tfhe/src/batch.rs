//! Bootstraps in batches: one pass over the evaluation keys serves several
//! ciphertexts.
//!
//! A blind rotation walks the bootstrapping key, one GGSW per element of the
//! LWE mask (64 KiB each at the 4-bit sets, about 57 MiB in all, more than
//! the cache). One bootstrap at a time streams the whole key from memory for
//! every ciphertext. core_crypto's batched blind rotation applies each GGSW
//! to every ciphertext of a batch while it is still in cache. The keyswitch
//! before it is batched the same way: one block of the keyswitching key
//! serves every ciphertext of the batch ([`keyswitch`]). The modulus switch
//! between them is the parameter set's own, noise reduction included.
//!
//! The arithmetic per ciphertext is that of shortint's `apply_lookup_table`,
//! so a batched bootstrap returns the very ciphertext the one-by-one path
//! returns, bit for bit (tested below), with the same noise and failure
//! probability. `silc bench-engine` measures what it buys.
//!
//! Keys this module does not know how to batch (multi-bit bootstrapping,
//! bootstrap-then-keyswitch order, dynamic atomic patterns) make
//! [`bootstrap_batch`] return `None`; the caller then bootstraps one by one.

use std::cell::RefCell;

use tfhe::core_crypto::algorithms::slice_algorithms::slice_wrapping_sub_scalar_mul_assign;
use tfhe::core_crypto::algorithms::{
    extract_lwe_sample_from_glwe_ciphertext, keyswitch_lwe_ciphertext, keyswitch_lwe_ciphertext_with_scalar_change,
    ModulusSwitchedLweCiphertext,
};
use tfhe::core_crypto::commons::computation_buffers::ComputationBuffers;
use tfhe::core_crypto::commons::math::decomposition::SignedDecomposer;
use tfhe::core_crypto::commons::numeric::{CastInto, Numeric, UnsignedInteger};
use tfhe::core_crypto::commons::parameters::{
    CiphertextCount, CiphertextModulus, CiphertextModulusLog, DecompositionBaseLog, DecompositionLevelCount,
    GlweCiphertextCount, LweDimension, MonomialDegree,
};
use tfhe::core_crypto::commons::traits::{ContiguousEntityContainer, ContiguousEntityContainerMut};
use tfhe::core_crypto::entities::{
    FourierLweBootstrapKeyOwned, GlweCiphertextList, GlweCiphertextListOwned, LweCiphertext, LweCiphertextOwned,
    LweKeyswitchKeyOwned,
};
use tfhe::core_crypto::fft_impl::fft64::crypto::bootstrap::batch_blind_rotate_assign_scratch;
use tfhe::core_crypto::fft_impl::fft64::math::fft::Fft;
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::server_key::{
    LookupTableOwned, ManyLookupTableOwned, ModulusSwitchConfiguration, ShortintBootstrappingKey,
};
use tfhe::shortint::{Ciphertext, PBSOrder, ServerKey};

/// What one bootstrap of a batch applies to its input.
#[derive(Clone, Copy)]
pub enum Table<'a> {
    /// One table: one result.
    One(&'a LookupTableOwned),
    /// A many-LUT accumulator: one result per function, from one rotation.
    Many(&'a ManyLookupTableOwned),
}

impl Table<'_> {
    fn accumulator(&self) -> &[u64] {
        match self {
            Table::One(t) => t.acc.as_ref(),
            Table::Many(t) => t.acc.as_ref(),
        }
    }
}

/// Bootstraps `jobs` (input, table): together where the key allows it
/// ([`bootstrap_batch`]), else one by one through shortint. One `Vec` of
/// results per job, in order; the ciphertexts are the same either way.
pub fn bootstrap(key: &ServerKey, jobs: &[(&Ciphertext, Table<'_>)]) -> Vec<Vec<Ciphertext>> {
    bootstrap_batch(key, jobs).unwrap_or_else(|| {
        jobs.iter()
            .map(|&(ct, table)| match table {
                Table::One(t) => vec![key.apply_lookup_table(ct, t)],
                Table::Many(t) => key.apply_many_lookup_table(ct, t),
            })
            .collect()
    })
}

/// Bootstraps `jobs` (input, table) together; one `Vec` of results per job,
/// in order, each ciphertext equal to what `apply_lookup_table` (or
/// `apply_many_lookup_table`) returns for it. `None` when the key's atomic
/// pattern is not one this module batches.
pub fn bootstrap_batch(key: &ServerKey, jobs: &[(&Ciphertext, Table<'_>)]) -> Option<Vec<Vec<Ciphertext>>> {
    if jobs.is_empty() {
        return Some(Vec::new());
    }
    let inputs: Vec<&Ciphertext> = jobs.iter().map(|(ct, _)| *ct).collect();
    let (msed, bsk) = switch(key, &inputs)?;
    let modulus = match jobs[0].1 {
        Table::One(t) => t.acc.ciphertext_modulus(),
        Table::Many(t) => t.acc.ciphertext_modulus(),
    };
    let accs = blind_rotate(bsk, &msed, jobs.iter().map(|(_, t)| t.accumulator()), modulus);
    Some(extract_all(&accs, jobs))
}

/// Keyswitches every input and switches it to the blind rotation's modulus,
/// as the server key's own bootstraps do (noise reduction included), and
/// returns the switched inputs with the key's bootstrapping key. `None`
/// for a key this module does not batch, or a trivial input.
pub(crate) fn switch<'k>(
    key: &'k ServerKey,
    inputs: &[&Ciphertext],
) -> Option<(Vec<Switched>, &'k FourierLweBootstrapKeyOwned)> {
    if inputs.iter().any(|ct| ct.is_trivial()) {
        return None;
    }
    match &key.atomic_pattern {
        AtomicPatternServerKey::KeySwitch32(ap) => {
            let (bsk, ms) = classic(&ap.bootstrapping_key)?;
            let switched = keyswitch(&ap.key_switching_key, inputs, To32, |ksk, ct, out| {
                keyswitch_lwe_ciphertext_with_scalar_change(ksk, ct, out)
            });
            Some((mod_switch(ms, bsk, &switched), bsk))
        }
        AtomicPatternServerKey::Standard(ap) if ap.pbs_order == PBSOrder::KeyswitchBootstrap => {
            let (bsk, ms) = classic(&ap.bootstrapping_key)?;
            let switched = keyswitch(&ap.key_switching_key, inputs, To64, keyswitch_lwe_ciphertext);
            Some((mod_switch(ms, bsk, &switched), bsk))
        }
        _ => None,
    }
}

/// The bootstrapping key and modulus switch of a classic (not multi-bit)
/// key, the kind core_crypto's batched blind rotation takes.
fn classic<S: UnsignedInteger>(
    bsk: &ShortintBootstrappingKey<S>,
) -> Option<(&FourierLweBootstrapKeyOwned, &ModulusSwitchConfiguration<S>)> {
    match bsk {
        ShortintBootstrappingKey::Classic { bsk, modulus_switch_noise_reduction_key: ms } => Some((bsk, ms)),
        ShortintBootstrappingKey::MultiBit { .. } => None,
    }
}

/// How a keyswitch maps the input's 64-bit numbers onto the output's.
trait Narrow {
    type Out: UnsignedInteger;
    /// The output body from the input body.
    fn body(b: u64) -> Self::Out;
    /// A decomposition digit as an output number.
    fn digit(d: u64) -> Self::Out;
}

/// To the 32-bit LWE of the KS32 pattern: the body rounded to its top 32
/// bits (core_crypto's `keyswitch_lwe_ciphertext_with_scalar_change`).
struct To32;

impl Narrow for To32 {
    type Out = u32;
    fn body(b: u64) -> u32 {
        let round = SignedDecomposer::<u64>::new(DecompositionBaseLog(32), DecompositionLevelCount(1));
        (round.closest_representable(b) >> 32) as u32
    }
    fn digit(d: u64) -> u32 {
        d as u32
    }
}

/// To a 64-bit LWE: the body as it is (core_crypto's
/// `keyswitch_lwe_ciphertext` at the native modulus).
struct To64;

impl Narrow for To64 {
    type Out = u64;
    fn body(b: u64) -> u64 {
        b
    }
    fn digit(d: u64) -> u64 {
        d
    }
}

/// Keyswitches every input, the key a block at a time: the block of one
/// input coefficient (its decomposition levels, about 15 KiB at 4 bits)
/// serves the whole batch while it is in cache, where one keyswitch at a
/// time streams the whole key (about 30 MiB at 4 bits) per ciphertext. The
/// arithmetic is core_crypto's (the body carried over, the mask decomposed
/// and multiplied by the key) in another order; sums modulo `2^32` or
/// `2^64` do not depend on the order, so the result is the same ciphertext.
/// Keys at a non-native modulus go through core_crypto (`one`), one
/// ciphertext at a time.
fn keyswitch<N: Narrow>(
    ksk: &LweKeyswitchKeyOwned<N::Out>,
    inputs: &[&Ciphertext],
    _: N,
    one: impl Fn(&LweKeyswitchKeyOwned<N::Out>, &LweCiphertextOwned<u64>, &mut LweCiphertextOwned<N::Out>),
) -> Vec<LweCiphertextOwned<N::Out>> {
    let modulus = ksk.ciphertext_modulus();
    let mut outs: Vec<LweCiphertextOwned<N::Out>> =
        inputs.iter().map(|_| LweCiphertext::new(N::Out::ZERO, ksk.output_lwe_size(), modulus)).collect();
    let native = modulus.is_native_modulus() && inputs.iter().all(|ct| ct.ct.ciphertext_modulus().is_native_modulus());
    if !native {
        for (out, ct) in outs.iter_mut().zip(inputs) {
            one(ksk, &ct.ct, out);
        }
        return outs;
    }
    for (out, ct) in outs.iter_mut().zip(inputs) {
        *out.get_mut_body().data = N::body(*ct.ct.get_body().data);
    }
    let mask = SignedDecomposer::<u64>::new(ksk.decomposition_base_log(), ksk.decomposition_level_count());
    for (i, block) in ksk.iter().enumerate() {
        for (out, ct) in outs.iter_mut().zip(inputs) {
            let digits = mask.decompose(ct.ct.get_mask().as_ref()[i]);
            for (level, digit) in block.iter().zip(digits) {
                slice_wrapping_sub_scalar_mul_assign(out.as_mut(), level.as_ref(), N::digit(digit.value()));
            }
        }
    }
    outs
}

/// A modulus-switched LWE ciphertext held as plain numbers. The batched
/// blind rotation asks for the `i`-th mask element of every ciphertext in
/// turn; core_crypto's lazy form would recompute the mask up to `i` each
/// time, a slice answers at once.
pub(crate) struct Switched {
    mask: Vec<usize>,
    body: usize,
    log_modulus: CiphertextModulusLog,
}

impl ModulusSwitchedLweCiphertext<usize> for Switched {
    fn log_modulus(&self) -> CiphertextModulusLog {
        self.log_modulus
    }
    fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.mask.len())
    }
    fn body(&self) -> usize {
        self.body
    }
    fn mask(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.mask.iter().copied()
    }
}

thread_local! {
    /// Scratch memory of this thread's batched rotations, kept between calls.
    static BUFFERS: RefCell<ComputationBuffers> = RefCell::new(ComputationBuffers::new());
}

/// Switches keyswitched inputs to the blind rotation's modulus through the
/// key's own modulus switch.
fn mod_switch<S>(
    ms: &ModulusSwitchConfiguration<S>,
    bsk: &FourierLweBootstrapKeyOwned,
    switched: &[LweCiphertextOwned<S>],
) -> Vec<Switched>
where
    S: UnsignedInteger + CastInto<usize>,
{
    let log_modulus = bsk.polynomial_size().to_blind_rotation_input_modulus_log();
    switched
        .iter()
        .map(|lwe| {
            let lazy = ms.lwe_ciphertext_modulus_switch::<usize, _>(lwe, log_modulus);
            Switched { mask: lazy.mask().collect(), body: lazy.body(), log_modulus }
        })
        .collect()
}

/// Blind-rotates one accumulator per switched input through `bsk`, all in
/// one batched pass over the key; returns the rotated accumulators.
pub(crate) fn blind_rotate<'a>(
    bsk: &FourierLweBootstrapKeyOwned,
    msed: &[Switched],
    tables: impl Iterator<Item = &'a [u64]>,
    modulus: CiphertextModulus<u64>,
) -> GlweCiphertextListOwned<u64> {
    let (glwe, poly) = (bsk.glwe_size(), bsk.polynomial_size());
    let mut accs = GlweCiphertextList::new(0u64, glwe, poly, GlweCiphertextCount(msed.len()), modulus);
    for (mut acc, table) in accs.iter_mut().zip(tables) {
        acc.as_mut().copy_from_slice(table);
    }
    let fft = Fft::new(poly);
    let fft = fft.as_view();
    BUFFERS.with(|b| {
        let mut buffers = b.borrow_mut();
        let need = batch_blind_rotate_assign_scratch::<u64>(glwe, poly, CiphertextCount(msed.len()), fft);
        buffers.resize(need.unaligned_bytes_required());
        bsk.as_view().batch_blind_rotate_assign(accs.as_mut_view(), msed, fft, buffers.stack());
    });
    accs
}

/// The answers of rotated accumulators, as shortint would return them.
fn extract_all(accs: &GlweCiphertextListOwned<u64>, jobs: &[(&Ciphertext, Table<'_>)]) -> Vec<Vec<Ciphertext>> {
    accs.iter()
        .zip(jobs)
        .map(|(acc, (input, table))| {
            // Shortint's results keep the input's metadata but for the degree
            // (the table's) and the noise level (nominal after a bootstrap).
            let extract = |degree: usize| {
                let mut out = (*input).clone();
                extract_lwe_sample_from_glwe_ciphertext(&acc, &mut out.ct, MonomialDegree(degree));
                out.set_noise_level_to_nominal();
                out
            };
            match table {
                Table::One(t) => {
                    let mut out = extract(0);
                    out.degree = t.degree;
                    vec![out]
                }
                Table::Many(t) => t
                    .per_function_output_degree
                    .iter()
                    .enumerate()
                    .map(|(i, &degree)| {
                        let mut out = extract(i * t.sample_extraction_stride);
                        out.degree = degree;
                        out
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ClientKeys;
    use crate::params::named;

    /// Batched bootstraps return the ciphertexts the one-by-one path
    /// returns, byte for byte: for single tables and a many-LUT group, on
    /// the KS32 set (4 bits) and a standard keyswitch-bootstrap set
    /// (3 bits), with different tables inside one batch.
    #[test]
    fn batched_bootstraps_equal_one_by_one() {
        for (p, name) in [(4, "MESSAGE_2_CARRY_2_KS32"), (3, "MESSAGE_2_CARRY_1")] {
            let cand = named(p, name)[0];
            let client = ClientKeys::new(&cand, p);
            let server = client.server_keys();
            let key = &server.key;
            let space = 1u64 << p;
            let square = key.generate_lookup_table(|x| x * x % (2 * space));
            let affine = key.generate_lookup_table(|x| (3 * x + 1) % (2 * space));
            let half = |x: u64| x % (space / 2);
            let neg = |x: u64| (2 * space - x) % (2 * space);
            let many = key.generate_many_lookup_table(&[&half, &neg]);
            let cts: Vec<Ciphertext> = (0..6).map(|i| client.key.unchecked_encrypt(i % (space / 2))).collect();
            let jobs: Vec<(&Ciphertext, Table)> = cts
                .iter()
                .enumerate()
                .map(|(i, ct)| {
                    let t = match i % 3 {
                        0 => Table::One(&square),
                        1 => Table::Many(&many),
                        _ => Table::One(&affine),
                    };
                    (ct, t)
                })
                .collect();
            assert_eq!(bootstrap_batch(key, &[]).map(|r| r.len()), Some(0), "an empty batch");
            let batched = bootstrap_batch(key, &jobs).expect("a keyswitch-bootstrap key batches");
            for ((ct, table), got) in jobs.iter().zip(&batched) {
                let want = match table {
                    Table::One(t) => vec![key.apply_lookup_table(ct, t)],
                    Table::Many(t) => key.apply_many_lookup_table(ct, t),
                };
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.ct.as_ref(), w.ct.as_ref(), "{name}: ciphertexts differ");
                    assert_eq!(g.degree, w.degree, "{name}: degrees differ");
                    assert_eq!(g.noise_level(), w.noise_level(), "{name}: noise levels differ");
                }
            }
        }
    }
}
