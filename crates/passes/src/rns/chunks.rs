//! `rns::chunks`: a product whose exact range no residue number system at
//! the precision can hold is cut along its reduction axis into chunks that
//! each fit one. Every chunk's sum `S_c` is computed in residues and
//! converted to mixed-radix digits on its own, with an offset `K_c` that
//! makes it non-negative; `scale` then adds the chunks' digits as
//! multi-digit numbers, position by position with carries, and runs the
//! saturating chain on the total's upper digits. The offsets add up to the
//! rounding offset `K = ⌊D/2⌋ + D·J` of the whole product (every chunk but
//! the first takes a multiple of `D`), so the result equals
//! `rescale(matmul)` bit for bit (docs/multi-ciphertext.md).

use silc_ir::{Graph, Loc, Op, ValueId};

use super::chain::{chain_with, rounding_offset, ChainPlan};

/// The most chunks a product may be cut into at precision `p`: the total's
/// top digit (below the number of chunks) must stay small enough that two
/// partial sums of it can share a table, below `2^(p-1)`.
pub fn max_chunks(p: u32) -> usize {
    1 << (p - 1)
}

/// `k` cut into `q` contiguous chunks as even as possible, longer first.
pub fn split_k(k: usize, q: usize) -> Vec<usize> {
    (0..q).map(|c| k / q + usize::from(c < k % q)).collect()
}

/// The start of each chunk along `k`, with its length.
pub fn spans(chunks: &[usize]) -> Vec<(usize, usize)> {
    let mut start = 0;
    chunks
        .iter()
        .map(|&len| {
            start += len;
            (start - len, len)
        })
        .collect()
}

/// A radix whose digit sums no table can read at precision `p` (two digits
/// of `r > 2^(p-1)` add past `2^p`), split into `(low, high)` with
/// `low·high = r`; `None` when `r` is narrow enough.
pub fn split_radix(p: u32, r: i64) -> Option<(i64, i64)> {
    if r <= 1i64 << (p - 1) {
        return None;
    }
    debug_assert!(r.count_ones() == 1, "only powers of two are wider than 2^(p-1)");
    let low = 1i64 << (64 - (r as u64 - 1).leading_zeros()).div_ceil(2);
    Some((low, r / low))
}

/// The radices in which the chunks' digits are added: the conversion's
/// radices, with each one [`split_radix`] splits replaced by its two parts.
pub fn sum_radices(p: u32, radix: &[i64]) -> Vec<i64> {
    radix
        .iter()
        .flat_map(|&r| match split_radix(p, r) {
            Some((low, high)) => vec![low, high],
            None => vec![r],
        })
        .collect()
}

/// The offsets and the chain of a chunked product.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkPlan {
    /// `K_c` per chunk: `S_c + K_c` lies in `[0, M)`; they add up to the
    /// chain's `K`.
    pub offsets: Vec<i64>,
    pub chain: ChainPlan,
    /// The largest value of the total's top digit (above all radices).
    pub top_max: i64,
}

/// The chain's radices for a chunked product: the sum radices above the
/// divisor's, then the total's top digit, whose "radix" is `top_max + 1`
/// (the chain never reads it as a radix: the last level holds the rest).
pub fn upper_with_top(sum_radix: &[i64], n_div_sum: usize, top_max: i64) -> Vec<i64> {
    let mut upper = sum_radix[n_div_sum..].to_vec();
    upper.push(top_max + 1);
    upper
}

/// The least offset of chunk `c` (lowest value `lo`): the first chunk's
/// makes it non-negative and rounds (`⌊D/2⌋ + D·J`), the others' only make
/// theirs non-negative, in multiples of `D`.
pub fn least_offset(c: usize, lo: i64, d: i64) -> i64 {
    if c == 0 {
        rounding_offset(lo, d).0
    } else {
        d * ((-lo).max(0) as u64).div_ceil(d as u64) as i64
    }
}

