//! Structural passes over CSV and JSON lines files before polars reads them.
//!
//! polars reads well-formed CSV fast, but one malformed record (a stray quote, a row with an extra
//! field) either aborts the whole read or is silently padded/truncated. This pass finds such records
//! first, so each becomes a reject with its exact row number and raw text, and polars then reads a
//! clean copy without them ([`write_clean`]). In the same pass it computes the file's SHA-256
//! fingerprint and counts the data rows (for progress and ETA).
//!
//! Rules (RFC 4180, strict about quotes):
//! - records end at `\n` (a preceding `\r` belongs to the line ending) outside quotes;
//! - a field that starts with the quote character is quoted: `""` inside is one quote, and the
//!   closing quote must be followed by the delimiter or the end of the record;
//! - a quote inside an unquoted field, text after a closing quote, a record whose field count differs
//!   from the header's, or bytes that are not UTF-8 make the record bad (`bad_quoting`,
//!   `wrong_field_count`, `bad_encoding`);
//! - a record that is empty or all whitespace is blank: it is counted and skipped, not rejected;
//! - a UTF-8 byte order mark before the header is ignored.
//!
//! Row numbers: the header is row 0, the first data record row 1 (blank and bad records count), so
//! for files without line breaks inside quoted fields, row N is line N + 1.
//!
//! JSON lines ([`scan_ndjson`]): one record a line, row N is line N; a line that is not a JSON
//! object is `bad_json`, one that is not UTF-8 `bad_encoding`, an all-whitespace line blank.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;

/// Read size per step.
const CHUNK: usize = 4 << 20;
/// A record longer than this is a broken file (an unterminated quote), not data.
pub const MAX_RECORD: usize = 64 << 20;
/// Raw text of a bad record kept in rejects is cut after this many bytes.
pub const MAX_RAW: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
pub struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: b'"',
        }
    }
}

/// A record that cannot be read as a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub row: u64,
    pub reason: &'static str,
    pub message: String,
    pub raw: String,
    /// The header name of the field where the problem is, when it lies in one field (a quote
    /// inside an unquoted field, text after a closing quote, bytes that are not UTF-8); `None`
    /// for problems of the whole record (a wrong field count, a quote never closed).
    pub column: Option<String>,
}

/// What [`scan`] found.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    pub sha256: String,
    pub bytes: u64,
    pub header: Vec<String>,
    /// Data records (every row after the header: good, bad and blank).
    pub records: u64,
    pub bad: Vec<BadRecord>,
    pub blank: Vec<u64>,
    /// Byte ranges of consecutive data records `(start, end, rows)`, at most `chunk_rows` rows
    /// each, covering every data record. A reader can parse each range on its own, so memory
    /// stays bounded. (Valid for reading only when no record was bad or blank: otherwise read
    /// the clean copy, whose ranges [`write_clean`] returns.)
    pub chunks: Vec<(u64, u64, u64)>,
}

/// Groups consecutive records into byte ranges of at most `per` records.
struct Chunker {
    per: u64,
    out: Vec<(u64, u64, u64)>,
    start: u64,
    rows: u64,
}

impl Chunker {
    fn new(per: u64) -> Self {
        Chunker { per: per.max(1), out: Vec::new(), start: 0, rows: 0 }
    }
    fn add(&mut self, start: u64, len: u64) {
        if self.rows == 0 {
            self.start = start;
        }
        self.rows += 1;
        if self.rows == self.per {
            self.out.push((self.start, start + len, self.rows));
            self.rows = 0;
        }
    }
    fn finish(mut self, end: u64) -> Vec<(u64, u64, u64)> {
        if self.rows > 0 {
            self.out.push((self.start, end, self.rows));
        }
        self.out
    }
}

impl Scan {
    /// Rows polars must not see (bad and blank), sorted.
    pub fn removed(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .bad
            .iter()
            .map(|b| b.row)
            .chain(self.blank.iter().copied())
            .collect();
        v.sort_unstable();
        v
    }
}

