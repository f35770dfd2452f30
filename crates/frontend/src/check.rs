//! Semantic checks: AST → [`ModelSpec`].
//!
//! Each statement keyword has one handler that validates its arguments; the
//! model-level rules (required statements, layer order, the last layer) run
//! after all statements are read. The first error wins: a user fixes one thing
//! at a time, and later errors are often consequences of the first.

use crate::ast::{ArgKind, Model, Statement, Value};
use crate::diag::{Annotate, Diagnostic, ErrorKind, SourceFile, Span};
use crate::parse::join_or;
use crate::spec::{Layer, Loc, Locs, ModelSpec, Rounding, Scaling, Widths};

/// Statements a model may hold, in the order the help text lists them.
pub const STATEMENTS: &[&str] = &[
    "input",
    "dense",
    "loss",
    "optimizer",
    "batch",
    "epochs",
    "bits",
    "seed",
    "quantize",
    "pfail",
    "scaling",
    "rounding",
    "ensemble",
];

/// Largest layer width, batch or epoch count accepted: far beyond any model that
/// could run under FHE, small enough that products of them cannot overflow.
const MAX_COUNT: u64 = 1 << 20;

type Result<T> = std::result::Result<T, Box<Diagnostic>>;

/// A `quantize` statement's entries: a value's name, its width in bits and
/// where the entry stands.
type QuantizeEntries = Vec<(String, u8, Span)>;

mod statements;
pub use statements::DEFAULT_LR;
use statements::{check_dense, check_input, check_loss, check_optimizer, check_quantize};

struct Checker<'s, 'a> {
    src: &'s SourceFile<'a>,
}

impl Checker<'_, '_> {
    fn err(&self, kind: ErrorKind, span: Span, msg: impl Into<String>) -> Box<Diagnostic> {
        Box::new(self.src.error(kind, span, msg))
    }

    fn loc(&self, span: Span) -> Loc {
        let (line, col) = self.src.line_col(span.start);
        Loc { line: line as u32, col: col as u32 }
    }

    /// A statement keyword among the arguments almost always means the `;`
    /// before it is missing: `input 4` newline `dense 3;`.
    fn missing_semicolon(&self, st: &Statement) -> Result<()> {
        for (i, arg) in st.args.iter().enumerate() {
            if let ArgKind::Value(Value::Word(w)) = &arg.kind {
                if STATEMENTS.contains(&w.as_str()) && i > 0 {
                    let prev_end = st.args[i - 1].span.end;
                    return Err(self
                        .err(ErrorKind::Syntax, Span::new(prev_end, prev_end + 1), format!("expected `;` before `{w}`"))
                        .with_label("missing `;`")
                        .with_help("every statement ends with `;`"));
                }
            }
        }
        Ok(())
    }

