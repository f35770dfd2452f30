//! The circuit graph: a petgraph DAG of tensor ops with typed value ids.
//!
//! Nodes are only ever appended, each after its operands, so id order is a
//! topological order: printing, executing and analysing walk ids in order.
//! Passes do not edit a graph in place; they build a new one with a
//! [`Rewriter`], which copies what they leave alone and keeps the source
//! location of every node they replace.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::op::Op;
use crate::table::{Table, TableArena, TableId};
use crate::types::{Loc, Type};

/// A value: the result of one node. Prints as `%12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    fn node(self) -> NodeIndex<u32> {
        NodeIndex::new(self.index())
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Which part of the pipeline produced a graph (printed in the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    High,
    Low,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub args: Vec<ValueId>,
    pub ty: Type,
    /// The `.mlp` statement this node descends from.
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub struct Graph {
    pub name: String,
    /// The circuit precision p: every bootstrap input must lie in `[0, 2^p)`.
    pub bits: u32,
    pub tables: TableArena,
    dag: DiGraph<Node, u32, u32>,
}

impl Graph {
    pub fn new(name: impl Into<String>, bits: u32) -> Self {
        Graph { name: name.into(), bits, tables: TableArena::default(), dag: DiGraph::default() }
    }

    /// Appends a node. Operands must already exist.
    pub fn add(&mut self, op: Op, args: Vec<ValueId>, ty: Type, loc: Loc) -> ValueId {
        let id = self.dag.add_node(Node { op, args: Vec::new(), ty, loc });
        for (slot, &a) in args.iter().enumerate() {
            assert!(a.index() < id.index(), "operand {a} of a new node must already exist");
            self.dag.add_edge(a.node(), id, slot as u32);
        }
        self.dag[id].args = args;
        ValueId(id.index() as u32)
    }

    /// Appends a node typed by [`crate::infer::infer`]. Building an ill-typed
    /// node is a bug in the pass that does it, hence the panic.
    pub fn push(&mut self, op: Op, args: Vec<ValueId>, loc: Loc) -> ValueId {
        let ty = crate::infer::infer(self, &op, &args)
            .unwrap_or_else(|e| panic!("internal error: ill-typed `{}` node: {e}", op.name()));
        self.add(op, args, ty, loc)
    }

    /// Appends a table lookup, interning the table.
    pub fn lut(&mut self, table: Table, x: ValueId, loc: Loc) -> ValueId {
        let table = self.intern(table);
        self.push(Op::Lut { table }, vec![x], loc)
    }

    pub fn intern(&mut self, table: Table) -> TableId {
        self.tables.intern(table)
    }

    pub fn node(&self, id: ValueId) -> &Node {
        &self.dag[id.node()]
    }

    pub fn ty(&self, id: ValueId) -> &Type {
        &self.node(id).ty
    }

    /// Changes the declared type of a node (used by passes that tighten ranges).
    pub fn set_type(&mut self, id: ValueId, ty: Type) {
        self.dag[id.node()].ty = ty;
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All value ids in topological order.
    pub fn ids(&self) -> impl Iterator<Item = ValueId> {
        (0..self.len() as u32).map(ValueId)
    }

    /// The nodes that use `id`, in id order.
    pub fn users(&self, id: ValueId) -> Vec<ValueId> {
        let mut u: Vec<ValueId> =
            self.dag.neighbors_directed(id.node(), Direction::Outgoing).map(|n| ValueId(n.index() as u32)).collect();
        u.sort();
        u.dedup();
        u
    }

    /// Ids of `Input` nodes.
    pub fn inputs(&self) -> Vec<ValueId> {
        self.ids().filter(|&i| matches!(self.node(i).op, Op::Input { .. })).collect()
    }

    /// Ids of `Output` nodes.
    pub fn outputs(&self) -> Vec<ValueId> {
        self.ids().filter(|&i| matches!(self.node(i).op, Op::Output { .. })).collect()
    }

    /// The id of the input or output with this name.
    pub fn find(&self, name: &str) -> Option<ValueId> {
        self.ids().find(|&i| match &self.node(i).op {
            Op::Input { name: n, .. } | Op::Output { name: n } => n == name,
            _ => false,
        })
    }

    /// The values only the client computes: the cone of a `form`'s operand
    /// that no output reaches except through a `form`. The server takes the
    /// form from the job and skips them; the simulator runs them.
    pub fn client_only(&self) -> Vec<bool> {
        let n = self.len();
        let (mut server, mut cone) = (vec![false; n], vec![false; n]);
        for id in self.ids().collect::<Vec<_>>().into_iter().rev() {
            let node = self.node(id);
            let i = id.index();
            server[i] |= matches!(node.op, Op::Output { .. });
            let form = matches!(node.op, Op::Form { .. });
            for a in &node.args {
                server[a.index()] |= server[i] && !form;
                cone[a.index()] |= cone[i] || form;
            }
        }
        (0..n).map(|i| cone[i] && !server[i]).collect()
    }

    /// Number of programmable bootstraps one execution on the server
    /// performs (what the client computes, [`Graph::client_only`], left out).
    pub fn pbs_count(&self) -> u64 {
        let client = self.client_only();
        self.ids()
            .filter(|i| !client[i.index()])
            .map(|i| {
                let n = self.node(i);
                match &n.op {
                    Op::Lut { .. } | Op::Fold | Op::LutTorus { .. } | Op::TorusSign | Op::TorusRead { .. } => {
                        n.ty.len() as u64
                    }
                    // many-LUT: one blind rotation yields all tables
                    Op::LutMany { tables } => (n.ty.len() / tables.len().max(1)) as u64,
                    // One refresh of each element of the server's operand
                    // (with the precise key: dearer, as likely to fail).
                    Op::ExtDot { .. } => self.ty(n.args[1]).len() as u64,
                    _ => 0,
                }
            })
            .sum()
    }
}

/// Builds a new graph from an old one, node by node in id order.
///
/// Every old id must be mapped (by [`Rewriter::copy`] or [`Rewriter::map_to`])
/// before a later node that uses it is visited.
pub struct Rewriter<'a> {
    pub old: &'a Graph,
    pub new: Graph,
    map: Vec<Option<ValueId>>,
}

impl<'a> Rewriter<'a> {
    pub fn new(old: &'a Graph) -> Self {
        let mut new = Graph::new(old.name.clone(), old.bits);
        new.tables = old.tables.clone();
        Rewriter { old, new, map: vec![None; old.len()] }
    }

    /// The new id of an already visited old id.
    pub fn get(&self, old: ValueId) -> ValueId {
        self.map[old.index()].unwrap_or_else(|| panic!("{old} used before it was rewritten"))
    }

    /// Records that old id `old` is now `new`.
    pub fn map_to(&mut self, old: ValueId, new: ValueId) {
        self.map[old.index()] = Some(new);
    }

    /// Copies an old node unchanged (with its operands remapped).
    pub fn copy(&mut self, old: ValueId) -> ValueId {
        let n = self.old.node(old);
        let args = n.args.iter().map(|&a| self.get(a)).collect();
        let id = self.new.add(n.op.clone(), args, n.ty.clone(), n.loc);
        self.map_to(old, id);
        id
    }

    pub fn finish(self) -> Graph {
        self.new
    }
}
