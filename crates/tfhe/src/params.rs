//! Parameter choice: the cheapest tfhe-rs 1.8 shortint parameter set (KS-PBS,
//! 128-bit security) with `message × carry = 2^p` whose noise bound ν covers
//! the circuit's largest 2-norm.
//!
//! Costs and bounds are tfhe-rs's own figures (the "algorithmic cost" and
//! "2-norm" in the comments of its `v1_4` Gaussian parameter files), with
//! one exception: at 4 bits the TUniform set whose key switch works on
//! 32-bit integers (KS32, ν = 5, p-fail 2^-129.6) bootstraps faster than the
//! Gaussian set — 1.078× its rate, median of 21 paired rounds here
//! (`cargo run --release -p silc-tfhe --example pbs_sets`), which tfhe-rs's
//! operation count (113) does not show — so its cost is the Gaussian set's
//! scaled by that measurement. Sets with failure probability 2^-64 and
//! 2^-40 exist for MESSAGE_k_CARRY_k only; for the others a model asking
//! for them gets a 2^-128 set (never a weaker one).

use tfhe::conformance::ParameterSetConformant;
use tfhe::shortint::ciphertext::MaxDegree;
use tfhe::shortint::parameters::v1_4::*;
use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;
use tfhe::shortint::parameters::AtomicPatternParameters;
use tfhe::shortint::{CarryModulus, Ciphertext, CompressedCiphertext, CompressedServerKey, MessageModulus};

/// One parameter set and its figures.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub name: &'static str,
    pub params: AtomicPatternParameters,
    pub cost: u32,
    pub nu: f64,
    /// log2 of the inverse failure probability actually provided.
    pub pfail_log2: u32,
}

macro_rules! table {
    ($p:expr, $pfail:expr, [$( ($pp:expr, $name:expr, $cost:expr, $nu:expr, $has_low:expr) => $sel:expr, )*]) => {{
        let mut out = Vec::new();
        $(
            if $pp == $p {
                let pfail_log2 = if $has_low && ($pfail == 64 || $pfail == 40) { $pfail } else { 128 };
                let pfail_log2: u32 = pfail_log2;
                #[allow(unused_variables)]
                let params = { let pfail_log2 = $pfail; AtomicPatternParameters::from($sel) };
                out.push(Candidate { name: $name, params, cost: $cost, nu: $nu, pfail_log2 });
            }
        )*
        out
    }};
}

