//! `scale`: lowers `from_residues` — mixed-radix conversion and block scaling.
//!
//! With `V = C + K ≥ 0` (`K` from [`crate::rns::rounding_offset`]), the
//! residues of `V` are turned into mixed-radix digits `d_1 … d_n`
//! (`V = d_1 + m_1·(d_2 + m_2·(…))`), two tables per digit step: one that
//! negates a digit modulo the next modulus, one that multiplies the sum by a
//! modular inverse. Because the first `n_div` moduli multiply to the rescale
//! divisor `D`, dropping their digits divides exactly:
//! `floor(V / D) = e_1 + n_1·(e_2 + …)` over the upper digits `e_i`.
//!
//! A residue modulo `2^(p+1)` (see `karatsuba::wrap`; the first modulus,
//! when the divisor is 2, 4 or 8, or the last) is a wrapping sum no table
//! can read whole. Its digit `e = (V - Σ_j P_j·d_j)·P⁻¹ mod 2^(p+1)` (`P` the
//! product of the moduli before it, odd) is formed by leveled sums: the
//! residue pre-multiplied by `P⁻¹` (three PBS, `wrap::read_wide`), plus one
//! table per earlier digit answering `-P_j·P⁻¹·d_j mod 2^(p+1)`. Then `e` is
//! read as its low radix (`e mod low`, its digit in place; `low` is 2, or
//! the divisor when it comes first) and `u = ⌊e/low⌋`, four PBS; `u` is the
//! residue modulo `2^(p+1)/low` of what the later digits leave, so the later
//! digits are taken off it like any modulus's, and it gives the last digit
//! (`rns::radices`).
//!
//! The result must be saturated to the output width. A saturating chain runs
//! from the most significant digit down: level `i` keeps
//! `y_i = clamp(e_i - a_i + n_i·y_{i+1}, L_i, H_i)` where the bounds shrink by
//! the radix at each level, so `y_{i+1}` is small enough to pack beside `e_i`
//! into one p-bit table index; the table producing `y_{i+1}` already outputs
//! it multiplied by `n_i`. The clamp at level 1 is exactly the saturation of
//! the rescaled value (see `rns::plan_chain`).
//!
//! A static rescale drops the digits of its whole divisor. A block-scaled one
//! (`shifts` non-empty; the block is the whole tensor) runs one chain per
//! candidate shift over the same digits (`rns::plan_shift`), and in the same
//! blind rotation as each chain's last table a flag "this element reached a
//! bound". The flags are OR-reduced over the tensor (sums of at most
//! `min(2^p - 1, ν²)` flags, then a `> 0` table, until one remains); the
//! flags of all candidates pack into one index from which a table per
//! candidate says whether it is the chosen one (the finest unsaturated),
//! already multiplied by `2^bits`. Broadcast, added to that candidate's
//! result and looked up, it keeps the result or zeroes it; the kept results
//! are summed by `add_exclusive` (exactly one is non-zero, which `check`
//! proves), so no table clamps the sum.
//!
//! A wrap-first system `[2^(p+1), m]` (`rns::wrap_first`; a static
//! rescale by a power of two) is read the other way round: the digits of
//! `2^(p+1)` first, off one fold of its wrapping sum, then the top digit
//! from `m`'s residue and the fold (`scale::wrap_first`); the chain is the
//! same.
//!
//! A residue read off a torus sum (`karatsuba::torus`) is not read again:
//! the first digit, `r + K`, is a second read of the same sum, and where the
//! first two moduli are a pair split from one sum modulo `ab` (`rns::pairs`)
//! the second digit is one more read of it (`read_back`). A pair after
//! earlier digits takes their terms onto its sum on the torus and reads
//! both of its digits off that (`Conversion::pair_after`).
//!
//! A product cut into chunks (`rns::chunks`) converts each chunk's residues
//! to digits with its own offset, adds the chunks' digits with carries
//! (`scale::sum`), and runs the (static) chain on the total, whose top digit is
//! the chain's last level.

mod fine;
mod sum;
pub mod window;
mod wrap_first;

use silc_ir::{semantics, Graph, Loc, Op, Rewriter, Table, ValueId};

use crate::karatsuba::wrap;
use crate::rns::chunks;
use crate::rns::{plan_chain, plan_shift, radices, ChainPlan};

