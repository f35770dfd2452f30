//! Snapshots of every example's IR after every stage, the text round trip,
//! and compilation at 8 and 5 bits without violations.

mod common;

use common::*;

#[test]
fn every_example_every_stage_snapshot() {
    for name in example_names() {
        let compiled = silc_passes::compile(&spec(&name, None), &Default::default()).expect("compiles");
        for (stage, g) in &compiled.stages {
            insta::assert_snapshot!(format!("{name}__{stage}"), silc_ir::text::print(g));
        }
    }
}

/// `tests/in/block5.mlp` (block scaling at 5 bits) after every stage: the
/// `shifts` of its backward rescales, one saturating chain per candidate, the
/// `at_bound` flags, their OR over the tensor and the selection.
#[test]
fn block_scaled_model_every_stage_snapshot() {
    snapshot_every_stage("block5");
}

/// `tests/in/chunked4.mlp` (a product past every residue system at 4 bits)
/// after every stage: `from_residues … chunks=[66,65]`, its residues per
/// chunk, each chunk's conversion, the digit additions with their carries
/// and the chain on the total; and the text round trip of each.
#[test]
fn chunked_model_every_stage_snapshot() {
    snapshot_every_stage("chunked4");
}

/// `tests/in/dither4.mlp` (`rounding dither;`) after every stage: the
/// `add_dither` between the weight gradient's product and its rescale, on
/// each residue after `rns` (`modulus=`), then on both torus sums.
#[test]
fn dithered_model_every_stage_snapshot() {
    snapshot_every_stage("dither4");
}

/// `tests/in/{name}.mlp` compiled without violations, snapshot after every
/// stage, each stage's text read back to the same text.
fn snapshot_every_stage(name: &str) {
    let compiled = silc_passes::compile(&in_model(name), &Default::default()).expect("compiles");
    assert!(compiled.violations.is_empty(), "{name}: {:?}", compiled.violations);
    for (stage, g) in &compiled.stages {
        let text = silc_ir::text::print(g);
        insta::assert_snapshot!(format!("{name}__{stage}"), text);
        let back = silc_ir::read::read(&text).unwrap_or_else(|e| panic!("{name}/{stage}: {e}"));
        assert_eq!(silc_ir::text::print(&back), text, "{name}/{stage}");
    }
}

/// A chunked `from_residues` read from text is checked: block scaling on
/// it, or an operand list that does not hold every chunk's residues, is an
/// error naming what is wrong.
#[test]
fn a_malformed_chunked_conversion_is_refused() {
    let compiled = silc_passes::compile(&in_model("chunked4"), &Default::default()).expect("compiles");
    let text = silc_ir::text::print(&compiled.stages[1].1);
    let line = text.lines().find(|l| l.contains("chunks=[")).expect("a chunked conversion");
    let shifted = text.replace(line, &line.replace("bits=3,", "bits=3, shifts=[1,2],"));
    let err = silc_ir::read::read(&shifted).expect_err("shifts on a chunked product");
    assert!(err.to_string().contains("cannot be block-scaled"), "{err}");
    let (head, _) = line.split_once(" {").expect("attributes");
    let fewer = head.rsplit_once(", ").expect("operands").0;
    let dropped = text.replace(head, fewer);
    let err = silc_ir::read::read(&dropped).expect_err("an operand short");
    assert!(err.to_string().contains("so 8 operands, not 7"), "{err}");
}

fn in_model(name: &str) -> silc_frontend::ModelSpec {
    let path = examples_dir().join(format!("../tests/in/{name}.mlp"));
    let src = std::fs::read(&path).unwrap_or_else(|e| panic!("tests/in/{name}.mlp: {e}"));
    silc_frontend::compile_source(&format!("tests/in/{name}.mlp"), &src).expect("compiles")
}

