//! Paired moduli: two odd moduli `a` and `b` of one residue system whose
//! product `ab` still fits a table (`ab < 2^p`) are computed as one residue
//! product modulo `ab`, and each output's residue modulo `ab` is then split
//! into its residues modulo `a` and `b` by two tables.
//!
//! The binomial identity holds modulo any `m`, so a product modulo 15
//! costs one table per scalar product, like one modulo 5, and its terms
//! are summed on the torus (`karatsuba::torus`) like any odd modulus's.
//! The pair then pays one product where it paid two, for two tables per
//! output. At bits 4 the pair is `3·5 = 15`: Breast Cancer's first product,
//! for example, pays about 5 000 PBS per chunk for the modulus 15 against
//! 5 400 + 6 950 for 3 and 5 apart (`karatsuba::best_plan`).
//!
//! The conversion still sees the moduli `a` and `b` apart, so the divisors,
//! the chain and every number the circuit computes stay as they were; only
//! the PBS change. The pass pairs a system's moduli after it has chosen
//! them, where the pair is cheaper.

use crate::karatsuba::{best_plan, Dims};

/// Two moduli computed as one product modulo `a·b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub a: i64,
    pub b: i64,
}

impl Pair {
    pub fn product(self) -> i64 {
        self.a * self.b
    }
}

/// The PBS of the product modulo `m` over every chunk (`lengths` along `k`).
fn cost(p: u32, nu: f64, m: i64, shape: Dims, lengths: &[usize]) -> Option<u64> {
    lengths.iter().map(|&k| best_plan(p, nu, m, Dims { k, ..shape }, None).map(|x| x.1)).sum()
}

/// The pairs worth making among `moduli` for a product of `shape` cut into
/// `lengths`, with the PBS they save. Each modulus joins at most one pair;
/// the pair that saves most is taken first. Only odd moduli pair: an even
/// one is a power of two, which wraps for free or holds a divisor.
pub fn plan(p: u32, nu: f64, shape: Dims, moduli: &[i64], lengths: &[usize]) -> (Vec<Pair>, u64) {
    let mut options: Vec<(u64, Pair)> = Vec::new();
    for (i, &a) in moduli.iter().enumerate() {
        for &b in &moduli[i + 1..] {
            if a % 2 == 0 || b % 2 == 0 || a * b >= 1i64 << p {
                continue;
            }
            let apart = cost(p, nu, a, shape, lengths).zip(cost(p, nu, b, shape, lengths));
            let together = cost(p, nu, a * b, shape, lengths);
            let split = 2 * (shape.n * shape.cols * lengths.len()) as u64;
            if let (Some((ca, cb)), Some(cab)) = (apart, together) {
                if cab + split < ca + cb {
                    options.push((ca + cb - cab - split, Pair { a, b }));
                }
            }
        }
    }
    options.sort_by_key(|x| std::cmp::Reverse(x.0));
    let (mut pairs, mut saved) = (Vec::new(), 0);
    for (s, pair) in options {
        if pairs.iter().all(|q: &Pair| ![q.a, q.b].contains(&pair.a) && ![q.a, q.b].contains(&pair.b)) {
            pairs.push(pair);
            saved += s;
        }
    }
    (pairs, saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_and_five_pair_at_4_bits_and_nothing_else_does() {
        let nu = crate::params::for_precision(4).nu();
        let shape = Dims { n: 8, k: 31, cols: 30, raw_width: 14 };
        let (pairs, saved) = plan(4, nu, shape, &[5, 3, 32], &[16, 15]);
        assert_eq!(pairs, vec![Pair { a: 5, b: 3 }]);
        assert!(saved > 0);
        // 3·7 = 21 does not fit a 4-bit table; 32 is even.
        assert_eq!(plan(4, nu, shape, &[7, 3, 32], &[16, 15]).0, vec![]);
        // At bits 3 no two odd moduli fit a table.
        assert_eq!(plan(3, crate::params::for_precision(3).nu(), shape, &[3, 5], &[31]).0, vec![]);
    }
}
