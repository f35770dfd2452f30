//! A whole training step of every example, executed on each lowered stage,
//! equals the high-IR reference bit for bit on random data.

mod common;

use common::*;

fn check_example(name: &str, bits: Option<u8>, seeds: u64) {
    let spec = spec(name, bits);
    let compiled =
        silc_passes::compile(&spec, &Default::default()).unwrap_or_else(|e| panic!("{name} at {bits:?} bits: {e:?}"));
    assert!(compiled.violations.is_empty(), "{name}: {:?}", compiled.violations);
    for seed in 1..=seeds {
        let mut rng = Rng(seed * 7919 + 13);
        let inputs = random_inputs(compiled.high(), &mut rng);
        let want = silc_sim::execute(compiled.high(), &inputs).expect("high runs");
        for (stage, g) in &compiled.stages[1..] {
            let got = silc_sim::execute(g, &inputs).expect("stage runs");
            for (out, w) in &want {
                assert_eq!(
                    &got[out], w,
                    "{name} bits {:?}: output `{out}` after `{stage}` differs (seed {seed})",
                    spec.bits
                );
            }
        }
    }
}

#[test]
fn tiny_step_matches_reference() {
    check_example("tiny", None, 20);
}

#[test]
fn iris_step_matches_reference_at_8_and_5_bits() {
    check_example("iris", None, 5);
    check_example("iris", Some(5), 5);
}

#[test]
fn wine_and_breast_cancer_match_reference() {
    check_example("wine", None, 2);
    check_example("breast_cancer", Some(5), 2);
}

#[test]
fn digits_step_matches_reference() {
    check_example("digits", None, 1);
}

/// The low IR of one MNIST step (784-128-10, batch 16, at 8 and 5 bits)
/// equals the high-level reference.
#[test]
fn mnist_step_matches_reference() {
    for bits in [None, Some(5)] {
        let spec = spec("mnist", bits);
        let compiled = silc_passes::compile(&spec, &Default::default()).expect("mnist compiles");
        let inputs = random_inputs(compiled.high(), &mut Rng(2024));
        let want = silc_sim::execute(compiled.high(), &inputs).expect("high runs");
        let got = silc_sim::execute(compiled.graph(), &inputs).expect("low runs");
        assert_eq!(got, want, "mnist at {:?} bits", spec.bits);
    }
}
