//! The handlers of the statements that carry arguments of their own:
//! `input`, `dense`, `loss`, `optimizer` and `quantize`, and the `key=value`
//! settings they share ([`Setting`]). Each validates one statement and
//! returns what the model takes from it; the model-level rules stay in
//! `check`.

use super::{plural, quoted, with_setting, Checker, QuantizeEntries, Result, MAX_COUNT};
use crate::ast::{Arg, ArgKind, Statement, Value};
use crate::diag::{Annotate, ErrorKind, Span};
use crate::spec::Layer;

/// `input N;` or `input N bins=quantile;`: the width, and whether the client
/// bins each feature by its rank in the training set.
pub(super) fn check_input(c: &Checker<'_, '_>, st: &Statement) -> Result<(usize, bool)> {
    c.missing_semicolon(st)?;
    let usage =
        "write it as `input 4;` or, to bin each feature by its rank in the training set, `input 4 bins=quantile;`";
    let (bare, quantile) = with_setting(c, st, "bins", ("uniform", "quantile"), usage, usage)?;
    if bare.len() != 1 {
        let (span, what) = match bare.get(1) {
            Some(extra) => (extra.1, format!("`input` takes 1 argument, found {}", bare.len())),
            None => (st.span, "`input` needs 1 argument, found 0".to_string()),
        };
        return Err(c.err(ErrorKind::BadArgument, span, what).with_help(usage));
    }
    let n = c.int(bare[0].0, bare[0].1, "the input width", 1, MAX_COUNT)?;
    Ok((n as usize, quantile.unwrap_or(false)))
}

/// `dense N [relu] [bias=on|off];`
pub(super) fn check_dense(c: &Checker<'_, '_>, st: &Statement) -> Result<(Layer, Span, Option<Span>)> {
    let usage = "write it as `dense 8 relu;` or, for the output layer, `dense 3;` (add `bias=off` for no bias)";
    let bad_bias = "write `bias=off` for a layer without bias; biases are on by default";
    let (bare, off) = with_setting(c, st, "bias", ("on", "off"), usage, bad_bias)?;
    let bias = off.map(|off| !off);
    if bare.is_empty() || bare.len() > 2 {
        return Err(c
            .err(
                ErrorKind::BadArgument,
                st.span,
                format!(
                    "`dense` takes a width and an optional activation, found {} argument{}",
                    bare.len(),
                    plural(bare.len())
                ),
            )
            .with_help(usage));
    }
    let width = c.int(bare[0].0, bare[0].1, "the layer width", 1, MAX_COUNT)? as usize;
    let mut relu = false;
    let mut act_span = None;
    if let Some((v, span)) = bare.get(1) {
        let w = c.word(v, *span, "an activation", "relu")?;
        if w != "relu" {
            return Err(c
                .err(ErrorKind::UnknownActivation, *span, format!("unknown activation `{w}`"))
                .with_help("the only activation is `relu`; leave it out for a linear layer"));
        }
        relu = true;
        act_span = Some(*span);
    }
    let layer = Layer { width, relu, bias: bias.unwrap_or(true), loc: c.loc(st.keyword_span) };
    Ok((layer, st.keyword_span, act_span))
}

/// The one `key=number` setting a named statement may take after its name
/// (`optimizer sgd lr=…`, `loss cross_entropy margin=…`): any other key,
/// a bare value, or the key twice is an error; `parse` checks the value.
struct Setting<'a> {
    /// The statement's kind, as in "after the optimizer name".
    kind: &'a str,
    /// The named thing, as in "`sgd` has no setting".
    owner: &'a str,
    key: &'a str,
    /// Help for an unknown key.
    only: &'a str,
    usage: &'a str,
}

impl Setting<'_> {
    fn read(
        &self,
        c: &Checker<'_, '_>,
        st: &Statement,
        parse: impl Fn(&Value, Span) -> Result<f64>,
    ) -> Result<Option<f64>> {
        let mut found = None;
        for arg in &st.args[1..] {
            match &arg.kind {
                ArgKind::Pair { key, key_span, value } => {
                    if key != self.key {
                        return Err(c
                            .err(ErrorKind::UnknownKey, *key_span, format!("`{}` has no setting `{key}`", self.owner))
                            .with_help(self.only));
                    }
                    let x = parse(value, arg.span)?;
                    if found.is_some() {
                        return Err(c
                            .err(ErrorKind::DuplicateStatement, *key_span, format!("`{}` is given twice", self.key))
                            .with_help(self.usage));
                    }
                    found = Some(x);
                }
                ArgKind::Value(v) => {
                    return Err(c
                        .err(
                            ErrorKind::BadArgument,
                            arg.span,
                            format!("unexpected {} after the {} name", v.describe(), self.kind),
                        )
                        .with_help(self.usage))
                }
            }
        }
        Ok(found)
    }
}