/// Every set of precision `p`, cheapest first (ties: larger ν first).
pub fn candidates(p: u32, pfail_log2: u32) -> Vec<Candidate> {
    let mut v = table!(p, pfail_log2, [
        (2, "MESSAGE_1_CARRY_1", 64, 3.0, true) => match pfail_log2 { 64 => V1_4_PARAM_MESSAGE_1_CARRY_1_KS_PBS_GAUSSIAN_2M64, 40 => V1_4_PARAM_MESSAGE_1_CARRY_1_KS_PBS_GAUSSIAN_2M40, _ => V1_4_PARAM_MESSAGE_1_CARRY_1_KS_PBS_GAUSSIAN_2M128 },
        (3, "MESSAGE_2_CARRY_1", 79, 2.0, false) => V1_4_PARAM_MESSAGE_2_CARRY_1_KS_PBS_GAUSSIAN_2M128,
        (3, "MESSAGE_1_CARRY_2", 79, 7.0, false) => V1_4_PARAM_MESSAGE_1_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        (4, "MESSAGE_2_CARRY_2_KS32", 102, 5.0, false) => V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128,
        (4, "MESSAGE_2_CARRY_2", 110, 5.0, true) => match pfail_log2 { 64 => V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M64, 40 => V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M40, _ => V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128 },
        (4, "MESSAGE_3_CARRY_1", 110, 2.0, false) => V1_4_PARAM_MESSAGE_3_CARRY_1_KS_PBS_GAUSSIAN_2M128,
        (4, "MESSAGE_1_CARRY_3", 119, 15.0, false) => V1_4_PARAM_MESSAGE_1_CARRY_3_KS_PBS_GAUSSIAN_2M128,
        (5, "MESSAGE_4_CARRY_1", 260, 2.0, false) => V1_4_PARAM_MESSAGE_4_CARRY_1_KS_PBS_GAUSSIAN_2M128,
        (5, "MESSAGE_3_CARRY_2", 281, 4.0, false) => V1_4_PARAM_MESSAGE_3_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        (5, "MESSAGE_2_CARRY_3", 373, 10.0, false) => V1_4_PARAM_MESSAGE_2_CARRY_3_KS_PBS_GAUSSIAN_2M128,
        (5, "MESSAGE_1_CARRY_4", 373, 31.0, false) => V1_4_PARAM_MESSAGE_1_CARRY_4_KS_PBS_GAUSSIAN_2M128,
        (6, "MESSAGE_3_CARRY_3", 874, 9.0, true) => match pfail_log2 { 64 => V1_4_PARAM_MESSAGE_3_CARRY_3_KS_PBS_GAUSSIAN_2M64, 40 => V1_4_PARAM_MESSAGE_3_CARRY_3_KS_PBS_GAUSSIAN_2M40, _ => V1_4_PARAM_MESSAGE_3_CARRY_3_KS_PBS_GAUSSIAN_2M128 },
        (6, "MESSAGE_4_CARRY_2", 874, 4.0, false) => V1_4_PARAM_MESSAGE_4_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        (6, "MESSAGE_5_CARRY_1", 874, 2.0, false) => V1_4_PARAM_MESSAGE_5_CARRY_1_KS_PBS_GAUSSIAN_2M128,
        (6, "MESSAGE_2_CARRY_4", 875, 21.0, false) => V1_4_PARAM_MESSAGE_2_CARRY_4_KS_PBS_GAUSSIAN_2M128,
        (6, "MESSAGE_1_CARRY_5", 878, 63.0, false) => V1_4_PARAM_MESSAGE_1_CARRY_5_KS_PBS_GAUSSIAN_2M128,
        (7, "MESSAGE_6_CARRY_1", 2075, 2.0, false) => V1_4_PARAM_MESSAGE_6_CARRY_1_KS_PBS_GAUSSIAN_2M128,
        (7, "MESSAGE_5_CARRY_2", 2075, 4.0, false) => V1_4_PARAM_MESSAGE_5_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        (7, "MESSAGE_4_CARRY_3", 2079, 8.0, false) => V1_4_PARAM_MESSAGE_4_CARRY_3_KS_PBS_GAUSSIAN_2M128,
        (7, "MESSAGE_3_CARRY_4", 2104, 18.0, false) => V1_4_PARAM_MESSAGE_3_CARRY_4_KS_PBS_GAUSSIAN_2M128,
        (7, "MESSAGE_2_CARRY_5", 2662, 42.0, false) => V1_4_PARAM_MESSAGE_2_CARRY_5_KS_PBS_GAUSSIAN_2M128,
        (7, "MESSAGE_1_CARRY_6", 2675, 127.0, false) => V1_4_PARAM_MESSAGE_1_CARRY_6_KS_PBS_GAUSSIAN_2M128,
        (8, "MESSAGE_7_CARRY_1", 8932, 2.0, false) => V1_4_PARAM_MESSAGE_7_CARRY_1_KS_PBS_GAUSSIAN_2M128,
        (8, "MESSAGE_6_CARRY_2", 8949, 4.0, false) => V1_4_PARAM_MESSAGE_6_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        (8, "MESSAGE_5_CARRY_3", 9046, 8.0, false) => V1_4_PARAM_MESSAGE_5_CARRY_3_KS_PBS_GAUSSIAN_2M128,
        (8, "MESSAGE_4_CARRY_4", 11659, 17.0, true) => match pfail_log2 { 64 => V1_4_PARAM_MESSAGE_4_CARRY_4_KS_PBS_GAUSSIAN_2M64, 40 => V1_4_PARAM_MESSAGE_4_CARRY_4_KS_PBS_GAUSSIAN_2M40, _ => V1_4_PARAM_MESSAGE_4_CARRY_4_KS_PBS_GAUSSIAN_2M128 },
        (8, "MESSAGE_3_CARRY_5", 11669, 36.0, false) => V1_4_PARAM_MESSAGE_3_CARRY_5_KS_PBS_GAUSSIAN_2M128,
        (8, "MESSAGE_2_CARRY_6", 11765, 85.0, false) => V1_4_PARAM_MESSAGE_2_CARRY_6_KS_PBS_GAUSSIAN_2M128,
        (8, "MESSAGE_1_CARRY_7", 14472, 255.0, false) => V1_4_PARAM_MESSAGE_1_CARRY_7_KS_PBS_GAUSSIAN_2M128,
    ]);
    v.sort_by(|a, b| a.cost.cmp(&b.cost).then(b.nu.total_cmp(&a.nu)));
    v
}

