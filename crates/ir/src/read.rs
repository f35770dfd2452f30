//! Parser for the text form printed by [`crate::text`], so that pass tests can
//! start from hand-written IR. Errors name the line and what was expected.

use std::collections::HashMap;

use crate::graph::{Graph, ValueId};
use crate::op::{Op, Role};
use crate::table::{Table, TableId};
use crate::text::Attr;
use crate::types::{Loc, Type, Vis};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReadError {
    pub line: usize,
    pub message: String,
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

type R<T> = Result<T, String>;

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, tok: &str) -> R<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(format!("expected `{tok}` at `{}`", self.rest().chars().take(20).collect::<String>()))
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        self.ws();
        let start = self.pos;
        while let Some(c) = self.rest().chars().next() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }
    fn word(&mut self) -> R<&'a str> {
        let w = self.take_while(|c| c.is_alphanumeric() || c == '_');
        if w.is_empty() {
            Err(format!("expected a word at `{}`", self.rest().chars().take(20).collect::<String>()))
        } else {
            Ok(w)
        }
    }
    fn int(&mut self) -> R<i64> {
        let t = self.take_while(|c| c.is_ascii_digit() || c == '-');
        let i: i64 = t.parse().map_err(|_| format!("expected an integer, found `{t}`"))?;
        bounded(i)
    }
    fn number(&mut self) -> R<Attr> {
        let t = self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'));
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Attr::Int(bounded(i)?));
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_finite() && x.abs() <= MAX_INT as f64 => Ok(Attr::Float(x)),
            Ok(x) => Err(format!("the number {x} is out of range")),
            Err(_) => Err(format!("expected a number, found `{t}`")),
        }
    }
    fn string(&mut self) -> R<String> {
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
    fn int_list(&mut self) -> R<Vec<i64>> {
        self.expect("[")?;
        let mut v = Vec::new();
        while !self.eat("]") {
            v.push(self.int()?);
            self.eat(",");
        }
        Ok(v)
    }
    fn table_id(&mut self) -> R<TableId> {
        self.expect("t")?;
        Ok(TableId(self.int()? as u32))
    }
    fn attr(&mut self) -> R<Attr> {
        self.ws();
        let r = self.rest();
        if r.starts_with('"') {
            Ok(Attr::Str(self.string()?))
        } else if r.starts_with("[t") {
            self.expect("[")?;
            let mut v = Vec::new();
            while !self.eat("]") {
                v.push(self.table_id()?);
                self.eat(",");
            }
            Ok(Attr::Tables(v))
        } else if r.starts_with('[') {
            Ok(Attr::Ints(self.int_list()?))
        } else if r.starts_with('t') && r[1..].starts_with(|c: char| c.is_ascii_digit()) {
            Ok(Attr::Table(self.table_id()?))
        } else if r.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            self.number()
        } else {
            Ok(Attr::Word(self.word()?.to_string()))
        }
    }
}

/// No integer of a silc circuit comes near this (values are below 2^(p+1),
/// product ranges below 2^40); larger ones are refused so that no analysis
/// of a read graph can overflow.
const MAX_INT: i64 = 1 << 40;

fn bounded(i: i64) -> R<i64> {
    if i.unsigned_abs() > MAX_INT as u64 {
        Err(format!("the integer {i} is out of range (|x| ≤ 2^40)"))
    } else {
        Ok(i)
    }
}

/// An attribute that must lie in `lo..=hi`.
fn within(what: &str, v: i64, lo: i64, hi: i64) -> R<i64> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{what}={v} is out of range ({lo} to {hi})"))
    }
}