/// Lowers every `from_residues`; `nu` bounds the flag sums of block scaling.
pub fn run(g: &Graph, nu: f64) -> Graph {
    let mut rw = Rewriter::new(g);
    for id in g.ids() {
        let node = g.node(id);
        let Op::FromResidues { moduli, n_div, c_lo, c_hi, shifts, low, chunks, bits, relu } = &node.op else {
            rw.copy(id);
            continue;
        };
        let residues: Vec<ValueId> = node.args.iter().map(|&a| rw.get(a)).collect();
        let conv = Conversion {
            moduli,
            n_div: *n_div,
            low: *low,
            c_range: (*c_lo, *c_hi),
            bounds: semantics::rescale_bounds(*bits, *relu),
            ty: &node.ty,
            loc: node.loc,
        };
        let out = if chunks.is_empty() {
            conv.lower(&mut rw.new, &residues, shifts, nu)
        } else {
            // The verifier refuses shifts on a chunked product.
            conv.lower_chunked(&mut rw.new, &residues, chunks, nu)
        };
        rw.map_to(id, out);
    }
    rw.finish()
}

/// The torus sum and sign a residue was read from, when `r` is a plain
/// identity `torus_read` onto the grid (`karatsuba::torus`), through
/// reshapes and at most one table after it (a paired modulus's split,
/// `rns::pairs`): the sum, the sign, the read's modulus and what `r` is of
/// the read's residue `v` (`f[v]`). A second read of the same sum can
/// answer any function of the residue, here the first modulus's `r + K`.
fn read_back(g: &Graph, r: ValueId) -> Option<(ValueId, ValueId, Vec<i64>)> {
    let peel = |mut cur: ValueId| {
        while let Op::Reshape { .. } = g.node(cur).op {
            cur = g.node(cur).args[0];
        }
        cur
    };
    let mut cur = peel(r);
    let mut after = None;
    if let Op::Lut { table } = g.node(cur).op {
        after = Some(table);
        cur = peel(g.node(cur).args[0]);
    }
    match g.node(cur).op {
        Op::TorusRead { table, torus: None }
            if g.tables.get(table).entries.iter().enumerate().all(|(i, &e)| e == i as i64) =>
        {
            let m = g.tables.get(table).entries.len();
            let f = match after {
                Some(t) => g.tables.get(t).entries[..m].to_vec(),
                None => (0..m as i64).collect(),
            };
            Some((g.node(cur).args[0], g.node(cur).args[1], f))
        }
        _ => None,
    }
}

/// A read of the torus sum `sum` (sign `sign`) by `table`, in the shape of
/// the residue `r` it replaces (reshapes are free).
fn read_at(g: &mut Graph, (sum, sign): (ValueId, ValueId), table: silc_ir::TableId, r: ValueId, loc: Loc) -> ValueId {
    let shape = g.ty(r).shape.clone();
    let sum = g.push(Op::Reshape { shape: shape.clone() }, vec![sum], loc);
    let sign = g.push(Op::Reshape { shape }, vec![sign], loc);
    g.push(Op::TorusRead { table, torus: None }, vec![sum, sign], loc)
}

struct Conversion<'a> {
    moduli: &'a [i64],
    n_div: usize,
    /// The radix `2^(p+1)` gives in its place (`rns::radices`).
    low: i64,
    c_range: (i64, i64),
    /// The rescale's saturation bounds (logical).
    bounds: (i64, i64),
    ty: &'a silc_ir::Type,
    loc: Loc,
}

