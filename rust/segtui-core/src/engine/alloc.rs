//! Pooled-cost allocation by largest remainders, in integer minor units.
//!
//! Each account first gets floor(pool × weight / total weight); the units left over go one
//! each to the accounts with the largest remainders (pool × weight mod total), ties to the
//! smaller account (the earlier position: callers pass weights in ascending account order).
//! The shares sum to the pool exactly. A negative pool (a net credit) is the negation of
//! allocating its absolute value.
//!
//! The common case (pool × weight and the total fit in 64 bits) divides by the invariant total
//! through a precomputed reciprocal and picks the leftover units with a radix histogram of the
//! remainders, so a pool over a million accounts costs a few linear passes.

use rayon::prelude::*;

const MIN_PAR: usize = 1 << 14;
/// Below this many accounts the leftover units are picked by a plain selection.
const SMALL: usize = 1 << 15;

/// Shares of `pool` by `weights` (all ≥ 0). `None` when every weight is zero.
pub fn largest_remainder(pool: i64, weights: &[i64]) -> Option<Vec<i64>> {
    let mut shares = vec![0i64; weights.len()];
    let mut acc = vec![0i64; weights.len()];
    allocate(pool, weights, WeightTotals::of(weights), &mut shares, &mut acc).then_some(shares)
}

/// What allocation needs to know about a weight vector besides its entries; computed once per
/// driver and shared by every pool allocated by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightTotals {
    total: i128,
    wmax: i64,
}

impl WeightTotals {
    pub fn of(weights: &[i64]) -> Self {
        let (total, wmax) = weights
            .par_iter()
            .with_min_len(MIN_PAR)
            .fold(|| (0i128, 0i64), |(t, m), &w| (t + w as i128, m.max(w)))
            .reduce(|| (0i128, 0i64), |a, b| (a.0 + b.0, a.1.max(b.1)));
        WeightTotals { total, wmax }
    }
}

/// Write the shares of `pool` by `weights` (all ≥ 0; `totals` = [`WeightTotals::of`] them)
/// into `share` (overwritten) and add them to `acc`; all three the same length. Returns
/// `false`, leaving both untouched, when every weight is zero. The caller guarantees that `acc`
/// cannot overflow (e.g. Σ |pools| fits in i64 and `acc` starts at 0).
pub fn allocate(pool: i64, weights: &[i64], totals: WeightTotals, share: &mut [i64], acc: &mut [i64]) -> bool {
    debug_assert_eq!(weights.len(), share.len());
    debug_assert_eq!(weights.len(), acc.len());
    debug_assert_eq!(totals, WeightTotals::of(weights));
    let WeightTotals { total, wmax } = totals;
    if total <= 0 {
        return false;
    }
    let p = pool.unsigned_abs();
    let sign: i64 = if pool < 0 { -1 } else { 1 };
    let fast = total <= u64::MAX as i128 && (p as u128) * (wmax as u128) <= u64::MAX as u128;
    if fast {
        fast_path(p, sign, weights, total as u64, share, acc);
    } else {
        wide_path(p, sign, weights, total, share);
        add_into(acc, share);
    }
    true
}

fn add_into(acc: &mut [i64], share: &[i64]) {
    acc.par_iter_mut().zip(share.par_iter()).with_min_len(MIN_PAR).for_each(|(a, &s)| *a += s);
}

/// Division by an invariant divisor `d ≥ 1` through `m = floor(2^64 / d)`: the estimate
/// `floor(x·m / 2^64)` is at most 2 below the true quotient; the remainder loop corrects it.
#[derive(Clone, Copy)]
struct Divider {
    d: u64,
    m: u64,
}

impl Divider {
    fn new(d: u64) -> Self {
        let m = if d == 1 { 0 } else { ((1u128 << 64) / d as u128) as u64 };
        Divider { d, m }
    }

    #[inline]
    fn div_rem(&self, x: u64) -> (u64, u64) {
        if self.d == 1 {
            return (x, 0);
        }
        let mut q = ((x as u128 * self.m as u128) >> 64) as u64;
        let mut r = x - q * self.d;
        while r >= self.d {
            q += 1;
            r -= self.d;
        }
        (q, r)
    }
}

