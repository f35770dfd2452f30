//! `silc compile`: runs the pipeline, prints dumps and the report, writes the
//! artifact.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;
use silc_frontend::SourceFile;
use silc_passes::{CheckMode, Compiled, Options, STAGES};

use crate::{artifact, io, render, CheckArg, CompileArgs, ExternalArg, ProductArg};

/// Reads and checks a `.mlp` file; errors come rendered.
pub fn load_spec(path: &std::path::Path) -> Result<(silc_frontend::ModelSpec, Vec<u8>), String> {
    let bytes = io::read(path)?;
    let name = path.display().to_string();
    let spec = silc_frontend::compile_source(&name, &bytes).map_err(|d| d.to_string())?;
    Ok((spec, bytes))
}

pub fn run(args: &CompileArgs) -> Result<(), String> {
    let stages: Vec<&str> = match args.dump_ir.as_deref() {
        None => vec![],
        Some("all") => STAGES.to_vec(),
        Some(s) if STAGES.contains(&s) => vec![s],
        Some(s) => {
            return Err(format!(
                "error: unknown stage `{s}` for --dump-ir\n  = help: valid stages are {}, or `all`",
                STAGES.join(", ")
            ))
        }
    };
    let (spec, bytes) = load_spec(&args.model)?;
    let name = args.model.display().to_string();
    let text = String::from_utf8_lossy(&bytes);
    let src = SourceFile::new(&name, &text);
    let external = external_products(&spec, args.external_products);
    let opts = Options {
        check: match args.check {
            CheckArg::Deny => CheckMode::Deny,
            CheckArg::Warn => CheckMode::Warn,
        },
        force_product: args.product.map(|p| {
            match p {
                ProductArg::Packed => "packed",
                ProductArg::QuarterSquares => "quarter-squares",
                ProductArg::Binomial => "binomial",
                ProductArg::RawBinomial => "raw-binomial",
                ProductArg::Karatsuba => "karatsuba",
                ProductArg::Wrapping => "wrapping",
                ProductArg::WrappingBinomial => "wrapping-binomial",
            }
            .to_string()
        }),
        samples: args.samples,
        server_forms: args.server_forms,
        external_products: external.0,
        ..Default::default()
    };
    let compiled = silc_passes::compile(&spec, &opts).map_err(|e| render::pass_error(&src, &e))?;

    for stage in &stages {
        let g = compiled.stage(stage).expect("every stage is recorded");
        let dump = format!(";; ---- stage: {stage} ----\n{}", silc_ir::text::print(g));
        if args.json {
            eprint!("{dump}");
        } else {
            crate::emit(&dump);
        }
    }
    for v in &compiled.violations {
        eprintln!("{}", render::violation(&src, v, "warning"));
    }
    if let Some(out) = &args.output {
        let params = silc_passes::params::for_precision(spec.bits as u32);
        let header = artifact::Header {
            model: &spec,
            precision: spec.bits as u32,
            parameter_set: params.name,
            quant: &compiled.quant,
        };
        io::write_atomic(out, &artifact::encode(&header, &silc_ir::text::print(compiled.graph())))?;
    }
    if args.json {
        crate::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report_json(&spec, &compiled, &external)).expect("serializable")
        ));
    } else {
        crate::emit(&report_text(&spec, &compiled, &text, args.samples.is_none(), &external.1));
        if let Some(out) = &args.output {
            crate::emit(&format!("wrote {}\n", out.display()));
        }
    }
    Ok(())
}

/// Whether the circuit takes external products (`--external-products`),
/// and the report's words for why.
pub fn external_products(spec: &silc_frontend::ModelSpec, arg: ExternalArg) -> (bool, String) {
    match arg {
        ExternalArg::On => (true, "on (--external-products on)".to_string()),
        ExternalArg::Off => (false, "off (--external-products off)".to_string()),
        ExternalArg::Auto => match silc_passes::params::external::by_default(spec.bits as u32, spec.input) {
            Ok(why) => (
                true,
                format!(
                    "on by default at bits {}: {why}; `--external-products off` keeps every product on tables",
                    spec.bits
                ),
            ),
            Err(why) => (false, format!("off by default: {why}")),
        },
    }
}

fn op_counts(c: &Compiled) -> BTreeMap<&'static str, usize> {
    let g = c.graph();
    let mut counts = BTreeMap::new();
    for id in g.ids() {
        *counts.entry(g.node(id).op.name()).or_insert(0) += 1;
    }
    counts
}

