//! Stable keys: invoice keys and natural row keys.
//!
//! Both are XXH3 hashes (the algorithm is fixed by its specification, so keys never change with
//! the Rust version or the platform; `std`'s `DefaultHasher` makes no such promise).
//!
//! - [`invoice_key`]: 64-bit hash of the invoice text, `0` when there is none (never `0`
//!   otherwise), stored in `line_items.invoice_key` so the scoring kernels count distinct
//!   invoices on integers.
//! - [`KeyBuilder`] hashes a row's own mapped fields (normalised: trimmed text, canonical decimals,
//!   parsed timestamps) into a 128-bit *base*. Identical rows share a base and are numbered 0, 1,
//!   2… in file order (the importer does the counting), and [`nkey`] turns (day, base, occurrence)
//!   into the stored 16-byte natural key. Re-importing an overlapping export yields the same keys
//!   for the same rows, so the insert skips them, while genuine duplicate lines in one export get
//!   distinct occurrence numbers and are all kept.
//!
//! Layout of an nkey: 4 bytes of the calendar day (big-endian, sign bit flipped, so keys sort
//! by day) followed by 12 bytes of hash. Exports are usually in date order, so the store's unique
//! index on nkey grows mostly at its right edge instead of at random pages: this is what keeps
//! bulk inserts fast on large stores.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64_with_seed};

const INVOICE_SEED: u64 = 0x5e67_7569_0000_0001;
const ROW_SEED: u64 = 0x5e67_7569_0000_0002;
const OCC_SEED: u64 = 0x5e67_7569_0000_0003;

/// 64-bit stable hash of an invoice's text (as given, trimmed); `0` for none.
pub fn invoice_key(invoice: Option<&str>) -> i64 {
    match invoice.map(str::trim) {
        None | Some("") => 0,
        Some(s) => {
            let h = xxh3_64_with_seed(s.as_bytes(), INVOICE_SEED) as i64;
            if h == 0 {
                1
            } else {
                h
            }
        }
    }
}

/// Accumulates a row's fields unambiguously (tag + length prefix per field).
#[derive(Default)]
pub struct KeyBuilder {
    buf: Vec<u8>,
}

impl KeyBuilder {
    /// Start a key for one table (`tag` keeps keys of different tables apart).
    pub fn start(&mut self, tag: u8) {
        self.buf.clear();
        self.buf.push(tag);
    }

    pub fn text(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            None => self.buf.push(0),
            Some(s) => {
                self.buf.push(1);
                self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                self.buf.extend_from_slice(s.as_bytes());
            }
        }
        self
    }

    pub fn int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            None => self.buf.push(0),
            Some(x) => {
                self.buf.push(2);
                self.buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        self
    }

    /// The 128-bit base hash of the fields added so far.
    pub fn base(&self) -> u128 {
        xxh3_128_with_seed(&self.buf, ROW_SEED)
    }
}

/// The stored 16-byte natural key of a row (see the module docs for the layout).
pub fn nkey(day: i32, base: u128, occurrence: u32) -> [u8; 16] {
    let h = if occurrence == 0 {
        base
    } else {
        let mut b = [0u8; 20];
        b[..16].copy_from_slice(&base.to_le_bytes());
        b[16..].copy_from_slice(&occurrence.to_le_bytes());
        xxh3_128_with_seed(&b, OCC_SEED)
    };
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&((day as u32) ^ 0x8000_0000).to_be_bytes());
    out[4..].copy_from_slice(&h.to_le_bytes()[..12]);
    out
}

/// A hasher for keys that are already uniform hashes.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64 ^ (v >> 64) as u64;
    }
}

pub type Pass = BuildHasherDefault<PassThrough>;

/// A fast, deterministic hasher for in-memory maps keyed by short text (account keys, category
/// names): the FxHash recipe (multiply-rotate over 8-byte words). Not for anything stored.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const FX_K: u64 = 0x517c_c1b7_2722_0a95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut c = bytes.chunks_exact(8);
        for w in &mut c {
            self.add(u64::from_le_bytes(w.try_into().unwrap()));
        }
        let r = c.remainder();
        if !r.is_empty() {
            let mut b = [0u8; 8];
            b[..r.len()].copy_from_slice(r);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.add(v as u64);
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
}

pub type Fx = BuildHasherDefault<FxHasher>;
pub type PassMap<K, V> = HashMap<K, V, Pass>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_keys_are_stable_and_never_zero_for_text() {
        assert_eq!(invoice_key(None), 0);
        assert_eq!(invoice_key(Some("  ")), 0);
        assert_eq!(invoice_key(Some("536365")), invoice_key(Some(" 536365 ")));
        assert_ne!(invoice_key(Some("536365")), invoice_key(Some("C536365")));
        // pinned values: a change here would silently re-key every store
        assert_eq!(invoice_key(Some("536365")), 214885529551039929);
        assert_eq!(xxh3_64_with_seed(b"", 0), 0x2d06800538d394c2);
    }

    #[test]
    fn fields_are_unambiguous() {
        let mut k = KeyBuilder::default();
        k.start(1);
        k.text(Some("ab")).text(Some("c"));
        let a = k.base();
        k.start(1);
        k.text(Some("a")).text(Some("bc"));
        assert_ne!(a, k.base());
        k.start(1);
        k.text(None).text(Some(""));
        let b = k.base();
        k.start(1);
        k.text(Some("")).text(None);
        assert_ne!(b, k.base());
        k.start(2);
        k.text(None).text(Some(""));
        assert_ne!(b, k.base());
    }

    const PINNED: [u8; 16] = [
        128, 0, 58, 96, 241, 83, 48, 206, 1, 60, 225, 28, 36, 253, 53, 49,
    ];

    #[test]
    fn nkeys_sort_by_day_and_separate_occurrences() {
        let base = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        assert!(nkey(-5, base, 0) < nkey(0, base, 0));
        assert!(nkey(0, base, 0) < nkey(20000, 1, 0));
        assert_ne!(nkey(100, base, 0), nkey(100, base, 1));
        assert_ne!(nkey(100, base, 1), nkey(100, base, 2));
        assert_eq!(nkey(100, base, 2), nkey(100, base, 2));
        // pinned: the stored keys of every existing store depend on these bytes
        let mut k = KeyBuilder::default();
        k.start(1);
        k.text(Some("17850")).int(Some(1291191960)).text(None);
        let b = k.base();
        assert_eq!(&nkey(14944, b, 0)[..4], &[0x80, 0x00, 0x3a, 0x60]);
        assert_eq!(nkey(14944, b, 0), PINNED);
    }

    #[test]
    fn fx_maps_work_on_text_keys() {
        let mut m: HashMap<Box<str>, i64, Fx> = HashMap::default();
        for i in 0..1000 {
            m.insert(format!("acct-{i:07}").into(), i);
        }
        assert_eq!(m.get("acct-0000421"), Some(&421));
        assert_eq!(m.get("acct-421"), None);
    }
}
