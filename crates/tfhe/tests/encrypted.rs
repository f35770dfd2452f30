//! Encrypted execution equals the cleartext simulator, bit for bit: every
//! low-level op on random inputs, and whole training steps of small models.
//! Slow without optimisation; the workspace builds dependencies at opt-level 3
//! even in test profiles.

use std::collections::HashMap;

use silc_sim::train::{epoch_orders, initial_weights, Arch, Quantized, Trainer};
use silc_sim::Tensor;
use silc_tfhe::train::EncryptedData;
use silc_tfhe::{execute, params, ClientKeys, Engine};

fn keys_for(g: &silc_ir::Graph) -> ClientKeys {
    let norm = silc_passes::check::max_bootstrap_norm(g);
    let c = params::choose(g.bits, 128, norm).expect("a parameter set covers the circuit");
    ClientKeys::new(&c, g.bits)
}

/// Stored values of a logical tensor for input `name`.
fn stored(g: &silc_ir::Graph, name: &str, t: &Tensor) -> Tensor {
    let off = g.ty(g.find(name).expect("input")).offset;
    t.map(|v| v + off)
}

const OPS: &str = r#"graph ops bits=4
t0 = table "sq" [0 1 4 9 0..11]
t1 = table "half" [0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7]
t2 = table "neg" [15..0]
t3 = table "top16" [8*16]
%0 = input {name="a", role=data} : enc[2,3] u3 [0, 7]
%1 = input {name="b", role=data} : enc[2,3] u2 [0, 3]
%2 = add %0, %1 : enc[2,3] u4 [0, 10]
%3 = sub %0, %1 : enc[2,3] i4 [-3, 7]
%4 = add_clear %3 {c=3} : enc[2,3] u4 [0, 10]
%5 = mul_clear %1 {c=3} : enc[2,3] u4 [0, 9]
%6 = pack %1, %1 {scale=4} : enc[2,3] u4 [0, 15]
%7 = lut %6 {table=t0} : enc[2,3] u4 [0, 11]
%8 = reduce_sum %1 {axis=1, chunk=2} : enc[2,2] u3 [0, 6]
%9 = lut_many %1 {tables=[t1,t2]} : enc[2,2,3] u4 [0, 15]
%10 = transpose %0 : enc[3,2] u3 [0, 7]
%11 = expand %8 {axis=0, n=2} : enc[2,2,2] u3 [0, 6]
%12 = slice %9 {axis=0, start=1, len=1} : enc[1,2,3] u4 [12, 15]
%13 = reshape %12 {shape=[3,2]} : enc[3,2] u4 [12, 15]
%14 = concat %10, %13 {axis=1} : enc[3,4] u4 [0, 15]
%15 = lut %4 {table=t1} : enc[2,3] u3 [0, 5]
%16 = output %2 {name="add"} : enc[2,3] u4 [0, 10]
%17 = output %4 {name="sub"} : enc[2,3] u4 [0, 10]
%18 = output %5 {name="mul"} : enc[2,3] u4 [0, 9]
%19 = output %7 {name="pack_lut"} : enc[2,3] u4 [0, 11]
%20 = output %11 {name="reduce_expand"} : enc[2,2,2] u3 [0, 6]
%21 = output %14 {name="layout"} : enc[3,4] u4 [0, 15]
%22 = output %15 {name="lut"} : enc[2,3] u3 [0, 5]
%23 = output %9 {name="many"} : enc[2,2,3] u4 [0, 15]
%24 = mul_clear %0 {c=4} : enc[2,3] u5 [0, 28]
%25 = add %24, %0 : enc[2,3] u6 [0, 35]
%26 = fold %25 : enc[2,3] u4 [0, 15]
%27 = output %26 {name="fold"} : enc[2,3] u4 [0, 15]
%28 = lut %25 {table=t3} : enc[2,3] u5 [8, 24]
%29 = add_clear %28 {c=-8} : enc[2,3] u5 [0, 16]
%30 = output %29 {name="top"} : enc[2,3] u5 [0, 16]
"#;

#[test]
fn every_low_level_op_matches_the_simulator() {
    let g = silc_ir::read::read(OPS).expect("reads");
    silc_ir::verify::verify(&g).expect("verifies");
    let client = keys_for(&g);
    let server = client.server_keys();
    let engine = Engine::new(&server, &g);
    let mut rnd = lcg(7);
    for _ in 0..3 {
        let a = Tensor::new(vec![2, 3], (0..6).map(|_| rnd(7)).collect());
        let b = Tensor::new(vec![2, 3], (0..6).map(|_| rnd(3)).collect());
        assert_outputs_equal(&g, &engine, &client, &[("a", a), ("b", b)]);
    }
}

/// `next(hi)` in `[0, hi]`, deterministic from `seed`.
fn lcg(mut seed: u64) -> impl FnMut(i64) -> i64 {
    move |hi| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) % (hi as u64 + 1)) as i64
    }
}

/// `g` on `inputs` (stored values), encrypted and in the simulator: every
/// output decrypts to the simulator's.
fn assert_outputs_equal(g: &silc_ir::Graph, engine: &Engine<'_>, client: &ClientKeys, inputs: &[(&str, Tensor)]) {
    let clear: HashMap<String, Tensor> = inputs.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let want = silc_sim::execute(g, &clear).expect("simulates");
    let mut enc: HashMap<String, _> = inputs.iter().map(|(n, t)| (n.to_string(), client.encrypt(t))).collect();
    enc.extend(client.encrypt_forms(g, &clear).expect("forms"));
    let got = execute(engine, g, &enc).expect("runs encrypted");
    for (name, w) in &want {
        assert_eq!(&client.decrypt(&got[name]), w, "output `{name}`");
    }
}

