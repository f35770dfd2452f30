//! The encrypted executor: the lowered circuit on shortint ciphertexts.
//!
//! Leveled ops work on the LWE ciphertexts directly (core_crypto addition,
//! subtraction, plaintext addition and cleartext multiplication), so they wrap
//! modulo `2^(p+1)` exactly like the simulator, with no correction terms.
//! Tables are generated once per engine; a `lut_many` group becomes one
//! tfhe-rs many-LUT accumulator, so its `k` tables cost one blind rotation
//! (the scheduler only groups inputs below `2^p / k`, which tfhe-rs
//! requires). Residues held at a torus position (`torus m`) take their
//! clear additions at that scale, and their two read bootstraps rotate a
//! combination of their operands (`crate::torus`). Execution goes wave by
//! wave: all bootstraps of one bootstrap depth are independent, so they run together on rayon's threads, or are
//! dealt out to several processes by a [`Spread`] (`cluster`, with the
//! `mpi` feature); the leveled ops between waves are cheap and run in id
//! order, on every process alike. Each thread takes the bootstraps of a wave
//! a few at a time ([`in_batches`]) and runs them as one batched keyswitch
//! and blind rotation (`batch`), which reads the keys once per batch.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use silc_ir::{semantics, Graph, Op, TableId, ValueId};
use tfhe::core_crypto::algorithms::{
    lwe_ciphertext_add_assign, lwe_ciphertext_cleartext_mul_assign, lwe_ciphertext_plaintext_add_assign,
    lwe_ciphertext_sub_assign,
};
use tfhe::core_crypto::entities::{Cleartext, Plaintext};
use tfhe::shortint::server_key::{LookupTableOwned, ManyLookupTableOwned};
use tfhe::shortint::Ciphertext;

use crate::batch::{self, Table};
use crate::external::{self, Acc, Ggsw};
use crate::keys::ServerKeys;
use crate::torus;

/// A tensor of ciphertexts, row-major.
#[derive(Clone)]
pub struct CtTensor {
    pub shape: Vec<usize>,
    pub cts: Vec<Ciphertext>,
}

/// The results of the jobs in a range, one `Vec` per job, in order.
pub type Batch<'f> = dyn Fn(Range<usize>) -> Vec<Vec<Ciphertext>> + Sync + 'f;

/// Who runs a wave's bootstraps. `run(jobs, batch)` returns the results of
/// every job `i < jobs`, in order, computing them by calling `batch` on
/// ranges that cover `0..jobs` once; every process that calls it gets every
/// result, so the leveled ops after the wave need no further exchange.
/// A bootstrap is deterministic, so where and with which others a job runs
/// cannot change its result.
pub trait Spread: Sync {
    /// A wave: one bootstrap per job.
    fn run(&self, jobs: usize, batch: &Batch<'_>) -> Vec<Vec<Ciphertext>> {
        self.run_jobs(jobs, 1, batch)
    }

