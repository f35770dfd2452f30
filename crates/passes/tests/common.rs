//! Helpers shared by the pass tests: loading examples and random inputs.

#![allow(dead_code)]

use std::collections::HashMap;

use silc_ir::{Graph, Op};
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