/// Plans the offsets and the chain of a product cut into chunks of `ranges`,
/// over moduli of product `m` whose sum radices above the divisor `d` are
/// `upper_sum`. Tries `J` upward from the least that makes every chunk
/// non-negative; `None` when a chunk does not fit `[0, M)`, the top digit
/// would be too wide, or no chain fits in `p` bits.
pub fn plan_chunks(
    p: u32,
    upper_sum: &[i64],
    d: i64,
    ranges: &[(i64, i64)],
    out: (i64, i64),
    offset: i64,
    m: i128,
) -> Option<ChunkPlan> {
    let least: Vec<i64> = ranges.iter().enumerate().map(|(c, &(lo, _))| least_offset(c, lo, d)).collect();
    if ranges.iter().zip(&least).any(|(&(_, hi), &k)| (hi + k) as i128 >= m) {
        return None;
    }
    let k_least: i64 = least.iter().sum();
    let j_least = (k_least - d / 2) / d;
    for j in j_least..j_least + 4096 {
        let k_off = d / 2 + d * j;
        // The excess over the least offsets goes where a chunk has room.
        let mut extra = k_off - k_least;
        let mut offsets = least.clone();
        for (c, &(_, hi)) in ranges.iter().enumerate() {
            let room = ((m - 1 - (hi + offsets[c]) as i128) as i64 / d) * d;
            let add = room.min(extra);
            offsets[c] += add;
            extra -= add;
        }
        if extra > 0 {
            return None;
        }
        let v_max: i128 = ranges.iter().zip(&offsets).map(|(&(_, hi), &k)| (hi + k) as i128).sum();
        let top_max = (v_max / m) as i64;
        if top_max >= 1i64 << (p - 1) {
            return None;
        }
        if let Some(chain) = chain_with(p, &upper_with_top(upper_sum, 0, top_max), k_off, j, out, offset) {
            return Some(ChunkPlan { offsets, chain, top_max });
        }
    }
    None
}

/// `v` restricted to `[start, start + len)` along `axis`, the slice pushed
/// through transposes and concatenations so that a constant column (a bias,
/// `lower::bias_column`) stays a part of its own, which `residue` and
/// `karatsuba` lower without products.
pub fn slice_k(g: &mut Graph, v: ValueId, axis: usize, start: usize, len: usize, loc: Loc) -> ValueId {
    if start == 0 && len == g.ty(v).shape[axis] {
        return v;
    }
    let node = g.node(v).clone();
    match node.op {
        Op::Transpose => {
            let inner = slice_k(g, node.args[0], 1 - axis, start, len, loc);
            g.push(Op::Transpose, vec![inner], loc)
        }
        Op::Concat { axis: along } if along == axis => {
            let mut parts = Vec::new();
            let mut at = 0;
            for &part in &node.args {
                let width = g.ty(part).shape[axis];
                let (from, to) = (start.max(at), (start + len).min(at + width));
                if from < to {
                    parts.push(slice_k(g, part, axis, from - at, to - from, loc));
                }
                at += width;
            }
            concat(g, parts, axis, loc)
        }
        Op::Concat { axis: along } => {
            let parts = node.args.iter().map(|&part| slice_k(g, part, axis, start, len, loc)).collect();
            concat(g, parts, along, loc)
        }
        _ => g.push(Op::Slice { axis, start, len }, vec![v], loc),
    }
}

fn concat(g: &mut Graph, parts: Vec<ValueId>, axis: usize, loc: Loc) -> ValueId {
    if parts.len() == 1 {
        parts[0]
    } else {
        g.push(Op::Concat { axis }, parts, loc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_k_evenly() {
        assert_eq!(split_k(785, 7), vec![113, 112, 112, 112, 112, 112, 112]);
        assert_eq!(spans(&[3, 2, 2]), vec![(0, 3), (3, 2), (5, 2)]);
        assert_eq!(split_k(129, 2).iter().sum::<usize>(), 129);
    }

    #[test]
    fn only_radices_too_wide_for_a_digit_sum_are_split() {
        assert_eq!(split_radix(4, 8), None);
        assert_eq!(split_radix(4, 16), Some((4, 4)));
        assert_eq!(split_radix(5, 32), Some((8, 4)));
        assert_eq!(sum_radices(4, &[4, 3, 5, 16]), vec![4, 3, 5, 4, 4]);
    }

    #[test]
    fn the_offsets_add_up_to_a_rounding_offset_and_keep_every_chunk_in_range() {
        // MNIST's first product at bits 4: D = 7·5, then 3 and 32 (radices
        // 2 and 16, which the sum splits into 4·4).
        let ranges = silc_ir::semantics::chunk_ranges(-9420, 12560, &split_k(785, 7)).expect("ranges");
        let m = 7 * 5 * 3 * 32;
        let plan = plan_chunks(4, &[3, 2, 4, 4], 35, &ranges, (0, 7), 0, m).expect("plan");
        let k: i64 = plan.offsets.iter().sum();
        assert_eq!(k, plan.chain.k_off);
        assert_eq!(k.rem_euclid(35), 17);
        assert!(plan.offsets[1..].iter().all(|o| o % 35 == 0));
        for (&(lo, hi), &kc) in ranges.iter().zip(&plan.offsets) {
            assert!(lo + kc >= 0 && ((hi + kc) as i128) < m);
        }
        assert!(plan.top_max < 7);
    }
}
