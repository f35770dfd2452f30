//! Property tests of the conversions from residues and of the products
//! modulo one modulus (`rns`, `karatsuba`, `scale`): each built by hand as
//! the passes build it, lowered through the whole pipeline, equals its
//! integer reference on random inputs at every precision it applies to.

mod common;

use common::{agree, agree_forced, agree_on, biased_operand, biased_product, finish, input, shrink, signed, Rng};
use proptest::prelude::*;
use silc_ir::{infer::infer, Graph, Loc, Op, Type, ValueId};
use silc_passes::karatsuba::{fine_own_sums, OwnSums};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// A product modulo `2^(p+1)` (raw operands, summed by the refresh tree of
    /// `karatsuba::wrap`) and one modulo an odd `m` (on residues), converted
    /// by `from_residues`, either order: the wide digit's pre-multiplication
    /// by `m⁻¹` when `m` comes first; its split into radices 2 (in its place,
    /// then the divisor when `n_div` is 1) and `2^p` (last); and the chain
    /// over them, for p = 4..8, reductions up to 40 long; the wide product by
    /// quarter squares or binomial terms, the odd one by any method.
    #[test]
    fn wide_modulus_conversion(p in 4u32..=8, n in 1usize..3, k in 1usize..40, cols in 1usize..3,
                               wa in 1u32..4, wb in 1u32..4, m_pick in 0usize..3, n_div in 0usize..2,
                               lead in any::<bool>(), low_pick in 0usize..8, relu in any::<bool>(),
                               method in 0usize..4, seed in any::<u64>()) {
        let (wa, wb) = (wa.min(p - 1), wb.min(p - 1));
        let m = [3i64, 5, 7][m_pick];
        let wide = 2i64 << p;
        let mut g = Graph::new("wide", p);
        let loc = Loc::default();
        let a = input(&mut g, "a", signed(vec![n, k], wa));
        let b = input(&mut g, "b", signed(vec![k, cols], wb));
        let c = infer(&g, &Op::MatMul, &[a, b]).expect("a product");
        let (c_lo, c_hi) = (c.lo, c.hi);
        let residue = |g: &mut Graph, v: ValueId| {
            let off = g.ty(v).offset;
            g.lut(silc_ir::Table::from_fn(format!("res{m}"), p, move |e| (e - off).rem_euclid(m)), v, loc)
        };
        let (ra, rb) = (residue(&mut g, a), residue(&mut g, b));
        let r_odd = g.push(Op::ModMatMul { modulus: m }, vec![ra, rb], loc);
        let r_wide = g.push(Op::ModMatMul { modulus: wide }, vec![a, b], loc);
        let (moduli, args) = if lead { (vec![wide, m], vec![r_wide, r_odd]) } else { (vec![m, wide], vec![r_odd, r_wide]) };
        let bits = p - 1;
        let bounds = silc_ir::semantics::rescale_bounds(bits, relu);
        // Leading, the wide modulus's low radix may be the divisor: 2, 4, …
        let low = if lead && n_div == 1 { 2i64 << (low_pick as u32 % (p - 1)) } else { 2 };
        let digits = silc_passes::rns::radices(p, &moduli, low);
        let d: i64 = digits[..n_div].iter().product();
        let out = (
            silc_ir::semantics::rescale_to(c_lo, d, bounds) - bounds.0,
            silc_ir::semantics::rescale_to(c_hi, d, bounds) - bounds.0,
        );
        let planned = silc_passes::rns::plan_chain(p, &digits[n_div..], d, (c_lo, c_hi), out, -bounds.0, (m * wide) as i128);
        prop_assume!(planned.is_some());
        let op = Op::FromResidues { moduli, n_div, c_lo, c_hi, bits, shifts: vec![], relu, low, chunks: vec![] };
        finish(&mut g, op, args, -bounds.0);
        agree_forced(g, seed, ["wrapping", "wrapping-binomial", "binomial", "quarter-squares"][method])?;
    }

    /// A two-scale conversion (`scale::fine`): the residue modulo an odd `d`
    /// (3 ≤ d < 2^p) and the fine sum modulo `2^(p+1)·d` of one product of
    /// raw operands, with a bias column plain or transposed, converted by
    /// `from_residues`, statically or block-scaled over `d`'s factors, for
    /// p = 3..8. The residue's digits come from second reads of its torus
    /// sum or from tables of its grid residue, as `karatsuba` summed it;
    /// the value over `d` is read whole below `2^p`, or as its low bit and
    /// the rest below `2^(p+1)` (the wide form).
    #[test]
    fn two_scale_conversion(p in 3u32..=8, n in 1usize..4, k in 1usize..20, cols in 1usize..4,
                            wa in 1u32..4, wb in 1u32..4, d_pick in any::<u64>(), bias in 0usize..3,
                            c_pick in any::<u64>(), block in any::<bool>(), relu in any::<bool>(),
                            seed in any::<u64>()) {
        use silc_ir::semantics::rescale_bounds;
        use silc_passes::rns::plan_shift;
        let (wa, wb) = (wa.min(p - 1), wb.min(p - 1));
        prop_assume!((1i64 << wa) + (1i64 << wb) - 2 < 1i64 << p);
        let nu = silc_passes::params::for_precision(p).nu();
        let k = if bias == 1 { k.max(2) } else { k };
        prop_assume!(fine_own_sums(nu, k, false).is_some());
        let odd: Vec<i64> = (3..1i64 << p).step_by(2).collect();
        let d = odd[(d_pick % odd.len() as u64) as usize];
        // Split by a factor coprime to the rest (15 = 3·5), else whole.
        let low = (3..d).step_by(2).find(|&f| d % f == 0 && silc_passes::lower::gcd(f, d / f) == 1).unwrap_or(d);
        let n_div = if low < d { 2 } else { 1 };
        let fine = (2i64 << p) * d;
        let mut g = Graph::new("two_scale", p);
        let (a, b) = biased_product(&mut g, (n, k, cols), (wa, wb), bias, c_pick)?;
        // The residue modulo d needs a product `karatsuba` can sum (at p = 3
        // neither tables nor the torus sum residues modulo 5 or 7).
        let dims = silc_passes::karatsuba::Dims::of(&g, a, b);
        prop_assume!(silc_passes::karatsuba::best_plan(p, nu, d, dims, None).is_some());
        let prod = infer(&g, &Op::MatMul, &[a, b]).expect("a product");
        let (c_lo, c_hi) = (prod.lo, prod.hi);
        let loc = Loc::default();
        let r = g.push(Op::ModMatMul { modulus: d }, vec![a, b], loc);
        let f = g.push(Op::ModMatMul { modulus: fine }, vec![a, b], loc);
        let moduli = vec![d, fine];
        let bits = p - 1;
        let relu = relu && !block;
        let bounds = rescale_bounds(bits, relu);
        let out = (0, bounds.1 - bounds.0);
        let planned = silc_passes::rns::fine::layout(p, &moduli, low, n_div, (c_lo, c_hi), out, -bounds.0);
        prop_assume!(planned.is_some());
        let (digits, wide, plan) = planned.expect("planned");
        // The wide form's fold adds an answer to the sum it reads; past
        // `3k + 1` answers the own sums are refreshed.
        let own = fine_own_sums(nu, k, wide);
        prop_assume!(own.is_some());
        let k_off = plan.k_off;
        let mut shifts: Vec<usize> = if block {
            (0..=n_div).filter(|&j| j == n_div || plan_shift(p, &digits, j, k_off, out, -bounds.0).is_some()).collect()
        } else {
            vec![]
        };
        if shifts.len() < 2 {
            shifts.clear();
        }
        let op = Op::FromResidues { moduli, n_div, c_lo, c_hi, bits, shifts, relu, low, chunks: vec![] };
        finish(&mut g, op, vec![r, f], -bounds.0);
        // Each refreshed own sum leaves the torus once more, by `on_grid`.
        let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
        let last = &lowered.stages.last().expect("stages").1;
        let on_grid = last.ids().filter(|&i| matches!(last.node(i).op, Op::OnGrid { .. })).count();
        prop_assert_eq!(on_grid > 1, own == Some(OwnSums::Refreshed), "{} on_grid", on_grid);
        agree_on(g, seed, &Default::default(), shrink)?;
    }

    /// The wrap-first conversion (`rns::wrap_first`, `scale::wrap_first`):
    /// the system `[2^(p+1), m]`, `m` odd below `2^p` (its top digit by
    /// tables or on the torus), for a static rescale by a power of two,
    /// ReLU-saturated or signed, with a bias column plain or transposed,
    /// for p = 3..8. The residue modulo `m` is summed on the
    /// torus or reduced by tables, as `karatsuba` chooses.
    #[test]
    fn wrap_first_conversion(p in 3u32..=8, n in 1usize..4, k in 1usize..12, cols in 1usize..4,
                             wa in 1u32..4, wb in 1u32..4, m_pick in any::<u64>(), low_pick in any::<u64>(),
                             bias in 0usize..3, c_pick in any::<u64>(), relu in any::<bool>(),
                             seed in any::<u64>()) {
        use silc_ir::semantics::rescale_bounds;
        let (wa, wb) = (wa.min(p - 1), wb.min(p - 1));
        let nu = silc_passes::params::for_precision(p).nu();
        let k = if bias == 1 { k.max(2) } else { k };
        let admissible: Vec<i64> =
            (3..1i64 << p).step_by(2).filter(|&m| silc_passes::rns::wrap_first::top_form(p, m).is_some()).collect();
        prop_assume!(!admissible.is_empty());
        let m = admissible[(m_pick % admissible.len() as u64) as usize];
        let wide = 2i64 << p;
        let lows: Vec<i64> = (1..p).map(|j| 1i64 << j).filter(|&l| l <= wide / 4).collect();
        let low = lows[(low_pick % lows.len() as u64) as usize];
        let mut g = Graph::new("wrap_first", p);
        let (a, b) = biased_product(&mut g, (n, k, cols), (wa, wb), bias, c_pick)?;
        let dims = silc_passes::karatsuba::Dims::of(&g, a, b);
        prop_assume!(silc_passes::karatsuba::best_plan(p, nu, m, dims, None).is_some());
        prop_assume!(silc_passes::karatsuba::best_plan(p, nu, wide, dims, None).is_some());
        let prod = infer(&g, &Op::MatMul, &[a, b]).expect("a product");
        let (c_lo, c_hi) = (prod.lo, prod.hi);
        let loc = Loc::default();
        let s = g.push(Op::ModMatMul { modulus: wide }, vec![a, b], loc);
        let r = g.push(Op::ModMatMul { modulus: m }, vec![a, b], loc);
        let moduli = vec![wide, m];
        let bits = p - 1;
        let bounds = rescale_bounds(bits, relu);
        let out = (0, bounds.1 - bounds.0);
        let planned = silc_passes::rns::wrap_first::layout(p, &moduli, low, 1, (c_lo, c_hi), out, -bounds.0);
        prop_assume!(planned.is_some());
        let op = Op::FromResidues { moduli, n_div: 1, c_lo, c_hi, bits, shifts: vec![], relu, low, chunks: vec![] };
        finish(&mut g, op, vec![s, r], -bounds.0);
        let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
        let scaled = &lowered.stages.iter().find(|(name, _)| *name == "scale").expect("a scale stage").1;
        // A rescale saturated outside a window of `2^p` values is read by
        // the window (`scale::window`), whose sum lands on the grid by
        // `on_grid {d=1}` (tables are interned by entries, so not by name).
        let out = |c: i64| silc_ir::semantics::rescale_to(c, low, bounds) - bounds.0;
        if silc_passes::scale::window::plan(p, &[wide, m], (c_lo, c_hi), &out).is_some() {
            let sums = scaled.ids().filter(|&i| matches!(scaled.node(i).op, Op::OnGrid { d: 1, .. })).count();
            prop_assert_eq!(sums, 1, "read by its window");
            agree_on(g, seed, &Default::default(), shrink)?;
            return Ok(());
        }
        // The table form's top digit, or the torus form's top-bit term.
        let torus = silc_passes::rns::wrap_first::top_form(p, m) == Some(silc_passes::rns::wrap_first::Top::Torus);
        let wtop = scaled
            .ids()
            .filter(|&i| match scaled.node(i).op {
                Op::Lut { table } => !torus && scaled.tables.get(table).name.starts_with("wtop"),
                // Tables are interned by entries: the top bit's term is
                // the one constant table answering on the torus.
                Op::LutTorus { table, .. } => torus && scaled.tables.get(table).entries.windows(2).all(|w| w[0] == w[1]),
                _ => false,
            })
            .count();
        prop_assert!(wtop >= 1, "converted wrap-first, {} form", if torus { "torus" } else { "table" });
        agree_on(g, seed, &Default::default(), shrink)?;
    }

    /// The wrapping product (`mod_matmul` modulo `2^p` on raw operands, see
    /// `karatsuba::wrap`): reductions long enough for several fold levels,
    /// random operand widths and offsets, and a bias column, plain or
    /// transposed, for p = 3..8; by quarter squares or binomial terms.
    #[test]
    fn wrapping_mod_matmul(p in 3u32..=8, n in 1usize..4, k in 1usize..80, m in 1usize..4,
                           wa in 1u32..8, wb in 1u32..8, bias in 0usize..3, c_pick in any::<u64>(),
                           binomial in any::<bool>(), seed in any::<u64>()) {
        let (wa, wb) = (wa.min(p - 1), wb.min(p - 1));
        let k = if bias == 1 { k.max(2) } else { k };
        let mut g = Graph::new("wrap", p);
        let (a, b) = biased_product(&mut g, (n, k, m), (wa, wb), bias, c_pick)?;
        finish(&mut g, Op::ModMatMul { modulus: 1 << p }, vec![a, b], 0);
        let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
        let folds = lowered.stages[2].1.ids().filter(|&i| lowered.stages[2].1.node(i).op == Op::Fold).count();
        prop_assert!(folds >= 1, "lowered by the wrapping product");
        agree_forced(g, seed, if binomial { "wrapping-binomial" } else { "wrapping" })?;
    }

    /// A residue product of the raw operands (`mod_matmul` modulo a small
    /// `m` on signed values, binomial terms answered modulo `m`, see
    /// `karatsuba`), with a bias column plain or transposed, for p = 3..8.
    #[test]
    fn raw_binomial_mod_matmul(p in 3u32..=8, n in 1usize..4, k in 1usize..60, cols in 1usize..4,
                               wa in 1u32..8, wb in 1u32..8, bias in 0usize..3, m_pick in any::<u64>(),
                               c_pick in any::<u64>(), seed in any::<u64>()) {
        let (wa, wb) = (wa.min(p - 1), wb.min(p - 1));
        let m = 2 + (m_pick % ((1u64 << (p - 1)) - 1)) as i64;
        let k = if bias == 1 { k.max(2) } else { k };
        let mut g = Graph::new("raw", p);
        let (a, b) = biased_product(&mut g, (n, k, cols), (wa, wb), bias, c_pick)?;
        finish(&mut g, Op::ModMatMul { modulus: m }, vec![a, b], 0);
        agree_forced(g, seed, "raw-binomial")?;
    }

    /// A static rescale of a product long enough to need three or more
    /// moduli, p = 3..8: where the system holds two odd moduli whose product
    /// fits a table, `rns::pairs` may compute them as one product modulo
    /// their product, split per output by two tables. Every stage equals the
    /// reference, and every product modulo a pair replaces both of its
    /// factors' products in its conversion's operands.
    #[test]
    fn paired_moduli_products(p in 3u32..=8, n in 1usize..3, k in 8usize..48, cols in 1usize..3,
                              target in 1.0f64..5.0, relu in any::<bool>(), seed in any::<u64>()) {
        let w = p - 1;
        let mut g = Graph::new("pairs", p);
        let a = input(&mut g, "a", signed(vec![n, k], w));
        let b = input(&mut g, "b", signed(vec![k, cols], w));
        let z = g.push(Op::MatMul, vec![a, b], Loc::default());
        let nu = silc_passes::params::for_precision(p).nu();
        let factors = silc_passes::lower::feasible_divisor(&g, z, 2f64.powf(target), w, relu, nu);
        prop_assume!(factors.is_some());
        let offset = if relu { 0 } else { 1 << (w - 1) };
        finish(&mut g, Op::Rescale { factors: factors.unwrap(), bits: w, shifts: vec![], relu }, vec![z], offset);
        let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
        let rns = &lowered.stages[1].1;
        for id in rns.ids() {
            let Op::FromResidues { moduli, .. } = &rns.node(id).op else { continue };
            let products: Vec<i64> = rns
                .ids()
                .filter_map(|i| match rns.node(i).op { Op::ModMatMul { modulus } => Some(modulus), _ => None })
                .collect();
            for &m in &products {
                if moduli.contains(&m) {
                    continue;
                }
                let pair: Vec<i64> = moduli.iter().copied().filter(|&f| m % f == 0).collect();
                prop_assert_eq!(pair.len(), 2, "modulo {} is no pair of {:?}", m, moduli);
                prop_assert_eq!(pair[0] * pair[1], m);
                prop_assert!(m < 1i64 << p && m % 2 == 1);
                prop_assert!(!products.iter().any(|q| pair.contains(q)), "a paired modulus kept its own product");
            }
        }
        agree(g, seed)?;
    }

    /// A residue product modulo `m` (2..2^(p-1)) by each method where it is
    /// feasible (quarter squares accumulate their two halves as values of
    /// their own), with a bias column plain or transposed, whose extra row of
    /// quarter-square values is padded with noiseless zeros; p = 3..8.
    #[test]
    fn residue_mod_matmul(p in 3u32..=8, n in 1usize..4, k in 2usize..40, cols in 1usize..4,
                          m_pick in any::<u64>(), method in 0usize..5, bias in 0usize..3,
                          c_pick in any::<u64>(), seed in any::<u64>()) {
        let m = 2 + (m_pick % ((1u64 << (p - 1)) - 1)) as i64;
        let force = ["packed", "quarter-squares", "karatsuba", "binomial", "raw-binomial"][method];
        let nu = silc_passes::params::for_precision(p).nu();
        prop_assume!(!silc_passes::karatsuba::product_plans(p, nu, m, i64::MAX, Some(force)).is_empty());
        let mut g = Graph::new("res", p);
        let loc = Loc::default();
        let residues = |shape: Vec<usize>| Type::enc(shape, 0, m - 1);
        let c = (c_pick % m as u64) as i64;
        let constant = |g: &mut Graph, x: ValueId| {
            let s = g.push(Op::Slice { axis: 1, start: 0, len: 1 }, vec![x], loc);
            let z = g.push(Op::MulClear { c: 0 }, vec![s], loc);
            g.push(Op::AddClear { c }, vec![z], loc)
        };
        let a = match bias {
            0 => input(&mut g, "a", residues(vec![n, k])),
            1 => {
                let x = input(&mut g, "a", residues(vec![n, k - 1]));
                let col = constant(&mut g, x);
                g.push(Op::Concat { axis: 1 }, vec![x, col], loc)
            }
            _ => {
                let x = input(&mut g, "a", residues(vec![k, n]));
                let col = constant(&mut g, x);
                let cat = g.push(Op::Concat { axis: 1 }, vec![x, col], loc);
                g.push(Op::Transpose, vec![cat], loc)
            }
        };
        let b = input(&mut g, "b", residues(vec![k, cols]));
        finish(&mut g, Op::ModMatMul { modulus: m }, vec![a, b], 0);
        let opts = silc_passes::Options { force_product: Some(force.into()), ..Default::default() };
        let lowered = silc_passes::lower_graph(g.clone(), &opts)
            .map_err(|e| TestCaseError::fail(format!("does not lower: {e:?}")))?;
        prop_assert!(lowered.violations.is_empty(), "{:?}", lowered.violations);
        let mut rng = Rng(seed | 1);
        for _ in 0..3 {
            let inputs = common::random_inputs(&g, &mut rng);
            let want = silc_sim::execute(&g, &inputs).unwrap();
            for (stage, low) in &lowered.stages[1..] {
                let got = silc_sim::execute(low, &inputs).unwrap();
                prop_assert_eq!(&got, &want, "after {} ({} mod {})", stage, force, m);
            }
        }
    }
}

