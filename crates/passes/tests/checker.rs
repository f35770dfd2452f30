//! The range and noise checker rejects hand-written circuits that overflow
//! or exceed the noise bound, with pointed messages.

const OVERFLOW: &str = r#"graph overflow bits=4
t0 = table "double" [0..15]
%0 = input {name="a", role=data} : enc[3] u4 [0, 15] @2:5
%1 = input {name="b", role=data} : enc[3] u3 [0, 7] @3:5
%2 = add %0, %1 : enc[3] u5 [0, 22] @4:5
%3 = lut %2 {table=t0} : enc[3] u4 [0, 15] @4:5
%4 = output %3 {name="out"} : enc[3] u4 [0, 15] @5:5
"#;

const NOISY: &str = r#"graph noisy bits=4
t0 = table "id" [0..15]
%0 = input {name="a", role=data} : enc[4] u1 [0, 1] @2:5
%1 = mul_clear %0 {c=6} : enc[4] u3 [0, 6] @3:5
%2 = lut %1 {table=t0} : enc[4] u3 [0, 6] @3:5
%3 = reduce_sum %2 {axis=0, chunk=4} : enc[1] u5 [0, 24] @4:5
%4 = output %3 {name="out"} : enc[1] u5 [0, 24] @5:5
"#;

const CLEAN: &str = r#"graph clean bits=4
t0 = table "id" [0..15]
%0 = input {name="a", role=data} : enc[4] u2 [0, 3] @2:5
%1 = reduce_sum %0 {axis=0, chunk=4} : enc[1] u4 [0, 12] @3:5
%2 = lut %1 {table=t0} : enc[1] u4 [0, 12] @3:5
%3 = output %2 {name="out"} : enc[1] u4 [0, 12] @4:5
"#;

fn violations(text: &str) -> Vec<silc_passes::check::Violation> {
    let g = silc_ir::read::read(text).expect("reads");
    let nu = silc_passes::params::for_precision(g.bits).nu();
    silc_passes::check::check(&g, nu).1
}

fn render(vs: &[silc_passes::check::Violation]) -> String {
    vs.iter().map(|v| format!("{} (from .mlp {})\n", v, v.loc)).collect()
}

#[test]
fn an_overflowing_sum_is_rejected() {
    let vs = violations(OVERFLOW);
    assert_eq!(vs.len(), 2, "{vs:?}"); // the bootstrap input and the output
    insta::assert_snapshot!("overflow", render(&vs));
}

#[test]
fn a_noisy_combination_is_rejected() {
    let vs = violations(NOISY);
    assert!(vs.iter().any(|v| matches!(v.kind, silc_passes::check::ViolationKind::Noise { .. })), "{vs:?}");
    insta::assert_snapshot!("noisy", render(&vs));
}

#[test]
fn a_sound_circuit_passes() {
    assert!(violations(CLEAN).is_empty());
}

#[test]
fn the_pipeline_refuses_an_overflowing_model() {
    // Widths at the limit with a long reduction still compile (the RNS absorbs
    // it); what must fail is a circuit that is wrong, so feed one directly.
    let g = silc_ir::read::read(OVERFLOW).unwrap();
    match silc_passes::lower_graph(g, &Default::default()) {
        Err(silc_passes::PassError::Violations(vs)) => assert!(!vs.is_empty()),
        Err(other) => panic!("expected violations, got {other:?}"),
        Ok(_) => panic!("an overflowing circuit was accepted"),
    }
}

/// A sum of `n` fresh values that wraps past `2^(p+1)`, read by `reader`.
fn wrapping(n: usize, reader: &str) -> String {
    let hi = 15 * n;
    format!(
        "graph wrapping bits=4\nt0 = table \"id\" [0..15]\nt1 = table \"top16\" [8*16]\n\
         %0 = input {{name=\"a\", role=data}} : enc[{n}] u4 [0, 15] @2:5\n\
         %1 = reduce_sum %0 {{axis=0, chunk={n}}} : enc[1] u9 [0, {hi}] @3:5\n\
         %2 = {reader} %1 : enc[1] u5 [0, 31] @4:5\n\
         %3 = mul_clear %2 {{c=0}} : enc[1] u1 [0, 0] @5:5\n\
         %4 = output %3 {{name=\"out\"}} : enc[1] u1 [0, 0] @6:5\n"
    )
}

/// A `fold` may read a wrapping sum (that is what it is for), a plain table
/// may not; and a fold is still held to the noise bound.
#[test]
fn a_fold_reads_a_wrapping_sum_within_the_noise_bound() {
    use silc_passes::check::ViolationKind::{Noise, Range};
    assert_eq!(violations(&wrapping(23, "fold")), vec![]);
    let table = violations(&wrapping(23, "lut {table=t0}").replace("lut {table=t0} %1", "lut %1 {table=t0}"));
    assert!(matches!(table.as_slice(), [v] if matches!(v.kind, Range { .. })), "{table:?}");
    let noisy = violations(&wrapping(30, "fold"));
    assert!(matches!(noisy.as_slice(), [v] if matches!(v.kind, Noise { .. })), "{noisy:?}");
}