    /// As [`Spread::run`], for jobs of `bootstraps` bootstraps each (what
    /// the traffic report counts).
    fn run_jobs(&self, jobs: usize, bootstraps: u64, batch: &Batch<'_>) -> Vec<Vec<Ciphertext>>;

    /// How many processes share the work (1 unless over MPI).
    fn processes(&self) -> usize {
        1
    }
}

/// This process's threads (rayon's global pool).
pub struct Local;

impl Spread for Local {
    fn run_jobs(&self, jobs: usize, _: u64, batch: &Batch<'_>) -> Vec<Vec<Ciphertext>> {
        in_batches(0..jobs, batch)
    }
}

/// The most bootstraps one batched blind rotation takes. Measured on 2
/// threads (docs/arithmetic.md, "Batched bootstraps, measured"): 8 gains
/// as much as 16, 32 or 64, and small batches leave more of them to share
/// a short wave between threads.
pub const MAX_BATCH: usize = 8;

/// Runs the jobs of `range` on this process's threads, a batch at a time:
/// batches of at most [`MAX_BATCH`], small enough that every thread gets
/// one even in a short wave.
pub fn in_batches(range: Range<usize>, batch: &Batch<'_>) -> Vec<Vec<Ciphertext>> {
    let len = range.len();
    if len == 0 {
        return Vec::new();
    }
    let per = len.div_ceil(rayon::current_num_threads()).clamp(1, MAX_BATCH);
    let starts: Vec<usize> = range.clone().step_by(per).collect();
    let parts: Vec<Vec<Vec<Ciphertext>>> = starts.into_par_iter().map(|s| batch(s..(s + per).min(range.end))).collect();
    parts.into_iter().flatten().collect()
}

/// A server key with the circuit's tables generated.
pub struct Engine<'a> {
    pub keys: &'a ServerKeys,
    /// Where the bootstraps of a wave run ([`Local`] unless
    /// [`Engine::spread_over`] says otherwise).
    spread: &'a dyn Spread,
    luts: HashMap<TableId, LookupTableOwned>,
    /// One accumulator per distinct `lut_many` group of tables.
    many: HashMap<Vec<TableId>, ManyLookupTableOwned>,
    /// The constant table `2^(p-1)` of `fold`.
    half: LookupTableOwned,
    /// `lut_torus` accumulators by (table, m), `torus_read`'s by (table,
    /// m, answer's torus), and `torus_sign`'s (see [`crate::torus`]).
    torus_luts: HashMap<(TableId, i64), LookupTableOwned>,
    torus_reads: HashMap<(TableId, i64, Option<i64>), LookupTableOwned>,
    sign: LookupTableOwned,
    /// Each `ext_dot`'s refresh table, by node: its second operand's stored
    /// values to their logical values at `1/m`.
    refresh: HashMap<ValueId, LookupTableOwned>,
    /// Scale of one unit in the plaintext: `2^63 / 2^p`.
    delta: u64,
    /// Where the time of every [`execute`] went, summed over its calls.
    time: Mutex<Time>,
}

/// Wall time of [`execute`], split by kind of work.
#[derive(Clone, Copy, Debug, Default)]
pub struct Time {
    /// In the bootstrap waves (keyswitches and blind rotations, and with a
    /// `Cluster` the exchange of results).
    pub waves: f64,
    /// In the leveled and layout ops between waves.
    pub leveled: f64,
}

impl<'a> Engine<'a> {
    /// Generates every table of `g` once.
    pub fn new(keys: &'a ServerKeys, g: &Graph) -> Self {
        let p = g.bits;
        assert_eq!(p, keys.precision, "the circuit's precision differs from the key's");
        let full = 1i64 << (p + 1);
        let stored =
            |id: TableId| -> Vec<u64> { g.tables.get(id).entries.iter().map(|e| e.rem_euclid(full) as u64).collect() };
        // Grid tables of `lut` nodes (a `torus_read`'s table has m entries).
        let mut luts = HashMap::new();
        for id in g.ids() {
            if let Op::Lut { table } = g.node(id).op {
                luts.entry(table).or_insert_with(|| {
                    let entries = stored(table);
                    keys.key.generate_lookup_table(|x| entries[x as usize])
                });
            }
        }
        let mut many = HashMap::new();
        for id in g.ids() {
            if let Op::LutMany { tables } = &g.node(id).op {
                many.entry(tables.clone()).or_insert_with(|| {
                    let entries: Vec<Vec<u64>> = tables.iter().map(|&t| stored(t)).collect();
                    let fns: Vec<_> = entries.iter().map(|e| move |x: u64| e[x as usize]).collect();
                    let refs: Vec<&dyn Fn(u64) -> u64> = fns.iter().map(|f| f as &dyn Fn(u64) -> u64).collect();
                    keys.key.generate_many_lookup_table(&refs)
                });
            }
        }
        let half = keys.key.generate_lookup_table(|_| 1u64 << (p - 1));
        let (mut torus_luts, mut torus_reads) = (HashMap::new(), HashMap::new());
        for id in g.ids() {
            let n = g.node(id);
            match &n.op {
                Op::LutTorus { table, m } => {
                    let entries = &g.tables.get(*table).entries;
                    torus_luts.entry((*table, *m)).or_insert_with(|| torus::lut_torus(&keys.key, entries, *m, p));
                }
                Op::TorusRead { table, torus: out } => {
                    let m = g.ty(n.args[0]).torus.expect("verified: a torus residue");
                    let entries = &g.tables.get(*table).entries;
                    torus_reads
                        .entry((*table, m, *out))
                        .or_insert_with(|| torus::torus_read(&keys.key, entries, m, *out, p));
                }
                _ => {}
            }
        }
        let mut refresh = HashMap::new();
        for id in g.ids() {
            if let Op::ExtDot { m, table, .. } = g.node(id).op {
                let off = g.ty(g.node(id).args[1]).offset;
                let logical: Vec<i64> = match table {
                    Some(t) => g.tables.get(t).entries.clone(),
                    None => (0..1i64 << p).map(|s| s - off).collect(),
                };
                refresh.insert(id, torus::lut_torus(&keys.key, &logical, m, p));
            }
        }
        Engine {
            keys,
            spread: &Local,
            refresh,
            luts,
            many,
            half,
            torus_luts,
            torus_reads,
            sign: torus::sign(&keys.key),
            delta: 1u64 << (63 - p),
            time: Mutex::new(Time::default()),
        }
    }