/// Reads the circuit `text` (it must verify and print back as written);
/// then, for four random inputs `a` of `shape` in `[lo, hi]`, `check` sees
/// the input and the simulator's outputs, and the encrypted outputs must
/// equal the simulator's.
fn text_circuit_matches(
    text: &str,
    seed: u64,
    shape: [usize; 2],
    (lo, hi): (i64, i64),
    mut check: impl FnMut(&Tensor, &HashMap<String, Tensor>),
) {
    let g = silc_ir::read::read(text).expect("reads");
    silc_ir::verify::verify(&g).expect("verifies");
    assert_eq!(silc_ir::text::print(&g).trim(), text.trim(), "the text round trip");
    let client = keys_for(&g);
    let server = client.server_keys();
    let engine = Engine::new(&server, &g);
    let mut rnd = lcg(seed);
    for _ in 0..4 {
        let a = Tensor::new(shape.to_vec(), (0..shape[0] * shape[1]).map(|_| lo + rnd(hi - lo)).collect());
        let clear: HashMap<String, Tensor> = [("a".to_string(), a.clone())].into_iter().collect();
        check(&a, &silc_sim::execute(&g, &clear).expect("simulates"));
        assert_outputs_equal(&g, &engine, &client, &[("a", a)]);
    }
}

/// Residues at a torus position (`lut_torus`, `torus_sign`, `torus_read`)
/// through free sums, a clear addition, a read back to the torus and a
/// second read: the simulator's residues, bit for bit.
const TORUS: &str = r#"graph torus bits=4
t0 = table "bin5" [0 0 1 3 1 0 0 1 3 1 0 0 1 3 1 0]
t1 = table "sq5" [0 1 4 9 16]
t2 = table "to7" [0 6..3]
t3 = table "read7" [0..6]
%0 = input {name="a", role=data} : enc[2,12] u4 [0, 15]
%1 = lut_torus %0 {table=t0, m=5} : enc[2,12] u3 [0, 4] torus 5
%2 = reduce_sum %1 {axis=1, chunk=12} : enc[2,1] u3 [0, 4] torus 5
%3 = add_clear %2 {c=3} : enc[2,1] u3 [0, 4] torus 5
%4 = torus_sign %3 : enc[2,1] u5 [8, 24]
%5 = torus_read %3, %4 {table=t1} : enc[2,1] u5 [0, 16]
%6 = output %5 {name="sq"} : enc[2,1] u5 [0, 16]
%7 = torus_read %3, %4 {table=t2, torus=7} : enc[2,1] u3 [0, 6] torus 7
%8 = add %7, %7 : enc[2,1] u3 [0, 6] torus 7
%9 = torus_sign %8 : enc[2,1] u5 [8, 24]
%10 = torus_read %8, %9 {table=t3} : enc[2,1] u3 [0, 6]
%11 = output %10 {name="twice"} : enc[2,1] u3 [0, 6]
"#;

#[test]
fn torus_residues_match_the_simulator() {
    text_circuit_matches(TORUS, 11, [2, 12], (0, 15), |_, _| {});
}

/// A two-scale read (`scale::fine`): binomial terms summed modulo 15 and,
/// the same terms, at the fine scale `1/480`; the residue read again at
/// that scale and taken off the fine sum leaves `15·⌊V/15⌋`, which
/// `on_grid` reads as `⌊V/15⌋` and a table then looks up; a second read of
/// the residue gives its digit `⌊r/5⌋`. The simulator's values, bit for bit.
const TWO_SCALE: &str = r#"graph two_scale bits=4
t0 = table "bin15" [0 0 1 3 6 10 0 6 13 6 0 10 6 3 1 0]
t1 = table "bin480" [0 0 1 3 6 10 15 21 28 36 45 55 66 78 91 105]
t2 = table "readfine15" [0 479..466]
t3 = table "same" [0..15]
t4 = table "readdigit15/5" [0*5 1*5 2*5]
%0 = input {name="a", role=data} : enc[2,8] u3 [0, 7]
%1 = lut_torus %0 {table=t0, m=15} : enc[2,8] u4 [0, 14] torus 15
%2 = reduce_sum %1 {axis=1, chunk=8} : enc[2,1] u4 [0, 14] torus 15
%3 = lut_torus %0 {table=t1, m=480} : enc[2,8] u9 [0, 479] torus 480
%4 = reduce_sum %3 {axis=1, chunk=8} : enc[2,1] u9 [0, 479] torus 480
%5 = torus_sign %2 : enc[2,1] u5 [8, 24]
%6 = torus_read %2, %5 {table=t2, torus=480} : enc[2,1] u9 [0, 479] torus 480
%7 = add %4, %6 : enc[2,1] u9 [0, 479] torus 480
%8 = on_grid %7 {d=15, hi=11} : enc[2,1] u4 [0, 11]
%9 = lut %8 {table=t3} : enc[2,1] u4 [0, 11]
%10 = output %9 {name="q"} : enc[2,1] u4 [0, 11]
%11 = torus_read %2, %5 {table=t4} : enc[2,1] u2 [0, 2]
%12 = output %11 {name="digit"} : enc[2,1] u2 [0, 2]
"#;

#[test]
fn two_scale_reads_match_the_simulator() {
    text_circuit_matches(TWO_SCALE, 13, [2, 8], (0, 7), |a, sim| {
        // The circuit's claim, checked in the clear: ⌊V/15⌋.
        let want: Vec<i64> =
            a.data.chunks(8).map(|row| row.iter().map(|&x| x * (x - 1) / 2).sum::<i64>() / 15).collect();
        assert_eq!(sim["q"].data, want, "the simulator reads the floor");
    });
}

