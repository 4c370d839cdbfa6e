//! Large scratch buffers, recycled between scoring runs.
//!
//! A scoring run over 10 M line items works in a few hundred MB of scratch memory. Fresh memory
//! costs a page fault and a page clear per 4 KiB, ~100 000 faults per run, which is more than
//! some of the computing. So buffers are returned to a small process-wide pool when a run ends
//! and reused by the next run (a series of snapshots, a re-score in the TUI);
//! [`release_scratch`] frees the pool. (Advising huge pages was measured and rejected: with the
//! common THP `defrag = madvise` setting the first run stalls in page compaction.)
//!
//! Only plain-data element types are stored (`Copy`, alignment ≤ 16); a buffer's contents are
//! unspecified when it is taken, so callers write before they read.

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Storage unit: 16-byte aligned.
type Block = u128;

/// Buffers smaller than this are not worth pooling or advising.
const MIN_POOLED: usize = 1 << 20;
/// At most this many idle buffers are kept.
const MAX_IDLE: usize = 16;

static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Free every idle scratch buffer (the memory goes back to the system allocator).
pub fn release_scratch() {
    if let Ok(mut pool) = POOL.lock() {
        pool.clear();
        pool.shrink_to_fit();
    }
}

/// Bytes held by idle scratch buffers.
pub fn idle_scratch_bytes() -> usize {
    POOL.lock().map(|p| p.iter().map(|b| b.capacity() * size_of::<Block>()).sum()).unwrap_or(0)
}

/// A fixed-length buffer of `T` from the pool; its contents start unspecified
/// (either zero or left over from an earlier run), so write before reading.
pub struct Scratch<T: Copy> {
    store: Vec<Block>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Copy> Scratch<T> {
    /// A buffer of exactly `len` elements.
    pub fn new(len: usize) -> Self {
        assert!(align_of::<T>() <= align_of::<Block>(), "scratch element alignment above 16");
        let bytes = len.checked_mul(size_of::<T>()).expect("scratch size overflows");
        let blocks = bytes.div_ceil(size_of::<Block>());
        let mut store = if bytes >= MIN_POOLED { take(blocks) } else { None }.unwrap_or_else(|| fresh(blocks));
        // SAFETY: u128 has no invalid bit patterns; the blocks are then used only as T: Copy
        // values, which callers write before reading.
        unsafe { store.set_len(blocks) };
        Scratch { store, len, _t: PhantomData }
    }

    /// A buffer of `len` elements, every one set to `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut s = Self::new(len);
        s.fill(value);
        s
    }

    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.store.as_mut_ptr() as *mut T
    }
}

impl<T: Copy> Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the store holds at least len * size_of::<T>() bytes, 16-byte aligned.
        unsafe { std::slice::from_raw_parts(self.store.as_ptr() as *const T, self.len) }
    }
}

impl<T: Copy> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above, and we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.store.as_mut_ptr() as *mut T, self.len) }
    }
}

impl<T: Copy> Drop for Scratch<T> {
    fn drop(&mut self) {
        let store = std::mem::take(&mut self.store);
        if store.capacity() * size_of::<Block>() < MIN_POOLED {
            return;
        }
        if let Ok(mut pool) = POOL.lock() {
            pool.push(store);
            if pool.len() > MAX_IDLE {
                // Drop the smallest.
                let i = (0..pool.len()).min_by_key(|&i| pool[i].capacity()).expect("non-empty");
                pool.swap_remove(i);
            }
        }
    }
}

/// The smallest idle buffer with room for `blocks`, if any.
fn take(blocks: usize) -> Option<Vec<Block>> {
    let mut pool = POOL.lock().ok()?;
    let i = (0..pool.len()).filter(|&i| pool[i].capacity() >= blocks).min_by_key(|&i| pool[i].capacity())?;
    let mut v = pool.swap_remove(i);
    v.clear();
    Some(v)
}

fn fresh(blocks: usize) -> Vec<Block> {
    Vec::with_capacity(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_recycled_and_sized() {
        let n = (MIN_POOLED / 8) * 3;
        let ptr = {
            let mut a = Scratch::<u64>::filled(n, 7);
            assert_eq!(a.len(), n);
            assert!(a.iter().all(|&v| v == 7));
            a[5] = 9;
            a.as_mut_ptr() as usize
        };
        assert!(idle_scratch_bytes() >= n * 8);
        // Other tests run in parallel and may take it first; when we get it back, it is reused.
        let b = Scratch::<(i64, i32)>::new(n / 2);
        assert_eq!(b.len(), n / 2);
        let _ = ptr;
        drop(b);
        let small = Scratch::<u8>::filled(10, 1);
        assert_eq!(&small[..], &[1; 10]);
    }
}