/// `loss cross_entropy [margin=M];`: the margin, if written.
pub(super) fn check_loss(c: &Checker<'_, '_>, st: &Statement) -> Result<Option<f64>> {
    let usage = "write it as `loss cross_entropy;` or `loss cross_entropy margin=3;`";
    c.missing_semicolon(st)?;
    let Some(Arg { kind: ArgKind::Value(first), span: first_span }) = st.args.first() else {
        return Err(c.err(ErrorKind::BadArgument, st.span, "`loss` needs a name").with_help(usage));
    };
    let w = c.word(first, *first_span, "a loss", "cross_entropy")?;
    if w != "cross_entropy" {
        return Err(c
            .err(ErrorKind::UnknownLoss, *first_span, format!("unknown loss `{w}`"))
            .with_help("the only loss is `cross_entropy`"));
    }
    let setting = Setting {
        kind: "loss",
        owner: "cross_entropy",
        key: "margin",
        only: "the only setting is the margin in logit units, `margin=3` (the default at 6 bits or below, 0 above)",
        usage,
    };
    setting.read(c, st, |value, span| {
        let ok = match value {
            Value::Number(t) => t.parse::<f64>().ok().filter(|x| x.is_finite() && (0.0..=1e3).contains(x)),
            _ => None,
        };
        ok.ok_or_else(|| {
            c.err(
                ErrorKind::NumberOutOfRange,
                span,
                format!("the margin must be a number from 0 to 1000, found {}", value.describe()),
            )
            .with_help("e.g. `margin=3`: the true class's logit must beat the others by 3 to stop teaching")
        })
    })
}

pub(super) fn check_optimizer(c: &Checker<'_, '_>, st: &Statement) -> Result<f64> {
    let usage = "write it as `optimizer sgd;` or `optimizer sgd lr=0.0625;`";
    let Some(Arg { kind: ArgKind::Value(first), span: first_span }) = st.args.first() else {
        return Err(c.err(ErrorKind::BadArgument, st.span, "`optimizer` needs a name").with_help(usage));
    };
    let name = c.word(first, *first_span, "an optimizer", "sgd")?;
    if name != "sgd" {
        return Err(c
            .err(ErrorKind::UnknownOptimizer, *first_span, format!("unknown optimizer `{name}`"))
            .with_help("the only optimizer is `sgd` (plain SGD, no momentum): `optimizer sgd;`"));
    }
    let setting = Setting {
        kind: "optimizer",
        owner: "sgd",
        key: "lr",
        only: "the only setting is the learning rate, `lr=0.125` (the default)",
        usage,
    };
    let lr = setting.read(c, st, |value, span| {
        let ok = match value {
            Value::Number(t) => t.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0 && *x <= 1e6),
            _ => None,
        };
        ok.ok_or_else(|| {
            c.err(
                ErrorKind::BadLearningRate,
                span,
                format!("the learning rate must be a positive number, found {}", value.describe()),
            )
            .with_help("e.g. `lr=0.125`; a power of two maps exactly onto the integer update")
        })
    })?;
    Ok(lr.unwrap_or(DEFAULT_LR))
}

/// The learning rate of `optimizer sgd;` without `lr=`: the best of the
/// rates measured at bits 4 on Iris, Wine, Breast Cancer and Digits
/// (docs/learning.md, "Learning rates"), and the one all four ship with.
pub const DEFAULT_LR: f64 = 0.125;

pub(super) fn check_quantize(c: &Checker<'_, '_>, st: &Statement) -> Result<QuantizeEntries> {
    const KEYS: &[&str] = &["input", "weights", "activations", "gradients"];
    let usage = "e.g. `quantize weights=7 activations=6 gradients=6 input=6;`";
    if st.args.is_empty() {
        return Err(c
            .err(ErrorKind::BadArgument, st.span, "`quantize` needs at least one `name=bits` setting")
            .with_help(usage));
    }
    let mut out: QuantizeEntries = Vec::new();
    for arg in &st.args {
        let ArgKind::Pair { key, key_span, value } = &arg.kind else {
            return Err(c
                .err(ErrorKind::BadArgument, arg.span, "`quantize` takes `name=bits` settings")
                .with_help(usage));
        };
        if !KEYS.contains(&key.as_str()) {
            return Err(c
                .err(ErrorKind::UnknownKey, *key_span, format!("unknown tensor `{key}` in `quantize`"))
                .with_help(format!("valid tensors are {}", quoted(KEYS))));
        }
        if out.iter().any(|(k, _, _)| k == key) {
            return Err(c
                .err(ErrorKind::DuplicateStatement, *key_span, format!("`{key}` is given twice"))
                .with_help(usage));
        }
        let w = c.int(value, arg.span, &format!("the width of `{key}`"), 0, 64)?;
        out.push((key.clone(), w as u8, arg.span));
    }
    Ok(out)
}
