//! Large buffers, recycled between scoring runs.
//!
//! A scoring run over 10 M line items works in a few hundred MB of scratch memory and returns
//! ~140 MB of result columns per million accounts (the score columns and every pool's
//! shares). Fresh memory costs a page fault and a page clear per 4 KiB, several microseconds
//! each on a virtual machine, ~35 000 faults for the results alone: as much as the finishing
//! steps' own work. So large buffers go back to a small process-wide pool when they are dropped
//! and are reused by the next run (the next date of a series, a re-score in the TUI):
//! [`Scratch`] buffers while the engine works, and result vectors ([`take_vec`]) when their
//! owner gives them back ([`give_vec`]; [`super::AccountScores`] and
//! [`super::PoolShares`] do on drop, the Python binding's columns do when Python frees them).
//! [`release_scratch`] frees the pool. (Advising huge pages was measured and rejected: with the
//! common THP `defrag = madvise` setting the first run stalls in page compaction.)
//!
//! Only plain-data element types are stored (`Copy`); a buffer's contents are unspecified
//! when it is taken, so callers write before they read. A buffer is only ever handed out as
//! elements of its own alignment and a size that divides its byte length, so it is freed with
//! the layout it was allocated with.

use std::alloc::Layout;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Mutex;

/// Storage unit of [`Scratch`]: 16-byte aligned.
type Block = u128;

/// Buffers smaller than this are not worth pooling.
const MIN_POOLED: usize = 1 << 18;
/// At most this many idle buffers are kept (one result of a million accounts gives back ~30;
/// a series has a few in flight) ...
const MAX_IDLE: usize = 96;
/// ... holding at most this many bytes (the oldest go first).
const MAX_IDLE_BYTES: usize = 1 << 30;

/// An idle allocation: `bytes` bytes at `ptr`, allocated with alignment `align`.
struct Idle {
    ptr: NonNull<u8>,
    bytes: usize,
    align: usize,
}

// SAFETY: an idle buffer is plain memory owned by the pool alone.
unsafe impl Send for Idle {}

impl Drop for Idle {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated by the global allocator with exactly this layout (a Vec of
        // `bytes / size` elements of alignment `align`), and the pool owns it.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Layout::from_size_align_unchecked(self.bytes, self.align)) };
    }
}

/// The idle buffers, oldest first.
struct Pool {
    idle: Vec<Idle>,
}

impl Pool {
    /// The smallest idle buffer that holds `bytes` as elements of `size` bytes and alignment
    /// `align`. On a miss, idle buffers of that alignment at least half as large are freed:
    /// they are most likely this very buffer from a smaller run (runs grow from date to date),
    /// outgrown, and would only sit beside the new one.
    fn take(&mut self, bytes: usize, size: usize, align: usize) -> Option<Idle> {
        let fits = |b: &Idle| b.align == align && b.bytes >= bytes && b.bytes.is_multiple_of(size);
        match (0..self.idle.len()).filter(|&i| fits(&self.idle[i])).min_by_key(|&i| self.idle[i].bytes) {
            Some(i) => Some(self.idle.remove(i)),
            None => {
                self.idle.retain(|b| !(b.align == align && b.bytes < bytes && 2 * b.bytes >= bytes));
                None
            }
        }
    }

    /// Keep `b`, then drop the oldest buffers beyond [`MAX_IDLE`] buffers or
    /// [`MAX_IDLE_BYTES`] bytes.
    fn give(&mut self, b: Idle) {
        self.idle.push(b);
        let mut held: usize = self.idle.iter().map(|b| b.bytes).sum();
        while self.idle.len() > MAX_IDLE || (held > MAX_IDLE_BYTES && self.idle.len() > 1) {
            held -= self.idle.remove(0).bytes;
        }
    }

    fn bytes(&self) -> usize {
        self.idle.iter().map(|b| b.bytes).sum()
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool { idle: Vec::new() });

/// Free every idle buffer (the memory goes back to the system allocator).
pub fn release_scratch() {
    if let Ok(mut pool) = POOL.lock() {
        pool.idle.clear();
        pool.idle.shrink_to_fit();
    }
}

/// Bytes held by idle buffers.
pub fn idle_scratch_bytes() -> usize {
    POOL.lock().map(|p| p.bytes()).unwrap_or(0)
}

/// An empty vector with room for at least `len` elements, from the pool when one fits.
pub fn take_vec<T: Copy>(len: usize) -> Vec<T> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    let bytes = len.checked_mul(size).expect("buffer size overflows");
    if size == 0 || bytes < MIN_POOLED {
        return Vec::with_capacity(len);
    }
    let found = POOL.lock().ok().and_then(|mut pool| pool.take(bytes, size, align));
    match found.map(std::mem::ManuallyDrop::new) {
        // SAFETY: the allocation has alignment align_of::<T>() and bytes = cap · size_of::<T>(),
        // exactly the layout of a Vec<T> of capacity cap; the pool gave up its ownership.
        Some(idle) => unsafe { Vec::from_raw_parts(idle.ptr.as_ptr() as *mut T, 0, idle.bytes / size) },
        None => Vec::with_capacity(size_class(bytes) / size),
    }
}

/// `bytes` rounded up to a multiple of a sixteenth of the power of two at or above it (at most
/// 12.5 % more). Runs grow from one date to the next (a series' later dates have more accounts
/// and rows), so fresh buffers get room for that growth and the next run can reuse them.
fn size_class(bytes: usize) -> usize {
    let step = (bytes.next_power_of_two() >> 4).max(1);
    bytes.div_ceil(step).saturating_mul(step)
}

