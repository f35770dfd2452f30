//! Test support shared by the crates' robustness tests: [`Mutator`] turns a
//! valid input into truncated, byte-flipped, token-spliced and random ones,
//! deterministically from a seed, so that a failing case reproduces from its
//! seed and case number. Only tests depend on this crate.

use silc_sim::rng::Rng;

/// Seeded mutations of a byte string.
pub struct Mutator {
    rng: Rng,
    tokens: Vec<Vec<u8>>,
}

impl Mutator {
    /// `tokens` are spliced into inputs: keywords, huge numbers, separators,
    /// little-endian length words: whatever the reader under test must meet.
    pub fn new(seed: u64, tokens: &[&[u8]]) -> Self {
        Mutator { rng: Rng::new(seed), tokens: tokens.iter().map(|t| t.to_vec()).collect() }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.below(n.max(1))
    }

    /// One mutation of `base`, its kind chosen by `case % 5`: up to four
    /// bytes replaced by random ones; a cut; a token inserted; a token
    /// written over the bytes at a random place; random bytes (up to twice
    /// the base's length, at most 4 KiB).
    pub fn mutate(&mut self, base: &[u8], case: usize) -> Vec<u8> {
        let mut v = base.to_vec();
        match case % 5 {
            0 => {
                for _ in 0..1 + self.below(4) {
                    if !v.is_empty() {
                        let i = self.below(v.len());
                        v[i] = self.next_u64() as u8;
                    }
                }
            }
            1 => v.truncate(self.below(v.len())),
            2 | 3 if !self.tokens.is_empty() => {
                let i = self.below(v.len() + 1);
                let k = self.below(self.tokens.len());
                let t = self.tokens[k].clone();
                let end = if case % 5 == 2 { i } else { (i + t.len()).min(v.len()) };
                v.splice(i..end, t);
            }
            _ => {
                let n = self.below(2 * base.len().clamp(1, 2048));
                v = (0..n).map(|_| self.next_u64() as u8).collect();
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_reproduce_from_the_seed_and_change_the_input() {
        let base = b"model m { input 2; }".to_vec();
        let run = |seed| {
            let mut m = Mutator::new(seed, &[b";", b"99"]);
            (0..50).map(|case| m.mutate(&base, case)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        assert!(run(3).iter().filter(|v| **v != base).count() > 40);
    }
}
