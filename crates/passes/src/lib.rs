//! silc's compiler passes, in one linear pipeline (see [`compile`]):
//!
//! `lower → rns → karatsuba → scale → nonlinear → check → schedule → forms → cost`
//!
//! Each pass lives in its own module and builds a new graph from the previous
//! one; the IR verifier runs after every stage. Analyses (ranges, noise,
//! waves) are returned in side tables, never stored on nodes. Architecture
//! invariant: no pass knows tfhe-rs or touches files; the parameter facts they
//! need are in [`params`].

pub mod check;
pub mod cost;
pub mod error;
pub mod exclusive;
pub mod forms;
pub mod karatsuba;
pub mod lower;
pub mod nonlinear;
pub mod params;
pub mod rns;
pub mod scale;
pub mod schedule;

pub use error::PassError;
pub use lower::{Formats, Quant};

use serde::Serialize;
use silc_frontend::ModelSpec;
use silc_ir::{Graph, Loc};

/// What the checker does with a violation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum CheckMode {
    /// A violation is an error (the default).
    #[default]
    Deny,
    /// Violations are reported, compilation continues.
    Warn,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub formats: Formats,
    pub check: CheckMode,
    /// Force a product method where feasible (`packed`, `quarter-squares`,
    /// `binomial`, `raw-binomial`, `karatsuba`, `wrapping`,
    /// `wrapping-binomial`).
    pub force_product: Option<String>,
    pub schedule: schedule::Config,
    /// Training samples per epoch, for the per-epoch figures (default: one batch).
    pub samples: Option<usize>,
    /// Leave the bootstraps of the samples alone on the server (no `forms`).
    pub server_forms: bool,
    /// Build the two-scale products of a sample by external products
    /// (`karatsuba::external`; the run needs the precise key and GGSW
    /// forms).
    pub external_products: bool,
}

/// External products asked for at `bits` other than the one their noise
/// is modelled for (`params::external::BITS`); `at` is the `bits`
/// statement.
fn external_elsewhere(bits: u32, at: Loc) -> PassError {
    PassError::unsupported(
        at,
        format!(
            "external products are modelled for bits {} only, and this model has `bits {bits}`",
            params::external::BITS
        ),
        format!(
            "compile with `bits {};`, or without external products (`--external-products off`)",
            params::external::BITS
        ),
    )
}

/// The pipeline's stages, in order, as named by `--dump-ir`.
pub const STAGES: &[&str] = &["high", "rns", "karatsuba", "scale", "nonlinear", "schedule", "forms"];

/// Everything `compile` produces.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The graph after every stage, in [`STAGES`] order.
    pub stages: Vec<(&'static str, Graph)>,
    pub quant: Quant,
    pub rns: Vec<rns::RnsChoice>,
    pub violations: Vec<check::Violation>,
    pub schedule: schedule::ScheduleReport,
    pub cost: cost::CostReport,
}

impl Compiled {
    /// The final, executable graph.
    pub fn graph(&self) -> &Graph {
        &self.stages.last().expect("compile records every stage").1
    }

    /// The high-level graph (the reference semantics).
    pub fn high(&self) -> &Graph {
        &self.stages[0].1
    }

    pub fn stage(&self, name: &str) -> Option<&Graph> {
        self.stages.iter().find(|(n, _)| *n == name).map(|(_, g)| g)
    }
}

fn verified(stage: &'static str, g: Graph) -> Graph {
    if let Err(errors) = silc_ir::verify::verify(&g) {
        let list: Vec<String> = errors.iter().take(5).map(|e| e.to_string()).collect();
        if std::env::var_os("SILC_DEBUG_IR").is_some() {
            eprintln!("{}", silc_ir::text::print(&g));
        }
        panic!("internal error: the IR after `{stage}` does not verify:\n{}", list.join("\n"));
    }
    g
}

/// The lowered stages of a high-level graph, and what the passes found.
pub struct Lowering {
    pub stages: Vec<(&'static str, Graph)>,
    pub rns: Vec<rns::RnsChoice>,
    pub violations: Vec<check::Violation>,
    pub schedule: schedule::ScheduleReport,
}

/// Runs the pipeline after `lower` on any high-level graph (pass tests start
/// here from IR text or hand-built graphs). The noise bound is the default
/// parameter set's for the graph's precision.
pub fn lower_graph(high: Graph, opts: &Options) -> Result<Lowering, PassError> {
    let nu = params::for_precision(high.bits).nu();
    if opts.external_products && high.bits != params::external::BITS {
        return Err(external_elsewhere(high.bits, Loc::default()));
    }
    let high = verified("high", high);
    let rns_config = rns::Config { force: opts.force_product.clone() };
    let (g_rns, rns_choices) = rns::run(&high, nu, &rns_config)?;
    let g_rns = verified("rns", g_rns);
    let g_kara = verified(
        "karatsuba",
        karatsuba::run(
            &g_rns,
            nu,
            &karatsuba::Config { force: opts.force_product.clone(), external: opts.external_products },
        ),
    );
    let g_scale = verified("scale", scale::run(&g_kara, nu));
    let g_nl = verified("nonlinear", nonlinear::run(&g_scale));
    let (_, violations) = check::check(&g_nl, nu);
    if opts.check == CheckMode::Deny && !violations.is_empty() {
        return Err(PassError::Violations(violations));
    }
    let (g_sched, mut sched) = schedule::run(&g_nl, nu, &opts.schedule);
    let g_sched = verified("schedule", g_sched);
    let (g_forms, forms) = forms::run(&g_sched, !opts.server_forms);
    let g_forms = verified("forms", g_forms);
    schedule::count_waves(&g_forms, &mut sched);
    sched.forms = forms;
    // Neither may introduce violations of its own.
    let (_, after) = check::check(&g_forms, nu);
    let violations = if violations.is_empty() { after } else { violations };
    if opts.check == CheckMode::Deny && !violations.is_empty() {
        return Err(PassError::Violations(violations));
    }
    Ok(Lowering {
        stages: vec![
            ("high", high),
            ("rns", g_rns),
            ("karatsuba", g_kara),
            ("scale", g_scale),
            ("nonlinear", g_nl),
            ("schedule", g_sched),
            ("forms", g_forms),
        ],
        rns: rns_choices,
        violations,
        schedule: sched,
    })
}

/// Runs the whole pipeline on a checked model.
pub fn compile(spec: &ModelSpec, opts: &Options) -> Result<Compiled, PassError> {
    let params = params::for_precision(spec.bits as u32);
    if opts.external_products && spec.bits as u32 != params::external::BITS {
        return Err(external_elsewhere(spec.bits as u32, Loc { line: spec.locs.bits.line, col: spec.locs.bits.col }));
    }
    let lowered = lower::lower(spec, &opts.formats)?;
    let l = lower_graph(lowered.graph, opts)?;
    let final_graph = &l.stages.last().expect("every stage recorded").1;
    let samples = opts.samples.unwrap_or(spec.batch);
    let products = cost::declared_products(spec);
    let cost = cost::run(final_graph, &products, params, spec.batch, samples, spec.epochs, spec.pfail_log2);
    Ok(Compiled {
        stages: l.stages,
        quant: lowered.quant,
        rns: l.rns,
        violations: l.violations,
        schedule: l.schedule,
        cost,
    })
}