/// Parses a whole graph.
pub fn read(text: &str) -> Result<Graph, ReadError> {
    let mut graph: Option<Graph> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with("//") {
            continue;
        }
        let err = |message: String| ReadError { line: i + 1, message };
        let mut c = Cursor { s: line, pos: 0 };
        match graph.as_mut() {
            None => {
                c.expect("graph").map_err(err)?;
                let name = c.take_while(|ch| !ch.is_whitespace()).to_string();
                c.expect("bits=").map_err(err)?;
                let bits = c.int().map_err(err)?;
                if !(1..=16).contains(&bits) {
                    return Err(err(format!("bits={bits} is out of range")));
                }
                graph = Some(Graph::new(name, bits as u32));
            }
            Some(g) => {
                if line.starts_with('t') {
                    read_table(&mut c, g).map_err(err)?;
                } else {
                    read_node(&mut c, g).map_err(err)?;
                }
                c.ws();
                if !c.rest().is_empty() {
                    return Err(err(format!("unexpected `{}` at the end of the line", c.rest())));
                }
            }
        }
    }
    let graph = graph.ok_or(ReadError { line: 1, message: "expected a `graph NAME bits=N` header".into() })?;
    // A graph that parses but is inconsistent (a range its op cannot give,
    // a table of the wrong size) is refused here, not met by an executor.
    if let Err(errors) = crate::verify::verify(&graph) {
        let e = &errors[0];
        let line = text.lines().position(|l| l.trim_start().starts_with(&format!("{} ", e.value))).map_or(0, |i| i + 1);
        return Err(ReadError { line, message: format!("{} does not verify: {}", e.value, e.message) });
    }
    Ok(graph)
}

fn read_table(c: &mut Cursor<'_>, g: &mut Graph) -> R<()> {
    let id = c.table_id()?;
    if id.0 as usize != g.tables.len() {
        return Err(format!("table {id} is out of order: expected t{}", g.tables.len()));
    }
    c.expect("=")?;
    c.expect("table")?;
    let name = c.string()?;
    c.expect("[")?;
    let mut entries = Vec::new();
    while !c.eat("]") {
        let first = c.int()?;
        if c.eat("..") {
            let last = c.int()?;
            let step = if last >= first { 1 } else { -1 };
            let mut v = first;
            while v != last + step {
                entries.push(v);
                v += step;
            }
        } else if c.eat("*") {
            let n = c.int()?;
            if !(1..=1 << 16).contains(&n) {
                return Err(format!("bad repeat count {n}"));
            }
            entries.extend(std::iter::repeat_n(first, n as usize));
        } else {
            entries.push(first);
        }
        if entries.len() > 1 << 16 {
            return Err("a table has at most 2^16 entries".into());
        }
        if c.rest().is_empty() {
            return Err("unterminated table".into());
        }
    }
    // 2^p entries for a grid table, m for a torus read: the ops that use a
    // table check its length (`infer`).
    if entries.len() < 2 {
        return Err(format!("a table has at least 2 entries, found {}", entries.len()));
    }
    let got = g.tables.intern(Table { name, entries });
    if got != id {
        return Err(format!("table {id} repeats the entries of {got}"));
    }
    Ok(())
}

fn read_node(c: &mut Cursor<'_>, g: &mut Graph) -> R<()> {
    c.expect("%")?;
    let id = c.int()?;
    if id as usize != g.len() {
        return Err(format!("value %{id} is out of order: expected %{}", g.len()));
    }
    c.expect("=")?;
    let name = c.word()?.to_string();
    let mut args = Vec::new();
    while c.eat("%") {
        let a = c.int()?;
        if a < 0 || a as usize >= g.len() {
            return Err(format!("operand %{a} is not defined before %{id}"));
        }
        args.push(ValueId(a as u32));
        c.eat(",");
    }
    let mut attrs: HashMap<String, Attr> = HashMap::new();
    if c.eat("{") {
        while !c.eat("}") {
            let key = c.word()?.to_string();
            c.expect("=")?;
            let v = c.attr()?;
            attrs.insert(key, v);
            c.eat(",");
            if c.rest().is_empty() {
                return Err("unterminated attribute list".into());
            }
        }
    }
    let op = build_op(&name, &mut attrs, g)?;
    if let Some(k) = attrs.keys().next() {
        return Err(format!("`{name}` has no attribute `{k}`"));
    }
    if let Some(n) = op.arity() {
        if n != args.len() {
            return Err(format!("`{name}` takes {n} operand(s), found {}", args.len()));
        }
    }
    c.expect(":")?;
    let ty = read_type(c)?;
    let mut loc = Loc::default();
    if c.eat("@") {
        loc.line = c.int()? as u32;
        c.expect(":")?;
        loc.col = c.int()? as u32;
    }
    g.add(op, args, ty, loc);
    Ok(())
}

