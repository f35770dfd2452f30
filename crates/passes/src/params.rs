//! The TFHE parameter sets the compiler targets, one default per precision,
//! with the figures from DESIGN.md §4 (tfhe-rs 1.8, KS-PBS, Gaussian noise,
//! p-fail 2⁻¹²⁸; one PBS measured single-threaded on a 2-core AMD EPYC Zen 3).
//!
//! The noise bound ν is the largest 2-norm of a linear combination of fresh
//! ciphertexts that may feed a bootstrap: `(2^p - 1) / (message_modulus - 1)`.
//! Only the tfhe backend maps these names onto real tfhe-rs parameters.

use serde::Serialize;

pub mod external;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ParamSet {
    /// tfhe-rs's name without the `PARAM_` prefix and `_KS_PBS` suffix.
    pub name: &'static str,
    pub precision: u32,
    pub message_modulus: u32,
    pub carry_modulus: u32,
    /// tfhe-rs's algorithmic-cost figure.
    pub cost: u32,
    /// One PBS, single thread, median, milliseconds.
    pub pbs_ms: f64,
    /// PBS per second with both cores busy, for the compiler's time
    /// estimate: silc's engine in training steps where measured (p = 4
    /// and 5, bootstraps batched, 2026-11-24: `silc bench-engine`, README
    /// "Engine efficiency"), else DESIGN.md's one-by-one figure.
    pub pbs_per_s_2_cores: f64,
    /// One ciphertext, KiB.
    pub ciphertext_kib: u32,
}

impl ParamSet {
    /// The noise bound ν (a 2-norm): `floor((2^p - 1) / (message_modulus - 1))`,
    /// the figure tfhe-rs gives for each set (e.g. 10, not 10.33, at p = 5).
    pub fn nu(&self) -> f64 {
        (((1u64 << self.precision) - 1) / (self.message_modulus as u64 - 1)) as f64
    }
}

const SETS: [ParamSet; 7] = [
    ParamSet {
        name: "MESSAGE_1_CARRY_1",
        precision: 2,
        message_modulus: 2,
        carry_modulus: 2,
        cost: 64,
        pbs_ms: 22.0,
        pbs_per_s_2_cores: 79.0,
        ciphertext_kib: 4,
    },
    ParamSet {
        name: "MESSAGE_2_CARRY_1",
        precision: 3,
        message_modulus: 4,
        carry_modulus: 2,
        cost: 79,
        pbs_ms: 26.0,
        pbs_per_s_2_cores: 74.0,
        ciphertext_kib: 8,
    },
    ParamSet {
        name: "MESSAGE_2_CARRY_2",
        precision: 4,
        message_modulus: 4,
        carry_modulus: 4,
        cost: 110,
        pbs_ms: 25.0,
        // Engine during a Breast Cancer step, `scripts/bench-step
        // breast_cancer 4`, 2026-11-24 (KS32 set, batched, built for the
        // host CPU, on a machine that then reported an AMD EPYC): 341.8.
        // The same machine measured 161.1 earlier the same day, before it
        // was moved to the faster host; rates vary this much between
        // machines, so the time `silc compile` prints is an estimate.
        pbs_per_s_2_cores: 340.0,
        ciphertext_kib: 16,
    },
    ParamSet {
        name: "MESSAGE_2_CARRY_3",
        precision: 5,
        message_modulus: 4,
        carry_modulus: 8,
        cost: 373,
        pbs_ms: 100.0,
        // Engine during a Breast Cancer step at bits 5, `scripts/bench-step
        // breast_cancer 5`, 2026-11-24 (the set `keygen` picks is
        // MESSAGE_1_CARRY_4; raw 59.7 one by one, 98.2 batched): 97.3.
        pbs_per_s_2_cores: 97.0,
        ciphertext_kib: 32,
    },
    ParamSet {
        name: "MESSAGE_3_CARRY_3",
        precision: 6,
        message_modulus: 8,
        carry_modulus: 8,
        cost: 874,
        pbs_ms: 230.0,
        // Engine during an Iris step at bits 6, `scripts/bench-step iris 6`,
        // 2026-11-24 (raw 26.2 one by one, 39.3 batched): 37.9.
        pbs_per_s_2_cores: 38.0,
        ciphertext_kib: 64,
    },
    ParamSet {
        name: "MESSAGE_3_CARRY_4",
        precision: 7,
        message_modulus: 8,
        carry_modulus: 16,
        cost: 2104,
        pbs_ms: 460.0,
        pbs_per_s_2_cores: 4.0,
        ciphertext_kib: 128,
    },
    ParamSet {
        name: "MESSAGE_4_CARRY_4",
        precision: 8,
        message_modulus: 16,
        carry_modulus: 16,
        cost: 11659,
        pbs_ms: 4200.0,
        pbs_per_s_2_cores: 0.45,
        ciphertext_kib: 512,
    },
];

/// The default parameter set for precision `p` (2..=8).
pub fn for_precision(p: u32) -> &'static ParamSet {
    &SETS[(p.clamp(2, 8) - 2) as usize]
}

#[cfg(test)]
mod tests {
    #[test]
    fn noise_bounds_follow_the_formula() {
        assert_eq!(super::for_precision(4).nu(), 5.0);
        assert_eq!(super::for_precision(8).nu(), 17.0);
        assert_eq!(super::for_precision(5).nu(), 10.0);
        assert_eq!(super::for_precision(7).nu(), 18.0);
    }
}
