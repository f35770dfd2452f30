//! Side tables: facts about values kept beside the graph, keyed by [`ValueId`].
//!
//! Analyses (ranges, noise norms, schedule waves) write here instead of onto the
//! nodes, so that a rewrite which builds a new graph cannot carry a stale fact.

use crate::graph::ValueId;

/// A dense map from value id to `T`, with a default for unset entries
/// (like Cranelift's `SecondaryMap`).
#[derive(Clone, Debug)]
pub struct SideTable<T> {
    items: Vec<T>,
    default: T,
}

impl<T: Clone> SideTable<T> {
    pub fn new(default: T) -> Self {
        SideTable { items: Vec::new(), default }
    }

    pub fn with_len(len: usize, default: T) -> Self {
        SideTable { items: vec![default.clone(); len], default }
    }

    pub fn get(&self, id: ValueId) -> &T {
        self.items.get(id.index()).unwrap_or(&self.default)
    }

    pub fn set(&mut self, id: ValueId, value: T) {
        if self.items.len() <= id.index() {
            self.items.resize(id.index() + 1, self.default.clone());
        }
        self.items[id.index()] = value;
    }
}

impl<T: Clone> std::ops::Index<ValueId> for SideTable<T> {
    type Output = T;
    fn index(&self, id: ValueId) -> &T {
        self.get(id)
    }
}
