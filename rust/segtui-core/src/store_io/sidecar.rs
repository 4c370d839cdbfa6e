//! The columnar cache beside the store: `<store>.cols`.
//!
//! Layout (all integers little-endian; the file is refused on a big-endian host):
//!
//! ```text
//! [0, H)      header: UTF-8 text lines, padded with spaces to H (a multiple of 4096)
//!               SEGTUI-COLUMNS 1
//!               stamp <the store's stamp, one line>
//!               n_accounts <hex16>
//!               col <name> <dtype> <count hex16> <offset hex16> <checksum hex16>   (one per column)
//!               end <file length hex16> <header checksum hex16>
//! [H, ...)    the columns, each starting at a multiple of 64 bytes, in header order
//! ```
//!
//! Numbers in the header are fixed-width hex, so the layout can be computed before the data is
//! written. Every column carries a checksum that is verified on load; the header carries one of
//! its own text. The file is written to a temporary name and renamed over the old one, so a
//! reader sees either the old file or the new one, and a crash mid-write leaves at worst a
//! temporary file (removed by the next write) — never a torn cache. Name lists (cost
//! categories, event kinds) are stored as `u8` columns: `u32` count, then `u32` length + bytes
//! per name.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::read::{Fnv, StoreInputs};
use super::{Result, StoreIoError};

const MAGIC: &str = "SEGTUI-COLUMNS 1";
const ALIGN: u64 = 64;

/// The cache file of a store: the store's file name with `.cols` appended, beside it.
pub fn sidecar_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".cols");
    db.with_file_name(name)
}

/// Plain integer types whose in-memory bytes are the file's bytes (little-endian host).
trait Plain: Copy + Default + Send + Sync + 'static {
    const DTYPE: &'static str;
}
impl Plain for u8 {
    const DTYPE: &'static str = "u8";
}
impl Plain for u32 {
    const DTYPE: &'static str = "u32";
}
impl Plain for i32 {
    const DTYPE: &'static str = "i32";
}
impl Plain for i64 {
    const DTYPE: &'static str = "i64";
}

fn as_bytes<T: Plain>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain integer type without padding; any byte pattern of u8 is valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

fn as_bytes_mut<T: Plain>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: T is a plain integer type: every byte pattern is a valid value.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(v)) }
}

/// A fast 64-bit checksum (4 independent multiply-rotate lanes): any single changed 8-byte
/// word always changes it; other damage is detected with overwhelming probability.
pub fn checksum(b: &[u8]) -> u64 {
    const P: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: [u64; 4] = [0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344, 0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89];
    let mut chunks = b.chunks_exact(32);
    for c in &mut chunks {
        for (i, lane) in h.iter_mut().enumerate() {
            let w = u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap());
            *lane = (*lane ^ w).wrapping_mul(P).rotate_left(29);
        }
    }
    let mut f = Fnv::new();
    f.bytes(chunks.remainder());
    for lane in h {
        f.i64(lane as i64);
    }
    f.i64(b.len() as i64);
    f.finish()
}

fn encode_names(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    for n in names {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    out
}

fn decode_names(b: &[u8]) -> Option<Vec<String>> {
    let rd = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)) };
    let n = rd(0)? as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let len = rd(at)? as usize;
        at += 4;
        out.push(String::from_utf8(b.get(at..at + len)?.to_vec()).ok()?);
        at += len;
    }
    (at == b.len()).then_some(out)
}

/// One column to write: name, dtype and bytes.
struct Out<'a> {
    name: &'static str,
    dtype: &'static str,
    count: usize,
    bytes: &'a [u8],
}

fn out<'a, T: Plain>(name: &'static str, v: &'a [T]) -> Out<'a> {
    Out { name, dtype: T::DTYPE, count: v.len(), bytes: as_bytes(v) }
}

fn hex16(v: u64) -> String {
    format!("{v:016x}")
}

fn io_err(path: &Path, e: std::io::Error) -> StoreIoError {
    StoreIoError::Io { path: path.to_path_buf(), source: e }
}

