//! Grouping rows by dense account index with a parallel, stable counting sort.
//!
//! Each of T chunks of rows counts its rows per account; a prefix pass turns the counts into
//! per-chunk write cursors; each chunk then scatters its rows to their final places. Rows keep
//! their input order within an account. No hashing and no comparison sort: O(rows + accounts).

use rayon::prelude::*;

/// Rows grouped by account: the rows of account `a` are `recs[offsets[a]..offsets[a + 1]]`.
pub struct Grouped<R> {
    pub offsets: Vec<usize>,
    pub recs: Vec<R>,
}

impl<R> Grouped<R> {
    #[inline]
    pub fn of(&self, a: usize) -> &[R] {
        &self.recs[self.offsets[a]..self.offsets[a + 1]]
    }

    pub fn empty(n: usize) -> Self {
        Grouped { offsets: vec![0; n + 1], recs: Vec::new() }
    }
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Group rows `0..len` by `account(i)` (which must be `< n`), keeping only rows where
/// `keep(i)`, storing `rec(i)`.
pub fn group_by_account<R, A, K, F>(n: usize, len: usize, account: A, keep: K, rec: F) -> Grouped<R>
where
    R: Copy + Send + Sync,
    A: Fn(usize) -> usize + Sync,
    K: Fn(usize) -> bool + Sync,
    F: Fn(usize) -> R + Sync,
{
    if len == 0 || n == 0 {
        return Grouped::empty(n);
    }
    let threads = rayon::current_num_threads().max(1);
    // Few rows per account: per-chunk histograms would cost more than they save.
    let chunks = if len < 1 << 16 { 1 } else { threads.min(len / (1 << 15)).max(1) };
    let step = len.div_ceil(chunks);
    let ranges: Vec<(usize, usize)> = (0..chunks).map(|c| (c * step, ((c + 1) * step).min(len))).collect();

    let mut hists: Vec<Vec<u32>> = ranges
        .par_iter()
        .map(|&(lo, hi)| {
            let mut h = vec![0u32; n];
            for i in lo..hi {
                if keep(i) {
                    h[account(i)] += 1;
                }
            }
            h
        })
        .collect();

    // offsets[a] = rows of accounts < a; hists[c][a] becomes chunk c's first slot for a.
    let mut offsets = vec![0usize; n + 1];
    let mut total = 0usize;
    for a in 0..n {
        offsets[a] = total;
        for h in hists.iter_mut() {
            let c = h[a] as usize;
            h[a] = total as u32;
            total += c;
        }
    }
    offsets[n] = total;
    assert!(total <= u32::MAX as usize, "more than 2^32 rows in one scoring run");

    let mut recs: Vec<R> = Vec::with_capacity(total);
    let out = SendPtr(recs.as_mut_ptr());
    ranges.par_iter().zip(hists.par_iter_mut()).for_each(|(&(lo, hi), cursor)| {
        let out = out;
        for i in lo..hi {
            if keep(i) {
                let a = account(i);
                let pos = cursor[a] as usize;
                cursor[a] += 1;
                // SAFETY: cursors of different chunks and accounts cover disjoint slots of
                // 0..total, and each slot is written exactly once.
                unsafe { out.0.add(pos).write(rec(i)) };
            }
        }
    });
    // SAFETY: every slot in 0..total was written above.
    unsafe { recs.set_len(total) };
    Grouped { offsets, recs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stably_and_filters() {
        let acct = [2usize, 0, 2, 1, 0, 2, 1];
        let g = group_by_account(4, acct.len(), |i| acct[i], |i| i != 3, |i| i as u32);
        assert_eq!(g.offsets, vec![0, 2, 3, 6, 6]);
        assert_eq!(g.of(0), &[1, 4]);
        assert_eq!(g.of(1), &[6]);
        assert_eq!(g.of(2), &[0, 2, 5]);
        assert!(g.of(3).is_empty());
    }

    #[test]
    fn large_input_uses_chunks_and_matches_a_stable_sort() {
        let n = 1000;
        let len = 300_000;
        let acct: Vec<usize> = (0..len).map(|i| (i * 7919 + i / 3) % n).collect();
        let g = group_by_account(n, len, |i| acct[i], |i| i % 11 != 0, |i| i as u32);
        let mut expect: Vec<u32> = (0..len as u32).filter(|&i| i % 11 != 0).collect();
        expect.sort_by_key(|&i| acct[i as usize]);
        assert_eq!(g.recs, expect);
    }
}