/// The wide form of a two-scale read: `⌊V/15⌋` up to 26, past the grid's
/// readable half, read by a fold (its low bit, its half below 16) and a
/// constant table (its top bit), as `scale::fine` reads it. The
/// simulator's values, bit for bit, and the clear floor's.
const TWO_SCALE_WIDE: &str = r#"graph two_scale_wide bits=4
t0 = table "sq15" [0 1 4 9 1 10 6 4 4 6 10 1 9 4 1 0]
t1 = table "sq480" [0 1 4 9 16 25 36 49 64 81 100 121 144 169 196 225]
t2 = table "readfine15" [0 479..466]
t3 = table "mod2" [0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1]
t4 = table "div2" [0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7]
t5 = table "top8" [12*16]
%0 = input {name="a", role=data} : enc[2,8] u3 [0, 7]
%1 = lut_torus %0 {table=t0, m=15} : enc[2,8] u4 [0, 14] torus 15
%2 = reduce_sum %1 {axis=1, chunk=8} : enc[2,1] u4 [0, 14] torus 15
%3 = lut_torus %0 {table=t1, m=480} : enc[2,8] u9 [0, 479] torus 480
%4 = reduce_sum %3 {axis=1, chunk=8} : enc[2,1] u9 [0, 479] torus 480
%5 = torus_sign %2 : enc[2,1] u5 [8, 24]
%6 = torus_read %2, %5 {table=t2, torus=480} : enc[2,1] u9 [0, 479] torus 480
%7 = add %4, %6 : enc[2,1] u9 [0, 479] torus 480
%8 = on_grid %7 {d=15, hi=26} : enc[2,1] u5 [0, 26]
%9 = fold %8 : enc[2,1] u4 [0, 15]
%10 = lut %9 {table=t3} : enc[2,1] u1 [0, 1]
%11 = lut %9 {table=t4} : enc[2,1] u3 [0, 7]
%12 = lut %8 {table=t5} : enc[2,1] u5 [12, 20]
%13 = add_clear %12 {c=-12} : enc[2,1] u4 [0, 8]
%14 = add %11, %13 : enc[2,1] u4 [0, 15]
%15 = output %10 {name="bit"} : enc[2,1] u1 [0, 1]
%16 = output %14 {name="half"} : enc[2,1] u4 [0, 15]
"#;

#[test]
fn wide_two_scale_reads_match_the_simulator() {
    let mut past_half = false;
    // Large values, so the floor passes 16 in most rows.
    text_circuit_matches(TWO_SCALE_WIDE, 17, [2, 8], (3, 7), |a, sim| {
        let q: Vec<i64> = a.data.chunks(8).map(|row| row.iter().map(|&x| x * x).sum::<i64>() / 15).collect();
        past_half |= q.iter().any(|&v| v >= 16);
        assert_eq!(sim["bit"].data, q.iter().map(|v| v % 2).collect::<Vec<_>>(), "the low bit");
        assert_eq!(sim["half"].data, q.iter().map(|v| v / 2).collect::<Vec<_>>(), "the rest");
    });
    assert!(past_half, "some floor lies past the readable half");
}

/// A fine own sum refreshed (`karatsuba::torus`, `fine_refresh`): eight
/// squares at `1/480` and modulo 15; the residue's sum read back fresh,
/// then read at `1/480` as `−r` and `r`; `−r` takes the fine sum onto the
/// grid at `⌊S/15⌋ mod 32`, whose fold, a table of it and the top bit's
/// constant table answer `15·⌊S/15⌋` at `1/480` again, and with `r` that
/// is `S`, fresh. Both sums read the same way: the simulator's values, bit
/// for bit, equal each other and the clear `⌊S/15⌋`, past 16 too.
const FINE_REFRESH: &str = r#"graph fine_refresh bits=4
t0 = table "sq15" [0 1 4 9 1 10 6 4 4 6 10 1 9 4 1 0]
t1 = table "sq480" [0 1 4 9 16 25 36 49 64 81 100 121 144 169 196 225]
t2 = table "read15" [0..14]
t3 = table "fineneg15/480" [0 479..466]
t4 = table "fine15lo" [0 15 30 45 60 75 90 105 120 135 150 165 180 195 210 225]
t5 = table "finetop480" [120*16]
t6 = table "top2" [15*16]
%0 = input {name="a", role=data} : enc[2,8] u3 [0, 7]
%1 = lut_torus %0 {table=t0, m=15} : enc[2,8] u4 [0, 14] torus 15
%2 = reduce_sum %1 {axis=1, chunk=8} : enc[2,1] u4 [0, 14] torus 15
%3 = torus_sign %2 : enc[2,1] u5 [8, 24]
%4 = torus_read %2, %3 {table=t2, torus=15} : enc[2,1] u4 [0, 14] torus 15
%5 = lut_torus %0 {table=t1, m=480} : enc[2,8] u9 [0, 479] torus 480
%6 = reduce_sum %5 {axis=1, chunk=8} : enc[2,1] u9 [0, 479] torus 480
%7 = torus_sign %4 : enc[2,1] u5 [8, 24]
%8 = torus_read %4, %7 {table=t3, torus=480} : enc[2,1] u9 [0, 479] torus 480
%9 = torus_read %4, %7 {table=t2, torus=480} : enc[2,1] u9 [0, 479] torus 480
%10 = add %6, %8 : enc[2,1] u9 [0, 479] torus 480
%11 = on_grid %10 {d=15, hi=31} : enc[2,1] u5 [0, 31]
%12 = fold %11 : enc[2,1] u4 [0, 15]
%13 = lut_torus %12 {table=t4, m=480} : enc[2,1] u9 [0, 479] torus 480
%14 = lut_torus %11 {table=t5, m=480} : enc[2,1] u9 [0, 479] torus 480
%15 = add_clear %14 {c=-120} : enc[2,1] u9 [0, 479] torus 480
%16 = add %13, %15 : enc[2,1] u9 [0, 479] torus 480
%17 = add %16, %9 : enc[2,1] u9 [0, 479] torus 480
%18 = add %17, %8 : enc[2,1] u9 [0, 479] torus 480
%19 = on_grid %18 {d=15, hi=31} : enc[2,1] u5 [0, 31]
%20 = fold %19 : enc[2,1] u4 [0, 15]
%21 = lut %19 {table=t6} : enc[2,1] u5 [15, 17]
%22 = add_clear %21 {c=-15} : enc[2,1] u2 [0, 2]
%23 = lut %11 {table=t6} : enc[2,1] u5 [15, 17]
%24 = add_clear %23 {c=-15} : enc[2,1] u2 [0, 2]
%25 = output %12 {name="lo"} : enc[2,1] u4 [0, 15]
%26 = output %24 {name="hi"} : enc[2,1] u2 [0, 2]
%27 = output %20 {name="lo2"} : enc[2,1] u4 [0, 15]
%28 = output %22 {name="hi2"} : enc[2,1] u2 [0, 2]
"#;

