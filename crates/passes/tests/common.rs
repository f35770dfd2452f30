//! Helpers shared by the pass tests: loading examples, random inputs, and
//! small graphs lowered alone and compared with their reference
//! (`ops.rs`, `conversions.rs`).

#![allow(dead_code)]

use std::collections::HashMap;

use proptest::prelude::*;
use silc_ir::{infer::infer, Graph, Loc, Op, Role, Type, ValueId};
use silc_sim::Tensor;

pub fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? == "mlp" {
                Some(p.file_stem()?.to_string_lossy().into_owned())
            } else {
                None
            }
        })
        .collect();
    names.sort();
    names
}

/// The checked spec of `examples/NAME.mlp`, optionally with its precision changed.
pub fn spec(name: &str, bits: Option<u8>) -> silc_frontend::ModelSpec {
    let path = examples_dir().join(format!("{name}.mlp"));
    let src = std::fs::read(&path).expect("example readable");
    let mut spec = silc_frontend::compile_source(&path.display().to_string(), &src).expect("example compiles");
    if let Some(b) = bits {
        spec.bits = b;
        let w = b - 1;
        spec.widths = silc_frontend::Widths { input: w, weights: w, activations: w, gradients: w };
    }
    spec
}

/// A small deterministic generator (xorshift64*), enough for test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// Random logical values for every input of `g`; labels are one-hot rows.
pub fn random_inputs(g: &Graph, rng: &mut Rng) -> HashMap<String, Tensor> {
    let mut out = HashMap::new();
    for id in g.inputs() {
        let n = g.node(id);
        let Op::Input { name, role } = &n.op else { unreachable!() };
        let ty = &n.ty;
        let data: Vec<i64> = if *role == silc_ir::Role::Label {
            let (rows, cols) = (ty.shape[0], ty.shape[1]);
            let mut d = vec![0; rows * cols];
            for r in 0..rows {
                d[r * cols + rng.range(0, cols as i64 - 1) as usize] = ty.hi;
            }
            d
        } else {
            (0..ty.len()).map(|_| rng.range(ty.lo, ty.hi)).collect()
        };
        out.insert(name.clone(), Tensor::new(ty.shape.clone(), data));
    }
    out
}

// ---- graphs of one op, lowered and compared --------------------------------

pub fn signed(shape: Vec<usize>, bits: u32) -> Type {
    let half = 1i64 << (bits - 1);
    Type::enc_offset(shape, -half, half - 1, half)
}

pub fn input(g: &mut Graph, name: &str, ty: Type) -> ValueId {
    g.add(Op::Input { name: name.into(), role: Role::Data }, vec![], ty, Loc::default())
}

/// Adds `op` with its inferred type stored at `offset`.
pub fn typed(g: &mut Graph, op: Op, args: Vec<ValueId>, offset: i64) -> ValueId {
    let mut ty = infer(g, &op, &args).expect("well-typed");
    ty.offset = offset;
    g.add(op, args, ty, Loc { line: 1, col: 1 })
}

/// Adds `op` as [`typed`] does, and an output.
pub fn finish(g: &mut Graph, op: Op, args: Vec<ValueId>, offset: i64) {
    let v = typed(g, op, args, offset);
    g.push(Op::Output { name: "out".into() }, vec![v], Loc::default());
}

