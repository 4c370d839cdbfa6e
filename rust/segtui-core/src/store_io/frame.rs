//! Fixed queries read into typed, nullable columns in Arrow layout.
//!
//! The listings and the TUI need whole snapshots (a million rows) as data frames; going through
//! a Python driver builds a tuple per row and is far too slow. [`read_columns`] steps the
//! statement in Rust and appends each value to its column: `i64` and `f64` vectors with an Arrow
//! validity bitmap (bit set = value present; dropped when there are no nulls), text as Arrow
//! `large_string` buffers (`i64` offsets + UTF-8 bytes). The Python side wraps the buffers as
//! Arrow arrays without copying them.
//!
//! The SQL text always comes from segtui's own code; user values travel as bound parameters.

use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use super::{Result, SqlContext, StoreIoError};

/// The type a result column is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColKind {
    /// 64-bit integer (NULL allowed).
    Int,
    /// 64-bit float; integer values are converted (NULL allowed).
    Real,
    /// UTF-8 text (NULL allowed).
    Text,
}

/// A column's values (NULL slots hold 0 / 0.0 / the empty string).
#[derive(Clone, Debug, PartialEq)]
pub enum ColData {
    I64(Vec<i64>),
    F64(Vec<f64>),
    /// Arrow `large_string`: `offsets.len() == len + 1`.
    Text { offsets: Vec<i64>, data: Vec<u8> },
}

/// One result column.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameColumn {
    pub name: String,
    pub data: ColData,
    /// Arrow validity bitmap (LSB first), `None` when the column has no NULL.
    pub validity: Option<Vec<u8>>,
    pub len: usize,
    pub null_count: usize,
}

impl FrameColumn {
    /// Whether row `i` holds a value.
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity.as_ref().is_none_or(|v| v[i >> 3] >> (i & 7) & 1 == 1)
    }

    pub fn i64(&self, i: usize) -> Option<i64> {
        match &self.data {
            ColData::I64(v) if self.is_valid(i) => Some(v[i]),
            _ => None,
        }
    }

    pub fn f64(&self, i: usize) -> Option<f64> {
        match &self.data {
            ColData::F64(v) if self.is_valid(i) => Some(v[i]),
            _ => None,
        }
    }

    pub fn text(&self, i: usize) -> Option<&str> {
        match &self.data {
            ColData::Text { offsets, data } if self.is_valid(i) => {
                std::str::from_utf8(&data[offsets[i] as usize..offsets[i + 1] as usize]).ok()
            }
            _ => None,
        }
    }
}

struct Builder {
    data: ColData,
    bits: Vec<u8>,
    len: usize,
    nulls: usize,
}

impl Builder {
    fn new(kind: ColKind, cap: usize) -> Self {
        let data = match kind {
            ColKind::Int => ColData::I64(Vec::with_capacity(cap)),
            ColKind::Real => ColData::F64(Vec::with_capacity(cap)),
            ColKind::Text => {
                let mut offsets = Vec::with_capacity(cap + 1);
                offsets.push(0);
                ColData::Text { offsets, data: Vec::new() }
            }
        };
        Builder { data, bits: Vec::with_capacity(cap / 8 + 1), len: 0, nulls: 0 }
    }

    #[inline]
    fn valid(&mut self, ok: bool) {
        if self.len & 7 == 0 {
            self.bits.push(0);
        }
        if ok {
            *self.bits.last_mut().unwrap() |= 1 << (self.len & 7);
        } else {
            self.nulls += 1;
        }
        self.len += 1;
    }

    /// Append one value; `Err(())` on a type the column cannot hold.
    #[inline]
    fn push(&mut self, v: ValueRef<'_>) -> std::result::Result<(), ()> {
        let ok = !matches!(v, ValueRef::Null);
        match (&mut self.data, v) {
            (ColData::I64(c), ValueRef::Integer(x)) => c.push(x),
            (ColData::I64(c), ValueRef::Null) => c.push(0),
            (ColData::F64(c), ValueRef::Real(x)) => c.push(x),
            (ColData::F64(c), ValueRef::Integer(x)) => c.push(x as f64),
            (ColData::F64(c), ValueRef::Null) => c.push(0.0),
            (ColData::Text { offsets, data }, ValueRef::Text(t)) => {
                data.extend_from_slice(t);
                offsets.push(data.len() as i64);
            }
            (ColData::Text { offsets, data }, ValueRef::Null) => offsets.push(data.len() as i64),
            _ => return Err(()),
        }
        self.valid(ok);
        Ok(())
    }

