//! Renders pass errors (unsupported models, checker violations) against the
//! user's `.mlp` source, in the front end's diagnostic format.

use silc_frontend::{Diagnostic, ErrorKind, SourceFile};
use silc_ir::Loc;
use silc_passes::check::{Violation, ViolationKind};
use silc_passes::PassError;

fn at(src: &SourceFile<'_>, loc: Loc, message: String, label: &str, help: String) -> String {
    let line = (loc.line as usize).max(1);
    let text = if (loc.line as usize) >= 1 && src.text.lines().count() >= line {
        Some(src.line_text(line).to_string())
    } else {
        None
    };
    let width = text
        .as_deref()
        .map(|t| {
            t.chars()
                .skip(loc.col.saturating_sub(1) as usize)
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .count()
                .max(1)
        })
        .unwrap_or(1);
    let d = Diagnostic {
        kind: ErrorKind::Unsupported,
        message,
        file: src.name.to_string(),
        line,
        col: (loc.col as usize).max(1),
        line_text: text,
        width,
        label: label.to_string(),
        help: Some(help),
    };
    d.to_string()
}

pub fn violation(src: &SourceFile<'_>, v: &Violation, severity: &str) -> String {
    let (msg, help) = match &v.kind {
        ViolationKind::Range { lo, hi, bound } => (
            format!("{}: `{}` {} may take values in [{lo}, {hi}], outside [0, {bound})", severity, v.op, v.value),
            "a bootstrap on a value ≥ 2^p returns a negated entry; lower a width with `quantize` or raise `bits`"
                .to_string(),
        ),
        ViolationKind::Noise { norm, nu } => (
            format!("{}: `{}` {} feeds a bootstrap with noise 2-norm {norm:.2} > ν = {nu:.2}", severity, v.op, v.value),
            "the sum is too long for the parameter set; lower the widths or raise `bits`".to_string(),
        ),
        ViolationKind::Exclusive { reason } => (
            format!("{}: `{}` {} adds operands not proven exclusive: {reason}", severity, v.op, v.value),
            "this is a compiler bug: please report it with the model file".to_string(),
        ),
    };
    let s = at(src, v.loc, msg, "from this statement", help);
    // The diagnostic header says `error[E0023]`; warnings say so instead.
    if severity == "warning" {
        s.replacen("error[E0023]: warning: ", "warning[E0023]: ", 1)
    } else {
        s.replacen("error[E0023]: error: ", "error[E0023]: ", 1)
    }
}

pub fn pass_error(src: &SourceFile<'_>, e: &PassError) -> String {
    match e {
        PassError::Unsupported { loc, message, help } => at(src, *loc, message.clone(), "here", help.clone()),
        PassError::Violations(vs) => {
            let mut out = String::new();
            for v in vs.iter().take(20) {
                out.push_str(&violation(src, v, "error"));
                out.push('\n');
            }
            if vs.len() > 20 {
                out.push_str(&format!("... and {} more\n", vs.len() - 20));
            }
            out.push_str(&format!(
                "error: the circuit has {} range/noise violation(s); `--check=warn` compiles it anyway\n",
                vs.len()
            ));
            out
        }
    }
}