fn report_json(spec: &silc_frontend::ModelSpec, c: &Compiled, external: &(bool, String)) -> serde_json::Value {
    json!({
        "model": spec.name,
        "precision": spec.bits,
        "parameter_set": c.cost.parameter_set,
        "noise_bound": c.cost.noise_bound,
        "pbs_per_step": c.cost.pbs_per_step,
        "products_per_step": c.cost.products_per_step,
        "pbs_per_product": c.cost.pbs_per_product,
        "pbs_per_epoch": c.cost.pbs_per_epoch,
        "pbs_total": c.cost.pbs_total,
        "estimated_seconds_per_step": c.cost.estimated_seconds_per_step,
        "estimated_seconds_per_epoch": c.cost.estimated_seconds_per_epoch,
        "violations": c.violations.len(),
        "external_products": external.0,
        "external_products_why": external.1,
        "upload_kib_per_sample": c.cost.upload_kib_per_sample,
        "ensemble": spec.ensemble(),
        "ops": op_counts(c),
        "rns": c.rns,
        "schedule": c.schedule,
        "cost": c.cost,
        "quant": c.quant,
    })
}

fn report_text(
    spec: &silc_frontend::ModelSpec,
    c: &Compiled,
    source: &str,
    default_samples: bool,
    external: &str,
) -> String {
    let mut o = String::new();
    let k = &c.cost;
    let chain: Vec<String> = spec.widths_chain().iter().map(|w| w.to_string()).collect();
    let scaling = match spec.scaling {
        silc_frontend::Scaling::Static => "",
        silc_frontend::Scaling::Block => ", block scaling",
    };
    writeln!(o, "compiled `{}` ({}), bits {}, batch {}{scaling}", spec.name, chain.join("-"), spec.bits, spec.batch)
        .unwrap();
    writeln!(
        o,
        "  parameters   {} (noise bound ν = {:.2}), p-fail 2^-{} per bootstrap",
        k.parameter_set, k.noise_bound, k.pfail_log2
    )
    .unwrap();
    if spec.rounding == silc_frontend::Rounding::Dither {
        // The weight gradients are the first of each layer's backward products.
        let dithered = c.rns.iter().filter(|r| r.dither.is_some()).count();
        let layers = spec.layers.len();
        writeln!(
            o,
            "  rounding     dithered on {dithered} of {layers} weight gradients{}",
            match dithered {
                d if d == layers => "",
                0 => " (each is rescaled statically, has 1 as its finest block divisor, or takes no two-scale system)",
                _ => {
                    " (the others are rescaled statically, have 1 as their finest block divisor, or take no \
                     two-scale system)"
                }
            }
        )
        .unwrap();
    }
    writeln!(o, "  external     {external}").unwrap();
    let ops: Vec<String> = op_counts(c).iter().map(|(n, c)| format!("{n} {c}")).collect();
    writeln!(o, "  ops          {}", ops.join(", ")).unwrap();
    writeln!(
        o,
        "  rns          one residue system per matrix product (divisor | range radices; a modulus 2^(p+1) is two radices):"
    )
    .unwrap();
    for r in &c.rns {
        let list = |ms: &[i64]| ms.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("·");
        let radices = match silc_ir::semantics::fine_divisor(spec.bits as u32, &r.moduli) {
            Some(d) => silc_ir::semantics::fine_radices(spec.bits as u32, d, r.low, r.wide),
            None => silc_ir::semantics::radices(spec.bits as u32, &r.moduli, r.low),
        };
        let methods: Vec<String> = r.moduli.iter().zip(&r.methods).map(|(m, meth)| format!("{m}:{meth}")).collect();
        let block = if r.block_divisors.is_empty() {
            String::new()
        } else {
            let ds: Vec<String> = r.block_divisors.iter().map(|d| format!("÷{d}")).collect();
            format!(", block {}", ds.join(" or "))
        };
        let chunks = if r.chunks > 1 { format!(", in {} chunks added as digits", r.chunks) } else { String::new() };
        let two_scale = silc_ir::semantics::fine_divisor(spec.bits as u32, &r.moduli)
            .map(|d| format!(", two-scale: ⌊V/{d}⌋ from a fine sum at 1/{}", r.moduli[1]))
            .unwrap_or_default();
        // The top radix is `2m` when the top digit comes from tables, `m`
        // (odd) when it is read on the torus (`rns::wrap_first::Top`).
        let wrap_first = match r.wrap_first.split_last() {
            Some((top, below)) if top % 2 == 1 => format!(
                ", wrap-first: digits {} of {} (the last with its top bit), then ⌊V/{}⌋ from {}, read on the torus",
                list(below),
                r.moduli[0],
                r.moduli[0],
                top
            ),
            Some((top, below)) => format!(
                ", wrap-first: digits {} of {}, then ⌊V/{}⌋ from {}",
                list(below),
                r.moduli[0],
                r.moduli[0],
                top / 2
            ),
            None => String::new(),
        };
        let dither = r.dither.map(|[lo, hi]| format!(", dithered by [{lo}, {hi}]")).unwrap_or_default();
        writeln!(
            o,
            "    @{:<6} [{}x{}]·[{}x{}] in [{}, {}]: {} | {}   ({}){block}{dither}{chunks}{two_scale}{wrap_first}",
            r.at,
            r.shape[0],
            r.shape[1],
            r.shape[1],
            r.shape[2],
            r.c_lo,
            r.c_hi,
            list(&radices[..r.n_div]),
            list(&radices[r.n_div..]),
            methods.join(", ")
        )
        .unwrap();
    }
    let s = &c.schedule;
    writeln!(
        o,
        "  schedule     PBS {} → {} ({} tables fused, {} nodes merged, {} dead removed, {} refreshes, {} many-LUT groups); {} waves, widest {}",
        s.pbs_before, s.pbs_after, s.fused_tables, s.merged_nodes, s.removed_nodes, s.refreshes, s.many_lut_groups, s.waves, s.widest_wave
    )
    .unwrap();
    let kinds: Vec<String> = k.pbs_by_kind.iter().map(|(n, c)| format!("{n} {c}")).collect();
    writeln!(
        o,
        "  PBS/step     {} at {} bits ({} more, of the samples alone, computed once by the client; {} of the data alone left)",
        k.pbs_per_step, k.precision, k.client_pbs_per_step, k.cacheable_pbs_per_step
    )
    .unwrap();
    writeln!(
        o,
        "    per product {:.2} ({} naive encrypted scalar products per step: forward, deltas, weight gradients)",
        k.pbs_per_product, k.products_per_step
    )
    .unwrap();
    writeln!(o, "    by table   {}", kinds.join(", ")).unwrap();
    writeln!(o, "    by statement (a layer: its forward product, its weight gradient, the deltas it sends back)")
        .unwrap();
    for s in &k.by_statement {
        let line = source.lines().nth((s.at.line as usize).saturating_sub(1)).unwrap_or("");
        let statement = line.split("//").next().unwrap_or("").trim();
        let per = if s.products == 0 {
            String::new()
        } else {
            format!(" for {} products, {:.2} each", s.products, s.pbs as f64 / s.products as f64)
        };
        writeln!(o, "      @{:<6} {:<24} {} PBS{per}", s.at.to_string(), format!("`{statement}`"), s.pbs).unwrap();
    }
    let note = if default_samples { " (one batch per epoch; pass --samples N for a data set of N)" } else { "" };
    writeln!(
        o,
        "  PBS/epoch    {} in {} steps{note}; {} for {} epochs",
        k.pbs_per_epoch, k.steps_per_epoch, k.pbs_total, spec.epochs
    )
    .unwrap();
    writeln!(
        o,
        "  time         ≈ {} per step, {} per epoch, {} in all (2 cores, at the engine's measured PBS rate; an estimate)",
        human_secs(k.estimated_seconds_per_step),
        human_secs(k.estimated_seconds_per_epoch),
        human_secs(k.estimated_seconds_total)
    )
    .unwrap();
    let ggsw = match k.ggsw_per_sample {
        0 => String::new(),
        g => format!(", {g} of them GGSW of {} KiB", silc_passes::params::external::GGSW_KIB),
    };
    writeln!(
        o,
        "  data         {} per sample: {} ciphertexts ({} of them forms{ggsw}), the others {} KiB each; {} ciphertexts for the weights",
        silc_passes::params::external::human_kib(k.upload_kib_per_sample),
        k.ciphertexts_per_sample,
        k.form_ciphertexts_per_sample,
        k.ciphertext_kib,
        k.weight_ciphertexts
    )
    .unwrap();
    writeln!(
        o,
        "  p-fail       {:.3e} for the whole run (Σ over {} bootstraps)",
        k.total_failure_probability, k.pbs_total
    )
    .unwrap();
    writeln!(o, "  violations   {}", c.violations.len()).unwrap();
    o
}

fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 172800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86400.0)
    }
}
