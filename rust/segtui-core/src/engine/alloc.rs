//! Pooled-cost allocation by largest remainders, in integer minor units.
//!
//! Each account first gets floor(pool × weight / total weight); the units left over go one
//! each to the accounts with the largest remainders (pool × weight mod total), ties to the
//! smaller account id. The shares sum to the pool exactly. A negative pool (a net credit) is
//! the negation of allocating its absolute value.

/// Shares of `pool` by `weights` (all ≥ 0); `accounts` (ascending-comparable ids, same length)
/// break remainder ties. Returns `None` when every weight is zero.
pub fn largest_remainder(pool: i64, weights: &[i64], accounts: &[u32]) -> Option<Vec<i64>> {
    debug_assert_eq!(weights.len(), accounts.len());
    let total: i128 = weights.iter().map(|&w| w as i128).sum();
    if total <= 0 {
        return None;
    }
    let sign: i64 = if pool < 0 { -1 } else { 1 };
    let p = (pool as i128).abs();
    let mut shares = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, u32, u32)> = Vec::new(); // (remainder, account, position)
    let mut given: i128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        debug_assert!(w >= 0);
        let x = p * w as i128; // < 2^63 · 2^63: fits i128
        let s = x / total;
        let r = x % total;
        given += s;
        shares.push(s as i64);
        if r > 0 {
            rems.push((r, accounts[i], i as u32));
        }
    }
    let left = (p - given) as usize;
    debug_assert!(left <= rems.len());
    if left > 0 {
        // Largest remainder first, then the smaller account id.
        let cmp = |a: &(i128, u32, u32), b: &(i128, u32, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if left < rems.len() {
            rems.select_nth_unstable_by(left - 1, cmp);
        }
        for &(_, _, pos) in &rems[..left] {
            shares[pos as usize] += 1;
        }
    }
    if sign < 0 {
        for s in shares.iter_mut() {
            *s = -*s;
        }
    }
    Some(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_remainders_to_largest_fractions() {
        // 100 by weights 1,1,1: 33 each, 1 left, all remainders equal -> smallest account id.
        assert_eq!(largest_remainder(100, &[1, 1, 1], &[7, 3, 5]).unwrap(), vec![33, 34, 33]);
        // 10 by 3,3,4 -> 3, 3, 4 exactly.
        assert_eq!(largest_remainder(10, &[3, 3, 4], &[0, 1, 2]).unwrap(), vec![3, 3, 4]);
        // 10 by 1,2 -> 3.33, 6.67: floors 3, 6; the one left goes to the larger fraction.
        assert_eq!(largest_remainder(10, &[1, 2], &[0, 1]).unwrap(), vec![3, 7]);
    }

    #[test]
    fn zero_weights_everywhere_is_unallocated() {
        assert_eq!(largest_remainder(100, &[0, 0], &[0, 1]), None);
        assert_eq!(largest_remainder(100, &[], &[]), None);
    }

    #[test]
    fn negative_pool_mirrors_positive() {
        assert_eq!(largest_remainder(-100, &[1, 1, 1], &[0, 1, 2]).unwrap(), vec![-34, -33, -33]);
    }

    #[test]
    fn allocated_equals_pooled_on_pseudo_random_inputs() {
        let mut x: u64 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..500 {
            let n = (next() % 50) as usize + 1;
            let weights: Vec<i64> = (0..n)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 => (next() % 3) as i64,
                    2 => (next() % 1_000_000) as i64,
                    _ => (next() % (i64::MAX as u64 / 4)) as i64,
                })
                .collect();
            let accounts: Vec<u32> = (0..n as u32).collect();
            let pool = (next() % (i64::MAX as u64 / 2)) as i64 * if next() % 5 == 0 { -1 } else { 1 };
            match largest_remainder(pool, &weights, &accounts) {
                None => assert!(weights.iter().all(|&w| w == 0)),
                Some(s) => {
                    assert_eq!(s.iter().map(|&v| v as i128).sum::<i128>(), pool as i128);
                    // Each share is within one unit of the exact proportional share.
                    let total: i128 = weights.iter().map(|&w| w as i128).sum();
                    for (i, &w) in weights.iter().enumerate() {
                        let exact_floor = (pool as i128).abs() * w as i128 / total;
                        let got = (s[i] as i128).abs();
                        assert!(got == exact_floor || got == exact_floor + 1);
                        if w == 0 {
                            assert_eq!(s[i], 0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn remainder_ties_go_to_the_smaller_account_id() {
        // 5 units over 4 equal weights: 1 each, one left; accounts 9, 2, 4, 6 -> account 2.
        let s = largest_remainder(5, &[1, 1, 1, 1], &[9, 2, 4, 6]).unwrap();
        assert_eq!(s, vec![1, 2, 1, 1]);
        // 7 over 4 equal: 1 each, 3 left -> accounts 2, 4, 6 (not 9).
        let s = largest_remainder(7, &[1, 1, 1, 1], &[9, 2, 4, 6]).unwrap();
        assert_eq!(s, vec![1, 2, 2, 2]);
    }
}