/// Write `s` as the cache at `path`, atomically (temporary file + rename), private to the
/// user. Returns the file's size in bytes.
pub fn write_sidecar(path: &Path, s: &StoreInputs) -> Result<u64> {
    if cfg!(target_endian = "big") {
        return Err(StoreIoError::Data("the column cache needs a little-endian host".into()));
    }
    let cats = encode_names(&s.cost_categories);
    let kinds = encode_names(&s.event_kinds);
    let cols = vec![
        out("li_account", &s.li_account),
        out("li_day", &s.li_day),
        out("li_amount", &s.li_amount),
        out("li_invoice_key", &s.li_invoice_key),
        out("cost_account", &s.cost_account),
        out("cost_day", &s.cost_day),
        out("cost_category", &s.cost_category),
        out("cost_amount", &s.cost_amount),
        out("cost_driver_units", &s.cost_driver_units),
        out("ev_account", &s.ev_account),
        out("ev_day", &s.ev_day),
        out("ev_kind", &s.ev_kind),
        out("acc_employees", &s.acc_employees),
        out("acc_mrr", &s.acc_mrr),
        out("acc_seats", &s.acc_seats),
        out("acc_seat_limit", &s.acc_seat_limit),
        out("acc_signup_day", &s.acc_signup_day),
        out("acc_renewal_day", &s.acc_renewal_day),
        out("cost_categories", &cats),
        out("event_kinds", &kinds),
    ];
    // checksums of the columns, in parallel (they are the only full pass over the data)
    let sums: Vec<u64> = {
        use rayon::prelude::*;
        cols.par_iter().map(|c| checksum(c.bytes)).collect()
    };
    // layout: header size from a header with the same fixed-width fields
    let stamp = s.stamp.to_text();
    let header_for = |h: u64| -> (String, Vec<u64>, u64) {
        let mut text = format!("{MAGIC}\nstamp {stamp}\nn_accounts {}\n", hex16(s.n_accounts as u64));
        let mut offs = Vec::with_capacity(cols.len());
        let mut at = h;
        for (c, sum) in cols.iter().zip(&sums) {
            offs.push(at);
            text.push_str(&format!(
                "col {} {} {} {} {}\n",
                c.name,
                c.dtype,
                hex16(c.count as u64),
                hex16(at),
                hex16(*sum)
            ));
            at = (at + c.bytes.len() as u64).div_ceil(ALIGN) * ALIGN;
        }
        let end = offs.last().map(|o| o + cols.last().unwrap().bytes.len() as u64).unwrap_or(h);
        let hsum = checksum(text.as_bytes());
        text.push_str(&format!("end {} {}\n", hex16(end), hex16(hsum)));
        (text, offs, end)
    };
    let mut h = 4096u64;
    let (mut text, mut offs, mut end) = header_for(h);
    while text.len() as u64 > h {
        h *= 2;
        (text, offs, end) = header_for(h);
    }
    let mut header = text.into_bytes();
    header.resize(h as usize, b' ');

    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.set_len(end)?;
        for (c, off) in cols.iter().zip(&offs) {
            f.write_all_at(c.bytes, *off)?;
        }
        f.write_all_at(&header, 0)?;
        f.flush()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, e)
    })?;
    Ok(end)
}

/// What a look at the cache found.
#[derive(Debug)]
pub enum SidecarRead {
    /// The cache holds exactly the data of the expected stamp.
    Fresh(StoreInputs),
    /// The cache is intact but holds the data of another stamp (the store changed).
    Stale(String),
    /// The cache cannot be used; the reason says why (missing, damaged).
    Unusable(String),
}

struct ColEntry {
    name: String,
    dtype: String,
    count: u64,
    offset: u64,
    sum: u64,
}

struct Header {
    stamp: String,
    n_accounts: u64,
    cols: Vec<ColEntry>,
    end: u64,
}