#[test]
fn a_refreshed_fine_sum_matches_the_simulator() {
    let mut past_half = false;
    text_circuit_matches(FINE_REFRESH, 23, [2, 8], (3, 7), |a, sim| {
        let q: Vec<i64> = a.data.chunks(8).map(|row| row.iter().map(|&x| x * x).sum::<i64>() / 15).collect();
        past_half |= q.iter().any(|&v| v >= 16);
        assert_eq!(sim["lo"].data, q.iter().map(|v| v % 16).collect::<Vec<_>>(), "the fold");
        assert_eq!(sim["hi"].data, q.iter().map(|v| 2 * (v / 16)).collect::<Vec<_>>(), "the top bit");
        assert_eq!(sim["lo2"].data, sim["lo"].data, "the refreshed sum's fold");
        assert_eq!(sim["hi2"].data, sim["hi"].data, "the refreshed sum's top bit");
    });
    assert!(past_half, "some floor lies past the readable half");
}

/// The wrap-first system's torus form (`scale::wrap_first`) in miniature: a
/// constant table answering on the torus `15` reads a wrapping value
/// anywhere (`4/15` below half the torus, `-4/15` above), a second term
/// comes from its fold, and their sum is read on the torus. The
/// simulator's values, bit for bit, and the clear ones.
const TORUS_TOP_BIT: &str = r#"graph torus_top_bit bits=4
t0 = table "wbit15" [4*16]
t1 = table "dbl15" [0 2 4 6 8 10 12 14 1 3 5 7 9 11 13 0]
t2 = table "read15" [0..14]
%0 = input {name="a", role=data} : enc[2,6] u3 [0, 7]
%1 = mul_clear %0 {c=4} : enc[2,6] u5 [0, 28]
%2 = add %1, %0 : enc[2,6] u6 [0, 35]
%3 = lut_torus %2 {table=t0, m=15} : enc[2,6] u4 [0, 14] torus 15
%4 = add_clear %3 {c=-4} : enc[2,6] u4 [0, 14] torus 15
%5 = fold %2 : enc[2,6] u4 [0, 15]
%6 = lut_torus %5 {table=t1, m=15} : enc[2,6] u4 [0, 14] torus 15
%7 = add %4, %6 : enc[2,6] u4 [0, 14] torus 15
%8 = torus_sign %7 : enc[2,6] u5 [8, 24]
%9 = torus_read %7, %8 {table=t2} : enc[2,6] u4 [0, 14]
%10 = output %9 {name="t"} : enc[2,6] u4 [0, 14]
"#;

#[test]
fn a_top_bit_answered_on_the_torus_matches_the_simulator() {
    let (mut below, mut above) = (false, false);
    text_circuit_matches(TORUS_TOP_BIT, 19, [2, 6], (0, 7), |a, sim| {
        let want: Vec<i64> = a
            .data
            .iter()
            .map(|&x| {
                let s = 5 * x % 32;
                below |= s < 16;
                above |= s >= 16;
                (7 * (s / 16) + 2 * (s % 16)) % 15
            })
            .collect();
        assert_eq!(sim["t"].data, want, "7·u_hi + 2·(u mod 16), modulo 15");
    });
    assert!(below && above, "wrapping values in both halves of the torus");
}

/// Every sample's forms (`silc_sim::forms`), as `silc encrypt` computes
/// them: `batch` samples at a time, each sample's values in turn.
fn sample_forms(
    g: &silc_ir::Graph,
    spec: &silc_frontend::ModelSpec,
    label: i64,
    rows: &[Vec<i64>],
    labels: &[usize],
) -> Vec<i64> {
    let classes = spec.classes();
    let inputs = |first: usize| {
        let idx: Vec<usize> = (first..first + spec.batch).map(|i| if i < rows.len() { i } else { first }).collect();
        let x = idx.iter().flat_map(|&i| rows[i].clone()).collect();
        let y = idx.iter().flat_map(|&i| (0..classes).map(move |c| if c == labels[i] { label } else { 0 })).collect();
        HashMap::from([
            ("x".to_string(), Tensor::new(vec![spec.batch, spec.input], x)),
            ("y".to_string(), Tensor::new(vec![spec.batch, classes], y)),
        ])
    };
    silc_sim::forms::of_samples(g, 0..rows.len(), spec.batch, &inputs).expect("forms")
}