impl Conversion<'_> {
    fn lower(&self, g: &mut Graph, residues: &[ValueId], shifts: &[usize], nu: f64) -> ValueId {
        let p = g.bits;
        let (moduli, n_div) = (self.moduli, self.n_div);
        let out = self.ty.stored();
        if shifts.is_empty() && n_div == 1 {
            let d = radices(p, moduli, self.low)[0];
            let (bounds, offset) = (self.bounds, self.ty.offset);
            let result = move |c: i64| semantics::rescale_to(c, d, bounds) + offset;
            if let Some(w) = window::plan(p, moduli, self.c_range, &result) {
                let y = window::lower(g, residues, &w, self.loc);
                return self.declare(g, y);
            }
        }
        if shifts.is_empty() {
            let wf = crate::rns::wrap_first::layout(p, moduli, self.low, n_div, self.c_range, out, self.ty.offset);
            if let Some((upper, plan)) = wf {
                let e = wrap_first::digits(g, residues, (self.low, &upper), plan.k_off, self.loc);
                let y = self.chain(g, &e, &upper, &plan, false).0;
                return self.declare(g, y);
            }
        }
        let fine_d = semantics::fine_divisor(p, moduli);
        let (radix, wide, plan) = match fine_d {
            Some(_) => crate::rns::fine::layout(p, moduli, self.low, n_div, self.c_range, out, self.ty.offset),
            None => {
                let radix = radices(p, moduli, self.low);
                let d: i64 = radix[..n_div].iter().product();
                let m_total = semantics::covered(p, moduli, false);
                plan_chain(p, &radix[n_div..], d, self.c_range, out, self.ty.offset, m_total)
                    .map(|plan| (radix, false, plan))
            }
        }
        .expect("internal error: rns chose moduli the chain cannot use");
        let digits = match fine_d {
            Some(d) => fine::digits(g, residues, d, (&radix, wide), (plan.k_off, self.c_range.1), self.loc),
            None => self.digits(g, residues, plan.k_off, nu),
        };
        let y = if shifts.is_empty() {
            self.chain(g, &digits[n_div..], &radix[n_div..], &plan, false).0
        } else {
            self.select(g, &digits, &radix, plan.k_off, shifts, nu)
        };
        self.declare(g, y)
    }

    /// A product cut into `cut` (`rns::chunks`): each chunk's digits, their
    /// sum as multi-digit numbers (`sum`), and the chain on the total's
    /// upper digits.
    fn lower_chunked(&self, g: &mut Graph, residues: &[ValueId], cut: &[usize], nu: f64) -> ValueId {
        let p = g.bits;
        let radix = radices(p, self.moduli, self.low);
        let sum_radix = chunks::sum_radices(p, &radix);
        let n_div = chunks::sum_radices(p, &radix[..self.n_div]).len();
        let d: i64 = radix[..self.n_div].iter().product();
        let m_total: i128 = self.moduli.iter().map(|&m| m as i128).product();
        let ranges = semantics::chunk_ranges(self.c_range.0, self.c_range.1, cut)
            .expect("internal error: rns cut a product its range does not divide");
        let plan = chunks::plan_chunks(p, &sum_radix[n_div..], d, &ranges, self.ty.stored(), self.ty.offset, m_total)
            .expect("internal error: rns chose chunks the chain cannot use");
        let numbers: Vec<Vec<ValueId>> = residues
            .chunks(self.moduli.len())
            .zip(&plan.offsets)
            .map(|(r, &k_off)| {
                let digits = self.digits(g, r, k_off, nu);
                sum::split_digits(g, &digits, &radix, self.loc)
            })
            .collect();
        let total = sum::add(g, &numbers, &sum_radix, plan.top_max, nu, self.loc);
        let upper = chunks::upper_with_top(&sum_radix, n_div, plan.top_max);
        let y = self.chain(g, &total[n_div..], &upper, &plan.chain, false).0;
        self.declare(g, y)
    }

    /// The last table's output is the stored result; declares the logical type.
    fn declare(&self, g: &mut Graph, y: ValueId) -> ValueId {
        let mut out_ty = g.ty(y).clone();
        out_ty.lo = self.ty.lo;
        out_ty.hi = self.ty.hi;
        out_ty.offset = self.ty.offset;
        g.set_type(y, out_ty);
        y
    }

    /// Mixed-radix digits of `V = C + K`, one per radix (`rns::radices`).
    fn digits(&self, g: &mut Graph, residues: &[ValueId], k_off: i64, nu: f64) -> Vec<ValueId> {
        let (p, loc, moduli) = (g.bits, self.loc, self.moduli);
        let radix = radices(p, moduli, self.low);
        let mut digits: Vec<ValueId> = Vec::new();
        // The modulus 2^(p+1) leaves its high digit (radix 2^(p+1)/low) for
        // last: its residue `u`, and where the digits after its low one start.
        let mut wide_top: Option<(ValueId, usize)> = None;
        let mut skip = false;
        for (i, (&r, &mi)) in residues.iter().zip(moduli).enumerate() {
            if std::mem::take(&mut skip) {
                continue;
            }
            // A pair after earlier digits, both digits off its sum.
            if i >= 1 && i + 1 < residues.len() && digits.len() == i {
                if let Some(two) =
                    self.pair_after(g, (r, residues[i + 1]), (mi, moduli[i + 1]), &digits, &radix, k_off, nu)
                {
                    digits.extend(two);
                    skip = true;
                    continue;
                }
            }
            if mi == 1i64 << (p + 1) {
                let e = self.wide_digit(g, r, &digits, &radix[..digits.len()], k_off);
                let [low, u] = split_wide(g, e, self.low, self.loc);
                digits.push(low);
                wide_top = Some((u, digits.len()));
                continue;
            }
            // The first two moduli paired (`rns::pairs`) and read from one
            // sum modulo `ab`: `V ≡ v + K (mod ab)`, so the second digit is
            // `⌊((v + K) mod ab)/a⌋`, a read of its own, with no step.
            if i == 1 {
                let a = moduli[0];
                let pair = read_back(g, residues[0]).zip(read_back(g, r)).filter(|(x, y)| {
                    let ab = x.2.len() as i64;
                    (x.0, x.1) == (y.0, y.1)
                        && ab == a * mi
                        && (0..ab).all(|v| x.2[v as usize] == v % a && y.2[v as usize] == v % mi)
                });
                if let Some(((sum, sign, f), _)) = pair {
                    let ab = f.len() as i64;
                    let k = k_off.rem_euclid(ab);
                    let table = g.intern(Table {
                        name: format!("read{ab}+{k}/{a}"),
                        entries: (0..ab).map(|v| (v + k) % ab / a).collect(),
                    });
                    let x = read_at(g, (sum, sign), table, r, loc);
                    digits.push(x);
                    continue;
                }
            }
            let mut x = r;
            if i == 0 {
                x = match read_back(g, r) {
                    // Read from the torus: the read itself answers `r + K`.
                    Some((sum, sign, f)) => {
                        let k = k_off.rem_euclid(mi);
                        let table = g.intern(Table {
                            name: format!("read{}+{k}", f.len()),
                            entries: f.iter().map(|&v| (v + k) % mi).collect(),
                        });
                        read_at(g, (sum, sign), table, r, loc)
                    }
                    None => {
                        let shifted = g.push(Op::AddClear { c: k_off.rem_euclid(mi) }, vec![x], loc);
                        if mi == 1i64 << p {
                            g.push(Op::Fold, vec![shifted], loc)
                        } else {
                            g.lut(Table::from_fn(format!("mod{mi}"), p, |v| v.rem_euclid(mi)), shifted, loc)
                        }
                    }
                };
            }
            // The first step also adds K (mod m_i) to the residue.
            let x = self.mrc(g, x, mi, &digits, &radix, k_off.rem_euclid(mi), nu);
            digits.push(x);
        }
        if let Some((u, start)) = wide_top {
            // `u` is `(V - (digits up to its low one))/(their radices) mod
            // 2^(p+1)/low`: K and those digits are in it already.
            let x = self.mrc(g, u, (2i64 << p) / self.low, &digits[start..], &radix[start..], 0, nu);
            digits.push(x);
        }
        digits
    }

    /// The digits of a pair `(a, b)` (`rns::pairs`) whose residues are read
    /// off one torus sum modulo `ab`, after the earlier digits `d_j` (radices
    /// `r_j`, products `P_j`, all `P`): with `W = (V − Σ_j P_j·d_j)·P⁻¹ mod
    /// ab`, they are `W mod a` and `⌊W/a⌋`. Each earlier digit adds its term
    /// `−P_j·d_j` to the sum at the torus position `1/ab`, and two reads of
    /// the new sum (one sign) answer both digits, where the steps of the
    /// conversion take two tables per earlier digit and modulus. `None`
    /// when the residues are not such a pair, or the sum cannot take the
    /// terms within the noise bound.
    #[allow(clippy::too_many_arguments)]
    fn pair_after(
        &self,
        g: &mut Graph,
        (ra, rb): (ValueId, ValueId),
        (a, b): (i64, i64),
        digits: &[ValueId],
        radix: &[i64],
        k_off: i64,
        nu: f64,
    ) -> Option<[ValueId; 2]> {
        let loc = self.loc;
        let ((sum, sign, fa), (sum_b, sign_b, fb)) = read_back(g, ra).zip(read_back(g, rb))?;
        let ab = a * b;
        let pair = (sum, sign) == (sum_b, sign_b)
            && fa.len() as i64 == ab
            && (0..ab).all(|v| fa[v as usize] == v % a && fb[v as usize] == v % b);
        let big_p: i64 = radix[..digits.len()].iter().product();
        if !pair || crate::lower::gcd(big_p, ab) != 1 {
            return None;
        }
        // The sum takes one fresh answer per earlier digit; its read adds
        // the sign's.
        let noise2 = crate::check::analyse(g).noise2[sum];
        if noise2 + digits.len() as f64 + 1.0 > nu * nu + 1e-9 {
            return None;
        }
        let shape = g.ty(ra).shape.clone();
        let mut total = g.push(Op::Reshape { shape }, vec![sum], loc);
        let mut p_j = 1;
        for (&d, &r) in digits.iter().zip(radix) {
            let c = p_j;
            let table = Table::from_fn(format!("term{ab}/{c}"), g.bits, move |x| (-c * x).rem_euclid(ab));
            let term = crate::karatsuba::torus::lut_torus(g, table, d, ab, loc);
            total = g.push(Op::Add, vec![total, term], loc);
            p_j *= r;
        }
        let sign = g.push(Op::TorusSign, vec![total], loc);
        let (k, inv) = (k_off.rem_euclid(ab), semantics::mod_inverse(big_p, ab));
        let w = move |v: i64| ((v + k) % ab * inv).rem_euclid(ab);
        let mut read = |name: String, f: &dyn Fn(i64) -> i64| {
            let table = g.intern(Table { name, entries: (0..ab).map(f).collect() });
            g.push(Op::TorusRead { table, torus: None }, vec![total, sign], loc)
        };
        let da = read(format!("read{ab}+{k}·{inv}%{a}"), &|v| w(v) % a);
        let db = read(format!("read{ab}+{k}·{inv}/{a}"), &|v| w(v) / a);
        Some([da, db])
    }

    /// One modulus's steps of the conversion: for each earlier digit `d_j`
    /// (radix `r_j`), `x ← (x - d_j)·r_j⁻¹ mod m`, the first also adding
    /// `add`. Two tables per step; modulo `2^p` the sum is folded first.
    /// A fold's output keeps its input's noise, so where `x` is itself a
    /// fold's output too noisy to take the negated digit and a second fold
    /// (at p = 3, ν² = 4), it is refreshed by an identity table first.
    #[allow(clippy::too_many_arguments)]
    fn mrc(&self, g: &mut Graph, x: ValueId, mi: i64, digits: &[ValueId], radix: &[i64], add: i64, nu: f64) -> ValueId {
        let (p, loc) = (g.bits, self.loc);
        let mut x = x;
        for (jdx, &dj) in digits.iter().enumerate() {
            let mj = radix[jdx];
            let add = if jdx == 0 { add } else { 0 };
            // The fold's output carries `x`'s noise, the digit's and its own.
            if mi == 1i64 << p && crate::check::analyse(g).noise2[x] + 2.0 > nu * nu + 1e-9 {
                x = g.lut(Table::from_fn("refresh", p, |v| v), x, loc);
            }
            let neg = g.lut(Table::from_fn(format!("neg{mi}"), p, |v| (add - v).rem_euclid(mi)), dj, loc);
            let mut sum = g.push(Op::Add, vec![x, neg], loc);
            // Modulo 2^p, a sum of two residues is read by a fold: it wraps
            // past the table's domain (see `karatsuba::wrap`).
            if mi == 1i64 << p {
                sum = g.push(Op::Fold, vec![sum], loc);
            }
            let inv = semantics::mod_inverse(mj, mi);
            x = g.lut(
                Table::from_fn(format!("mrc{mi}/{mj}"), p, |v| (v.rem_euclid(mi) * inv).rem_euclid(mi)),
                sum,
                loc,
            );
        }
        x
    }

    /// The digit `e` of the modulus `M = 2^(p+1)` after the earlier digits
    /// `d_j` (radices `m_j`, all odd): `(C + K - Σ_j P_j·d_j)·P⁻¹ mod M`, with
    /// `P_j = m_0·…·m_{j-1}` and `P` their product. `x ≡ C (mod M)` is a
    /// wrapping sum; the result is one too, of squared norm `2 + #digits`.
    fn wide_digit(&self, g: &mut Graph, x: ValueId, digits: &[ValueId], radix: &[i64], k_off: i64) -> ValueId {
        let (p, loc) = (g.bits, self.loc);
        let m = 1i64 << (p + 1);
        let big_p: i64 = radix.iter().product();
        let inv = semantics::mod_inverse(big_p.rem_euclid(m), m);
        let mut e = if big_p == 1 {
            x
        } else {
            let pre = Table::from_fn(format!("pre{m}/{big_p}"), p, move |v| (v * inv).rem_euclid(m));
            wrap::read_wide(g, x, pre, loc)
        };
        let mut pj = 1i64;
        for (&dj, &mj) in digits.iter().zip(radix) {
            let c = (pj % m) * inv % m;
            let t = Table::from_fn(format!("neg{m}/{mj}"), p, move |v| (-c * v).rem_euclid(m));
            let term = g.lut(t, dj, loc);
            e = g.push(Op::Add, vec![e, term], loc);
            pj *= mj;
        }
        g.push(Op::AddClear { c: (k_off.rem_euclid(m) * inv).rem_euclid(m) }, vec![e], loc)
    }

    /// The saturating chain over the digits `e` (radices `upper`), most
    /// significant first. With `flag`, also a 0/1 tensor, from the same input
    /// as the last table, that is 1 where the result lies on a bound.
    fn chain(
        &self,
        g: &mut Graph,
        e: &[ValueId],
        upper: &[i64],
        plan: &ChainPlan,
        flag: bool,
    ) -> (ValueId, Option<ValueId>) {
        let (p, loc) = (g.bits, self.loc);
        let q = upper.len();
        let (bounds, a) = (&plan.bounds, &plan.a);
        // Level i's table, emitted pre-scaled for level i-1.
        let scale_for = |i: usize| if i == 0 { (1, 0) } else { (upper[i - 1], bounds[i].0) };
        let level = |i: usize| -> Box<dyn Fn(i64) -> i64> {
            let (mul, base) = scale_for(i);
            let (li, hi_i) = bounds[i];
            let ai = a[i];
            if i == q - 1 {
                Box::new(move |v| ((v - ai).clamp(li, hi_i) - base) * mul)
            } else {
                let (n, lnext) = (upper[i], bounds[i + 1].0);
                Box::new(move |v| {
                    let (yn, ei) = (v.div_euclid(n) + lnext, v.rem_euclid(n));
                    ((ei - ai + n * yn).clamp(li, hi_i) - base) * mul
                })
            }
        };
        let name = |i: usize| if i == q - 1 { "sat_top".to_string() } else { format!("sat{}", upper[i]) };
        let mut input = e[q - 1];
        let mut y = g.lut(Table::from_fn(name(q - 1), p, level(q - 1)), input, loc);
        for i in (0..q - 1).rev() {
            input = g.push(Op::Add, vec![y, e[i]], loc);
            y = g.lut(Table::from_fn(name(i), p, level(i)), input, loc);
        }
        let flag = flag.then(|| {
            let (f, (lo, hi)) = (level(0), bounds[0]);
            let t = Table::from_fn("at_bound", p, move |v| i64::from(f(v) == lo || f(v) == hi));
            g.lut(t, input, loc)
        });
        (y, flag)
    }

    /// Block scaling: one chain per shift, the finest unsaturated one kept.
    fn select(
        &self,
        g: &mut Graph,
        digits: &[ValueId],
        moduli: &[i64],
        k_off: i64,
        shifts: &[usize],
        nu: f64,
    ) -> ValueId {
        let (p, loc) = (g.bits, self.loc);
        let (out, offset) = (self.ty.stored(), self.ty.offset);
        let top = out.1 + 1; // 2^bits: results are stored in [0, top)
        let shape = self.ty.shape.clone();
        let last = shifts.len() - 1;
        let mut results = Vec::new();
        let mut index: Option<ValueId> = None;
        for (c, &j) in shifts.iter().enumerate() {
            let plan = plan_shift(p, moduli, j, k_off, out, offset)
                .expect("internal error: lower chose a shift whose chain does not exist");
            let (y, flag) = self.chain(g, &digits[j..], &moduli[j..], &plan, c < last);
            results.push(y);
            if let Some(flag) = flag {
                // Candidate c's bit of the index: 2^c if any element is on a bound.
                let any = any_over(g, flag, 1i64 << c, nu, loc);
                index = Some(match index {
                    None => any,
                    Some(i) => g.push(Op::Add, vec![i, any], loc),
                });
            }
        }
        let index = index.expect("a block rescale has at least two shifts");
        let mut acc: Option<ValueId> = None;
        for (c, y) in results.into_iter().enumerate() {
            // Chosen: every finer candidate saturated, this one not (or last).
            let chosen = move |i: i64| (0..c).all(|b| i >> b & 1 == 1) && (c == last || i >> c & 1 == 0);
            let sel = g.lut(Table::from_fn(format!("select{c}"), p, move |i| i64::from(chosen(i)) * top), index, loc);
            let sel = broadcast(g, sel, &shape, loc);
            let both = g.push(Op::Add, vec![sel, y], loc);
            let kept = g.lut(Table::from_fn("keep", p, move |v| if v >= top { v - top } else { 0 }), both, loc);
            // Exactly one candidate is chosen and the others answer 0, so
            // the sum stays in `[0, top)`: `add_exclusive` says so, and
            // `check` proves it (no clamping table).
            acc = Some(match acc {
                None => kept,
                Some(a) => g.push(Op::AddExclusive { idle: vec![0, 0] }, vec![a, kept], loc),
            });
        }
        acc.expect("at least one candidate")
    }
}