/// Give a vector's memory to the pool (a small one is simply freed).
pub fn give_vec<T: Copy>(v: Vec<T>) {
    let bytes = v.capacity() * size_of::<T>();
    if size_of::<T>() == 0 || bytes < MIN_POOLED {
        return;
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    let idle = Idle {
        // SAFETY: a Vec with non-zero capacity and element size has a real allocation.
        ptr: unsafe { NonNull::new_unchecked(v.as_mut_ptr() as *mut u8) },
        bytes,
        align: align_of::<T>(),
    };
    match POOL.lock() {
        Ok(mut pool) => pool.give(idle),
        Err(_) => drop(idle),
    }
}

/// A vector of `len` elements from the pool, every one set to `value`.
pub fn filled_vec<T: Copy>(len: usize, value: T) -> Vec<T> {
    let mut v = take_vec(len);
    v.resize(len, value);
    v
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
        let mut store = take_vec::<Block>(blocks);
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
        give_vec(std::mem::take(&mut self.store));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_recycled_and_sized() {
        let n = (MIN_POOLED / 8) * 3;
        {
            let mut a = Scratch::<u64>::filled(n, 7);
            assert_eq!(a.len(), n);
            assert!(a.iter().all(|&v| v == 7));
            a[5] = 9;
        }
        assert!(idle_scratch_bytes() >= n * 8);
        // Other tests run in parallel and may take it first; when we get it back, it is reused.
        let b = Scratch::<(i64, i32)>::new(n / 2);
        assert_eq!(b.len(), n / 2);
        drop(b);
        let small = Scratch::<u8>::filled(10, 1);
        assert_eq!(&small[..], &[1; 10]);
    }

    /// An idle buffer of `bytes` bytes allocated as a Vec<T>.
    fn idle_of<T>(bytes: usize) -> Idle {
        let mut v = std::mem::ManuallyDrop::new(Vec::<T>::with_capacity(bytes / size_of::<T>()));
        assert_eq!(v.capacity() * size_of::<T>(), bytes);
        Idle { ptr: NonNull::new(v.as_mut_ptr() as *mut u8).unwrap(), bytes, align: align_of::<T>() }
    }

    #[test]
    fn a_buffer_is_only_handed_out_with_its_own_layout() {
        let mut pool = Pool { idle: Vec::new() };
        pool.give(idle_of::<i64>(8 << 20));
        // not to another alignment (freeing it as u8 or u32 would change its layout) ...
        assert!(pool.take(1 << 20, 1, 1).is_none());
        assert!(pool.take(1 << 20, 4, 4).is_none());
        // ... nor when the element size does not divide it
        assert!(pool.take(1 << 20, 24, 8).is_none());
        // to the same alignment: the smallest that fits
        pool.give(idle_of::<f64>(4 << 20));
        let got = pool.take(3 << 20, 8, 8).expect("fits");
        assert_eq!((got.bytes, got.align), (4 << 20, 8));
        assert!(pool.take(16 << 20, 8, 8).is_none());
        assert_eq!(pool.bytes(), 0, "the 8 MiB buffer, outgrown by a 16 MiB request, is freed");
    }

    #[test]
    fn a_miss_frees_only_outgrown_buffers_and_the_pool_is_bounded() {
        let mut pool = Pool { idle: Vec::new() };
        pool.give(idle_of::<u128>(1 << 20));
        pool.give(idle_of::<u128>(6 << 20));
        pool.give(idle_of::<u32>(6 << 20));
        // a miss for 8 MiB of 16-aligned blocks frees the 6 MiB block buffer, keeps the rest
        assert!(pool.take(8 << 20, 16, 16).is_none());
        let mut kept: Vec<(usize, usize)> = pool.idle.iter().map(|b| (b.bytes, b.align)).collect();
        kept.sort_unstable();
        assert_eq!(kept, vec![(1 << 20, 16), (6 << 20, 4)]);
        // at most MAX_IDLE buffers, the oldest out first
        for _ in 0..MAX_IDLE + 5 {
            pool.give(idle_of::<u8>(MIN_POOLED));
        }
        assert_eq!(pool.idle.len(), MAX_IDLE);
        assert!(pool.idle.iter().all(|b| b.align == 1));
        // and at most MAX_IDLE_BYTES
        pool.give(idle_of::<u8>(MAX_IDLE_BYTES / 2));
        pool.give(idle_of::<u8>(MAX_IDLE_BYTES / 2));
        assert!(pool.bytes() <= MAX_IDLE_BYTES);
        assert_eq!(pool.idle.last().map(|b| b.bytes), Some(MAX_IDLE_BYTES / 2));
    }

    #[test]
    fn pooled_vectors_work_as_vectors() {
        let n = MIN_POOLED;
        let mut v: Vec<i64> = filled_vec(n, 3);
        assert!(v.len() == n && v.iter().all(|&x| x == 3));
        v.truncate(10);
        give_vec(v);
        let w: Vec<f64> = take_vec(n / 2);
        assert!(w.is_empty() && w.capacity() >= n / 2);
        give_vec(w);
        let c: Vec<u8> = filled_vec(n, 1);
        assert!(c.len() == n && c.iter().all(|&x| x == 1));
        give_vec(c);
        // small vectors are simply freed
        give_vec(vec![1u32; 4]);
    }

    #[test]
    fn size_classes_leave_room_for_growth() {
        for bytes in [1usize, 7, 4096, 1 << 20, (1 << 20) + 1, 7_600_000, 123_456_789] {
            let c = size_class(bytes);
            assert!(c >= bytes && c - bytes <= bytes / 8 + 1, "{bytes} -> {c}");
        }
        // a buffer for n i64 values also holds a few percent more
        let v: Vec<i64> = take_vec(1_000_000);
        assert!(v.capacity() >= 1_000_000);
    }
}
