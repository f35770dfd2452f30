//! Raw bootstrap throughput of the tfhe-rs 1.8 parameter sets with 4-bit
//! tables (message × carry = 16, ν = 5, p-fail ≤ 2^-128) that silc could use:
//! the Gaussian KS-PBS set silc uses, the TUniform KS-PBS set, and the
//! TUniform set whose key switch works on 32-bit integers (KS32). Rounds
//! alternate between the sets so that a slow spell of the machine weighs on
//! all alike; each rate is the median round, and each ratio to silc's set
//! the median of the ratios taken round by round (with their range).
//!
//! Run: cargo run --release -p silc-tfhe --example pbs_sets [-- ROUNDS [PBS_PER_ROUND]]

use std::time::Instant;

use rayon::prelude::*;
use tfhe::shortint::parameters::v1_4::{
    V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128, V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;
use tfhe::shortint::parameters::AtomicPatternParameters;
use tfhe::shortint::{Ciphertext, ClientKey, ServerKey};

struct Set {
    name: &'static str,
    client: ClientKey,
    server: ServerKey,
    cts: Vec<Ciphertext>,
    secs: Vec<f64>,
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let rounds = args.next().unwrap_or(5);
    let per_round = args.next().unwrap_or(256);
    let sets: Vec<(&'static str, AtomicPatternParameters)> = vec![
        ("MESSAGE_2_CARRY_2 KS-PBS Gaussian (silc)", V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128.into()),
        ("MESSAGE_2_CARRY_2 KS-PBS TUniform", V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128.into()),
        ("MESSAGE_2_CARRY_2 KS32-PBS TUniform", V1_8_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128.into()),
    ];
    let mut sets: Vec<Set> = sets
        .into_iter()
        .map(|(name, params)| {
            let client = ClientKey::new(params);
            let server = ServerKey::new(&client);
            let cts = (0..per_round).map(|i| client.unchecked_encrypt((i % 16) as u64)).collect();
            Set { name, client, server, cts, secs: Vec::new() }
        })
        .collect();
    let pass = |s: &Set| {
        let lut = s.server.generate_lookup_table(|x| (x * x) % 16);
        let t = Instant::now();
        let out: Vec<Ciphertext> = s.cts.par_iter().map(|c| s.server.apply_lookup_table(c, &lut)).collect();
        let secs = t.elapsed().as_secs_f64();
        // Every bootstrap must still be right.
        for (i, c) in out.iter().enumerate() {
            assert_eq!(s.client.decrypt_message_and_carry(c), ((i % 16) * (i % 16) % 16) as u64, "{}", s.name);
        }
        secs
    };
    for s in &sets {
        pass(s);
    }
    for _ in 0..rounds {
        for s in &mut sets {
            let secs = pass(s);
            s.secs.push(secs);
        }
    }
    let threads = rayon::current_num_threads();
    println!("{per_round} bootstraps per round, {rounds} alternating rounds, {threads} threads (median round)");
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for s in &sets {
        let rate = per_round as f64 / median(&s.secs);
        let ratios: Vec<f64> = s.secs.iter().zip(&sets[0].secs).map(|(t, t0)| t0 / t).collect();
        let (lo, hi) = ratios.iter().fold((f64::MAX, f64::MIN), |(a, b), &r| (a.min(r), b.max(r)));
        println!("  {:<42} {:>7.1} PBS/s  ×{:.3} ({lo:.3} – {hi:.3})", s.name, rate, median(&ratios));
    }
}
