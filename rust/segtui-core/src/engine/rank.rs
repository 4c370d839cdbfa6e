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

/// Tie-rule scores of `values` (one per scored account).
///
/// Only four order statistics are needed: with `q_k = ceil(k·n / 5)`, a value scores above k
/// exactly when at least `q_k` values are worse, i.e. (higher is better) when it exceeds the
/// `q_k`-th smallest value, or (lower is better) when it is below the `q_k`-th largest. Four
/// selections replace a sort: O(n).
pub fn tie_scores(values: &[i64], better: Better) -> Vec<u8> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let mut work = values.to_vec();
    let mut cut = [0i64; 4];
    let mut hi = n; // selections narrow the range: positions are increasing
    for k in (1..=4).rev() {
        let q = (k * n).div_ceil(5); // 1 ≤ q ≤ n
        let pos = match better {
            Better::Higher => q - 1,
            Better::Lower => n - q,
        };
        cut[k - 1] = select(&mut work, pos, &mut hi, better);
    }
    let cmp = move |v: i64, t: i64| match better {
        Better::Higher => v > t,
        Better::Lower => v < t,
    };
    values
        .par_iter()
        .with_min_len(1 << 14)
        .map(|&v| 1 + cut.iter().filter(|&&t| cmp(v, t)).count() as u8)
        .collect()
}

/// The element at sorted position `pos` of `work`, selecting within `work[..*hi]` (Higher:
/// positions visited in decreasing order) or the whole slice (Lower).
fn select(work: &mut [i64], pos: usize, hi: &mut usize, better: Better) -> i64 {
    match better {
        Better::Higher => {
            // Positions come in decreasing order: everything at or beyond the previous one is
            // ≥ it, so the next selection only needs the prefix.
            let (_, v, _) = work[..*hi].select_nth_unstable(pos);
            let v = *v;
            *hi = pos + 1;
            v
        }
        Better::Lower => *work.select_nth_unstable(pos).1,
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