    /// Exactly `n` bare (non `key=value`) arguments.
    fn bare_args<'m>(&self, st: &'m Statement, n: usize, usage: &str) -> Result<Vec<(&'m Value, Span)>> {
        self.missing_semicolon(st)?;
        let mut out = Vec::new();
        for arg in &st.args {
            match &arg.kind {
                ArgKind::Value(v) => out.push((v, arg.span)),
                ArgKind::Pair { key, key_span, .. } => {
                    return Err(self
                        .err(ErrorKind::BadArgument, *key_span, format!("`{}` takes no `{key}=` argument", st.keyword))
                        .with_label("unexpected key")
                        .with_help(format!("write it as `{usage}`")))
                }
            }
        }
        if out.len() != n {
            let (span, what) = if out.len() > n {
                (out[n].1, format!("`{}` takes {} argument{}, found {}", st.keyword, n, plural(n), out.len()))
            } else {
                (st.span, format!("`{}` needs {} argument{}, found {}", st.keyword, n, plural(n), out.len()))
            };
            return Err(self.err(ErrorKind::BadArgument, span, what).with_help(format!("write it as `{usage}`")));
        }
        Ok(out)
    }

    /// A whole number in `min..=max`.
    fn int(&self, v: &Value, span: Span, what: &str, min: u64, max: u64) -> Result<u64> {
        let Value::Number(text) = v else {
            return Err(self
                .err(ErrorKind::BadArgument, span, format!("{what} must be a whole number, found {}", v.describe()))
                .with_help(format!("use a whole number from {min} to {max}")));
        };
        if text.contains(['.', 'e', 'E']) || text.starts_with('-') {
            let kind = if text.starts_with('-') { ErrorKind::NumberOutOfRange } else { ErrorKind::BadArgument };
            return Err(self
                .err(kind, span, format!("{what} must be a whole number from {min} to {max}, found `{text}`"))
                .with_help(format!("use a whole number from {min} to {max}")));
        }
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => {
                let kind = if min == 1 && text.parse::<u64>() == Ok(0) && what.contains("width") {
                    ErrorKind::ZeroWidth
                } else {
                    ErrorKind::NumberOutOfRange
                };
                let shown =
                    if text.len() > 24 { format!("{}… ({} digits)", &text[..12], text.len()) } else { text.clone() };
                let message = if kind == ErrorKind::ZeroWidth {
                    format!("{what} must be at least 1, found `0`")
                } else {
                    format!("{what} is out of range: `{shown}`")
                };
                Err(self
                    .err(kind, span, message)
                    .with_label(format!("must be from {min} to {max}"))
                    .with_help(format!("use a whole number from {min} to {max}")))
            }
        }
    }

    fn word<'v>(&self, v: &'v Value, span: Span, what: &str, valid: &str) -> Result<&'v str> {
        match v {
            Value::Word(w) => Ok(w),
            other => Err(self
                .err(ErrorKind::BadArgument, span, format!("expected {what}, found {}", other.describe()))
                .with_help(format!("valid: {valid}"))),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[derive(Default)]
struct Seen {
    input: Option<(usize, Span)>,
    input_quantile: bool,
    /// The statement and its `margin=`, if written.
    loss: Option<(Span, Option<f64>)>,
    optimizer: Option<(f64, Span)>,
    batch: Option<(usize, Span)>,
    epochs: Option<(usize, Span)>,
    bits: Option<(u8, Span)>,
    seed: Option<(u64, Span)>,
    quantize: Option<(QuantizeEntries, Span)>,
    pfail: Option<(u32, Span)>,
    scaling: Option<(Scaling, Span)>,
    rounding: Option<(Rounding, Span)>,
    /// The count and the span of its number.
    ensemble: Option<(usize, Span)>,
}

/// Checks a parsed model and builds its [`ModelSpec`].
pub fn check(src: &SourceFile<'_>, model: &Model) -> Result<ModelSpec> {
    let c = Checker { src };
    let mut seen = Seen::default();
    let mut layers: Vec<(Layer, Span, Option<Span>)> = Vec::new();

    for st in &model.statements {
        let kw = st.keyword.as_str();
        let duplicate = |prev: Option<Span>| -> Result<()> {
            if let Some(prev) = prev {
                let (line, col) = src.line_col(prev.start);
                return Err(c
                    .err(ErrorKind::DuplicateStatement, st.keyword_span, format!("`{kw}` is given twice"))
                    .with_label("second one here")
                    .with_help(format!("keep one `{kw}` statement; the first is at {}:{line}:{col}", src.name)));
            }
            Ok(())
        };
        match kw {
            "input" => {
                duplicate(seen.input.map(|s| s.1))?;
                if let Some((_, first_dense, _)) = layers.first() {
                    let (line, _) = src.line_col(first_dense.start);
                    return Err(c
                        .err(ErrorKind::MisplacedStatement, st.keyword_span, "`input` comes after a `dense` layer")
                        .with_help(format!("move `input` before the first `dense` (line {line})")));
                }
                let (n, quantile) = check_input(&c, st)?;
                seen.input = Some((n, st.keyword_span));
                seen.input_quantile = quantile;
            }
            "dense" => {
                c.missing_semicolon(st)?;
                layers.push(check_dense(&c, st)?);
            }
            "loss" => {
                duplicate(seen.loss.map(|s| s.0))?;
                seen.loss = Some((st.keyword_span, check_loss(&c, st)?));
            }
            "optimizer" => {
                duplicate(seen.optimizer.map(|s| s.1))?;
                seen.optimizer = Some((check_optimizer(&c, st)?, st.keyword_span));
            }
            "batch" => {
                duplicate(seen.batch.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "batch N;")?;
                let n = c.int(a[0].0, a[0].1, "the batch size", 1, MAX_COUNT)?;
                seen.batch = Some((n as usize, st.keyword_span));
            }
            "epochs" => {
                duplicate(seen.epochs.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "epochs N;")?;
                let n = c.int(a[0].0, a[0].1, "the number of epochs", 1, MAX_COUNT)?;
                seen.epochs = Some((n as usize, st.keyword_span));
            }
            "bits" => {
                duplicate(seen.bits.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "bits N;")?;
                let ok = matches!(a[0].0, Value::Number(t) if t.parse::<u8>().is_ok_and(|b| (2..=8).contains(&b)));
                if !ok {
                    return Err(c
                        .err(ErrorKind::BitsOutOfRange, a[0].1, "`bits` must be a whole number from 2 to 8")
                        .with_label("the circuit precision p")
                        .with_help("TFHE tables of more than 8 bits are impractically slow; 4 or 5 for quick encrypted tests, 8 for accuracy"));
                }
                let Value::Number(t) = a[0].0 else { unreachable!("checked above") };
                seen.bits = Some((t.parse().expect("checked above"), st.keyword_span));
            }
            "seed" => {
                duplicate(seen.seed.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "seed N;")?;
                let n = c.int(a[0].0, a[0].1, "the seed", 0, u64::MAX)?;
                seen.seed = Some((n, st.keyword_span));
            }
            "quantize" => {
                duplicate(seen.quantize.as_ref().map(|s| s.1))?;
                seen.quantize = Some((check_quantize(&c, st)?, st.keyword_span));
            }
            "pfail" => {
                duplicate(seen.pfail.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "pfail 2^-64;")?;
                let log2 = match a[0].0 {
                    Value::Power { base, exp } if base == "2" => match exp.as_str() {
                        "-128" => Some(128),
                        "-64" => Some(64),
                        "-40" => Some(40),
                        _ => None,
                    },
                    _ => None,
                };
                let Some(log2) = log2 else {
                    return Err(c
                        .err(ErrorKind::BadFailureProbability, a[0].1, "unsupported failure probability")
                        .with_help("use one of `2^-128` (the default), `2^-64` or `2^-40`"));
                };
                seen.pfail = Some((log2, st.keyword_span));
            }
            "scaling" => {
                duplicate(seen.scaling.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "scaling block;")?;
                let w = c.word(a[0].0, a[0].1, "a scaling", "`static` or `block`")?;
                let s = match w {
                    "static" => Scaling::Static,
                    "block" => Scaling::Block,
                    other => {
                        return Err(c
                            .err(ErrorKind::UnknownScaling, a[0].1, format!("unknown scaling `{other}`"))
                            .with_help(
                                "use `static` (shifts fixed from worst-case ranges, the default) or `block` \
                                 (the backward pass shifts each gradient tensor by its data)",
                            ))
                    }
                };
                seen.scaling = Some((s, st.keyword_span));
            }
            "rounding" => {
                duplicate(seen.rounding.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "rounding dither;")?;
                let w = c.word(a[0].0, a[0].1, "a rounding", "`nearest` or `dither`")?;
                let r = match w {
                    "nearest" => Rounding::Nearest,
                    "dither" => Rounding::Dither,
                    other => {
                        return Err(c
                            .err(ErrorKind::UnknownRounding, a[0].1, format!("unknown rounding `{other}`"))
                            .with_help(
                                "use `nearest` (half up, the default) or `dither` (a public pseudo-random \
                                 offset before each weight gradient's rescale, so small gradients move \
                                 their weights in expectation)",
                            ))
                    }
                };
                seen.rounding = Some((r, a[0].1));
            }
            "ensemble" => {
                duplicate(seen.ensemble.map(|s| s.1))?;
                let a = c.bare_args(st, 1, "ensemble 5;")?;
                let n = c.int(a[0].0, a[0].1, "the ensemble size", 1, MAX_COUNT)?;
                seen.ensemble = Some((n as usize, a[0].1));
            }
            other => {
                let help = match suggest(other) {
                    Some(s) => format!("did you mean `{s}`? valid statements are {}", quoted(STATEMENTS)),
                    None => format!("valid statements are {}", quoted(STATEMENTS)),
                };
                return Err(c
                    .err(ErrorKind::UnknownStatement, st.keyword_span, format!("unknown statement `{other}`"))
                    .with_label("not a statement")
                    .with_help(help));
            }
        }
    }

    let end = model.end_span;
    let missing = |what: &str, example: &str| {
        c.err(ErrorKind::MissingStatement, end, format!("model `{}` has no `{what}` statement", model.name))
            .with_label("expected before this brace")
            .with_help(format!("add `{example}`"))
    };
    let (input, input_span) = seen.input.ok_or_else(|| missing("input", "input 4;   // number of features"))?;
    if layers.is_empty() {
        return Err(c
            .err(ErrorKind::NoDenseLayer, end, format!("model `{}` has no `dense` layer", model.name))
            .with_label("expected before this brace")
            .with_help("add at least the output layer, e.g. `dense 3;` for three classes"));
    }
    let (loss, margin) = seen.loss.ok_or_else(|| missing("loss", "loss cross_entropy;"))?;
    let (lr, opt_span) = seen.optimizer.ok_or_else(|| missing("optimizer", "optimizer sgd;"))?;
    let (batch, batch_span) = seen.batch.ok_or_else(|| missing("batch", "batch 8;"))?;
    let (epochs, epochs_span) = seen.epochs.ok_or_else(|| missing("epochs", "epochs 30;"))?;
    if let Some((n, at)) = seen.ensemble.filter(|&(n, _)| n > epochs) {
        let (line, _) = src.line_col(epochs_span.start);
        return Err(c
            .err(
                ErrorKind::NumberOutOfRange,
                at,
                format!("an ensemble of {n} epochs' weights, but the model trains {epochs}"),
            )
            .with_label(format!("at most {epochs}"))
            .with_help(format!(
                "the ensemble keeps the weights after each of the last N epochs: write `ensemble {epochs};` or less, \
                 or raise `epochs` (line {line})"
            )));
    }
    let (bits, bits_span) = seen.bits.ok_or_else(|| missing("bits", "bits 8;   // circuit precision, 2..8"))?;

    let (last, last_span, last_act) = layers.last().expect("checked non-empty");
    if last.relu {
        return Err(c
            .err(ErrorKind::ActivationOnLastLayer, last_act.unwrap_or(*last_span), "the output layer has an activation")
            .with_label("remove this")
            .with_help("the last `dense` produces the logits for cross_entropy; write it without `relu`"));
    }
    if last.width < 2 {
        return Err(c
            .err(
                ErrorKind::TooFewClasses,
                *last_span,
                format!("the output layer has {} unit; a classifier needs at least 2 classes", last.width),
            )
            .with_help("the width of the last `dense` is the number of classes, e.g. `dense 2;` for a binary task"));
    }

    let default = bits.saturating_sub(1).max(2);
    let mut widths =
        Widths { input: default, weights: Widths::default_weights(bits), activations: default, gradients: default };
    let mut quantize_loc = None;
    if let Some((entries, span)) = &seen.quantize {
        quantize_loc = Some(c.loc(*span));
        for (key, w, span) in entries {
            // A weight may be wider than a ciphertext: it is then carried in
            // two digits of at most `bits - 1` bits each.
            let max_weights = (2 * bits.saturating_sub(1)).min(16);
            if key == "weights" && (bits..=max_weights).contains(w) {
                widths.weights = *w;
                continue;
            }
            if key == "weights" && *w > bits {
                return Err(c
                    .err(ErrorKind::WidthOutOfRange, *span, format!("`weights={w}` is too wide for `bits {bits}`"))
                    .with_label(format!("must be from 2 to {max_weights}"))
                    .with_help(format!(
                        "a weight is carried in at most two digits of {} bits: use `weights={max_weights}` or less, or raise `bits`",
                        bits - 1
                    )));
            }
            if *w < 2 || *w > bits {
                return Err(c
                    .err(
                        ErrorKind::WidthOutOfRange,
                        *span,
                        format!("`{key}={w}` exceeds the circuit precision `bits {bits}`"),
                    )
                    .with_label(format!("must be from 2 to {bits}"))
                    .with_help(format!("a tensor width is at most `bits` ({bits}); raise `bits` or lower `{key}`")));
            }
            match key.as_str() {
                "input" => widths.input = *w,
                "weights" => widths.weights = *w,
                "activations" => widths.activations = *w,
                _ => widths.gradients = *w,
            }
        }
    }

    let scaling = seen.scaling.map(|s| s.0).unwrap_or(Scaling::default_for(bits, widths.weights));
    // Dithered rounding applies to block-scaled products only. Where the
    // scaling is static by default (as at bits 8), nothing is dithered and
    // `silc compile` says so; asking for both outright is a contradiction.
    if let (Some((Rounding::Dither, at)), Some((Scaling::Static, _))) = (seen.rounding, seen.scaling) {
        return Err(c.err(ErrorKind::Unsupported, at, "dithered rounding needs block scaling").with_help(
            "this model writes `scaling static;`, whose divisor is sized for the gradient's full range, so the \
             dither would drown the signal (docs/learning.md); write `scaling block;` or drop `rounding dither;`",
        ));
    }

    Ok(ModelSpec {
        name: model.name.clone(),
        input,
        input_quantile: seen.input_quantile,
        layers: layers.into_iter().map(|l| l.0).collect(),
        lr,
        batch,
        epochs,
        bits,
        seed: seen.seed.map(|s| s.0).unwrap_or(0),
        widths,
        pfail_log2: seen.pfail.map(|s| s.0).unwrap_or(128),
        scaling,
        rounding: seen.rounding.map(|r| r.0).unwrap_or_default(),
        margin,
        ensemble: seen.ensemble.map(|e| e.0),
        locs: Locs {
            model: c.loc(model.name_span),
            input: c.loc(input_span),
            loss: c.loc(loss),
            optimizer: c.loc(opt_span),
            batch: c.loc(batch_span),
            bits: c.loc(bits_span),
            quantize: quantize_loc,
        },
    })
}

/// A statement's arguments without a key, with their spans.
type BareArgs<'m> = Vec<(&'m Value, Span)>;

