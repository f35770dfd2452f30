//! Lookup tables, interned: equal tables share one [`TableId`].
//!
//! A table maps every input in `[0, 2^p)` to an output; it is what one
//! programmable bootstrap evaluates. Tables carry a short name saying what they
//! compute (`mod31`, `relu`, `exp`), which is documentation only: identity is by
//! entries, so two passes that build the same function get one table.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableId(pub u32);

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    /// `entries[x]` for every input `x` in `[0, len)`; `len` is a power of two
    /// (`2^p`), or the modulus of the residues a `torus_read` reads.
    pub entries: Vec<i64>,
}

impl Table {
    /// Builds the table of `f` over `[0, 2^bits)`.
    pub fn from_fn(name: impl Into<String>, bits: u32, f: impl Fn(i64) -> i64) -> Table {
        Table { name: name.into(), entries: (0..1i64 << bits).map(f).collect() }
    }

    pub fn min(&self) -> i64 {
        self.entries.iter().copied().min().unwrap_or(0)
    }

    pub fn max(&self) -> i64 {
        self.entries.iter().copied().max().unwrap_or(0)
    }

    /// Output range over the inputs `lo..=hi` (clamped to the table).
    pub fn range_over(&self, lo: i64, hi: i64) -> (i64, i64) {
        let lo = lo.clamp(0, self.entries.len() as i64 - 1) as usize;
        let hi = hi.clamp(0, self.entries.len() as i64 - 1) as usize;
        let slice = &self.entries[lo..=hi.max(lo)];
        (slice.iter().copied().min().unwrap_or(0), slice.iter().copied().max().unwrap_or(0))
    }
}

/// Interning arena of tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableArena {
    tables: Vec<Table>,
    #[serde(skip)]
    index: HashMap<Vec<i64>, TableId>,
}

impl TableArena {
    /// The id of a table with these entries, adding it if new. The first name
    /// given to a set of entries is kept.
    pub fn intern(&mut self, table: Table) -> TableId {
        if self.index.is_empty() && !self.tables.is_empty() {
            self.reindex();
        }
        if let Some(&id) = self.index.get(&table.entries) {
            return id;
        }
        let id = TableId(self.tables.len() as u32);
        self.index.insert(table.entries.clone(), id);
        self.tables.push(table);
        id
    }

    fn reindex(&mut self) {
        for (i, t) in self.tables.iter().enumerate() {
            self.index.entry(t.entries.clone()).or_insert(TableId(i as u32));
        }
    }

    pub fn get(&self, id: TableId) -> &Table {
        &self.tables[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (TableId, &Table)> {
        self.tables.iter().enumerate().map(|(i, t)| (TableId(i as u32), t))
    }
}