fn parse_header(bytes: &[u8]) -> std::result::Result<Option<Header>, String> {
    // None = header longer than `bytes` (read more)
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap(),
    };
    if !text.starts_with(MAGIC) {
        return Err("not a segtui column cache of this version".into());
    }
    let Some(end_at) = text.find("\nend ") else {
        return Ok(None);
    };
    let Some(nl) = text[end_at + 1..].find('\n') else {
        return Ok(None);
    };
    let body = &text[..end_at + 1];
    let end_line = &text[end_at + 1..end_at + 1 + nl];
    let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| format!("bad number {s:?} in the header"));
    let parts: Vec<&str> = end_line.split(' ').collect();
    if parts.len() != 3 {
        return Err("bad end line".into());
    }
    let end = hex(parts[1])?;
    if hex(parts[2])? != checksum(body.as_bytes()) {
        return Err("header checksum mismatch".into());
    }
    let mut h = Header { stamp: String::new(), n_accounts: 0, cols: Vec::new(), end };
    for line in body.lines().skip(1) {
        if let Some(st) = line.strip_prefix("stamp ") {
            h.stamp = st.to_string();
        } else if let Some(n) = line.strip_prefix("n_accounts ") {
            h.n_accounts = hex(n)?;
        } else if let Some(c) = line.strip_prefix("col ") {
            let f: Vec<&str> = c.split(' ').collect();
            if f.len() != 5 {
                return Err(format!("bad column line {line:?}"));
            }
            h.cols.push(ColEntry {
                name: f[0].to_string(),
                dtype: f[1].to_string(),
                count: hex(f[2])?,
                offset: hex(f[3])?,
                sum: hex(f[4])?,
            });
        } else if !line.is_empty() {
            return Err(format!("unknown header line {line:?}"));
        }
    }
    Ok(Some(h))
}

/// The stamp text recorded in the cache at `path`, if it is readable.
pub fn sidecar_stamp(path: &Path) -> Option<String> {
    let f = File::open(path).ok()?;
    read_header(&f).ok().map(|h| h.stamp)
}

fn read_header(f: &File) -> std::result::Result<Header, String> {
    let mut size = 4096usize;
    loop {
        let mut buf = vec![0u8; size];
        let n = read_up_to(f, &mut buf, 0).map_err(|e| e.to_string())?;
        buf.truncate(n);
        match parse_header(&buf)? {
            Some(h) => return Ok(h),
            None if n < size => return Err("truncated header".into()),
            None if size >= 1 << 24 => return Err("header too long".into()),
            None => size *= 4,
        }
    }
}

fn read_up_to(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = f.read_at(&mut buf[got..], offset + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Load the cache at `path` if it holds the data of `expected_stamp` (the text of the store's
/// current [`super::Stamp`]), verifying every checksum and the engine's index invariants.
pub fn read_sidecar(path: &Path, expected_stamp: &str) -> Result<SidecarRead> {
    if cfg!(target_endian = "big") {
        return Ok(SidecarRead::Unusable("the column cache needs a little-endian host".into()));
    }
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SidecarRead::Unusable("no column cache yet".into()))
        }
        Err(e) => return Ok(SidecarRead::Unusable(format!("column cache unreadable: {e}"))),
    };
    let h = match read_header(&f) {
        Ok(h) => h,
        Err(e) => return Ok(SidecarRead::Unusable(format!("column cache damaged: {e}"))),
    };
    if h.stamp != expected_stamp {
        return Ok(SidecarRead::Stale("the store changed since the column cache was built".into()));
    }
    let len = f.metadata().map_err(|e| io_err(path, e))?.len();
    if len != h.end {
        return Ok(SidecarRead::Unusable(format!(
            "column cache damaged: {len} bytes, header says {}",
            h.end
        )));
    }
    match load_columns(&f, &h) {
        Ok(s) => Ok(SidecarRead::Fresh(s)),
        Err(reason) => Ok(SidecarRead::Unusable(format!("column cache damaged: {reason}"))),
    }
}

/// Load the cache at `path` whatever its stamp (checksums verified): `(stamp text, inputs)`.
pub fn read_sidecar_any(path: &Path) -> Option<(String, StoreInputs)> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let f = File::open(path).ok()?;
    let h = read_header(&f).ok()?;
    if f.metadata().ok()?.len() != h.end {
        return None;
    }
    let s = load_columns(&f, &h).ok()?;
    Some((h.stamp, s))
}

