//! The deterministic text form of a graph, one op per line:
//!
//! ```text
//! graph iris bits=8
//! t0 = table "mod31" [0 1 2 …]
//! %0 = input {name="x", role=data} : enc[8,4] i7 [-64, 63] off 64 @3:5
//! %4 = rescale %3 {factors=[31,32], bits=7} : enc[8,8] i7 [-64, 63] off 64 @4:5
//! ```
//!
//! Each line gives the value id, the op, its operands, its attributes, its type
//! (visibility, shape, width, range, stored offset) and the `.mlp` line:col it
//! descends from. [`crate::read`] parses the same form back.

use std::fmt::Write;

use crate::graph::Graph;
use crate::op::Op;
use crate::table::TableId;

/// An attribute value in the text form.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Int(i64),
    Float(f64),
    Ints(Vec<i64>),
    Str(String),
    Word(String),
    Table(TableId),
    Tables(Vec<TableId>),
}

impl std::fmt::Display for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn list<T: std::fmt::Display>(items: &[T]) -> String {
            items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        }
        match self {
            Attr::Int(i) => write!(f, "{i}"),
            Attr::Float(x) => write!(f, "{x:?}"),
            Attr::Ints(v) => write!(f, "[{}]", list(v)),
            Attr::Str(s) => write!(f, "{s:?}"),
            Attr::Word(w) => write!(f, "{w}"),
            Attr::Table(t) => write!(f, "{t}"),
            Attr::Tables(v) => write!(f, "[{}]", list(v)),
        }
    }
}

/// The attributes of an op, in printing order.
pub fn attrs(op: &Op) -> Vec<(&'static str, Attr)> {
    use Attr::*;
    let u = |x: usize| Int(x as i64);
    match op {
        Op::Input { name, role } => vec![("name", Str(name.clone())), ("role", Word(role.name().into()))],
        Op::Output { name } => vec![("name", Str(name.clone()))],
        Op::Form { name, axis, ggsw } => {
            let mut a = vec![("name", Str(name.clone())), ("axis", u(*axis))];
            if *ggsw {
                a.push(("kind", Word("ggsw".into())));
            }
            a
        }
        Op::Rescale { factors, bits, shifts, relu } => {
            let mut a = vec![("factors", Ints(factors.clone())), ("bits", Int(*bits as i64))];
            if !shifts.is_empty() {
                a.push(("shifts", Ints(shifts.iter().map(|&j| j as i64).collect())));
            }
            if *relu {
                a.push(("sat", Word("relu".into())));
            }
            a
        }
        Op::CeGrad { z_scale, exp_max, grad_max, margin } => {
            let mut a = vec![("z_scale", Float(*z_scale)), ("exp_max", Int(*exp_max)), ("grad_max", Int(*grad_max))];
            if *margin > 0 {
                a.push(("margin", Int(*margin)));
            }
            a
        }
        Op::LogisticGrad { z_scale, grad_max, margin } => {
            let mut a = vec![("z_scale", Float(*z_scale)), ("grad_max", Int(*grad_max))];
            if *margin > 0 {
                a.push(("margin", Int(*margin)));
            }
            a
        }
        Op::SgdUpdate { num, shift, bound, lo_bits } => {
            let mut a = vec![("num", Int(*num)), ("shift", Int(*shift as i64)), ("bound", Int(*bound))];
            if *lo_bits > 0 {
                a.push(("lo_bits", Int(*lo_bits as i64)));
            }
            a
        }
        Op::ModMatMul { modulus } => vec![("modulus", Int(*modulus))],
        Op::FromResidues { moduli, n_div, c_lo, c_hi, bits, shifts, relu, low, chunks } => {
            let mut a = vec![
                ("moduli", Ints(moduli.clone())),
                ("n_div", u(*n_div)),
                ("c_lo", Int(*c_lo)),
                ("c_hi", Int(*c_hi)),
                ("bits", Int(*bits as i64)),
            ];
            if !shifts.is_empty() {
                a.push(("shifts", Ints(shifts.iter().map(|&j| j as i64).collect())));
            }
            if *relu {
                a.push(("sat", Word("relu".into())));
            }
            if *low != 2 {
                a.push(("low", Int(*low)));
            }
            if !chunks.is_empty() {
                a.push(("chunks", Ints(chunks.iter().map(|&k| k as i64).collect())));
            }
            a
        }
        Op::AddClear { c } | Op::MulClear { c } => vec![("c", Int(*c))],
        Op::Pack { scale } => vec![("scale", Int(*scale))],
        Op::AddDither { stream, lo, hi, modulus } => {
            let mut a = vec![("stream", Int(*stream as i64)), ("lo", Int(*lo)), ("hi", Int(*hi))];
            if let Some(m) = modulus {
                a.push(("modulus", Int(*m)));
            }
            a
        }
        Op::AddExclusive { idle } => vec![("idle", Ints(idle.clone()))],
        Op::ReduceSum { axis, chunk } => vec![("axis", u(*axis)), ("chunk", u(*chunk))],
        Op::Lut { table } => vec![("table", Table(*table))],
        Op::LutTorus { table, m } => vec![("table", Table(*table)), ("m", Int(*m))],
        Op::TorusRead { table, torus } => {
            let mut a = vec![("table", Table(*table))];
            if let Some(t) = torus {
                a.push(("torus", Int(*t)));
            }
            a
        }
        Op::OnGrid { d, hi } => vec![("d", Int(*d)), ("hi", Int(*hi))],
        Op::ExtDot { m, transpose, table } => {
            let mut a = vec![("m", Int(*m))];
            if *transpose {
                a.push(("a", Word("transposed".into())));
            }
            if let Some(t) = table {
                a.push(("table", Table(*t)));
            }
            a
        }
        Op::Coarsen { by } => vec![("by", Int(*by))],
        Op::LutMany { tables } => vec![("tables", Tables(tables.clone()))],
        Op::Reshape { shape } => vec![("shape", Ints(shape.iter().map(|&d| d as i64).collect()))],
        Op::Expand { axis, n } => vec![("axis", u(*axis)), ("n", u(*n))],
        Op::Slice { axis, start, len } => vec![("axis", u(*axis)), ("start", u(*start)), ("len", u(*len))],
        Op::Concat { axis } => vec![("axis", u(*axis))],
        Op::MatMul | Op::Transpose | Op::Relu | Op::ReluBackward | Op::Add | Op::Sub | Op::Fold | Op::TorusSign => {
            vec![]
        }
    }
}