fn read_type(c: &mut Cursor<'_>) -> R<Type> {
    let vis = match c.word()? {
        "enc" => Vis::Enc,
        "clear" => Vis::Clear,
        other => return Err(format!("expected `enc` or `clear`, found `{other}`")),
    };
    let shape: Vec<usize> =
        c.int_list()?.into_iter().map(|d| within("dimension", d, 0, 1 << 24).map(|d| d as usize)).collect::<R<_>>()?;
    if shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d).filter(|&n| n <= 1 << 32)).is_none() {
        return Err(format!("the shape {shape:?} has more than 2^32 elements"));
    }
    let width = c.word()?.to_string();
    c.expect("[")?;
    let lo = c.int()?;
    c.expect(",")?;
    let hi = c.int()?;
    c.expect("]")?;
    let offset = if c.eat("off") { c.int()? } else { 0 };
    let torus = if c.eat("torus") { Some(c.int()?) } else { None };
    if lo > hi {
        return Err(format!("empty range [{lo}, {hi}]"));
    }
    let ty = Type { vis, shape, lo, hi, offset, torus };
    if ty.width_name() != width {
        return Err(format!("width `{width}` does not match the range [{lo}, {hi}] (that is `{}`)", ty.width_name()));
    }
    Ok(ty)
}