/// A wrapping `e` modulo `2^(p+1)` as its digit of radix `low` and the
/// rest: `e mod low` and `⌊e/low⌋ = ⌊(e mod 2^p)/low⌋ + (2^p/low)·⌊e/2^p⌋`.
fn split_wide(g: &mut Graph, e: ValueId, low: i64, loc: Loc) -> [ValueId; 2] {
    let p = g.bits;
    let folded = g.push(Op::Fold, vec![e], loc);
    let digit = g.lut(Table::from_fn(format!("mod{low}"), p, move |v| v % low), folded, loc);
    let rest = g.lut(Table::from_fn(format!("div{low}"), p, move |v| v / low), folded, loc);
    let high = wrap::top(g, e, (1i64 << p) / low, loc);
    [digit, g.push(Op::Add, vec![rest, high], loc)]
}

/// `[1]`: `bit` if any element of the 0/1 tensor `flags` is 1, else 0. Sums
/// chunks small enough for the table domain and the noise bound, then maps
/// `> 0` by table, until one element remains.
fn any_over(g: &mut Graph, flags: ValueId, bit: i64, nu: f64, loc: Loc) -> ValueId {
    let p = g.bits;
    let chunk = ((nu * nu).floor() as usize).clamp(2, (1usize << p) - 1);
    let n: usize = g.ty(flags).shape.iter().product();
    let mut v = g.push(Op::Reshape { shape: vec![n] }, vec![flags], loc);
    loop {
        let len = g.ty(v).shape[0];
        let sum = if len > 1 { g.push(Op::ReduceSum { axis: 0, chunk }, vec![v], loc) } else { v };
        let done = len <= chunk;
        let out = if done { bit } else { 1 };
        v = g.lut(Table::from_fn(format!("any{out}"), p, move |x| if x > 0 { out } else { 0 }), sum, loc);
        if done {
            return v;
        }
    }
}

/// A `[1]` value repeated to `shape`.
fn broadcast(g: &mut Graph, v: ValueId, shape: &[usize], loc: Loc) -> ValueId {
    let mut x = v;
    for (axis, &n) in shape.iter().enumerate() {
        x = g.push(Op::Expand { axis, n }, vec![x], loc);
    }
    g.push(Op::Reshape { shape: shape.to_vec() }, vec![x], loc)
}