/// Table entries with runs folded: `a..b` counts by one from `a` to `b` (up or
/// down), `v*n` repeats `v` `n` times; runs shorter than three stay as numbers.
pub fn compress(entries: &[i64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let run = |step: i64| {
            let mut j = i + 1;
            while j < entries.len() && entries[j] == entries[j - 1] + step {
                j += 1;
            }
            j - i
        };
        let (same, up, down) = (run(0), run(1), run(-1));
        let best = same.max(up).max(down);
        if best >= 3 {
            let last = entries[i + best - 1];
            parts.push(if same == best { format!("{}*{best}", entries[i]) } else { format!("{}..{last}", entries[i]) });
            i += best;
        } else {
            parts.push(entries[i].to_string());
            i += 1;
        }
    }
    parts.join(" ")
}

/// Prints the whole graph, tables first.
pub fn print(g: &Graph) -> String {
    let mut out = String::new();
    writeln!(out, "graph {} bits={}", g.name, g.bits).unwrap();
    for (id, t) in g.tables.iter() {
        writeln!(out, "{id} = table {:?} [{}]", t.name, compress(&t.entries)).unwrap();
    }
    for id in g.ids() {
        out.push_str(&print_node(g, id));
        out.push('\n');
    }
    out
}

/// One node's line (without newline).
pub fn print_node(g: &Graph, id: crate::ValueId) -> String {
    let n = g.node(id);
    let mut line = format!("{id} = {}", n.op.name());
    let args: Vec<String> = n.args.iter().map(|a| a.to_string()).collect();
    if !args.is_empty() {
        write!(line, " {}", args.join(", ")).unwrap();
    }
    let attrs = attrs(&n.op);
    if !attrs.is_empty() {
        let parts: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(line, " {{{}}}", parts.join(", ")).unwrap();
    }
    write!(line, " : {}", n.ty).unwrap();
    if n.loc.line != 0 {
        write!(line, " @{}", n.loc).unwrap();
    }
    line
}