/// A statement's bare arguments, and its one two-valued setting `key`:
/// `Some(true)` when it is set to `words.1`, `Some(false)` for `words.0`
/// (the default), `None` when absent. Another key, a repeat or another
/// value is an error.
fn with_setting<'m>(
    c: &Checker<'_, '_>,
    st: &'m Statement,
    key: &str,
    words: (&str, &str),
    usage: &str,
    bad_help: &str,
) -> Result<(BareArgs<'m>, Option<bool>)> {
    let mut bare = Vec::new();
    let mut setting = None;
    for arg in &st.args {
        match &arg.kind {
            ArgKind::Value(v) => bare.push((v, arg.span)),
            ArgKind::Pair { key: k, key_span, value } => {
                if k != key {
                    return Err(c
                        .err(ErrorKind::UnknownKey, *key_span, format!("`{}` has no setting `{k}`", st.keyword))
                        .with_help(format!(
                            "the only setting is `{key}={}` (the default) or `{key}={}`",
                            words.0, words.1
                        )));
                }
                if setting.is_some() {
                    return Err(c
                        .err(ErrorKind::DuplicateStatement, *key_span, format!("`{key}` is given twice"))
                        .with_help(usage));
                }
                setting = Some(match value {
                    Value::Word(w) if w == words.0 => false,
                    Value::Word(w) if w == words.1 => true,
                    other => {
                        return Err(c
                            .err(
                                ErrorKind::BadArgument,
                                arg.span,
                                format!("`{key}` is `{}` or `{}`, found {}", words.0, words.1, other.describe()),
                            )
                            .with_help(bad_help))
                    }
                });
            }
        }
    }
    Ok((bare, setting))
}

fn quoted(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    let r: Vec<&str> = q.iter().map(String::as_str).collect();
    join_or(&r)
}

/// The closest statement keyword by edit distance, if close enough to be a typo.
fn suggest(word: &str) -> Option<&'static str> {
    STATEMENTS
        .iter()
        .map(|s| (edit_distance(word, s), *s))
        .filter(|(d, s)| *d <= 2.max(s.len() / 3))
        .min()
        .map(|(_, s)| s)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