fn fast_path(p: u64, sign: i64, weights: &[i64], total: u64, share: &mut [i64], acc: &mut [i64]) {
    let div = Divider::new(total);
    let n = weights.len();
    if n < SMALL {
        let mut rems = vec![0u64; n];
        let mut given = 0u64;
        for ((s, r), &w) in share.iter_mut().zip(rems.iter_mut()).zip(weights) {
            let (q, rem) = div.div_rem(p * w as u64);
            *s = sign * q as i64;
            *r = rem;
            given += q;
        }
        let left = (p - given) as usize;
        if left > 0 {
            let mut cand: Vec<(u64, usize)> =
                rems.iter().enumerate().filter(|(_, &r)| r > 0).map(|(i, &r)| (r, i)).collect();
            let cmp = |a: &(u64, usize), b: &(u64, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
            if left < cand.len() {
                cand.select_nth_unstable_by(left - 1, cmp);
            }
            for &(_, i) in &cand[..left] {
                share[i] += sign;
            }
        }
        add_into(acc, share);
        return;
    }
    // Two passes over the weights and no array of remainders (the quotient and remainder are
    // recomputed, which is cheaper than storing and re-reading them: allocation is bound by
    // memory traffic). Pass 1: the sum of the floor shares and a histogram of the remainders by
    // their top 16 bits (monotone in the remainder), which gives the bucket where the leftover
    // units end. Pass 2: every share (floor, plus one unit above that bucket) into `share` and
    // `acc`, collecting the border bucket, which alone is ordered exactly.
    let bits = 64 - total.leading_zeros();
    let sh = bits.saturating_sub(16);
    let key = |r: u64| (r >> sh) as usize;
    const CHUNK: usize = 1 << 18;
    let (given, hist) = weights
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut h = vec![0u32; 1 << 16];
            let mut g = 0u64;
            for &w in chunk {
                let (q, r) = div.div_rem(p * w as u64);
                g += q;
                h[key(r)] += 1;
            }
            (g, h)
        })
        .reduce(
            || (0u64, vec![0u32; 1 << 16]),
            |(ga, mut ha), (gb, hb)| {
                for (x, y) in ha.iter_mut().zip(hb) {
                    *x += y;
                }
                (ga + gb, ha)
            },
        );
    let left = (p - given) as usize;
    // the border bucket and how many of its entries get a unit (None: no unit is left)
    let border_of = || -> Option<(usize, usize)> {
        if left == 0 {
            return None;
        }
        let mut above = 0usize;
        let mut t = 1 << 16;
        while t > 0 {
            t -= 1;
            if above + hist[t] as usize >= left {
                break;
            }
            above += hist[t] as usize;
        }
        Some((t, left - above))
    };
    let border_at = border_of();
    let t = border_at.map_or(usize::MAX, |(t, _)| t);
    const PART: usize = 1 << 14;
    let mut border: Vec<(u64, usize)> = share
        .par_chunks_mut(PART)
        .zip(acc.par_chunks_mut(PART))
        .zip(weights.par_chunks(PART))
        .enumerate()
        .map(|(ci, ((s, a), w))| {
            let mut b = Vec::new();
            for j in 0..w.len() {
                let (q, r) = div.div_rem(p * w[j] as u64);
                let k = key(r);
                let v = sign * (q as i64 + i64::from(border_at.is_some() && k > t));
                s[j] = v;
                a[j] += v;
                if k == t {
                    b.push((r, ci * PART + j));
                }
            }
            b
        })
        .reduce(Vec::new, |mut x, mut y| {
            x.append(&mut y);
            x
        });
    if let Some((_, need)) = border_at {
        border.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in &border[..need] {
            share[i] += sign;
            acc[i] += sign;
        }
    }
}