/// The sets of precision `p` called `name`, one per failure probability
/// (a file names its set; the probability follows from the key itself).
pub fn named(p: u32, name: &str) -> Vec<Candidate> {
    [128, 64, 40].into_iter().flat_map(|f| candidates(p, f)).filter(|c| c.name == name).collect()
}

impl Candidate {
    /// tfhe-rs conformance of a server key received from a client: every
    /// dimension, modulus and degree bound is this set's (silc keys allow
    /// the whole `message × carry` space).
    pub fn server_key_conforms(&self, key: &CompressedServerKey) -> bool {
        let max = MaxDegree::new(self.space() - 1);
        key.is_conformant(&(self.params, max))
    }

    /// Conformance of a seeded ciphertext: its LWE dimension and modulus are
    /// this set's and it encrypts over the whole `2^p` space, as silc does.
    pub fn seeded_conforms(&self, ct: &CompressedCiphertext) -> bool {
        let lwe = &self.params.to_shortint_conformance_param().ct_params;
        ct.ct.is_conformant(lwe) && self.whole_space(ct.message_modulus, ct.carry_modulus)
    }

    /// Conformance of a ciphertext the server computed (weights, checkpoints).
    pub fn ciphertext_conforms(&self, ct: &Ciphertext) -> bool {
        let lwe = &self.params.to_shortint_conformance_param().ct_params;
        ct.ct.is_conformant(lwe) && self.whole_space(ct.message_modulus, ct.carry_modulus)
    }

    fn whole_space(&self, m: MessageModulus, c: CarryModulus) -> bool {
        m.0 * c.0 == self.space()
    }

    /// `message × carry`: `2^p`.
    fn space(&self) -> u64 {
        self.params.message_modulus().0 * self.params.carry_modulus().0
    }
}

/// The cheapest set of precision `p` whose bound covers `max_norm`.
pub fn choose(p: u32, pfail_log2: u32, max_norm: f64) -> Option<Candidate> {
    candidates(p, pfail_log2).into_iter().find(|c| c.nu + 1e-9 >= max_norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_precision_has_sets_of_that_precision() {
        for p in 2..=8u32 {
            for c in candidates(p, 128) {
                assert_eq!(c.space(), 1 << p, "{}", c.name);
            }
        }
    }

    #[test]
    fn the_cheapest_covering_set_is_chosen() {
        assert_eq!(choose(4, 128, 3.0).unwrap().name, "MESSAGE_2_CARRY_2_KS32");
        assert_eq!(choose(4, 128, 9.0).unwrap().name, "MESSAGE_1_CARRY_3");
        assert_eq!(choose(5, 128, 1.7).unwrap().name, "MESSAGE_4_CARRY_1");
        assert!(choose(4, 128, 16.0).is_none());
        // KS32 has only a 2^-128 set; it is still the cheapest at 2^-64.
        assert_eq!(choose(4, 64, 3.0).unwrap().pfail_log2, 128);
        assert_eq!(choose(6, 64, 3.0).unwrap().pfail_log2, 64);
        assert_eq!(choose(5, 64, 3.0).unwrap().pfail_log2, 128);
    }
}