/// A constant table may read a wrapping sum too: its negacyclic answer is
/// the sign of the half the sum lies in (`karatsuba::wrap::top`). It is held
/// to the noise bound like any bootstrap.
#[test]
fn a_constant_table_reads_a_wrapping_sum_within_the_noise_bound() {
    use silc_passes::check::ViolationKind::Noise;
    let constant =
        |n: usize| violations(&wrapping(n, "lut {table=t1}").replace("lut {table=t1} %1", "lut %1 {table=t1}"));
    assert_eq!(constant(25), vec![]);
    let noisy = constant(26);
    assert!(matches!(noisy.as_slice(), [v] if matches!(v.kind, Noise { .. })), "{noisy:?}");
}

/// Two tables of candidates in `[0, 8)` packed beside the answers of two
/// selection tables of one index, added with `add_exclusive`: each table
/// answers 5 where its candidate is not selected (below 8); `idle` is the
/// idle value the sum claims.
/// `select1` is the second selection table.
fn exclusive_sum(select1: impl Fn(i64) -> i64, idle: i64) -> (silc_ir::Graph, silc_ir::ValueId) {
    use silc_ir::{Graph, Loc, Op, Role, Table, Type};
    let (p, loc) = (4, Loc { line: 3, col: 5 });
    let mut g = Graph::new("exclusive", p);
    let input = |g: &mut Graph, name: &str, lo, hi, shape: Vec<usize>| {
        g.add(Op::Input { name: name.into(), role: Role::Data }, vec![], Type::enc(shape, lo, hi), loc)
    };
    let index = input(&mut g, "index", 0, 1, vec![1]);
    let keep = Table::from_fn("keep", p, |v| if v >= 8 { v - 8 } else { 5 });
    let mut parts = Vec::new();
    for c in 0..2 {
        let y = input(&mut g, &format!("y{c}"), 0, 7, vec![3]);
        let sel = if c == 0 {
            Table::from_fn("select0", p, |i| if i == 0 { 8 } else { 0 })
        } else {
            Table::from_fn("select1", p, &select1)
        };
        let sel = g.lut(sel, index, loc);
        let sel = g.push(Op::Expand { axis: 0, n: 3 }, vec![sel], loc);
        let sel = g.push(Op::Reshape { shape: vec![3] }, vec![sel], loc);
        let x = g.push(Op::Add, vec![sel, y], loc);
        parts.push(g.lut(keep.clone(), x, loc));
    }
    let sum = g.push(Op::AddExclusive { idle: vec![idle, idle] }, parts, loc);
    let shifted = g.push(Op::AddClear { c: -5 }, vec![sum], loc);
    g.push(Op::Output { name: "out".into() }, vec![shifted], loc);
    (g, sum)
}

/// `add_exclusive`'s range is the hull of its operands (`[5, 12]`, not the
/// plain sum's `[0, 14]`) when one operand at a time leaves its idle value,
/// and a violation naming the index value where two may otherwise.
#[test]
fn an_exclusive_sum_is_proven_or_refused() {
    let nu = silc_passes::params::for_precision(4).nu();
    let select1 = |i| if i == 1 { 8 } else { 0 };
    let (g, sum) = exclusive_sum(select1, 5);
    let (a, vs) = silc_passes::check::check(&g, nu);
    assert_eq!(vs, vec![]);
    assert_eq!(a.ranges[sum], (5, 12));
    // The op and its idle values survive the text form.
    let text = silc_ir::text::print(&g);
    assert!(text.contains("add_exclusive %6, %12 {idle=[5,5]}"), "{text}");
    assert_eq!(silc_ir::text::print(&silc_ir::read::read(&text).expect("reads back")), text);
    // A nested sum stands for its parts only if its idle value is theirs.
    let flat = silc_passes::exclusive::flatten(&g, &[sum], &[10]).expect("5 + 5");
    assert_eq!(flat.len(), 2);
    let e = silc_passes::exclusive::flatten(&g, &[sum], &[9]).err().expect("9 is not 5 + 5");
    assert!(e.contains("idle at 10, not 9"), "{e}");
    // A wrong idle value: every part then "moves".
    let (g, _) = exclusive_sum(select1, 4);
    assert!(!silc_passes::check::check(&g, nu).1.is_empty());
    let (g, _) = exclusive_sum(|_| 8, 5);
    let vs = silc_passes::check::check(&g, nu).1;
    assert!(matches!(vs.as_slice(), [v] if matches!(v.kind, silc_passes::check::ViolationKind::Exclusive { .. })));
    insta::assert_snapshot!("not_exclusive", render(&vs));
}