/// At p = 4, `a·b` rescaled statically to 3 signed bits through the
/// two-scale system `[d, 32·d]` (divisor `d`, read whole): the product's
/// range, the radices and whether the wide form is needed.
fn static_two_scale(g: &mut Graph, a: ValueId, b: ValueId, d: i64) -> ((i64, i64), Vec<i64>, bool) {
    let c = infer(g, &Op::MatMul, &[a, b]).expect("a product");
    let loc = Loc::default();
    let r = g.push(Op::ModMatMul { modulus: d }, vec![a, b], loc);
    let f = g.push(Op::ModMatMul { modulus: 32 * d }, vec![a, b], loc);
    let moduli = vec![d, 32 * d];
    let (radix, wide, _) =
        silc_passes::rns::fine::layout(4, &moduli, d, 1, (c.lo, c.hi), (0, 7), 4).expect("a chain exists");
    let (c_lo, c_hi) = (c.lo, c.hi);
    let op =
        Op::FromResidues { moduli, n_div: 1, c_lo, c_hi, bits: 3, shifts: vec![], relu: false, low: d, chunks: vec![] };
    finish(g, op, vec![r, f], 4);
    ((c.lo, c.hi), radix, wide)
}

/// A two-scale system past `3k + 2` answers (`karatsuba::torus`,
/// `fine_refresh`): at p = 4 a transposed bias row over 8 terms of 3-bit
/// operands, `[−96, 128]` over 11 in the wide form, as Iris's batch-8
/// weight gradients. Each row's and column's own sum is refreshed from its
/// residue modulo 11 (an `on_grid` each, past the conversion's), the
/// checker proves the bound, and the lowered circuit agrees, extremes
/// included.
#[test]
fn two_scale_own_sums_refreshed_past_the_noise_bound() {
    let p = 4;
    let mut g = Graph::new("refreshed", p);
    let a = biased_operand(&mut g, (2, 8), 3, 2, 1);
    let b = input(&mut g, "b", signed(vec![8, 3], 3));
    let (_, _, wide) = static_two_scale(&mut g, a, b, 11);
    assert!(wide);
    assert_eq!(fine_own_sums(5.0, 8, wide), Some(OwnSums::Refreshed), "26 answers > 25");
    let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
    assert!(lowered.violations.is_empty(), "{:?}", lowered.violations);
    let last = &lowered.stages.last().expect("stages").1;
    let on_grid = last.ids().filter(|&i| matches!(last.node(i).op, Op::OnGrid { .. })).count();
    assert_eq!(on_grid, 3, "the rows' own sums, the columns', the conversion");
    let mut rng = Rng(7);
    let extreme = |(va, vb): (i64, i64)| {
        std::collections::HashMap::from([
            ("a".to_string(), silc_sim::Tensor::new(vec![8, 2], vec![va; 16])),
            ("b".to_string(), silc_sim::Tensor::new(vec![8, 3], vec![vb; 24])),
        ])
    };
    let mut draws: Vec<_> = (0..20).map(|_| common::random_inputs(&g, &mut rng)).collect();
    draws.extend([(-4, -4), (3, 3), (-4, 3), (3, -4)].map(extreme));
    for inputs in draws {
        let want = silc_sim::execute(&g, &inputs).unwrap();
        for (stage, low) in &lowered.stages[1..] {
            assert_eq!(silc_sim::execute(low, &inputs).unwrap(), want, "after {stage}");
        }
    }
}