fn load_columns(f: &File, h: &Header) -> std::result::Result<StoreInputs, String> {
    let find = |name: &str, dtype: &str| -> std::result::Result<&ColEntry, String> {
        let c = h.cols.iter().find(|c| c.name == name).ok_or_else(|| format!("column {name} missing"))?;
        if c.dtype != dtype {
            return Err(format!("column {name} has type {}, expected {dtype}", c.dtype));
        }
        if c.offset % ALIGN != 0 || c.offset.checked_add(c.count * elem_size(dtype)).is_none_or(|e| e > h.end) {
            return Err(format!("column {name} lies outside the file"));
        }
        Ok(c)
    };
    fn elem_size(dtype: &str) -> u64 {
        match dtype {
            "u8" => 1,
            "u32" | "i32" => 4,
            _ => 8,
        }
    }
    fn get<T: Plain>(f: &File, c: &ColEntry) -> std::result::Result<Vec<T>, String> {
        // zeroed allocation: fresh pages from the allocator, no memset for large columns
        let mut v = vec![T::default(); c.count as usize];
        let bytes = as_bytes_mut(&mut v);
        let n = read_up_to(f, bytes, c.offset).map_err(|e| e.to_string())?;
        if n != bytes.len() {
            return Err(format!("column {} truncated", c.name));
        }
        if checksum(bytes) != c.sum {
            return Err(format!("column {} checksum mismatch", c.name));
        }
        Ok(v)
    }
    let mut s = StoreInputs { n_accounts: h.n_accounts as usize, ..Default::default() };
    // the large columns are read and verified in parallel (two at a time on two cores)
    let li_account = find("li_account", "u32")?;
    let li_day = find("li_day", "i32")?;
    let li_amount = find("li_amount", "i64")?;
    let li_invoice = find("li_invoice_key", "i64")?;
    let ((a, b), (c, d)) = rayon::join(
        || rayon::join(|| get::<u32>(f, li_account), || get::<i32>(f, li_day)),
        || rayon::join(|| get::<i64>(f, li_amount), || get::<i64>(f, li_invoice)),
    );
    s.li_account = a?;
    s.li_day = b?;
    s.li_amount = c?;
    s.li_invoice_key = d?;
    s.cost_account = get(f, find("cost_account", "i64")?)?;
    s.cost_day = get(f, find("cost_day", "i32")?)?;
    s.cost_category = get(f, find("cost_category", "u32")?)?;
    s.cost_amount = get(f, find("cost_amount", "i64")?)?;
    s.cost_driver_units = get(f, find("cost_driver_units", "i64")?)?;
    s.ev_account = get(f, find("ev_account", "u32")?)?;
    s.ev_day = get(f, find("ev_day", "i32")?)?;
    s.ev_kind = get(f, find("ev_kind", "u32")?)?;
    s.acc_employees = get(f, find("acc_employees", "i64")?)?;
    s.acc_mrr = get(f, find("acc_mrr", "i64")?)?;
    s.acc_seats = get(f, find("acc_seats", "i64")?)?;
    s.acc_seat_limit = get(f, find("acc_seat_limit", "i64")?)?;
    s.acc_signup_day = get(f, find("acc_signup_day", "i32")?)?;
    s.acc_renewal_day = get(f, find("acc_renewal_day", "i32")?)?;
    s.cost_categories =
        decode_names(&get::<u8>(f, find("cost_categories", "u8")?)?).ok_or("bad cost category names")?;
    s.event_kinds = decode_names(&get::<u8>(f, find("event_kinds", "u8")?)?).ok_or("bad event kind names")?;
    s.validate().map_err(|e| e.to_string())?;
    Ok(s)
}

/// Remove temporary files a killed writer may have left beside `path`.
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if let Some(pid) = n.strip_prefix(&prefix) {
            // leave a temporary that belongs to a live process alone
            let alive = pid.parse::<u32>().ok().is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive || pid == std::process::id().to_string() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_sees_single_word_changes() {
        let mut v: Vec<u8> = (0..1000u32).flat_map(|x| x.to_le_bytes()).collect();
        let a = checksum(&v);
        v[517] ^= 1;
        assert_ne!(a, checksum(&v));
        v[517] ^= 1;
        assert_eq!(a, checksum(&v));
        v.push(0);
        assert_ne!(a, checksum(&v));
    }

    #[test]
    fn names_round_trip() {
        let names = vec!["support".to_string(), String::new(), "frais de port é".to_string()];
        assert_eq!(decode_names(&encode_names(&names)).unwrap(), names);
        assert!(decode_names(&encode_names(&names)[..5]).is_none());
    }

    #[test]
    fn sidecar_path_is_beside_the_store() {
        assert_eq!(sidecar_path(Path::new("/x/y/segtui.db")), PathBuf::from("/x/y/segtui.db.cols"));
        assert_eq!(sidecar_path(Path::new("s.db")), PathBuf::from("s.db.cols"));
    }
}
