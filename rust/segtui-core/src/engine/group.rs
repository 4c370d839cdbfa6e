//! Grouping rows by dense account index without hashing or comparison sorts.
//!
//! Two levels, so that no pass scatters rows across a large array at random:
//! 1. [`partition`]: a parallel, stable radix pass that moves rows into buckets of
//!    `2^shift` consecutive accounts (a few hundred buckets: every chunk writes a few hundred
//!    sequential streams, friendly to caches and the TLB);
//! 2. [`local_group`]: inside one bucket (cache-sized), a counting sort by account.
//!
//! The scoring kernel runs step 2 and the per-account work bucket by bucket, in parallel, so the
//! fully grouped rows never exist as one big array.

use super::mem::Scratch;
use rayon::prelude::*;

/// Rows partitioned into buckets: bucket `b` is `recs[offsets[b]..offsets[b + 1]]`.
pub struct Buckets<R: Copy> {
    pub shift: u32,
    pub offsets: Vec<usize>,
    pub recs: Scratch<R>,
}

impl<R: Copy> Buckets<R> {
    pub fn n_buckets(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    pub fn bucket(&self, b: usize) -> &[R] {
        &self.recs[self.offsets[b]..self.offsets[b + 1]]
    }
}

/// The bucket width (log2 of accounts per bucket) for `n` accounts and `rows` rows in all:
/// about 16384 rows per bucket (≈ 400 KB of line records), so that one bucket's rows stay in a
/// core's L2 cache while they are grouped and read, and the partition writes to a few hundred
/// streams at once (measured: 8192 rows per bucket, i.e. twice the streams, cost 25 % more);
/// between 64 and 65536 accounts per bucket, at most 65536 buckets.
pub fn bucket_shift(n: usize, rows: usize) -> u32 {
    const TARGET_ROWS: u128 = 16384;
    let n = n.max(1);
    let per_bucket = (TARGET_ROWS * n as u128 / rows.max(1) as u128).max(1);
    let shift = (127 - per_bucket.leading_zeros()).clamp(6, 16);
    let bits = usize::BITS - n.leading_zeros(); // n < 2^bits
    shift.max(bits.saturating_sub(16))
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Partition rows `0..len` with `keep(i)` by `account(i) >> shift`, storing `rec(i)`; rows keep
/// their input order within a bucket. Every `account(i)` of a kept row must be `< n`;
/// otherwise the smallest offending row index is returned as the error.
pub fn partition<R, A, K, F>(n: usize, len: usize, shift: u32, account: A, keep: K, rec: F) -> Result<Buckets<R>, usize>
where
    R: Copy + Send + Sync,
    A: Fn(usize) -> usize + Sync,
    K: Fn(usize) -> bool + Sync,
    F: Fn(usize) -> R + Sync,
{
    let nb = (n >> shift) + 1;
    if len == 0 {
        return Ok(Buckets { shift, offsets: vec![0; nb + 1], recs: Scratch::new(0) });
    }
    let threads = rayon::current_num_threads().max(1);
    let chunks = (len / (1 << 16)).clamp(1, 4 * threads);
    let step = len.div_ceil(chunks);
    let ranges: Vec<(usize, usize)> = (0..chunks).map(|c| (c * step, ((c + 1) * step).min(len))).collect();

    let hists: Vec<Result<Vec<usize>, usize>> = ranges
        .par_iter()
        .map(|&(lo, hi)| {
            let mut h = vec![0usize; nb];
            let mut bad = usize::MAX;
            for i in lo..hi {
                let a = account(i);
                if a >= n {
                    bad = bad.min(i);
                } else if keep(i) {
                    h[a >> shift] += 1;
                }
            }
            if bad == usize::MAX {
                Ok(h)
            } else {
                Err(bad)
            }
        })
        .collect();
    let mut cursors = Vec::with_capacity(chunks);
    for h in hists {
        cursors.push(h?);
    }
    let mut offsets = vec![0usize; nb + 1];
    let mut total = 0usize;
    for b in 0..nb {
        offsets[b] = total;
        for c in cursors.iter_mut() {
            let k = c[b];
            c[b] = total;
            total += k;
        }
    }
    offsets[nb] = total;

    let mut recs: Scratch<R> = Scratch::new(total);
    let out = SendPtr(recs.as_mut_ptr());
    ranges.par_iter().zip(cursors.par_iter_mut()).for_each(|(&(lo, hi), cursor)| {
        let out = out;
        for i in lo..hi {
            if keep(i) {
                let b = account(i) >> shift;
                // SAFETY: the cursors of different chunks and buckets cover disjoint slots of
                // 0..total, and each slot is written exactly once.
                unsafe { out.0.add(cursor[b]).write(rec(i)) };
                cursor[b] += 1;
            }
        }
    });
    // Every slot in 0..total was written above.
    Ok(Buckets { shift, offsets, recs })
}

/// Counting sort of one bucket's rows by `account(r) - base` (< `width`), stable, into `out`;
/// `out[starts[k]..starts[k + 1]]` are then the rows of account `base + k`, in input order.
pub fn local_group<R: Copy>(
    recs: &[R],
    width: usize,
    base: usize,
    account: impl Fn(&R) -> usize,
    starts: &mut Vec<u32>,
    out: &mut Vec<R>,
) {
    starts.clear();
    starts.resize(width + 1, 0);
    for r in recs {
        starts[account(r) - base + 1] += 1;
    }
    for k in 0..width {
        starts[k + 1] += starts[k];
    }
    out.clear();
    if recs.is_empty() {
        return;
    }
    out.reserve(recs.len());
    let dst = out.as_mut_ptr();
    // starts[k] serves as account k's cursor and is restored afterwards.
    for r in recs {
        let k = account(r) - base;
        // SAFETY: the cursors stay below recs.len() (the counts sum to it) and cover each
        // slot exactly once, within the reserved capacity.
        unsafe { dst.add(starts[k] as usize).write(*r) };
        starts[k] += 1;
    }
    // SAFETY: every slot in 0..recs.len() was written above.
    unsafe { out.set_len(recs.len()) };
    for k in (1..=width).rev() {
        starts[k] = starts[k - 1];
    }
    starts[0] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_stably_filters_and_groups() {
        let acct = [2usize, 0, 2, 1, 0, 2, 1, 3];
        let p = partition(4, acct.len(), 1, |i| acct[i], |i| i != 3, |i| (acct[i], i)).unwrap();
        assert_eq!(p.n_buckets(), 3);
        assert_eq!(p.bucket(0), &[(0, 1), (0, 4), (1, 6)]);
        assert_eq!(p.bucket(1), &[(2, 0), (2, 2), (2, 5), (3, 7)]);
        assert!(p.bucket(2).is_empty());
        let (mut starts, mut out) = (Vec::new(), Vec::new());
        local_group(p.bucket(0), 2, 0, |r| r.0, &mut starts, &mut out);
        assert_eq!(starts, vec![0, 2, 3]);
        assert_eq!(out, vec![(0, 1), (0, 4), (1, 6)]);
        let unordered = [(3usize, 'a'), (2, 'b'), (3, 'c'), (2, 'd')];
        let mut out2 = Vec::new();
        local_group(&unordered, 2, 2, |r| r.0, &mut starts, &mut out2);
        assert_eq!(starts, vec![0, 2, 4]);
        assert_eq!(out2, vec![(2, 'b'), (2, 'd'), (3, 'a'), (3, 'c')]);
    }

    #[test]
    fn out_of_range_account_reports_the_first_row() {
        let acct = [0usize, 9, 1, 7];
        assert_eq!(partition(4, 4, 1, |i| acct[i], |_| true, |i| i).err(), Some(1));
    }

    #[test]
    fn large_input_matches_a_stable_sort() {
        let n = 100_000;
        let len = 400_000;
        let acct: Vec<usize> = (0..len).map(|i| (i * 7919 + i / 3) % n).collect();
        let shift = bucket_shift(n, len);
        let p = partition(n, len, shift, |i| acct[i], |i| i % 11 != 0, |i| i as u32).unwrap();
        let mut got = Vec::new();
        let (mut starts, mut out) = (Vec::new(), Vec::new());
        for b in 0..p.n_buckets() {
            let base = b << shift;
            let width = ((b + 1) << shift).min(n).saturating_sub(base);
            local_group(p.bucket(b), width, base, |&r| acct[r as usize], &mut starts, &mut out);
            got.extend_from_slice(&out);
        }
        let mut expect: Vec<u32> = (0..len as u32).filter(|&i| i % 11 != 0).collect();
        expect.sort_by_key(|&i| acct[i as usize]);
        assert_eq!(got, expect);
    }

    #[test]
    fn shift_targets_a_few_thousand_rows_per_bucket() {
        assert_eq!(bucket_shift(0, 0), 14);
        assert_eq!(bucket_shift(1000, 10), 16);
        // 10 rows per account: ~1638 accounts per bucket -> 2^10.
        assert_eq!(bucket_shift(1_000_000, 10_000_000), 10);
        // Very many rows per account: the smallest buckets.
        assert_eq!(bucket_shift(1000, 100_000_000), 6);
        // At most 65536 buckets.
        assert!((u32::MAX as usize >> bucket_shift(u32::MAX as usize - 1, 1 << 40)) <= 65536);
    }
}