/// The wide form of a two-scale system (`semantics::fine_radices`): at
/// p = 4 a product of 3-bit operands over 7 terms spans [-84, 112], whose
/// value over 7 reaches past the grid's readable half; its top digit is
/// read as its low bit and the rest, and the lowered circuit agrees.
#[test]
fn two_scale_wide_form_reads_the_whole_grid() {
    let p = 4;
    let mut g = Graph::new("wide_fine", p);
    let a = input(&mut g, "a", signed(vec![2, 7], 3));
    let b = input(&mut g, "b", signed(vec![7, 2], 3));
    let ((lo, hi), radix, wide) = static_two_scale(&mut g, a, b, 7);
    assert!(wide, "[{lo}, {hi}] over 7 needs the whole grid");
    assert_eq!(radix, vec![7, 2, 16]);
    let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
    assert!(lowered.violations.is_empty(), "{:?}", lowered.violations);
    let last = &lowered.stages.last().expect("stages").1;
    assert!(last.ids().any(|i| matches!(last.node(i).op, Op::Fold)), "the top digit is folded");
    let mut rng = Rng(5);
    for _ in 0..20 {
        let inputs = common::random_inputs(&g, &mut rng);
        let want = silc_sim::execute(&g, &inputs).unwrap();
        for (stage, low) in &lowered.stages[1..] {
            assert_eq!(silc_sim::execute(low, &inputs).unwrap(), want, "after {stage}");
        }
    }
}