    /// Runs every wave's bootstraps through `spread` (several processes,
    /// say) instead of this process's threads alone.
    pub fn spread_over(self, spread: &'a dyn Spread) -> Self {
        Engine { spread, ..self }
    }

    /// Where the time of the circuits run so far went.
    pub fn time(&self) -> Time {
        *self.time.lock().expect("time lock")
    }

    fn add_clear(&self, ct: &mut Ciphertext, c: i64) {
        lwe_ciphertext_plaintext_add_assign(&mut ct.ct, Plaintext((c as u64).wrapping_mul(self.delta)));
    }

    /// `c` added to a residue modulo `m` held at `r/m`.
    fn add_clear_torus(&self, ct: &mut Ciphertext, c: i64, m: i64) {
        lwe_ciphertext_plaintext_add_assign(&mut ct.ct, Plaintext(torus::phase(c, m)));
    }

    fn mul_clear(&self, ct: &mut Ciphertext, c: i64) {
        lwe_ciphertext_cleartext_mul_assign(&mut ct.ct, Cleartext(c as u64));
    }

    /// The accumulator a bootstrapping op rotates (`m`: the torus of its
    /// first operand, for `torus_read`).
    fn table(&self, op: &Op, m: Option<i64>) -> Table<'_> {
        match op {
            Op::Lut { table } => Table::One(&self.luts[table]),
            Op::LutMany { tables } => Table::Many(&self.many[tables]),
            Op::Fold => Table::One(&self.half),
            Op::LutTorus { table, m } => Table::One(&self.torus_luts[&(*table, *m)]),
            Op::TorusSign => Table::One(&self.sign),
            Op::TorusRead { table, torus: out } => {
                Table::One(&self.torus_reads[&(*table, m.expect("a torus operand"), *out)])
            }
            other => unreachable!("`{}` is not a bootstrap", other.name()),
        }
    }

    /// The ciphertext a torus read bootstraps, from its operands (element
    /// `e`): the residue plus `1/(4m)` for `torus_sign`, and that minus the
    /// sign plus a quarter for `torus_read` (see [`crate::torus`]). `None`
    /// for every other op, which bootstraps its operand as it is.
    fn prepared(&self, op: &Op, m: Option<i64>, x: &Ciphertext, sign: Option<&Ciphertext>) -> Option<Ciphertext> {
        let off = || torus::sign_offset(m.expect("a torus operand"));
        match op {
            Op::TorusSign => {
                let mut c = x.clone();
                lwe_ciphertext_plaintext_add_assign(&mut c.ct, Plaintext(off()));
                Some(c)
            }
            Op::TorusRead { .. } => {
                let mut c = x.clone();
                lwe_ciphertext_sub_assign(&mut c.ct, &sign.expect("torus_read's sign").ct);
                lwe_ciphertext_plaintext_add_assign(&mut c.ct, Plaintext(off().wrapping_add(torus::QUARTER)));
                Some(c)
            }
            _ => None,
        }
    }

    /// Bootstraps every `(op, input)` pair, in one batched blind rotation
    /// where the key allows it (`batch`), else one by one; one `Vec` per
    /// pair (a `lut_many` of k tables gives k ciphertexts).
    fn bootstrap(&self, jobs: &[(&Op, Option<i64>, &Ciphertext)]) -> Vec<Vec<Ciphertext>> {
        let tables: Vec<(&Ciphertext, Table<'_>)> = jobs.iter().map(|&(op, m, ct)| (ct, self.table(op, m))).collect();
        let rotated = batch::bootstrap(&self.keys.key, &tables);
        rotated
            .into_iter()
            .zip(jobs)
            .map(|(mut out, &(op, _, ct))| {
                if let Op::Fold = op {
                    self.finish_fold(&mut out[0], ct);
                }
                out
            })
            .collect()
    }

    /// `ext_dot` node `id` of the client's `a` and the server's `b`: each
    /// element of `b` refreshed once with the precise key, then one dot
    /// product of external products per output (`crate::external`).
    fn ext_dot(
        &self,
        id: ValueId,
        shape: &[usize],
        a: &[&Ggsw],
        b: &CtTensor,
        transpose: bool,
    ) -> Result<CtTensor, String> {
        let precise = self.keys.precise.as_ref().ok_or_else(|| {
            format!("{id}: an ext_dot needs the precise bootstrapping key, which these server keys do not hold")
        })?;
        let (rows, k) = if transpose { (shape[1], shape[0]) } else { (shape[0], shape[1]) };
        let cols = b.shape[1];
        let x = |i: usize, j: usize| if transpose { a[j * rows + i] } else { a[i * k + j] };
        if self.spread.processes() > 1 {
            // Over MPI: one job per column, its `k` refreshes and `rows`
            // dot products, so that each rank refreshes its share of the
            // operands and the ranks exchange the LWE answers.
            let column = |c: usize| -> Result<Vec<Ciphertext>, String> {
                let operands: Vec<&Ciphertext> = (0..k).map(|j| &b.cts[j * cols + c]).collect();
                let accs = precise.refresh(self.keys, &operands, &self.refresh[&id])?;
                let ws: Vec<&Acc> = accs.iter().collect();
                Ok((0..rows)
                    .into_par_iter()
                    .map(|i| {
                        let xs: Vec<&Ggsw> = (0..k).map(|j| x(i, j)).collect();
                        external::dot(&xs, &ws, &b.cts[0])
                    })
                    .collect())
            };
            let failed = Mutex::new(None);
            let by_column = self.spread.run_jobs(cols, k as u64, &|range: Range<usize>| {
                range
                    .map(|c| {
                        column(c).unwrap_or_else(|e| {
                            failed.lock().expect("error lock").get_or_insert(e);
                            vec![b.cts[0].clone(); rows]
                        })
                    })
                    .collect()
            });
            if let Some(e) = failed.into_inner().expect("error lock") {
                return Err(format!("{id}: {e}"));
            }
            let cts = (0..rows * cols).map(|o| by_column[o % cols][o / cols].clone()).collect();
            return Ok(CtTensor { shape: vec![rows, cols], cts });
        }
        let accs = precise
            .refresh(self.keys, &b.cts.iter().collect::<Vec<_>>(), &self.refresh[&id])
            .map_err(|e| format!("{id}: {e}"))?;
        let cts = (0..rows * cols)
            .into_par_iter()
            .map(|o| {
                let (i, c) = (o / cols, o % cols);
                let xs: Vec<&Ggsw> = (0..k).map(|j| x(i, j)).collect();
                let ws: Vec<&Acc> = (0..k).map(|j| &accs[j * cols + c]).collect();
                external::dot(&xs, &ws, &b.cts[0])
            })
            .collect();
        Ok(CtTensor { shape: vec![rows, cols], cts })
    }

    /// `x mod 2^p` for `x` anywhere in `[0, 2^(p+1))`: the constant table
    /// `2^(p-1)` answers `±2^(p-1)` by the half `x` lies in (negacyclic),
    /// and `x + answer - 2^(p-1)` drops the top bit (`semantics::fold`).
    /// `out` holds the table's answer; this adds the rest.
    fn finish_fold(&self, out: &mut Ciphertext, x: &Ciphertext) {
        let half = 1i64 << (self.keys.precision - 1);
        lwe_ciphertext_add_assign(&mut out.ct, &x.ct);
        self.add_clear(out, -half);
    }
}

fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

/// Bootstrap depth of every node (see `silc_passes::schedule::waves`).
fn depths(g: &Graph) -> Vec<u32> {
    let mut d = vec![0u32; g.len()];
    for id in g.ids() {
        let n = g.node(id);
        // A form comes with the job: it is there before any wave.
        let m =
            if matches!(n.op, Op::Form { .. }) { 0 } else { n.args.iter().map(|a| d[a.index()]).max().unwrap_or(0) };
        d[id.index()] = if n.op.is_bootstrap() { m + 1 } else { m };
    }
    d
}

/// Runs the lowered circuit `g` on encrypted inputs with the dither of salt
/// 0 (`execute_at`); returns the outputs by name.
pub fn execute(
    engine: &Engine<'_>,
    g: &Graph,
    inputs: &HashMap<String, CtTensor>,
) -> Result<HashMap<String, CtTensor>, String> {
    execute_at(engine, g, inputs, 0)
}

/// Runs the lowered circuit `g` on encrypted inputs; `salt` selects the
/// public dither of every `add_dither` (`semantics::dither`), the step's
/// index in training, as in the simulator. Returns the outputs by name.
pub fn execute_at(
    engine: &Engine<'_>,
    g: &Graph,
    inputs: &HashMap<String, CtTensor>,
    salt: u64,
) -> Result<HashMap<String, CtTensor>, String> {
    execute_with(engine, g, inputs, &HashMap::new(), salt)
}