/// Trains `model` encrypted and in the simulator (on the lowered circuit) on
/// `n` synthetic samples; the decrypted weights must equal the simulator's.
fn encrypted_training_equals_simulation(model: &str, n: usize, steps: usize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(model);
    let spec = silc_frontend::compile_source(model, &std::fs::read(path).unwrap()).expect("model");
    let compiled = silc_passes::compile(&spec, &Default::default()).expect("compiles");
    let g = compiled.graph();
    let q = &compiled.quant;
    let arch = Arch {
        widths: spec.widths_chain(),
        relu: spec.layers.iter().map(|l| l.relu).collect(),
        bias: q.biases.clone(),
        batch: spec.batch,
        lr: spec.lr,
        ensemble: 1,
    };
    // Synthetic two-feature, two-class data spread over the input range.
    let hi = (1i64 << (q.input_bits - 1)) - 1;
    let rows: Vec<Vec<i64>> =
        (0..n).map(|i| vec![((i as i64 * 5) % (2 * hi + 1)) - hi, ((i as i64 * 3) % (hi + 1)) - hi / 2]).collect();
    let labels: Vec<usize> = rows.iter().map(|r| usize::from(r[0] + r[1] > 0)).collect();
    let data = Quantized { rows: rows.clone(), labels: labels.clone() };
    let w0 = initial_weights(&arch, q, spec.seed);
    let mut order = epoch_orders(n, spec.batch, 1, spec.seed).remove(0);
    order.truncate(steps * spec.batch);

    let predict = silc_sim::train::predictor(compiled.high()).expect("a high-level step");
    let trainer = Trainer { graph: g, predict: &predict, quant: q, arch: &arch };
    let want = trainer.train(&data, &data, w0.clone(), &[order.clone()], &mut |_, _| {}, &mut |_| {}).unwrap().weights;

    let client = keys_for(g);
    let server = client.server_keys();
    let engine = Engine::new(&server, g);
    let x_off = g.ty(g.find("x").unwrap()).offset;
    let classes = spec.classes();
    let tori: Vec<i64> =
        silc_sim::forms::layout(g).iter().flat_map(|f| std::iter::repeat_n(f.torus, f.per_sample())).collect();
    let enc = EncryptedData {
        x_rows: rows
            .iter()
            .map(|r| client.encrypt_compressed(&Tensor::new(vec![r.len()], r.iter().map(|v| v + x_off).collect())))
            .collect(),
        y_rows: labels
            .iter()
            .map(|&l| {
                let y: Vec<i64> = (0..classes).map(|c| if c == l { q.label_value } else { 0 }).collect();
                client.encrypt_compressed(&Tensor::new(vec![classes], y))
            })
            .collect(),
        form_rows: sample_forms(g, &spec, q.label_value, &rows, &labels)
            .chunks(tori.len().max(1))
            .map(|r| client.encrypt_at_compressed(&r.iter().zip(&tori).map(|(&v, &t)| (v, t)).collect::<Vec<_>>()))
            .chain(std::iter::repeat_with(Vec::new))
            .take(n)
            .collect(),
        ggsw_rows: Vec::new(),
    };
    let weights: Vec<_> =
        w0.iter().enumerate().map(|(l, w)| client.encrypt(&stored(g, &format!("w{}", l + 1), w))).collect();
    let mut done = 0;
    let trained = silc_tfhe::train::train(&engine, g, &enc, weights, &order, spec.batch, 0, &mut |k, _| done = k)
        .expect("trains");
    assert_eq!(done, steps);
    for (l, (ct, w)) in trained.iter().zip(&want).enumerate() {
        let name = format!("w{}", l + 1);
        let off = g.ty(g.find(&name).unwrap()).offset;
        assert_eq!(client.decrypt(ct).map(|v| v - off), *w, "{model}: weights {name} differ");
    }
}

#[test]
fn tiny_trained_one_epoch_encrypted_equals_the_simulator() {
    // tiny.mlp: 2-2 at 4 bits, batch 2: one epoch of 8 samples is 4 steps;
    // two-digit weights (the default at 4 bits) and a bias row.
    encrypted_training_equals_simulation("examples/tiny.mlp", 8, 4);
}

/// The smallest parameter set: tiny at 3 bits, four steps.
#[test]
fn tiny_at_3_bits_equals_the_simulator() {
    encrypted_training_equals_simulation("tests/in/tiny3.mlp", 8, 4);
}

#[test]
fn one_digit_weights_at_4_bits_equal_the_simulator() {
    // tiny with `quantize weights=3;` (tiny itself has two-digit weights).
    encrypted_training_equals_simulation("tests/in/narrow4.mlp", 8, 4);
}

#[test]
fn hidden_relu_layer_at_5_bits_equals_the_simulator() {
    // 2-2(relu)-2 at 5 bits, batch 1: three steps.
    encrypted_training_equals_simulation("tests/in/hidden5.mlp", 6, 3);
}

/// At 4 bits with the modulus 32 as first modulus (block-scaled too) and as
/// last: every new table of `karatsuba::wrap` and `scale` runs encrypted.
#[test]
fn wide_modulus_at_4_bits_equals_the_simulator() {
    encrypted_training_equals_simulation("tests/in/hidden4.mlp", 4, 2);
}

/// `rounding dither;` (`tests/in/dither4.mlp`): the second weight gradient
/// takes a public dither, salted by the step, on both torus sums of its
/// two-scale system; two encrypted steps equal the simulator's.
#[test]
fn dithered_rounding_at_4_bits_equals_the_simulator() {
    encrypted_training_equals_simulation("tests/in/dither4.mlp", 8, 2);
}

