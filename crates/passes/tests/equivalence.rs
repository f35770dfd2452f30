//! A whole training step of every example, executed on each lowered stage,
//! equals the high-IR reference bit for bit on random data.

mod common;

use common::*;

fn check_example(name: &str, bits: Option<u8>, seeds: u64) {
    check_spec(name, &spec(name, bits), seeds);
}

fn check_spec(name: &str, spec: &silc_frontend::ModelSpec, seeds: u64) {
    check_spec_with(name, spec, seeds, &Default::default());
}

fn check_spec_with(name: &str, spec: &silc_frontend::ModelSpec, seeds: u64, opts: &silc_passes::Options) {
    let bits = spec.bits;
    let compiled = silc_passes::compile(spec, opts).unwrap_or_else(|e| panic!("{name} at {bits:?} bits: {e:?}"));
    assert!(compiled.violations.is_empty(), "{name}: {:?}", compiled.violations);
    for seed in 1..=seeds {
        let mut rng = Rng(seed * 7919 + 13);
        let inputs = random_inputs(compiled.high(), &mut rng);
        // The seed salts the dither of a dithered model (`add_dither`).
        let want = silc_sim::execute_at(compiled.high(), &inputs, seed).expect("high runs");
        for (stage, g) in &compiled.stages[1..] {
            let got = silc_sim::execute_at(g, &inputs, seed).expect("stage runs");
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

/// Two-digit weights (`quantize weights=W` wider than `bits - 1`): the
/// lowered SGD step with its carry equals the reference at every stage, for
/// p = 3..8, every low-digit width, both scalings, and layers with and
/// without bias.
#[test]
fn two_digit_weights_match_reference() {
    for p in 3u8..=8 {
        for ww in p..=2 * (p - 1) {
            for (scaling, bias) in [(silc_frontend::Scaling::Static, true), (silc_frontend::Scaling::Block, false)] {
                let mut spec = spec("tiny", Some(p));
                spec.widths.weights = ww;
                spec.scaling = scaling;
                spec.layers.iter_mut().for_each(|l| l.bias = bias);
                let compiled = silc_passes::compile(&spec, &Default::default());
                let compiled = compiled.unwrap_or_else(|e| panic!("tiny at p {p}, weights {ww}: {e:?}"));
                assert_eq!(compiled.quant.weight_lo_bits, u32::from(ww - (p - 1)));
                check_spec(&format!("tiny p{p} w{ww} {scaling:?}"), &spec, 4);
            }
        }
    }
    let mut iris = spec("iris", Some(4));
    iris.widths.weights = 6;
    check_spec("iris w6", &iris, 3);
}

#[test]
fn tiny_step_matches_reference() {
    check_example("tiny", None, 20);
    // At 3 bits a conversion step modulo 8 refreshes an earlier fold's
    // output before folding again (ν² = 4 at MESSAGE_2_CARRY_1).
    check_example("tiny", Some(3), 20);
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

/// The configurations the cost issue is judged on: every example that
/// compiles at bits 4 with that precision's default formats (two-digit
/// weights, ReLU rescales, the moduli 16 and 32), and `hidden4`, whose
/// products take 32 as their first modulus, with and without block scaling.
#[test]
fn examples_at_4_bits_match_reference() {
    let at_4 = |path: std::path::PathBuf| {
        let text = std::fs::read_to_string(&path).expect("readable").replace("bits 8;", "bits 4;");
        silc_frontend::compile_source(&path.display().to_string(), text.as_bytes()).expect("compiles")
    };
    for name in ["iris", "wine", "breast_cancer", "digits"] {
        let spec = at_4(examples_dir().join(format!("{name}.mlp")));
        assert_eq!(spec.bits, 4, "{name}");
        check_spec(name, &spec, 1);
    }
    check_spec("hidden4", &at_4(examples_dir().join("../tests/in/hidden4.mlp")), 5);
    // A forward product cut into two chunks (`rns::chunks`).
    check_spec("chunked4", &at_4(examples_dir().join("../tests/in/chunked4.mlp")), 5);
}

/// `rounding dither;`: the block-scaled weight gradients take a public
/// dither before their rescale (at bits 4, where scaling is block), and
/// every stage equals the reference for several salts. In the final
/// circuit the dither is a clear addition to torus sums only, and it
/// changes the step's result from one salt to the next.
#[test]
fn dithered_steps_match_reference() {
    for (name, bits) in [("iris", 4), ("wine", 4), ("breast_cancer", 4), ("digits", 4), ("dither4", 4)] {
        let path = match name {
            "dither4" => examples_dir().join("../tests/in/dither4.mlp"),
            _ => examples_dir().join(format!("{name}.mlp")),
        };
        let text = std::fs::read_to_string(&path).expect("readable");
        let text = text.replace("bits 8;", &format!("bits {bits};")).replace("bits 4;", &format!("bits {bits};"));
        let text = match text.contains("rounding dither;") {
            true => text,
            false => text.trim_end().trim_end_matches('}').to_string() + "    rounding dither;\n}\n",
        };
        let spec = silc_frontend::compile_source(name, text.as_bytes()).expect("compiles");
        assert_eq!(spec.rounding, silc_frontend::Rounding::Dither);
        check_spec(&format!("{name} dithered at {bits}"), &spec, 3);

        let compiled = silc_passes::compile(&spec, &Default::default()).expect("compiles");
        let high = compiled.high();
        let dithered = high.ids().filter(|&i| matches!(high.node(i).op, silc_ir::Op::AddDither { .. })).count();
        let block = high
            .ids()
            .filter(|&i| matches!(&high.node(i).op, silc_ir::Op::Rescale { shifts, .. } if !shifts.is_empty()))
            .filter(|&i| matches!(high.node(high.node(i).args[0]).op, silc_ir::Op::AddDither { .. }))
            .count();
        assert!(dithered >= 1 && dithered == block, "{name}: {dithered} dithers, {block} dithered block rescales");
        let low = compiled.graph();
        for id in low.ids() {
            if let silc_ir::Op::AddDither { modulus, .. } = low.node(id).op {
                assert!(modulus.is_none() && low.ty(id).torus.is_some(), "{name}: a dither off the torus");
            }
        }
        // Small data, so that the finer candidate and its dither are taken
        // (dither4's dithered gradient is its last layer's, whose halved
        // activations and deltas leave it nothing to round).
        let mut inputs = random_inputs(low, &mut Rng(99));
        if name != "dither4" {
            for t in inputs.values_mut() {
                t.data.iter_mut().for_each(|x| *x >>= 1);
            }
        }
        let runs: Vec<_> = (0..8).map(|salt| silc_sim::execute_at(low, &inputs, salt).expect("runs")).collect();
        assert!(runs.iter().any(|r| r != &runs[0]), "{name} at {bits}: the salt changes nothing");
    }
}

#[test]
fn digits_step_matches_reference() {
    check_example("digits", None, 1);
}

/// The low IR of one MNIST step (784-128-10, batch 16, at 8, 6, 5 and 4 bits;
/// at 4 its two forward products are cut into chunks added as digits, see
/// `rns::chunks`) equals the high-level reference.
#[test]
fn mnist_step_matches_reference() {
    for bits in [None, Some(6), Some(5), Some(4)] {
        let spec = spec("mnist", bits);
        let compiled = silc_passes::compile(&spec, &Default::default()).expect("mnist compiles");
        let inputs = random_inputs(compiled.high(), &mut Rng(2024));
        let want = silc_sim::execute(compiled.high(), &inputs).expect("high runs");
        let got = silc_sim::execute(compiled.graph(), &inputs).expect("low runs");
        assert_eq!(got, want, "mnist at {:?} bits", spec.bits);
    }
}

/// With `scaling block;` every example's step still equals its reference at
/// every stage, on full-range data and on data shrunk by a few bits (where
/// finer shifts are taken); every backward product of every example gets a
/// finer candidate, at its own precision and at 5 bits (at 4 bits none does).
#[test]
fn block_scaled_steps_match_reference() {
    for name in example_names() {
        for bits in [None, Some(5)] {
            let mut spec = spec(&name, bits);
            spec.scaling = silc_frontend::Scaling::Block;
            let compiled = silc_passes::compile(&spec, &Default::default())
                .unwrap_or_else(|e| panic!("{name} at {bits:?} bits: {e:?}"));
            assert!(compiled.violations.is_empty(), "{name}: {:?}", compiled.violations);
            let high = compiled.high();
            let (mut block, mut backward) = (0, 0);
            for id in high.ids() {
                if let silc_ir::Op::Rescale { shifts, .. } = &high.node(id).op {
                    block += usize::from(!shifts.is_empty());
                    backward += 1;
                }
            }
            backward -= spec.layers.len(); // the forward products stay static
                                           // At 4 bits (tiny.mlp) no finer digit boundary has a chain that fits.
            let want = if spec.bits >= 5 { backward } else { 0 };
            assert_eq!(block, want, "{name} at {bits:?}: {block} of {backward} backward rescales are block-scaled");
            let seeds = if name == "mnist" { 1 } else { 3 };
            for seed in 0..seeds {
                let mut rng = Rng(seed * 104_729 + 5);
                let mut inputs = random_inputs(high, &mut rng);
                if seed > 0 {
                    for t in inputs.values_mut() {
                        let s = rng.range(0, 4) as u32;
                        t.data.iter_mut().for_each(|x| *x >>= s);
                    }
                }
                let want = silc_sim::execute(high, &inputs).expect("high runs");
                let got = silc_sim::execute(compiled.graph(), &inputs).expect("low runs");
                assert_eq!(got, want, "{name} at {bits:?} bits, seed {seed}");
            }
        }
    }
}

/// The prediction graph (`silc_sim::train::predictor`) is the step with the
/// last layer's exact product as one more output: its rescale is the step's
/// `logits`, and at bits 4 many rows of those tie where the exact ones do
/// not. A lowered circuit has no such product, so no predictor.
#[test]
fn the_predictor_reads_the_exact_logits() {
    let spec = spec("iris", Some(4));
    let compiled = silc_passes::compile(&spec, &Default::default()).expect("compiles");
    let predict = silc_sim::train::predictor(compiled.high()).expect("a high-level step");
    assert!(silc_sim::train::predictor(compiled.graph()).is_none());
    let inputs = random_inputs(compiled.high(), &mut Rng(7));
    let out = silc_sim::execute(&predict, &inputs).expect("runs");
    let step = silc_sim::execute(compiled.high(), &inputs).expect("runs");
    assert_eq!(out["logits"], step["logits"], "the predictor is the step");
    let (exact, logits) = (&out[silc_sim::train::EXACT_LOGITS], &out["logits"]);
    assert_eq!(exact.shape, logits.shape);
    let out_node = compiled.high().find("logits").unwrap();
    let logits_node = compiled.high().node(out_node).args[0];
    // Iris's logits are its two columns and the reference class's 0.
    let silc_ir::Op::Concat { .. } = compiled.high().node(logits_node).op else { panic!("(z, 0)") };
    let rescale = compiled.high().node(logits_node).args[0];
    let silc_ir::Op::Rescale { factors, bits, .. } = &compiled.high().node(rescale).op else { panic!("a rescale") };
    let d: i64 = factors.iter().product();
    // Outputs are logical values (stored less offset).
    for (e, r) in exact.data.iter().zip(&logits.data) {
        assert_eq!(silc_ir::semantics::rescale(*e, d, *bits), *r, "logits are the rescaled exact ones");
    }
    let classes = exact.shape[1];
    let ties = |t: &silc_sim::Tensor| {
        t.data
            .chunks(classes)
            .filter(|row| row.iter().filter(|&&v| v == *row.iter().max().unwrap()).count() > 1)
            .count()
    };
    assert!(ties(logits) > ties(exact), "{} rescaled ties, {} exact", ties(logits), ties(exact));
}

/// `ensemble N;`: the trainer keeps the weights after each of the last N
/// epochs, each equal to a shorter run's last weights, and the test
/// accuracy is the argmax of the members' summed exact logits, where
/// `test_accuracy_last` reads the last weights alone.
#[test]
fn the_ensemble_keeps_the_last_epochs_and_sums_their_exact_logits() {
    use silc_sim::train::{epoch_orders, initial_weights, Arch, Quantized, Trainer, EXACT_LOGITS};
    let spec = spec("iris", Some(4));
    let compiled = silc_passes::compile(&spec, &Default::default()).expect("compiles");
    let q = &compiled.quant;
    let arch = |ensemble| Arch {
        widths: spec.widths_chain(),
        relu: spec.layers.iter().map(|l| l.relu).collect(),
        bias: q.biases.clone(),
        batch: spec.batch,
        lr: spec.lr,
        ensemble,
    };
    // Synthetic rows over the input range, three classes by a linear rule.
    let mut rng = Rng(11);
    let hi = (1i64 << (q.input_bits - 1)) - 1;
    let rows: Vec<Vec<i64>> = (0..48).map(|_| (0..spec.input).map(|_| rng.range(-hi - 1, hi)).collect()).collect();
    let labels: Vec<usize> = rows.iter().map(|r| ((r[0] + r[1] - r[2] + 12) / 9).clamp(0, 2) as usize).collect();
    let data = Quantized { rows, labels };
    let w0 = initial_weights(&arch(1), q, 3);
    let orders = epoch_orders(48, spec.batch, 4, 3);
    let predict = silc_sim::train::predictor(compiled.high()).expect("a high-level step");
    let (a3, a1) = (arch(3), arch(1));
    let trainer = Trainer { graph: compiled.high(), predict: &predict, quant: q, arch: &a3 };
    let run = trainer.train(&data, &data, w0.clone(), &orders, &mut |_, _| {}, &mut |_| {}).expect("trains");
    assert_eq!(run.earlier.iter().map(|m| m.0).collect::<Vec<_>>(), vec![2, 3]);
    let single = Trainer { graph: compiled.high(), predict: &predict, quant: q, arch: &a1 };
    for (epoch, w) in &run.earlier {
        let short = single.train(&data, &data, w0.clone(), &orders[..*epoch], &mut |_, _| {}, &mut |_| {}).unwrap();
        assert_eq!(&short.weights, w, "member of epoch {epoch}");
        assert!(short.earlier.is_empty());
    }
    // The summed exact logits, batch by batch, by hand.
    let members: Vec<Vec<silc_sim::Tensor>> =
        run.earlier.iter().map(|m| m.1.clone()).chain([run.weights.clone()]).collect();
    let mut correct = 0;
    for start in (0..48).step_by(spec.batch) {
        let idx: Vec<usize> = (start..start + spec.batch).collect();
        let mut inputs = std::collections::HashMap::new();
        let x: Vec<i64> = idx.iter().flat_map(|&i| data.rows[i].clone()).collect();
        inputs.insert("x".to_string(), silc_sim::Tensor::new(vec![spec.batch, spec.input], x));
        inputs.insert("y".to_string(), silc_sim::Tensor::new(vec![spec.batch, 3], vec![0; spec.batch * 3]));
        let mut sum = vec![0i64; spec.batch * 3];
        for m in &members {
            for (l, w) in m.iter().enumerate() {
                inputs.insert(format!("w{}", l + 1), w.clone());
            }
            let out = silc_sim::execute(&predict, &inputs).expect("runs");
            sum.iter_mut().zip(&out[EXACT_LOGITS].data).for_each(|(s, v)| *s += v);
        }
        for (r, &i) in idx.iter().enumerate() {
            let row = &sum[r * 3..r * 3 + 3];
            let best = (0..3).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            correct += usize::from(best == data.labels[i]);
        }
    }
    let last = run.stats.last().unwrap();
    assert_eq!(last.test_accuracy, correct as f64 / 48.0);
    assert_eq!(last.test_accuracy_last, trainer.accuracy(&data, &[run.weights.clone()]).unwrap().0);
    assert_eq!(run.stats[0].test_accuracy, run.stats[0].test_accuracy_last, "one epoch: one member");
}

/// The client's forms take bootstraps off the server and change no value:
/// at bits 4 every example's step computes fewer PBS than with
/// `server_forms`, by exactly the client's share, and the two circuits
/// give the same outputs on the same inputs.
#[test]
fn forms_move_bootstraps_to_the_client_and_change_no_value() {
    for name in example_names().into_iter().filter(|n| n != "mnist") {
        let spec = spec(&name, Some(4));
        let with = silc_passes::compile(&spec, &Default::default()).expect("compiles");
        let opts = silc_passes::Options { server_forms: true, ..Default::default() };
        let without = silc_passes::compile(&spec, &opts).expect("compiles");
        assert!(with.schedule.forms > 0, "{name}: no forms");
        assert!(with.cost.client_pbs_per_step > 0, "{name}: nothing moved");
        assert_eq!(
            with.cost.pbs_per_step + with.cost.client_pbs_per_step,
            without.cost.pbs_per_step,
            "{name}: the PBS moved are not the PBS saved"
        );
        let inputs = random_inputs(with.high(), &mut Rng(11));
        let a = silc_sim::execute(with.graph(), &inputs).expect("runs");
        let b = silc_sim::execute(without.graph(), &inputs).expect("runs");
        assert_eq!(a, b, "{name}: the forms changed a value");
    }
}

/// External products (`karatsuba::external`) change no value: at bits 4,
/// plain and dithered, every stage of every example's step equals the
/// high-level reference, the checker proves every read of an external sum,
/// and the step costs fewer PBS than without them.
#[test]
fn external_products_match_reference_and_cost_less() {
    let opts = silc_passes::Options { external_products: true, ..Default::default() };
    for name in example_names().into_iter().filter(|n| n != "mnist") {
        let text = std::fs::read_to_string(examples_dir().join(format!("{name}.mlp"))).expect("readable");
        let text = text.replace("bits 8;", "bits 4;");
        let spec = silc_frontend::compile_source(&name, text.as_bytes()).expect("compiles");
        check_spec_with(&name, &spec, if name == "tiny" { 5 } else { 1 }, &opts);
        let with = silc_passes::compile(&spec, &opts).expect("compiles");
        let without = silc_passes::compile(&spec, &Default::default()).expect("compiles");
        let g = with.graph();
        let ext = g.ids().filter(|&i| matches!(g.node(i).op, silc_ir::Op::ExtDot { .. })).count();
        assert!(ext >= 1, "{name}: no external product");
        assert!(with.cost.pbs_per_step < without.cost.pbs_per_step, "{name}: no cheaper");
        // What `bench-engine` divides by: the report's own figure.
        assert_eq!(silc_passes::cost::priced_pbs(g), with.cost.pbs_per_step, "{name}");
        assert!(g.pbs_count() < with.cost.pbs_per_step, "{name}: a refresh is dearer than a bootstrap");
        let text = text.trim_end().trim_end_matches('}').to_string() + "    rounding dither;\n}\n";
        let dithered = silc_frontend::compile_source(&name, text.as_bytes()).expect("compiles");
        check_spec_with(&format!("{name} dithered"), &dithered, 2, &opts);
    }
}