/// The operand `a` of a product over `k`, of `w`-bit signed values: an
/// input `[n, k]`; with `bias` 1 an input `[n, k-1]` beside a constant column
/// of logical value `c`; with `bias` 2 the transpose of an input `[k, n]`
/// beside that column, so the constant is the last row of `[n+1, k]` (as
/// `lower::bias_column` makes them, stored with the input's offset).
pub fn biased_operand(g: &mut Graph, (n, k): (usize, usize), w: u32, bias: usize, c: i64) -> ValueId {
    let loc = Loc::default();
    let constant = |g: &mut Graph, x: ValueId| {
        let s = g.push(Op::Slice { axis: 1, start: 0, len: 1 }, vec![x], loc);
        let z = g.push(Op::MulClear { c: 0 }, vec![s], loc);
        let off = g.ty(x).offset;
        let col = g.push(Op::AddClear { c: c + off }, vec![z], loc);
        let mut t = g.ty(col).clone();
        (t.offset, t.lo, t.hi) = (off, c, c);
        g.set_type(col, t);
        col
    };
    match bias {
        0 => input(g, "a", signed(vec![n, k], w)),
        1 => {
            let x = input(g, "a", signed(vec![n, k - 1], w));
            let col = constant(g, x);
            g.push(Op::Concat { axis: 1 }, vec![x, col], loc)
        }
        _ => {
            let x = input(g, "a", signed(vec![k, n], w));
            let col = constant(g, x);
            let cat = g.push(Op::Concat { axis: 1 }, vec![x, col], loc);
            g.push(Op::Transpose, vec![cat], loc)
        }
    }
}

/// The operands of a product `[n, k]·[k, cols]`: `a` of `wa`-bit values
/// with a constant column as [`biased_operand`] makes it (`bias` 0, 1 or
/// 2), whose value `c_pick` chooses within `a`'s range, and an input `b` of
/// `wb`-bit values. Rejects the case when the bias leaves no column.
pub fn biased_product(
    g: &mut Graph,
    (n, k, cols): (usize, usize, usize),
    (wa, wb): (u32, u32),
    bias: usize,
    c_pick: u64,
) -> Result<(ValueId, ValueId), TestCaseError> {
    let half = 1i64 << (wa - 1);
    let c = (c_pick % (2 * half as u64)) as i64 - half;
    let a = biased_operand(g, (n, k), wa, bias, c);
    prop_assume!(g.ty(a).shape[1] == k && g.ty(a).shape[0] >= 1);
    let b = input(g, "b", signed(vec![k, cols], wb));
    Ok((a, b))
}

/// Lowers `g`, runs both on random inputs, compares.
pub fn agree(g: Graph, seed: u64) -> Result<(), TestCaseError> {
    agree_on(g, seed, &Default::default(), |_, _| {})
}

/// As [`agree`], each product by the method `force` names where it applies.
pub fn agree_forced(g: Graph, seed: u64, force: &str) -> Result<(), TestCaseError> {
    let opts = silc_passes::Options { force_product: Some(force.into()), ..Default::default() };
    agree_on(g, seed, &opts, |_, _| {})
}

/// As [`agree`], lowered with `opts`, with the random inputs adjusted by
/// `adjust` first.
pub fn agree_on(
    g: Graph,
    seed: u64,
    opts: &silc_passes::Options,
    adjust: impl Fn(&mut Rng, &mut HashMap<String, Tensor>),
) -> Result<(), TestCaseError> {
    let lowered =
        silc_passes::lower_graph(g.clone(), opts).map_err(|e| TestCaseError::fail(format!("does not lower: {e:?}")))?;
    prop_assert!(lowered.violations.is_empty(), "{:?}", lowered.violations);
    let mut rng = Rng(seed | 1);
    for _ in 0..3 {
        let mut inputs = random_inputs(&g, &mut rng);
        adjust(&mut rng, &mut inputs);
        let want = silc_sim::execute(&g, &inputs).unwrap();
        for (stage, low) in &lowered.stages[1..] {
            let got = silc_sim::execute(low, &inputs).unwrap();
            prop_assert_eq!(&got, &want, "after {}", stage);
        }
    }
    Ok(())
}

/// Shrinks every input tensor by its own random number of bits.
pub fn shrink(rng: &mut Rng, inputs: &mut HashMap<String, Tensor>) {
    let mut names: Vec<String> = inputs.keys().cloned().collect();
    names.sort();
    for name in names {
        let t = inputs.get_mut(&name).expect("listed");
        let s = rng.range(0, 6) as u32;
        t.data.iter_mut().for_each(|x| *x >>= s);
    }
}