#[test]
fn block_scaling_at_5_bits_equals_the_simulator() {
    // hidden5 with `scaling block;`: the backward products choose their shift
    // under encryption (chains per candidate, flags OR-reduced, selection).
    encrypted_training_equals_simulation("tests/in/block5.mlp", 4, 2);
}

/// A product past every residue number system at 4 bits (`[1x121]·[121x3]`
/// of 3-bit values spans 3 388 values, the widest cover 3 360): cut into
/// chunks, each converted apart, their digits added with carries
/// (`rns::chunks`, `scale::sum`), the moduli 5 and 3 paired into one
/// product modulo 15 (`rns::pairs`), on operands that reach the top and the
/// bottom of the range and on mixed ones.
#[test]
fn a_product_cut_into_chunks_at_4_bits_equals_the_simulator() {
    use silc_ir::Op;
    let (k, half) = (121usize, 4i64);
    let high = row_product("chunked", (k, 3), |g, z| {
        let factors = silc_passes::lower::feasible_divisor(g, z, 3388.0 / 8.0, 3, false, params_nu(4));
        (Op::Rescale { factors: factors.expect("a divisor"), bits: 3, shifts: vec![], relu: false }, half)
    });
    let lowered = silc_passes::lower_graph(high.clone(), &Default::default()).expect("lowers");
    let rns = &lowered.stages[1].1;
    assert!(rns.ids().any(|i| matches!(&rns.node(i).op, Op::FromResidues { chunks, .. } if chunks.len() >= 2)));
    // The moduli 5 and 3 are paired: one product modulo 15 per chunk, split
    // into its two residues by tables (`rns::pairs`).
    assert!(rns.ids().any(|i| matches!(rns.node(i).op, Op::ModMatMul { modulus: 15 })));
    assert!(!rns.ids().any(|i| matches!(rns.node(i).op, Op::ModMatMul { modulus: 3 | 5 })));
    let g = &lowered.stages.last().expect("stages").1;
    // The sum modulo 15 is read twice, once per split table (`schedule`
    // fuses each table into a read of its own; the reads share the sign).
    let mut reads: HashMap<Vec<silc_ir::ValueId>, usize> = HashMap::new();
    for i in g.ids() {
        if let Op::TorusRead { torus: None, .. } = g.node(i).op {
            *reads.entry(g.node(i).args.clone()).or_default() += 1;
        }
    }
    assert!(reads.values().any(|&n| n >= 2), "no sum read twice");
    // The pair comes after the digit of 7: that digit's term joins the sum
    // modulo 15 on the torus, and the two reads answer both digits
    // (`scale::Conversion::pair_after`).
    assert!(g.ids().any(|i| match g.node(i).op {
        Op::LutTorus { table, m: 15 } => g.tables.get(table).name.starts_with("term15"),
        _ => false,
    }));
    let client = keys_for(g);
    let server = client.server_keys();
    let engine = Engine::new(&server, g);
    // Every a at -4: column 0 has every product at its largest, column 1 at
    // its smallest, column 2 of mixed signs.
    let column = |i: usize| [-4i64, 3, [-4, 3, -1, 2, 0, -3][(i / 3) % 6]][i % 3];
    let want = encrypted_equals_simulated(&high, g, (&engine, &client), &[-4; 121], (0..3 * k).map(column).collect());
    // The ends of the range are reached: the largest rounds to the top.
    assert_eq!(want[0], half - 1);
}

/// The high graph `y = rescale([1 x k] · [k x cols])` of inputs `a` and `b`
/// (3-bit signed, stored at offset 4), the rescale op and its output offset
/// from `rescale`.
fn row_product(
    name: &str,
    (k, cols): (usize, usize),
    rescale: impl Fn(&silc_ir::Graph, silc_ir::ValueId) -> (silc_ir::Op, i64),
) -> silc_ir::Graph {
    use silc_ir::{Graph, Loc, Op, Role, Type};
    let mut high = Graph::new(name, 4);
    let signed = |shape: Vec<usize>| Type::enc_offset(shape, -4, 3, 4);
    let a = high.add(Op::Input { name: "a".into(), role: Role::Data }, vec![], signed(vec![1, k]), Loc::default());
    let b = high.add(Op::Input { name: "b".into(), role: Role::Data }, vec![], signed(vec![k, cols]), Loc::default());
    let z = high.push(Op::MatMul, vec![a, b], Loc::default());
    let (op, offset) = rescale(&high, z);
    let mut ty = silc_ir::infer::infer(&high, &op, &[z]).expect("typed");
    ty.offset = offset;
    let y = high.add(op, vec![z], ty, Loc { line: 1, col: 1 });
    high.push(Op::Output { name: "y".into() }, vec![y], Loc::default());
    high
}