    fn finish(self, name: String) -> Result<FrameColumn> {
        if let ColData::Text { data, .. } = &self.data {
            std::str::from_utf8(data)
                .map_err(|_| StoreIoError::Data(format!("column {name}: text is not valid UTF-8")))?;
        }
        Ok(FrameColumn {
            name,
            data: self.data,
            validity: (self.nulls > 0).then_some(self.bits),
            len: self.len,
            null_count: self.nulls,
        })
    }
}

fn kind_name(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// Run `sql` with `params` and read every row into columns of the given kinds (one per result
/// column, in order). `capacity` is a row-count hint.
pub fn read_columns(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    kinds: &[ColKind],
    capacity: usize,
) -> Result<Vec<FrameColumn>> {
    let mut stmt = conn.prepare(sql).ctx("preparing a listing query")?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    if names.len() != kinds.len() {
        return Err(StoreIoError::Data(format!(
            "listing query returns {} columns, {} kinds given",
            names.len(),
            kinds.len()
        )));
    }
    if stmt.parameter_count() != params.len() {
        return Err(StoreIoError::Data(format!(
            "listing query takes {} parameters, {} given",
            stmt.parameter_count(),
            params.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, p).ctx("binding a listing parameter")?;
    }
    let mut cols: Vec<Builder> = kinds.iter().map(|&k| Builder::new(k, capacity)).collect();
    let mut rows = stmt.raw_query();
    let mut n = 0usize;
    while let Some(row) = rows.next().ctx("reading a listing")? {
        for (i, b) in cols.iter_mut().enumerate() {
            let v = row.get_ref_unwrap(i);
            if b.push(v).is_err() {
                return Err(StoreIoError::Data(format!(
                    "listing row {}: column {} holds {} where {:?} was expected",
                    n + 1,
                    names[i],
                    kind_name(v),
                    kinds[i]
                )));
            }
        }
        n += 1;
    }
    cols.into_iter().zip(names).map(|(b, name)| b.finish(name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typed_nullable_columns() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t(a INTEGER, b REAL, c TEXT);
             INSERT INTO t VALUES (1, 1.5, 'x'), (NULL, 2, NULL), (3, NULL, 'héllo');",
        )
        .unwrap();
        let cols = read_columns(
            &conn,
            "SELECT a, b, c FROM t WHERE a IS NULL OR a >= ?1 ORDER BY rowid",
            &[Value::Integer(0)],
            &[ColKind::Int, ColKind::Real, ColKind::Text],
            0,
        )
        .unwrap();
        assert_eq!(cols[0].len, 3);
        assert_eq!((cols[0].i64(0), cols[0].i64(1), cols[0].i64(2)), (Some(1), None, Some(3)));
        assert_eq!((cols[1].f64(0), cols[1].f64(1), cols[1].f64(2)), (Some(1.5), Some(2.0), None));
        assert_eq!((cols[2].text(0), cols[2].text(1), cols[2].text(2)), (Some("x"), None, Some("héllo")));
        assert_eq!(cols[2].null_count, 1);
        assert_eq!(cols[0].name, "a");
    }

    #[test]
    fn wrong_types_name_the_row_and_column() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1), ('two');").unwrap();
        let e = read_columns(&conn, "SELECT a FROM t ORDER BY rowid", &[], &[ColKind::Int], 0).unwrap_err();
        assert_eq!(e.to_string(), "listing row 2: column a holds text where Int was expected");
    }

    #[test]
    fn no_nulls_means_no_bitmap() {
        let conn = Connection::open_in_memory().unwrap();
        let cols = read_columns(&conn, "SELECT 1 AS x UNION ALL SELECT 2", &[], &[ColKind::Int], 0).unwrap();
        assert!(cols[0].validity.is_none());
        assert_eq!(cols[0].data, ColData::I64(vec![1, 2]));
    }
}
