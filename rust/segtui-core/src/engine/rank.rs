//! Scores 1–5 by the design's tie rule, and by fixed thresholds.
//!
//! Over n values, the score of value v is `1 + floor(5·r / n)` where r is the number of values
//! strictly worse than v. Equal values have equal r, so ties always share a score.

use rayon::prelude::*;

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

#[inline]
fn from_rank(r: usize, n: usize) -> u8 {
    (1 + (5 * r as u128) / n as u128) as u8
}

/// Tie-rule scores of `values` (one per scored account).
pub fn tie_scores(values: &[i64], better: Better) -> Vec<u8> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let (min, max) = values
        .par_iter()
        .fold(|| (i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let span = (max as i128 - min as i128) as u128;
    if span <= (2 * n as u128).max(1 << 16) {
        // Small range (days, counts): a histogram gives "strictly less" counts directly.
        let span = span as usize + 1;
        let mut less = vec![0u32; span + 1];
        for &v in values {
            less[(v - min) as usize + 1] += 1;
        }
        for i in 1..=span {
            less[i] += less[i - 1];
        }
        // less[k] = number of values < min + k; less[k + 1] = number ≤ min + k.
        values
            .par_iter()
            .with_min_len(4096)
            .map(|&v| {
                let k = (v - min) as usize;
                let r = match better {
                    Better::Higher => less[k] as usize,
                    Better::Lower => n - less[k + 1] as usize,
                };
                from_rank(r, n)
            })
            .collect()
    } else {
        let mut order: Vec<(i64, u32)> = values.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
        order.par_sort_unstable();
        let mut out = vec![0u8; n];
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && order[j].0 == order[i].0 {
                j += 1;
            }
            // values in order[i..j] are equal: i of them are smaller, n - j are larger.
            let r = match better {
                Better::Higher => i,
                Better::Lower => n - j,
            };
            let s = from_rank(r, n);
            for &(_, idx) in &order[i..j] {
                out[idx as usize] = s;
            }
            i = j;
        }
        out
    }
}

/// Fixed-threshold score: Higher: 1 + #{t : v ≥ t}; Lower: 1 + #{t : v ≤ t}.
#[inline]
pub fn threshold_score(v: i64, cuts: &[i64; 4], better: Better) -> u8 {
    1 + cuts
        .iter()
        .filter(|&&t| match better {
            Better::Higher => v >= t,
            Better::Lower => v <= t,
        })
        .count() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(values: &[i64], better: Better) -> Vec<u8> {
        let n = values.len();
        values
            .iter()
            .map(|&v| {
                let r = values
                    .iter()
                    .filter(|&&w| match better {
                        Better::Higher => w < v,
                        Better::Lower => w > v,
                    })
                    .count();
                (1 + 5 * r / n) as u8
            })
            .collect()
    }

    #[test]
    fn all_equal_values_share_the_lowest_score() {
        assert_eq!(tie_scores(&[3; 10], Better::Higher), vec![1; 10]);
        assert_eq!(tie_scores(&[3; 10], Better::Lower), vec![1; 10]);
    }

    #[test]
    fn one_value_scores_one() {
        assert_eq!(tie_scores(&[42], Better::Higher), vec![1]);
        assert_eq!(tie_scores(&[i64::MIN + 1], Better::Lower), vec![1]);
    }

    #[test]
    fn distinct_values_spread_over_five_scores() {
        let v: Vec<i64> = (0..10).collect();
        assert_eq!(tie_scores(&v, Better::Higher), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(tie_scores(&v, Better::Lower), vec![5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
    }

    #[test]
    fn ties_share_a_score_and_match_the_definition() {
        let v = [5, 1, 5, 5, 2, 9, 1, 5];
        assert_eq!(tie_scores(&v, Better::Higher), brute(&v, Better::Higher));
        assert_eq!(tie_scores(&v, Better::Lower), brute(&v, Better::Lower));
        assert_eq!(tie_scores(&v, Better::Higher), vec![2, 1, 2, 2, 2, 5, 1, 2]);
    }

    #[test]
    fn both_paths_match_the_definition_on_pseudo_random_data() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for &(n, range) in &[(1usize, 3i64), (7, 2), (100, 5), (1000, 50), (3000, i64::MAX / 4)] {
            let v: Vec<i64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % range as u64) as i64 - range / 2
                })
                .collect();
            for b in [Better::Higher, Better::Lower] {
                assert_eq!(tie_scores(&v, b), brute(&v, b), "n={n} range={range}");
            }
        }
    }

    #[test]
    fn thresholds() {
        let r = [365, 180, 90, 30];
        assert_eq!(threshold_score(400, &r, Better::Lower), 1);
        assert_eq!(threshold_score(365, &r, Better::Lower), 2);
        assert_eq!(threshold_score(10, &r, Better::Lower), 5);
        let f = [2, 3, 5, 10];
        assert_eq!(threshold_score(1, &f, Better::Higher), 1);
        assert_eq!(threshold_score(5, &f, Better::Higher), 4);
        assert_eq!(threshold_score(50, &f, Better::Higher), 5);
    }
}