/// Runs `g` (lowered from `high`) encrypted on the logical inputs `a` and
/// `b` and asserts that the decrypted `y` equals the simulator's run of
/// `high`; returns that `y`.
fn encrypted_equals_simulated(
    high: &silc_ir::Graph,
    g: &silc_ir::Graph,
    (engine, client): (&Engine<'_>, &ClientKeys),
    a: &[i64],
    b: Vec<i64>,
) -> Vec<i64> {
    let ty = |name: &str| g.ty(g.find(name).expect("input")).shape.clone();
    let logical = HashMap::from([
        ("a".to_string(), Tensor::new(ty("a"), a.to_vec())),
        ("b".to_string(), Tensor::new(ty("b"), b)),
    ]);
    let want = silc_sim::execute(high, &logical).expect("simulates");
    let mut inputs: HashMap<_, _> =
        logical.iter().map(|(n, t)| (n.clone(), client.encrypt(&stored(g, n, t)))).collect();
    inputs.extend(client.encrypt_forms(g, &logical).expect("forms"));
    let got = execute(engine, g, &inputs).expect("runs encrypted");
    let off = g.ty(g.find("y").map(|o| g.node(o).args[0]).expect("output")).offset;
    assert_eq!(client.decrypt(&got["y"]).map(|v| v - off), want["y"]);
    want["y"].data.clone()
}

/// Breast Cancer's first product at 4 bits, one row: `[1x31]·[31x2]` over
/// `[−372, 496]`, ReLU-rescaled by 5 (`5 | 3·2·16`, in chunks). Its moduli 5
/// and 3 share one product modulo 15 (`rns::pairs`), and the conversion reads
/// both first digits off that sum: `(v + K) mod 5` and `⌊((v + K) mod 15)/5⌋`
/// (`scale::read_back`). On operands at both ends and mixed ones.
#[test]
fn paired_first_digits_read_off_one_sum_equal_the_simulator() {
    use silc_ir::Op;
    let k = 31usize;
    let high = row_product("paired", (k, 2), |_, _| {
        (Op::Rescale { factors: vec![5], bits: 3, shifts: vec![], relu: true }, 0)
    });
    let lowered = silc_passes::lower_graph(high.clone(), &Default::default()).expect("lowers");
    let rns = &lowered.stages[1].1;
    assert!(rns.ids().any(|i| matches!(rns.node(i).op, Op::ModMatMul { modulus: 15 })));
    let scale = &lowered.stages[3].1;
    let second_digit = scale.ids().any(|i| match scale.node(i).op {
        Op::TorusRead { table, .. } => scale.tables.get(table).name.ends_with("/5"),
        _ => false,
    });
    assert!(second_digit, "the second digit is not read off the sum modulo 15");
    let g = &lowered.stages.last().expect("stages").1;
    let client = keys_for(g);
    let server = client.server_keys();
    let engine = Engine::new(&server, g);
    let mut seen = Vec::new();
    for (av, column) in [(-4i64, [-4i64, 3]), (3, [3, -4]), (1, [2, -1])] {
        let a: Vec<i64> = (0..k as i64).map(|i| if i % 3 == 0 { (-av).min(3) } else { av }).collect();
        let b = (0..2 * k).map(|i| column[i % 2]).collect();
        seen.extend(encrypted_equals_simulated(&high, g, (&engine, &client), &a, b));
    }
    // Both saturation bounds and a value between them are reached.
    assert!(seen.contains(&0) && seen.contains(&7) && seen.iter().any(|&y| 0 < y && y < 7), "{seen:?}");
}

fn params_nu(p: u32) -> f64 {
    silc_passes::params::for_precision(p).nu()
}

#[test]
fn conformance_tells_parameter_sets_apart() {
    // Three 4-bit sets (KS32 among them): each accepts only its own server
    // key. Their ciphertexts have the same LWE dimension (2048), so a
    // ciphertext check can only refuse one of another size and space, here a
    // 2-bit set's.
    let set = |p: u32, name: &str| params::named(p, name).remove(0);
    let sets = [set(4, "MESSAGE_2_CARRY_2_KS32"), set(4, "MESSAGE_2_CARRY_2"), set(4, "MESSAGE_1_CARRY_3")];
    let encrypt = |c: &params::Candidate, p: u32| {
        let client = ClientKeys::new(c, p);
        let seeded = client.encrypt_compressed(&Tensor::new(vec![1], vec![1])).remove(0);
        let plain = client.encrypt(&Tensor::new(vec![1], vec![1])).cts.remove(0);
        (client, seeded, plain)
    };
    let made: Vec<_> = sets.iter().map(|c| encrypt(c, 4)).collect();
    let servers: Vec<_> = made.iter().map(|(k, _, _)| tfhe::shortint::CompressedServerKey::new(&k.key)).collect();
    let (_, other_seeded, other_plain) = encrypt(&set(2, "MESSAGE_1_CARRY_1"), 2);
    for (i, set) in sets.iter().enumerate() {
        for (j, server) in servers.iter().enumerate() {
            assert_eq!(set.server_key_conforms(server), i == j, "{} vs server key {j}", set.name);
        }
        assert!(set.seeded_conforms(&made[i].1) && set.ciphertext_conforms(&made[i].2), "{}", set.name);
        assert!(!set.seeded_conforms(&other_seeded) && !set.ciphertext_conforms(&other_plain), "{}", set.name);
    }
}

/// A matrix product by external products and its transposed twin, each
/// sum taken modulo 7 off its fine torus by `coarsen` and read: the
/// simulator's residues, bit for bit. The sample `x` comes as GGSW
/// ciphertexts; the weight and the delta are refreshed by the precise key.
const EXTERNAL: &str = r#"graph external bits=4
t0 = table "id7" [0..6]
%0 = input {name="x", role=data} : enc[2,31] i3 [-4, 3] off 4
%1 = input {name="w", role=weight} : enc[31,3] i3 [-4, 3] off 4
%2 = input {name="d", role=weight} : enc[2,3] i3 [-4, 3] off 4
%3 = form %0 {name="form0", axis=0, kind=ggsw} : enc[2,31] i3 [-4, 3] off 4
%4 = ext_dot %3, %1 {m=224} : enc[2,3] u8 [0, 223] torus 224
%5 = coarsen %4 {by=32} : enc[2,3] u3 [0, 6] torus 7
%6 = torus_sign %5 : enc[2,3] u5 [8, 24]
%7 = torus_read %5, %6 {table=t0} : enc[2,3] u3 [0, 6]
%8 = output %7 {name="forward"} : enc[2,3] u3 [0, 6]
%9 = ext_dot %3, %2 {m=224, a=transposed} : enc[31,3] u8 [0, 223] torus 224
%10 = coarsen %9 {by=32} : enc[31,3] u3 [0, 6] torus 7
%11 = torus_sign %10 : enc[31,3] u5 [8, 24]
%12 = torus_read %10, %11 {table=t0} : enc[31,3] u3 [0, 6]
%13 = output %12 {name="gradient"} : enc[31,3] u3 [0, 6]
"#;

#[test]
fn external_products_match_the_simulator() {
    let g = silc_ir::read::read(EXTERNAL).expect("reads");
    silc_ir::verify::verify(&g).expect("verifies");
    assert_eq!(silc_ir::text::print(&g).trim(), EXTERNAL.trim(), "the text round trip");
    let (_, violations) = silc_passes::check::check(&g, 5.0);
    assert!(violations.is_empty(), "{violations:?}");
    let client = keys_for(&g);
    let mut server = client.server_keys();
    server.precise = Some(client.precise_key());
    let engine = Engine::new(&server, &g);
    let mut rnd = lcg(11);
    for _ in 0..2 {
        let mut logical = |shape: Vec<usize>| {
            let len = shape.iter().product();
            Tensor::new(shape, (0..len).map(|_| rnd(7) - 4).collect())
        };
        let clear: HashMap<String, Tensor> =
            [("x", logical(vec![2, 31])), ("w", logical(vec![31, 3])), ("d", logical(vec![2, 3]))]
                .into_iter()
                .map(|(n, t)| (n.to_string(), t))
                .collect();
        let want = silc_sim::execute(&g, &clear).expect("simulates");
        let enc: HashMap<String, _> =
            clear.iter().map(|(n, t)| (n.clone(), client.encrypt(&stored(&g, n, t)))).collect();
        let ggsw = client.encrypt_ggsw_forms(&g, &clear).expect("GGSW forms");
        let got = silc_tfhe::execute_with(&engine, &g, &enc, &ggsw, 0).expect("runs encrypted");
        for (name, w) in &want {
            assert_eq!(&client.decrypt(&got[name]), w, "output `{name}`");
        }
        // The residues are those of the exact products.
        let (x, w) = (&clear["x"], &clear["w"]);
        let exact: i64 = (0..31).map(|k| x.data[k] * w.data[k * 3]).sum();
        assert_eq!(want["forward"].data[0], exact.rem_euclid(7));
    }
}

/// Tiny's whole step compiled with external products (its weight
/// gradient by GGSW forms of the sample), encrypted: every output equals
/// the simulator's, bit for bit, on random inputs.
#[test]
fn tiny_with_external_products_equals_the_simulator() {
    external_step_equals_the_simulator(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tiny.mlp"), 2);
}

/// A first layer whose forward product is cut into chunks
/// (`tests/in/chunked_ext4.mlp`): each chunk's residues come off one
/// external product's sum (a torus read modulo 15 and the wrapping residue
/// on the grid), reading slices of the one GGSW form its weight gradient
/// reads whole; encrypted equals the simulator, bit for bit.
#[test]
fn chunked_forward_products_by_external_products_equal_the_simulator() {
    let g =
        external_step_equals_the_simulator(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/in/chunked_ext4.mlp"), 1);
    let ext = g.ids().filter(|&i| matches!(g.node(i).op, silc_ir::Op::ExtDot { .. })).count();
    assert!(ext >= 3, "two chunks and the weight gradient by external products, not {ext}");
}

/// Compiles `path` with external products and runs `rounds` random steps
/// encrypted against the simulator; returns the circuit.
fn external_step_equals_the_simulator(path: &str, rounds: usize) -> silc_ir::Graph {
    let spec = silc_frontend::compile_source(path, &std::fs::read(path).expect("readable")).expect("compiles");
    let opts = silc_passes::Options { external_products: true, ..Default::default() };
    let compiled = silc_passes::compile(&spec, &opts).expect("compiles");
    assert!(compiled.violations.is_empty(), "{:?}", compiled.violations);
    let g = compiled.graph();
    assert!(g.ids().any(|i| matches!(g.node(i).op, silc_ir::Op::ExtDot { .. })), "no external product");
    let client = keys_for(g);
    let mut server = client.server_keys();
    server.precise = Some(client.precise_key());
    let engine = Engine::new(&server, g);
    let mut rnd = lcg(5);
    for _ in 0..rounds {
        let clear: HashMap<String, Tensor> = g
            .inputs()
            .into_iter()
            .map(|i| {
                let (ty, silc_ir::Op::Input { name, .. }) = (g.ty(i), &g.node(i).op) else { unreachable!() };
                let t = Tensor::new(ty.shape.clone(), (0..ty.len()).map(|_| ty.lo + rnd(ty.hi - ty.lo)).collect());
                (name.clone(), t)
            })
            .collect();
        let want = silc_sim::execute(g, &clear).expect("simulates");
        let mut enc: HashMap<String, _> =
            clear.iter().map(|(n, t)| (n.clone(), client.encrypt(&stored(g, n, t)))).collect();
        enc.extend(client.encrypt_forms(g, &clear).expect("forms"));
        let ggsw = client.encrypt_ggsw_forms(g, &clear).expect("GGSW forms");
        let x = g.ty(g.find("x").expect("an input x")).shape[1];
        assert!(ggsw.values().any(|f| f.shape[1] == x + 1), "the sample with its bias column among the GGSW forms");
        let got = silc_tfhe::execute_with(&engine, g, &enc, &ggsw, 0).expect("runs encrypted");
        for (name, w) in &want {
            let off = g.ty(g.find(name).expect("an output")).offset;
            assert_eq!(client.decrypt(&got[name]).map(|v| v - off), *w, "output `{name}`");
        }
    }
    g.clone()
}