#[derive(Debug)]
pub enum ScanError {
    Io(io::Error),
    /// The file cannot be read as CSV at all (message names the row).
    Structure(String),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Io(e) => write!(f, "{e}"),
            ScanError::Structure(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// The verdict on one record.
enum Verdict {
    Good,
    Blank,
    /// reason, message, 0-based index of the field at fault (when one field is)
    Bad(&'static str, String, Option<usize>),
}

/// Parse one complete record (without its line ending): field count, or a quoting problem
/// with the 0-based index of the field it is in (`None` for a quote never closed).
fn fields_of(rec: &[u8], d: Dialect) -> Result<usize, (String, Option<usize>)> {
    let mut n = 1usize;
    let mut i = 0usize;
    let len = rec.len();
    loop {
        // at the start of a field
        if i < len && rec[i] == d.quote {
            i += 1;
            loop {
                match memchr::memchr(d.quote, &rec[i..]) {
                    None => return Err(("unterminated quoted field".into(), None)),
                    Some(k) => {
                        i += k + 1;
                        if i < len && rec[i] == d.quote {
                            i += 1; // escaped quote
                            continue;
                        }
                        break;
                    }
                }
            }
            if i == len {
                return Ok(n);
            }
            if rec[i] != d.delimiter {
                return Err((format!("text after a closing quote in field {n}"), Some(n - 1)));
            }
            i += 1;
            n += 1;
        } else {
            match memchr::memchr2(d.delimiter, d.quote, &rec[i..]) {
                None => return Ok(n),
                Some(k) => {
                    i += k;
                    if rec[i] == d.quote {
                        return Err((
                            format!("a quote inside unquoted field {n} (quote the whole field and double inner quotes)"),
                            Some(n - 1),
                        ));
                    }
                    i += 1;
                    n += 1;
                }
            }
        }
    }
}

/// The 0-based index of the field that holds byte `pos` of a well-quoted record.
fn field_at(rec: &[u8], d: Dialect, pos: usize) -> usize {
    let mut field = 0usize;
    let mut inq = false;
    for &c in &rec[..pos.min(rec.len())] {
        if c == d.quote {
            inq = !inq; // a doubled quote toggles twice
        } else if c == d.delimiter && !inq {
            field += 1;
        }
    }
    field
}

/// Split the header into names (quotes removed).
fn header_names(rec: &[u8], d: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut inq = false;
    let mut i = 0;
    while i < rec.len() {
        let c = rec[i];
        if inq {
            if c == d.quote {
                if i + 1 < rec.len() && rec[i + 1] == d.quote {
                    cur.push(c);
                    i += 1;
                } else {
                    inq = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == d.quote {
            inq = true;
        } else if c == d.delimiter {
            out.push(String::from_utf8_lossy(&cur).into_owned());
            cur.clear();
        } else {
            cur.push(c);
        }
        i += 1;
    }
    out.push(String::from_utf8_lossy(&cur).into_owned());
    out
}

fn raw_text(rec: &[u8]) -> String {
    if rec.len() > MAX_RAW {
        format!(
            "{}… ({} bytes, cut)",
            String::from_utf8_lossy(&rec[..MAX_RAW]),
            rec.len()
        )
    } else {
        String::from_utf8_lossy(rec).into_owned()
    }
}

/// Walk the records of a file: `on_record(row, bytes_with_line_ending, verdict)`; row 0 is the header.
/// Records are given in order and back to back, after a byte order mark if the file has one.
/// Returns (sha256 hex, total bytes, length of the byte order mark: 0 or 3).
fn walk<F>(
    path: &Path,
    d: Dialect,
    header_fields: &mut usize,
    mut on_record: F,
) -> Result<(String, u64, u64), ScanError>
where
    F: FnMut(u64, &[u8], &Verdict) -> Result<(), ScanError>,
{
    let mut bom = 0u64;
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    let mut total: u64 = 0;
    let mut row: u64 = 0;
    let mut eof = false;
    let mut first = true;
    // scanning state that survives chunk boundaries: position to resume quote tracking, and
    // whether we are inside quotes at that position
    let mut scan_pos = 0usize;
    let mut inq = false;
    let mut at_start = true;
    while !eof {
        let start_len = buf.len();
        buf.resize(start_len + CHUNK, 0);
        let n = read_full(&mut f, &mut buf[start_len..])?;
        buf.truncate(start_len + n);
        if n == 0 {
            eof = true;
        } else {
            hasher.update(&buf[start_len..]);
            total += n as u64;
        }
        if first && buf.len() >= 3 && buf[..3] == [0xEF, 0xBB, 0xBF] {
            buf.drain(..3);
            bom = 3;
            scan_pos = 0;
        }
        if first && (buf.len() >= 3 || eof) {
            first = false;
        }
        // cut complete records out of buf. A quote opens a quoted field only at the start of a
        // field (elsewhere it is a literal, and `fields_of` marks the record bad), so one stray
        // quote cannot swallow the records after it.
        let mut rec_start = 0usize;
        let mut i = scan_pos;
        let len = buf.len();
        let (q, dl) = (d.quote, d.delimiter);
        while i < len {
            if inq {
                match memchr::memchr(q, &buf[i..]) {
                    None => {
                        i = len;
                    }
                    Some(k) => {
                        let j = i + k;
                        if j + 1 == len && !eof {
                            // is it `""`? decide when the next chunk is here
                            i = j;
                            break;
                        }
                        if j + 1 < len && buf[j + 1] == q {
                            i = j + 2; // escaped quote, still inside
                        } else {
                            inq = false;
                            at_start = false;
                            i = j + 1;
                        }
                    }
                }
            } else {
                match memchr::memchr3(b'\n', q, dl, &buf[i..]) {
                    None => {
                        at_start = false;
                        i = len;
                    }
                    Some(k) => {
                        let j = i + k;
                        let c = buf[j];
                        if c == dl {
                            at_start = true;
                        } else if c == q {
                            if at_start && k == 0 {
                                inq = true;
                            }
                            at_start = false;
                        } else {
                            // end of record at j
                            let rec = &buf[rec_start..=j];
                            emit(row, rec, d, header_fields, &mut on_record)?;
                            row += 1;
                            rec_start = j + 1;
                            at_start = true;
                        }
                        i = j + 1;
                    }
                }
            }
        }
        if eof {
            if rec_start < len {
                let rec = &buf[rec_start..len];
                if inq {
                    // an unterminated quote swallowed the rest of the file
                    let v = Verdict::Bad(
                        "bad_quoting",
                        format!("a quoted field opened here is never closed; the rest of the file ({} bytes) is this one record", rec.len()),
                        None,
                    );
                    if row == 0 {
                        return Err(ScanError::Structure(
                            "the header has an unterminated quote".into(),
                        ));
                    }
                    on_record(row, rec, &v)?;
                } else {
                    emit(row, rec, d, header_fields, &mut on_record)?;
                }
            }
            break;
        }
        if len - rec_start > MAX_RECORD {
            return Err(ScanError::Structure(format!(
                "row {row}: a record runs for more than {} MB (an unterminated quote?); fix the file",
                MAX_RECORD >> 20
            )));
        }
        buf.drain(..rec_start);
        scan_pos = i - rec_start;
    }
    Ok((hex(&hasher.finalize()), total, bom))
}

fn emit<F>(
    row: u64,
    rec: &[u8],
    d: Dialect,
    header_fields: &mut usize,
    on_record: &mut F,
) -> Result<(), ScanError>
where
    F: FnMut(u64, &[u8], &Verdict) -> Result<(), ScanError>,
{
    let body = strip_eol(rec);
    if row == 0 {
        *header_fields =
            fields_of(body, d).map_err(|(e, _)| ScanError::Structure(format!("header: {e}")))?;
        if std::str::from_utf8(body).is_err() {
            return Err(ScanError::Structure(
                "the header is not UTF-8 (give --encoding)".into(),
            ));
        }
        return on_record(row, rec, &Verdict::Good);
    }
    let v = if body.iter().all(|c| c.is_ascii_whitespace()) {
        Verdict::Blank
    } else {
        match fields_of(body, d) {
            Err((e, field)) => Verdict::Bad("bad_quoting", e, field),
            Ok(n) if n != *header_fields => Verdict::Bad(
                "wrong_field_count",
                format!("{n} fields where the header has {}", *header_fields),
                None,
            ),
            Ok(_) => match std::str::from_utf8(body) {
                Ok(_) => Verdict::Good,
                Err(e) => Verdict::Bad(
                    "bad_encoding",
                    format!("bytes that are not UTF-8 at byte {} of the row (is the file latin1? give --encoding)", e.valid_up_to() + 1),
                    Some(field_at(body, d, e.valid_up_to())),
                ),
            },
        }
    };
    on_record(row, rec, &v)
}

fn strip_eol(rec: &[u8]) -> &[u8] {
    let mut r = rec;
    if r.last() == Some(&b'\n') {
        r = &r[..r.len() - 1];
        if r.last() == Some(&b'\r') {
            r = &r[..r.len() - 1];
        }
    }
    r
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Scan a CSV file: fingerprint, header, row count, bad and blank records, byte ranges of
/// `chunk_rows` records.
pub fn scan(path: &Path, d: Dialect, chunk_rows: u64) -> Result<Scan, ScanError> {
    let mut out = Scan::default();
    let mut header_fields = 0usize;
    let mut header = Vec::new();
    let mut chunker = Chunker::new(chunk_rows);
    let mut pos = 0u64; // offset of the record, after any byte order mark
    let (sha, bytes, bom) = walk(path, d, &mut header_fields, |row, rec, v| {
        let start = pos;
        pos += rec.len() as u64;
        if row == 0 {
            header = header_names(strip_eol(rec), d);
            return Ok(());
        }
        chunker.add(start, rec.len() as u64);
        out.records += 1;
        match v {
            Verdict::Good => {}
            Verdict::Blank => out.blank.push(row),
            Verdict::Bad(reason, message, field) => out.bad.push(BadRecord {
                row,
                reason,
                message: message.clone(),
                raw: raw_text(strip_eol(rec)),
                column: field.and_then(|f| header.get(f).cloned()),
            }),
        }
        Ok(())
    })?;
    out.sha256 = sha;
    out.bytes = bytes;
    out.header = header;
    out.chunks = chunker.finish(pos).into_iter().map(|(a, b, n)| (a + bom, b + bom, n)).collect();
    Ok(out)
}

/// Copy `src` to `dst` without the rows in `drop` (sorted, no byte order mark); returns the rows
/// written (without the header) and the byte ranges of `chunk_rows` records in the copy.
pub fn write_clean(
    src: &Path,
    dst: &Path,
    d: Dialect,
    drop: &[u64],
    chunk_rows: u64,
) -> Result<(u64, Vec<(u64, u64, u64)>), ScanError> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(dst)?);
    let mut k = 0usize;
    let mut kept = 0u64;
    let mut header_fields = 0usize;
    let mut chunker = Chunker::new(chunk_rows);
    let mut pos = 0u64;
    walk(src, d, &mut header_fields, |row, rec, _| {
        while k < drop.len() && drop[k] < row {
            k += 1;
        }
        if row > 0 && k < drop.len() && drop[k] == row {
            return Ok(());
        }
        let mut len = rec.len() as u64;
        w.write_all(rec)?;
        if rec.last() != Some(&b'\n') {
            w.write_all(b"\n")?;
            len += 1;
        }
        if row > 0 {
            kept += 1;
            chunker.add(pos, len);
        }
        pos += len;
        Ok(())
    })?;
    w.flush()?;
    Ok((kept, chunker.finish(pos)))
}

/// Deepest nesting a JSON lines record may have (polars' reader gives up at 1024).
pub const MAX_JSON_DEPTH: usize = 512;

/// The deepest nesting of arrays and objects in a JSON text (strings skipped).
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &c in body {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Scan a JSON lines file: fingerprint, row count, bad and blank lines, the top-level keys in
/// the order first seen (as `header`), byte ranges of `chunk_rows` lines.
pub fn scan_ndjson(path: &Path, chunk_rows: u64) -> Result<Scan, ScanError> {
    let mut out = Scan::default();
    let mut chunker = Chunker::new(chunk_rows);
    let mut keys: std::collections::HashSet<String> = Default::default();
    let mut pos = 0u64;
    let mut hasher = Sha256::new();
    let mut r = io::BufReader::with_capacity(CHUNK, File::open(path)?);
    let mut line = Vec::with_capacity(4096);
    let mut row = 0u64;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        hasher.update(&line);
        out.bytes += n as u64;
        row += 1;
        let mut start = pos;
        pos += n as u64;
        let mut body = strip_eol(&line);
        if row == 1 && body.starts_with(&[0xEF, 0xBB, 0xBF]) {
            body = &body[3..];
            start += 3;
        }
        chunker.add(start, pos - start);
        if body.iter().all(|c| c.is_ascii_whitespace()) {
            out.blank.push(row);
            continue;
        }
        let bad = if let Err(e) = std::str::from_utf8(body) {
            Some((
                "bad_encoding",
                format!(
                    "bytes that are not UTF-8 at byte {} of the line",
                    e.valid_up_to() + 1
                ),
            ))
        } else if body.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'{') {
            Some(("bad_json", "the line is not a JSON object".to_string()))
        } else if json_depth(body) > MAX_JSON_DEPTH {
            // the reader that follows refuses deep nesting for the whole file: a row reject here
            Some(("bad_json", format!("nested deeper than {MAX_JSON_DEPTH} levels")))
        } else {
            match serde_json::from_slice::<std::collections::HashMap<String, serde::de::IgnoredAny>>(body) {
                Err(e) => Some(("bad_json", format!("not valid JSON: {e}"))),
                Ok(m) => {
                    // keys in the order first seen (a map's own order is arbitrary: sort new ones)
                    let mut new: Vec<String> = m.into_keys().filter(|k| !keys.contains(k)).collect();
                    new.sort();
                    for k in new {
                        keys.insert(k.clone());
                        out.header.push(k);
                    }
                    None
                }
            }
        };
        if let Some((reason, message)) = bad {
            out.bad.push(BadRecord {
                row,
                reason,
                message,
                raw: raw_text(body),
                column: None,
            });
        }
    }
    out.records = row;
    out.sha256 = hex(&hasher.finalize());
    out.chunks = chunker.finish(pos);
    Ok(out)
}

/// Copy a JSON lines file without the given lines (1-based, sorted); returns the lines written
/// and the byte ranges of `chunk_rows` lines in the copy.
pub fn write_clean_lines(
    src: &Path,
    dst: &Path,
    drop: &[u64],
    chunk_rows: u64,
) -> Result<(u64, Vec<(u64, u64, u64)>), ScanError> {
    let mut chunker = Chunker::new(chunk_rows);
    let mut pos = 0u64;
    let mut r = io::BufReader::with_capacity(CHUNK, File::open(src)?);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(dst)?);
    let mut line = Vec::with_capacity(4096);
    let (mut row, mut k, mut kept) = (0u64, 0usize, 0u64);
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        row += 1;
        while k < drop.len() && drop[k] < row {
            k += 1;
        }
        if k < drop.len() && drop[k] == row {
            continue;
        }
        let mut body: &[u8] = &line;
        if row == 1 && body.starts_with(&[0xEF, 0xBB, 0xBF]) {
            body = &body[3..];
        }
        let mut len = body.len() as u64;
        w.write_all(body)?;
        if body.last() != Some(&b'\n') {
            w.write_all(b"\n")?;
            len += 1;
        }
        chunker.add(pos, len);
        pos += len;
        kept += 1;
    }
    w.flush()?;
    Ok((kept, chunker.finish(pos)))
}

/// SHA-256 of a file's bytes, hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, data: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("segtui-csvscan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    #[test]
    fn finds_bad_and_blank_records_with_row_numbers() {
        let data = b"\xEF\xBB\xBFa,b,c\r\n1,2,3\r\n\r\n4,5\n\"x\ny\",,z\n6,x\"y,9\n\"q\"\"r\",s,t\n7,8,9,10\n   \n\"a\"b,1,2\n8,\xff,9\n10,11,12";
        let p = tmp("bad.csv", data);
        let s = scan(&p, Dialect::default(), 3).unwrap();
        assert_eq!(s.header, vec!["a", "b", "c"]);
        assert_eq!(s.records, 11);
        assert_eq!(s.blank, vec![2, 8]);
        let bad: Vec<(u64, &str)> = s.bad.iter().map(|b| (b.row, b.reason)).collect();
        assert_eq!(
            bad,
            vec![
                (3, "wrong_field_count"),
                (5, "bad_quoting"),
                (7, "wrong_field_count"),
                (9, "bad_quoting"),
                (10, "bad_encoding")
            ]
        );
        assert_eq!(s.bad[0].raw, "4,5");
        assert_eq!(s.sha256, sha256_file(&p).unwrap());
        assert_eq!(s.bytes, data.len() as u64);
        let out = p.with_extension("clean.csv");
        let (kept, chunks) = write_clean(&p, &out, Dialect::default(), &s.removed(), 3).unwrap();
        assert_eq!(kept, 4);
        let clean = std::fs::read(&out).unwrap();
        assert_eq!(clean, b"a,b,c\r\n1,2,3\r\n\"x\ny\",,z\n\"q\"\"r\",s,t\n10,11,12\n");
        // byte ranges of at most 3 records each, back to back after the header
        let text = |c: (u64, u64, u64)| String::from_utf8(clean[c.0 as usize..c.1 as usize].to_vec()).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!((text(chunks[0]), chunks[0].2), ("1,2,3\r\n\"x\ny\",,z\n\"q\"\"r\",s,t\n".to_string(), 3));
        assert_eq!((text(chunks[1]), chunks[1].2), ("10,11,12\n".to_string(), 1));
        // the original's ranges cover all 11 data records, after the byte order mark and header
        assert_eq!(s.chunks.iter().map(|c| c.2).sum::<u64>(), 11);
        assert_eq!(s.chunks[0].0, 3 + 7);
        assert_eq!(&data[s.chunks[0].0 as usize..s.chunks[0].1 as usize], b"1,2,3\r\n\r\n4,5\n");
        assert_eq!(s.chunks.last().unwrap().1, data.len() as u64);
    }

    #[test]
    fn unterminated_quote_is_one_bad_record() {
        let p = tmp("unterminated.csv", b"a,b\n1,2\n\"3,4\n5,6\n");
        let s = scan(&p, Dialect::default(), 100).unwrap();
        assert_eq!(s.records, 2);
        assert_eq!(s.bad.len(), 1);
        assert_eq!((s.bad[0].row, s.bad[0].reason), (2, "bad_quoting"));
    }

    #[test]
    fn records_across_chunk_boundaries() {
        // many rows with long quoted fields containing newlines, crossing the 4 MB reads
        let mut data = b"id;text\n".to_vec();
        let long = "x".repeat(1000);
        for i in 0..5_000 {
            data.extend_from_slice(format!("{i};\"{long}\n\"\"{i}\"\"\"\n").as_bytes());
        }
        let p = tmp("chunks.csv", &data);
        let s = scan(
            &p,
            Dialect {
                delimiter: b';',
                quote: b'"',
            },
            1000,
        )
        .unwrap();
        assert_eq!(s.records, 5_000);
        assert_eq!(s.chunks.len(), 5);
        for w in s.chunks.windows(2) {
            assert_eq!(w[0].1, w[1].0);
            // each range starts at a record: after a line end, at the id
            assert_eq!(data[w[1].0 as usize - 1], b'\n');
            assert!(data[w[1].0 as usize].is_ascii_digit());
        }
        assert!(
            s.bad.is_empty() && s.blank.is_empty(),
            "{:?}",
            s.bad.first()
        );
        // with the wrong delimiter the quotes are mid-field, so they are literal: every line is a
        // record, and a bad one
        let s2 = scan(&p, Dialect::default(), 1000).unwrap();
        assert_eq!((s2.records, s2.bad.len()), (10_000, 10_000));
    }

    #[test]
    fn ndjson_lines() {
        let p = tmp(
            "a.jsonl",
            b"{\"a\": 1}\n\n{\"a\": 2,,}\n[1]\n{\"a\": \"\xff\"}\n{\"a\": 3}",
        );
        let s = scan_ndjson(&p, 2).unwrap();
        assert_eq!(s.records, 6);
        assert_eq!(s.header, vec!["a"]);
        assert_eq!(s.chunks.iter().map(|c| c.2).collect::<Vec<_>>(), vec![2, 2, 2]);
        assert_eq!(s.blank, vec![2]);
        let bad: Vec<(u64, &str)> = s.bad.iter().map(|b| (b.row, b.reason)).collect();
        assert_eq!(
            bad,
            vec![(3, "bad_json"), (4, "bad_json"), (5, "bad_encoding")]
        );
        let out = p.with_extension("clean.jsonl");
        let (kept, chunks) = write_clean_lines(&p, &out, &s.removed(), 1).unwrap();
        assert_eq!(kept, 2);
        assert_eq!(std::fs::read(&out).unwrap(), b"{\"a\": 1}\n{\"a\": 3}\n");
        assert_eq!(chunks, vec![(0, 9, 1), (9, 18, 1)]);
    }

    #[test]
    fn header_only_and_empty_files() {
        let s = scan(&tmp("h.csv", b"a,b\n"), Dialect::default(), 10).unwrap();
        assert_eq!((s.records, s.header.len(), s.chunks.len()), (0, 2, 0));
        let s = scan(&tmp("e.csv", b""), Dialect::default(), 10).unwrap();
        assert_eq!((s.records, s.header.len()), (0, 0));
    }

    #[test]
    fn the_field_at_fault_is_named_when_there_is_one() {
        let dir = std::env::temp_dir().join(format!("segtui-csvscan-col-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.csv");
        std::fs::write(
            &p,
            b"id,\"na,me\",amount\n1,\"x,y\",2\"0\n2,a\"b,3\n3,\"q\"z,4\n4,caf\xe9,5\n5,\"ok\",6,7\n6,\"never closed,8\n",
        )
        .unwrap();
        let s = scan(&p, Dialect { delimiter: b',', quote: b'"' }, 100).unwrap();
        let got: Vec<(u64, &str, Option<&str>)> = s.bad.iter().map(|b| (b.row, b.reason, b.column.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (1, "bad_quoting", Some("amount")),
                (2, "bad_quoting", Some("na,me")),
                (3, "bad_quoting", Some("na,me")),
                (4, "bad_encoding", Some("na,me")),
                (5, "wrong_field_count", None),
                (6, "bad_quoting", None),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