/// A tensor of the client's GGSW ciphertexts, row-major: a `form
/// {kind=ggsw}`.
pub struct GgswTensor {
    pub shape: Vec<usize>,
    pub items: Vec<Ggsw>,
}

/// A GGSW form of the step, or a chunk of one: the form and the indices
/// of its elements, row-major.
enum Held<'g> {
    Whole(&'g GgswTensor),
    Part(&'g GgswTensor, Vec<usize>),
}

impl<'g> Held<'g> {
    fn indices(&self) -> (&'g GgswTensor, std::borrow::Cow<'_, [usize]>) {
        match self {
            Held::Whole(t) => (t, (0..t.items.len()).collect::<Vec<_>>().into()),
            Held::Part(t, idx) => (t, idx.as_slice().into()),
        }
    }
}

/// [`execute_at`] with the GGSW forms `ggsw` of the step, by name (the
/// first operands of the circuit's `ext_dot`s).
pub fn execute_with(
    engine: &Engine<'_>,
    g: &Graph,
    inputs: &HashMap<String, CtTensor>,
    ggsw: &HashMap<String, GgswTensor>,
    salt: u64,
) -> Result<HashMap<String, CtTensor>, String> {
    let depth = depths(g);
    // What the client computed: the job brings its forms instead.
    let client = g.client_only();
    let server = |i: &ValueId| !client[i.index()];
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    // Execution goes by round (bootstrap depth), not by id: a value may be
    // freed after the last round that reads it.
    let mut last_round = vec![None::<u32>; g.len()];
    for id in g.ids().filter(server) {
        for a in &g.node(id).args {
            let r = &mut last_round[a.index()];
            *r = Some(r.map_or(depth[id.index()], |x| x.max(depth[id.index()])));
        }
    }
    let mut vals: Vec<Option<CtTensor>> = vec![None; g.len()];
    let mut outputs = HashMap::new();
    // The GGSW forms and their chunks, by node.
    let mut held: HashMap<ValueId, Held<'_>> = HashMap::new();
    for d in 0..=max_depth {
        // 1. This wave's bootstraps, all elements of all nodes together.
        let wave: Vec<ValueId> =
            g.ids().filter(|&i| depth[i.index()] == d && g.node(i).op.is_bootstrap() && server(&i)).collect();
        // One job per bootstrapped element: a `lut` yields one ciphertext,
        // a `lut_many` of k tables yields k from the same blind rotation.
        let jobs: Vec<(usize, usize)> = wave
            .iter()
            .enumerate()
            .flat_map(|(w, &id)| (0..g.ty(g.node(id).args[0]).len()).map(move |e| (w, e)))
            .collect();
        let started = Instant::now();
        // Torus reads bootstrap a combination of their operands.
        let torus_of = |id: ValueId| g.ty(g.node(id).args[0]).torus;
        let prepared: Vec<Option<Ciphertext>> = jobs
            .par_iter()
            .map(|&(w, e)| {
                let n = g.node(wave[w]);
                let x = &vals[n.args[0].index()].as_ref().expect("operand computed").cts[e];
                let sign = n.args.get(1).map(|s| &vals[s.index()].as_ref().expect("operand computed").cts[e]);
                engine.prepared(&n.op, torus_of(wave[w]), x, sign)
            })
            .collect();
        let results = engine.spread.run(jobs.len(), &|range| {
            let batch: Vec<(&Op, Option<i64>, &Ciphertext)> = range
                .map(|j| {
                    let (w, e) = jobs[j];
                    let n = g.node(wave[w]);
                    let ct = prepared[j]
                        .as_ref()
                        .unwrap_or_else(|| &vals[n.args[0].index()].as_ref().expect("operand computed").cts[e]);
                    (&n.op, torus_of(wave[w]), ct)
                })
                .collect();
            engine.bootstrap(&batch)
        });
        let waves_done = Instant::now();
        let mut results = results.into_iter();
        for &id in &wave {
            let n = g.node(id);
            let src_len = g.ty(n.args[0]).len();
            let mut per_elem: Vec<_> = results.by_ref().take(src_len).map(Vec::into_iter).collect();
            // `lut_many`'s result is table-major: [k, ..input shape].
            let mut cts = Vec::with_capacity(n.ty.len());
            for _ in 0..n.ty.len() / src_len {
                cts.extend(per_elem.iter_mut().map(|r| r.next().expect("one result per table")));
            }
            vals[id.index()] = Some(CtTensor { shape: n.ty.shape.clone(), cts });
        }
        // 2. Leveled and layout ops of this depth, in id order.
        for id in g.ids().filter(|&i| depth[i.index()] == d && !g.node(i).op.is_bootstrap() && server(&i)) {
            let n = g.node(id);
            let arg = |i: usize| {
                vals[n.args[i].index()].as_ref().unwrap_or_else(|| panic!("{id}: operand {} not computed", n.args[i]))
            };
            let zip = |f: &(dyn Fn(&mut Ciphertext, &Ciphertext) + Sync)| {
                let (a, b) = (arg(0), arg(1));
                let cts = a
                    .cts
                    .par_iter()
                    .zip(&b.cts)
                    .map(|(x, y)| {
                        let mut x = x.clone();
                        f(&mut x, y);
                        x
                    })
                    .collect();
                CtTensor { shape: a.shape.clone(), cts }
            };
            let map = |f: &(dyn Fn(&mut Ciphertext) + Sync)| {
                let a = arg(0);
                let cts = a
                    .cts
                    .par_iter()
                    .map(|x| {
                        let mut x = x.clone();
                        f(&mut x);
                        x
                    })
                    .collect();
                CtTensor { shape: a.shape.clone(), cts }
            };
            let t = match &n.op {
                // A GGSW form is read in place by its `ext_dot`s.
                Op::Form { name, ggsw: true, .. } => {
                    let t = ggsw.get(name).ok_or_else(|| format!("GGSW form `{name}` was not supplied"))?;
                    if t.shape != n.ty.shape || t.items.len() != n.ty.len() {
                        return Err(format!(
                            "GGSW form `{name}` has shape {:?}, the circuit expects {:?}",
                            t.shape, n.ty.shape
                        ));
                    }
                    held.insert(id, Held::Whole(t));
                    CtTensor { shape: n.ty.shape.clone(), cts: Vec::new() }
                }
                // A chunk of a GGSW form: its elements' indices.
                Op::Slice { axis, start, len } if held.contains_key(&n.args[0]) => {
                    let (form, idx) = held[&n.args[0]].indices();
                    let (outer, full, inner) = around(&g.ty(n.args[0]).shape, *axis);
                    let mut kept = Vec::with_capacity(outer * len * inner);
                    for o in 0..outer {
                        kept.extend_from_slice(&idx[(o * full + start) * inner..(o * full + start + len) * inner]);
                    }
                    held.insert(id, Held::Part(form, kept));
                    CtTensor { shape: n.ty.shape.clone(), cts: Vec::new() }
                }
                Op::ExtDot { transpose, .. } => {
                    let Some(a) = held.get(&n.args[0]) else {
                        return Err(format!("{id}: ext_dot's first operand is not a GGSW form"));
                    };
                    let (form, idx) = a.indices();
                    let items: Vec<&Ggsw> = idx.iter().map(|&i| &form.items[i]).collect();
                    engine.ext_dot(id, &g.ty(n.args[0]).shape, &items, arg(1), *transpose)?
                }
                Op::Coarsen { by } => map(&|x| engine.mul_clear(x, *by)),
                // A form comes with the job like an input.
                Op::Input { name, .. } | Op::Form { name, .. } => {
                    let what = n.op.name();
                    let t = inputs.get(name).ok_or_else(|| format!("{what} `{name}` was not supplied"))?;
                    if t.shape != n.ty.shape {
                        return Err(format!(
                            "{what} `{name}` has shape {:?}, the circuit expects {:?}",
                            t.shape, n.ty.shape
                        ));
                    }
                    t.clone()
                }
                Op::Output { name } => {
                    outputs.insert(name.clone(), arg(0).clone());
                    arg(0).clone()
                }
                Op::Add | Op::AddExclusive { .. } => zip(&|x, y| lwe_ciphertext_add_assign(&mut x.ct, &y.ct)),
                Op::Sub => zip(&|x, y| lwe_ciphertext_sub_assign(&mut x.ct, &y.ct)),
                Op::Pack { scale } => zip(&|x, y| {
                    engine.mul_clear(x, *scale);
                    lwe_ciphertext_add_assign(&mut x.ct, &y.ct)
                }),
                Op::AddClear { c } => match n.ty.torus {
                    Some(m) => map(&|x| engine.add_clear_torus(x, *c, m)),
                    None => map(&|x| engine.add_clear(x, *c)),
                },
                // A clear addition per element; only torus sums are
                // dithered once lowered (`karatsuba`).
                Op::AddDither { stream, lo, hi, modulus: None } => {
                    let m = n.ty.torus.ok_or_else(|| format!("`add_dither` of a value off the torus: {}", n.ty))?;
                    let a = arg(0);
                    let cts = a
                        .cts
                        .par_iter()
                        .enumerate()
                        .map(|(e, x)| {
                            let mut x = x.clone();
                            engine.add_clear_torus(&mut x, semantics::dither(salt, *stream, e, *lo, *hi), m);
                            x
                        })
                        .collect();
                    CtTensor { shape: a.shape.clone(), cts }
                }
                Op::MulClear { c } => map(&|x| engine.mul_clear(x, *c)),
                Op::ReduceSum { axis, chunk } => {
                    let a = arg(0);
                    let (outer, len, inner) = around(&a.shape, *axis);
                    let groups = len.div_ceil(*chunk);
                    let mut shape = a.shape.clone();
                    shape[*axis] = groups;
                    let cts = (0..outer * groups * inner)
                        .into_par_iter()
                        .map(|k| {
                            let (o, rest) = (k / (groups * inner), k % (groups * inner));
                            let (gi, i) = (rest / inner, rest % inner);
                            let first = gi * chunk;
                            let mut acc = a.cts[(o * len + first) * inner + i].clone();
                            for l in first + 1..(first + chunk).min(len) {
                                lwe_ciphertext_add_assign(&mut acc.ct, &a.cts[(o * len + l) * inner + i].ct);
                            }
                            acc
                        })
                        .collect();
                    CtTensor { shape, cts }
                }
                Op::Transpose => {
                    let a = arg(0);
                    let (r, c) = (a.shape[0], a.shape[1]);
                    let cts = (0..r * c).map(|k| a.cts[(k % r) * c + k / r].clone()).collect();
                    CtTensor { shape: vec![c, r], cts }
                }
                Op::Reshape { shape } => CtTensor { shape: shape.clone(), cts: arg(0).cts.clone() },
                // The phase is on the grid already: the same ciphertexts.
                Op::OnGrid { .. } => arg(0).clone(),
                Op::Expand { axis, n: count } => {
                    let a = arg(0);
                    let outer: usize = a.shape[..*axis].iter().product();
                    let inner: usize = a.shape[*axis..].iter().product();
                    let mut cts = Vec::with_capacity(a.cts.len() * count);
                    for o in 0..outer {
                        for _ in 0..*count {
                            cts.extend_from_slice(&a.cts[o * inner..(o + 1) * inner]);
                        }
                    }
                    let mut shape = a.shape.clone();
                    shape.insert(*axis, *count);
                    CtTensor { shape, cts }
                }
                Op::Slice { axis, start, len } => {
                    let a = arg(0);
                    let (outer, full, inner) = around(&a.shape, *axis);
                    let mut cts = Vec::with_capacity(outer * len * inner);
                    for o in 0..outer {
                        cts.extend_from_slice(&a.cts[(o * full + start) * inner..(o * full + start + len) * inner]);
                    }
                    let mut shape = a.shape.clone();
                    shape[*axis] = *len;
                    CtTensor { shape, cts }
                }
                Op::Concat { axis } => {
                    let parts: Vec<&CtTensor> =
                        n.args.iter().map(|a| vals[a.index()].as_ref().expect("computed")).collect();
                    let (outer, _, inner) = around(&parts[0].shape, *axis);
                    let total: usize = parts.iter().map(|p| p.shape[*axis]).sum();
                    let mut cts = Vec::with_capacity(outer * total * inner);
                    for o in 0..outer {
                        for p in &parts {
                            let l = p.shape[*axis];
                            cts.extend_from_slice(&p.cts[o * l * inner..(o + 1) * l * inner]);
                        }
                    }
                    let mut shape = parts[0].shape.clone();
                    shape[*axis] = total;
                    CtTensor { shape, cts }
                }
                op => {
                    return Err(format!(
                        "`{}` is a high-level op: lower the circuit before running it encrypted",
                        op.name()
                    ))
                }
            };
            vals[id.index()] = Some(t);
        }
        // Free what no later round reads.
        for (i, r) in last_round.iter().enumerate() {
            if *r == Some(d) {
                vals[i] = None;
            }
        }
        let mut time = engine.time.lock().expect("time lock");
        time.waves += (waves_done - started).as_secs_f64();
        time.leveled += waves_done.elapsed().as_secs_f64();
    }
    Ok(outputs)
}