fn wide_path(p: u64, sign: i64, weights: &[i64], total: i128, share: &mut [i64]) {
    let p = p as i128;
    let mut rems: Vec<(i128, usize)> = Vec::new();
    let mut given: i128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        let x = p * w as i128; // < 2^64 · 2^63: fits i128
        let (q, r) = (x / total, x % total);
        given += q;
        share[i] = sign * q as i64;
        if r > 0 {
            rems.push((r, i));
        }
    }
    let left = (p - given) as usize;
    if left > 0 {
        let cmp = |a: &(i128, usize), b: &(i128, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if left < rems.len() {
            rems.select_nth_unstable_by(left - 1, cmp);
        }
        for &(_, i) in &rems[..left] {
            share[i] += sign;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, literally, in i128 with a full sort.
    fn reference(pool: i64, weights: &[i64]) -> Option<Vec<i64>> {
        let total: i128 = weights.iter().map(|&w| w as i128).sum();
        if total == 0 {
            return None;
        }
        let p = (pool as i128).abs();
        let mut s: Vec<i128> = weights.iter().map(|&w| p * w as i128 / total).collect();
        let left = p - s.iter().sum::<i128>();
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (p * weights[a] as i128 % total, p * weights[b] as i128 % total);
            rb.cmp(&ra).then(a.cmp(&b))
        });
        for &i in order.iter().take(left as usize) {
            s[i] += 1;
        }
        Some(s.into_iter().map(|v| if pool < 0 { -(v as i64) } else { v as i64 }).collect())
    }

    #[test]
    fn exact_and_remainders_to_largest_fractions() {
        assert_eq!(largest_remainder(100, &[1, 1, 1]).unwrap(), vec![34, 33, 33]);
        assert_eq!(largest_remainder(10, &[3, 3, 4]).unwrap(), vec![3, 3, 4]);
        assert_eq!(largest_remainder(10, &[1, 2]).unwrap(), vec![3, 7]);
        assert_eq!(largest_remainder(0, &[1, 2]).unwrap(), vec![0, 0]);
        assert_eq!(largest_remainder(5, &[0, 7]).unwrap(), vec![0, 5]);
    }

    #[test]
    fn zero_weights_everywhere_is_unallocated() {
        assert_eq!(largest_remainder(100, &[0, 0]), None);
        assert_eq!(largest_remainder(100, &[]), None);
    }

    #[test]
    fn negative_pool_mirrors_positive() {
        assert_eq!(largest_remainder(-100, &[1, 1, 1]).unwrap(), vec![-34, -33, -33]);
    }

    #[test]
    fn remainder_ties_go_to_the_smaller_account() {
        // 5 over 4 equal weights: 1 each, one left -> the first account.
        assert_eq!(largest_remainder(5, &[1, 1, 1, 1]).unwrap(), vec![2, 1, 1, 1]);
        // 7 over 4 equal: 3 left -> the first three.
        assert_eq!(largest_remainder(7, &[1, 1, 1, 1]).unwrap(), vec![2, 2, 2, 1]);
        // Remainders 2/3 for weights 2 (positions 1, 3) beat 1/3 (positions 0, 2).
        assert_eq!(largest_remainder(2, &[1, 2, 1, 2]).unwrap(), vec![0, 1, 0, 1]);
    }

    #[test]
    fn divider_is_exact() {
        let mut x: u64 = 99;
        for d in [1u64, 2, 3, 7, 10, 1 << 32, u64::MAX / 3, u64::MAX - 1, u64::MAX] {
            let div = Divider::new(d);
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                for v in [x, x % 1000, u64::MAX, 0, d.wrapping_sub(1), d] {
                    assert_eq!(div.div_rem(v), (v / d, v % d), "{v} / {d}");
                }
            }
        }
    }

    #[test]
    fn matches_the_definition_on_pseudo_random_inputs() {
        let mut x: u64 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..400 {
            let n = match round % 50 {
                0 => 50_000,
                1 => 40_000,
                _ => (next() % 60) as usize + 1,
            };
            let weights: Vec<i64> = (0..n)
                .map(|_| match next() % 5 {
                    0 => 0,
                    1 => (next() % 3) as i64,
                    2 => (next() % 1_000_000) as i64,
                    3 => 7,
                    _ => (next() % (i64::MAX as u64 / 4)) as i64, // forces the wide path
                })
                .collect();
            let weights: Vec<i64> =
                if round % 2 == 0 { weights.iter().map(|&w| w % 1_000_000).collect() } else { weights };
            let pool = (next() % (i64::MAX as u64 / 2)) as i64 % if round % 3 == 0 { 1000 } else { i64::MAX };
            let pool = if next() % 5 == 0 { -pool } else { pool };
            let got = largest_remainder(pool, &weights);
            assert_eq!(got, reference(pool, &weights), "round {round}");
            // the shares are also added to what the accumulator held
            let start: Vec<i64> = (0..n as i64).map(|i| i % 7 - 3).collect();
            let (mut share, mut acc) = (vec![99i64; n], start.clone());
            let done = allocate(pool, &weights, WeightTotals::of(&weights), &mut share, &mut acc);
            assert_eq!(done, got.is_some());
            match &got {
                Some(g) => {
                    assert_eq!(&share, g);
                    assert!(acc.iter().zip(&start).zip(g).all(|((a, s), g)| *a == s + g), "round {round}");
                }
                None => assert_eq!(acc, start),
            }
            if let Some(s) = got {
                assert_eq!(s.iter().map(|&v| v as i128).sum::<i128>(), pool as i128);
            }
        }
    }
}