fn build_op(name: &str, a: &mut HashMap<String, Attr>, g: &Graph) -> R<Op> {
    // Optional: only the rescaling ops read it; elsewhere it is put back and
    // reported as an unknown attribute by the caller.
    let shift_attr = if matches!(name, "rescale" | "from_residues") { a.remove("shifts") } else { None };
    let lo_bits_attr = if name == "sgd_update" { a.remove("lo_bits") } else { None };
    let sat_attr = if matches!(name, "rescale" | "from_residues") { a.remove("sat") } else { None };
    let low_attr = if name == "from_residues" { a.remove("low") } else { None };
    let chunks_attr = if name == "from_residues" { a.remove("chunks") } else { None };
    let torus_attr = if name == "torus_read" { a.remove("torus") } else { None };
    let modulus_attr = if name == "add_dither" { a.remove("modulus") } else { None };
    let margin_attr = if matches!(name, "ce_grad" | "logistic_grad") { a.remove("margin") } else { None };
    let kind_attr = if name == "form" { a.remove("kind") } else { None };
    let a_attr = if name == "ext_dot" { a.remove("a") } else { None };
    let ext_table_attr = if name == "ext_dot" { a.remove("table") } else { None };
    let ggsw: R<bool> = match kind_attr {
        None => Ok(false),
        Some(Attr::Word(w)) if w == "ggsw" => Ok(true),
        Some(other) => Err(format!("expected `kind=ggsw`, found `kind={other}`")),
    };
    let transpose: R<bool> = match a_attr {
        None => Ok(false),
        Some(Attr::Word(w)) if w == "transposed" => Ok(true),
        Some(other) => Err(format!("expected `a=transposed`, found `a={other}`")),
    };
    let relu: R<bool> = match sat_attr {
        None => Ok(false),
        Some(Attr::Word(w)) if w == "relu" => Ok(true),
        Some(other) => Err(format!("expected `sat=relu`, found `sat={other}`")),
    };
    let shifts: R<Vec<usize>> = match shift_attr {
        None => Ok(vec![]),
        Some(Attr::Ints(v)) => {
            v.into_iter().map(|j| usize::try_from(j).map_err(|_| format!("expected a count, found {j}"))).collect()
        }
        Some(other) => Err(format!("expected a list, found `{other}`")),
    };
    let mut take = |k: &str| a.remove(k).ok_or_else(|| format!("`{name}` needs attribute `{k}`"));
    let int = |v: Attr| match v {
        Attr::Int(i) => Ok(i),
        other => Err(format!("expected an integer, found `{other}`")),
    };
    let number = |v: Attr| match v {
        Attr::Float(x) => Ok(x),
        Attr::Int(i) => Ok(i as f64),
        other => Err(format!("expected a number, found `{other}`")),
    };
    // The loss gradients' optional margin, in logit steps (0: none).
    let margin = match margin_attr {
        None => Ok(0),
        Some(v) => int(v).and_then(|m| within("margin", m, 1, 1 << 16)),
    };
    let uint = |v: Attr| int(v).and_then(|i| usize::try_from(i).map_err(|_| format!("expected a count, found {i}")));
    let ints = |v: Attr| match v {
        Attr::Ints(i) => Ok(i),
        other => Err(format!("expected a list, found `{other}`")),
    };
    let moduli = |v: Vec<i64>| -> R<Vec<i64>> {
        if v.is_empty() {
            return Err("expected at least one modulus".into());
        }
        v.into_iter().map(|m| within("modulus", m, 2, 1 << 24)).collect()
    };
    let string = |v: Attr| match v {
        Attr::Str(s) => Ok(s),
        other => Err(format!("expected a string, found `{other}`")),
    };
    let check_table = |t: TableId| {
        if (t.0 as usize) < g.tables.len() {
            Ok(t)
        } else {
            Err(format!("table {t} is not defined"))
        }
    };
    Ok(match name {
        "input" => {
            let n = string(take("name")?)?;
            let role = match take("role")? {
                Attr::Word(w) if w == "data" => Role::Data,
                Attr::Word(w) if w == "label" => Role::Label,
                Attr::Word(w) if w == "weight" => Role::Weight,
                other => return Err(format!("unknown role `{other}`")),
            };
            Op::Input { name: n, role }
        }
        "output" => Op::Output { name: string(take("name")?)? },
        "form" => Op::Form { name: string(take("name")?)?, axis: uint(take("axis")?)?, ggsw: ggsw? },
        "matmul" => Op::MatMul,
        "transpose" => Op::Transpose,
        "rescale" => Op::Rescale {
            factors: moduli(ints(take("factors")?)?)?,
            bits: within("bits", int(take("bits")?)?, 2, 16)? as u32,
            shifts: shifts?,
            relu: relu?,
        },
        "relu" => Op::Relu,
        "relu_backward" => Op::ReluBackward,
        "ce_grad" => Op::CeGrad {
            z_scale: number(take("z_scale")?)?,
            exp_max: int(take("exp_max")?)?,
            grad_max: int(take("grad_max")?)?,
            margin: margin?,
        },
        "logistic_grad" => {
            Op::LogisticGrad { z_scale: number(take("z_scale")?)?, grad_max: int(take("grad_max")?)?, margin: margin? }
        }
        "sgd_update" => Op::SgdUpdate {
            num: int(take("num")?)?,
            shift: within("shift", int(take("shift")?)?, 0, 40)? as u32,
            bound: int(take("bound")?)?,
            lo_bits: match lo_bits_attr {
                None => 0,
                Some(v) => within("lo_bits", int(v)?, 1, 15)? as u32,
            },
        },
        "mod_matmul" => Op::ModMatMul { modulus: within("modulus", int(take("modulus")?)?, 2, 1 << 24)? },
        "from_residues" => Op::FromResidues {
            moduli: moduli(ints(take("moduli")?)?)?,
            n_div: uint(take("n_div")?)?,
            c_lo: int(take("c_lo")?)?,
            c_hi: int(take("c_hi")?)?,
            bits: within("bits", int(take("bits")?)?, 2, 16)? as u32,
            shifts: shifts?,
            relu: relu?,
            low: match low_attr {
                None => 2,
                Some(v) => within("low", int(v)?, 2, 1 << 15)?,
            },
            chunks: match chunks_attr {
                None => vec![],
                Some(v) => ints(v)?
                    .into_iter()
                    .map(|k| within("chunks", k, 1, 1 << 24).map(|k| k as usize))
                    .collect::<R<_>>()?,
            },
        },
        "add" => Op::Add,
        "add_exclusive" => match ints(take("idle")?)? {
            idle if idle.len() == 2 => Op::AddExclusive { idle },
            idle => return Err(format!("`idle` needs one value per operand (2), found {}", idle.len())),
        },
        "fold" => Op::Fold,
        "sub" => Op::Sub,
        "add_clear" => Op::AddClear { c: int(take("c")?)? },
        "mul_clear" => Op::MulClear { c: int(take("c")?)? },
        "add_dither" => Op::AddDither {
            stream: within("stream", int(take("stream")?)?, 0, u32::MAX as i64)? as u32,
            lo: int(take("lo")?)?,
            hi: int(take("hi")?)?,
            modulus: match modulus_attr {
                None => None,
                Some(v) => Some(within("modulus", int(v)?, 2, 1 << 24)?),
            },
        },
        "pack" => Op::Pack { scale: int(take("scale")?)? },
        "reduce_sum" => Op::ReduceSum { axis: uint(take("axis")?)?, chunk: uint(take("chunk")?)? },
        "lut" => match take("table")? {
            Attr::Table(t) => Op::Lut { table: check_table(t)? },
            other => return Err(format!("expected a table id, found `{other}`")),
        },
        "lut_torus" => match take("table")? {
            Attr::Table(t) => Op::LutTorus { table: check_table(t)?, m: within("m", int(take("m")?)?, 2, 1 << 24)? },
            other => return Err(format!("expected a table id, found `{other}`")),
        },
        "torus_sign" => Op::TorusSign,
        "on_grid" => Op::OnGrid {
            d: within("d", int(take("d")?)?, 1, 1 << 16)?,
            hi: within("hi", int(take("hi")?)?, 0, 1 << 16)?,
        },
        "ext_dot" => Op::ExtDot {
            m: within("m", int(take("m")?)?, 2, 1 << 24)?,
            transpose: transpose?,
            table: match ext_table_attr {
                None => None,
                Some(Attr::Table(t)) => Some(check_table(t)?),
                Some(other) => return Err(format!("expected a table id, found `{other}`")),
            },
        },
        "coarsen" => Op::Coarsen { by: within("by", int(take("by")?)?, 2, 1 << 24)? },
        "torus_read" => match take("table")? {
            Attr::Table(t) => Op::TorusRead {
                table: check_table(t)?,
                torus: match torus_attr {
                    None => None,
                    Some(v) => Some(within("torus", int(v)?, 2, 1 << 24)?),
                },
            },
            other => return Err(format!("expected a table id, found `{other}`")),
        },
        "lut_many" => match take("tables")? {
            Attr::Tables(ts) => Op::LutMany { tables: ts.into_iter().map(check_table).collect::<R<_>>()? },
            other => return Err(format!("expected a list of table ids, found `{other}`")),
        },
        "reshape" => Op::Reshape { shape: ints(take("shape")?)?.into_iter().map(|d| d as usize).collect() },
        "expand" => Op::Expand { axis: uint(take("axis")?)?, n: uint(take("n")?)? },
        "slice" => Op::Slice { axis: uint(take("axis")?)?, start: uint(take("start")?)?, len: uint(take("len")?)? },
        "concat" => Op::Concat { axis: uint(take("axis")?)? },
        other => return Err(format!("unknown op `{other}`")),
    })
}
