//! The verifier: structural and type consistency of a graph, runnable after
//! every pass. It checks operand order, arity, shapes, and that each declared
//! range contains the range inferred from the operands (so a pass cannot claim
//! a tighter range than it can justify).

use crate::graph::Graph;
use crate::infer::infer;
use crate::op::Op;
use crate::ValueId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value}: {message}\n  in: {line}")]
pub struct VerifyError {
    pub value: ValueId,
    pub message: String,
    pub line: String,
}

/// Checks the whole graph; returns every problem found.
pub fn verify(g: &Graph) -> Result<(), Vec<VerifyError>> {
    let mut errors = Vec::new();
    for id in g.ids() {
        let n = g.node(id);
        let err = |message: String| VerifyError { value: id, message, line: crate::text::print_node(g, id) };
        if n.args.iter().any(|a| a.index() >= id.index()) {
            errors.push(err("an operand is defined after its use".into()));
            continue;
        }
        if n.ty.lo > n.ty.hi {
            errors.push(err(format!("empty range [{}, {}]", n.ty.lo, n.ty.hi)));
        }
        if let Op::Input { .. } = n.op {
            continue;
        }
        match infer(g, &n.op, &n.args) {
            Err(message) => errors.push(err(message)),
            Ok(t) => {
                if t.shape != n.ty.shape {
                    errors.push(err(format!("declared shape {:?}, inferred {:?}", n.ty.shape, t.shape)));
                }
                if t.vis != n.ty.vis {
                    errors.push(err(format!("declared {:?}, inferred {:?}", n.ty.vis, t.vis)));
                }
                // High-level and layout ops are typed by logical value; low-level
                // arithmetic and tables by the stored integer, which a lowering may
                // declare with an offset.
                // A bootstrap whose input may leave [0, 2^p) is the checker's
                // business (it reports where and by how much); its output range
                // is then meaningless, so it is not compared here.
                if n.op.is_bootstrap() {
                    let (lo, hi) = g.ty(n.args[0]).stored();
                    if lo < 0 || hi >= 1i64 << g.bits {
                        continue;
                    }
                }
                let logical = n.op.is_high_level() || n.op.is_layout();
                let ((dlo, dhi), (ilo, ihi)) =
                    if logical { ((n.ty.lo, n.ty.hi), (t.lo, t.hi)) } else { (n.ty.stored(), t.stored()) };
                if ilo < dlo || ihi > dhi {
                    errors.push(err(format!(
                        "declared range [{dlo}, {dhi}] does not contain the inferred [{ilo}, {ihi}]"
                    )));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