#[test]
fn ir_text_round_trips_at_every_stage() {
    for name in example_names() {
        let compiled = silc_passes::compile(&spec(&name, None), &Default::default()).expect("compiles");
        for (stage, g) in &compiled.stages {
            let text = silc_ir::text::print(g);
            let back = silc_ir::read::read(&text).unwrap_or_else(|e| panic!("{name}/{stage}: {e}"));
            assert_eq!(silc_ir::text::print(&back), text, "{name}/{stage}");
            silc_ir::verify::verify(&back).unwrap_or_else(|e| panic!("{name}/{stage}: {e:?}"));
        }
    }
}

/// Iris's default circuit at bits 4: external products, the first layer's
/// deltas masked inside the `ext_dot`'s refresh (`ext_dot {table=…}`), its
/// products read by their windows (`on_grid {d=1}`). Printed, read back and
/// run, it computes what the compiled graph does.
#[test]
fn iris_at_4_bits_rereads_with_its_external_table() {
    let opts = silc_passes::Options { external_products: true, ..Default::default() };
    let compiled = silc_passes::compile(&spec("iris", Some(4)), &opts).expect("compiles");
    let g = compiled.graph();
    let tables = g.ids().filter(|&i| matches!(g.node(i).op, silc_ir::Op::ExtDot { table: Some(_), .. })).count();
    assert_eq!(tables, 1, "the ReLU mask joins the weight gradient's refresh");
    let windows = g.ids().filter(|&i| matches!(g.node(i).op, silc_ir::Op::OnGrid { d: 1, .. })).count();
    assert_eq!(windows, 2, "the first product and the deltas are read by their windows");
    let text = silc_ir::text::print(g);
    let back = silc_ir::read::read(&text).expect("reads");
    assert_eq!(silc_ir::text::print(&back), text);
    let inputs = random_inputs(compiled.high(), &mut Rng(5));
    assert_eq!(silc_sim::execute(g, &inputs).unwrap(), silc_sim::execute(&back, &inputs).unwrap());
}

#[test]
fn a_reread_circuit_computes_the_same() {
    let compiled = silc_passes::compile(&spec("iris", Some(5)), &Default::default()).expect("compiles");
    let back = silc_ir::read::read(&silc_ir::text::print(compiled.graph())).expect("reads");
    let inputs = random_inputs(compiled.high(), &mut Rng(99));
    let a = silc_sim::execute(compiled.graph(), &inputs).unwrap();
    let b = silc_sim::execute(&back, &inputs).unwrap();
    assert_eq!(a, b);
}

#[test]
fn every_example_compiles_at_8_and_5_bits_without_violations() {
    for name in example_names() {
        for bits in [8u8, 5] {
            let c = silc_passes::compile(&spec(&name, Some(bits)), &Default::default())
                .unwrap_or_else(|e| panic!("{name} at {bits} bits: {e:?}"));
            assert!(c.violations.is_empty(), "{name} at {bits}: {:?}", c.violations);
            assert!(c.cost.pbs_per_step > 0);
            assert!(c.schedule.pbs_after <= c.schedule.pbs_before, "{name}: the schedule added bootstraps");
            assert!(c.graph().ids().all(|i| !c.graph().node(i).op.is_high_level()), "{name}: high-level op left");
        }
    }
}

#[test]
fn forced_product_methods_lower_correctly() {
    for method in ["packed", "quarter-squares", "karatsuba"] {
        let opts = silc_passes::Options { force_product: Some(method.into()), ..Default::default() };
        let compiled = silc_passes::compile(&spec("iris", None), &opts).expect("compiles");
        let inputs = random_inputs(compiled.high(), &mut Rng(5));
        let want = silc_sim::execute(compiled.high(), &inputs).unwrap();
        let got = silc_sim::execute(compiled.graph(), &inputs).unwrap();
        assert_eq!(got, want, "{method}");
        let karatsuba_used = compiled.rns.iter().flat_map(|r| &r.methods).any(|m| m == "karatsuba");
        if method == "karatsuba" {
            assert!(karatsuba_used, "karatsuba was forced but never used: {:?}", compiled.rns);
        }
    }
}
