//! Migration between two snapshots A and B over one segment map.
//!
//! Rows are A's segments plus [`NEW`] (accounts in B that are not in A); columns are B's
//! segments plus [`GONE`] (accounts in A that are not in B). Every account of either snapshot
//! lands in exactly one cell, so:
//! - the row sums are A's segment sizes, and the `(new)` row is the count of new accounts;
//! - the column sums are B's segment sizes, and the `(gone)` column the count of gone ones;
//! - revenue in A summed over all cells is A's total (new accounts have 0 revenue in A), and
//!   revenue in B summed is B's total (gone accounts have 0 revenue in B).

use std::path::Path;

use super::maps::{canonical_order, map_spec, MapSpec, GONE, NEW};
use super::packed::read_map;
use super::snapcols::{apply_held, open_read, read_held, Labels, SnapCols};
use super::{HistoryError, Result};

/// One side of a migration: account ids ascending, segment codes, revenue.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub account: &'a [u32],
    pub code: &'a [u16],
    pub revenue: &'a [i64],
}

impl<'a> Side<'a> {
    pub fn of(cols: &'a SnapCols, which: usize) -> Self {
        Side { account: &cols.account, code: &cols.codes[which], revenue: &cols.revenue }
    }
}

/// The from × to matrix. Cell `(i, j)` is at `i * size + j` with `size = labels.len() + 1`:
/// row index `labels.len()` is `(new)`, column index `labels.len()` is `(gone)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matrix {
    /// Segment labels in canonical order (the union of A's and B's).
    pub labels: Vec<String>,
    pub accounts: Vec<i64>,
    pub revenue_a: Vec<i64>,
    pub revenue_b: Vec<i64>,
}

/// One non-empty cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub from: String,
    pub to: String,
    pub accounts: i64,
    pub revenue_a: i64,
    pub revenue_b: i64,
}

impl Matrix {
    pub fn size(&self) -> usize {
        self.labels.len() + 1
    }

    /// The label of row `i` (`(new)` for the last).
    pub fn row_label(&self, i: usize) -> &str {
        self.labels.get(i).map(|s| s.as_str()).unwrap_or(NEW)
    }

    /// The label of column `j` (`(gone)` for the last).
    pub fn col_label(&self, j: usize) -> &str {
        self.labels.get(j).map(|s| s.as_str()).unwrap_or(GONE)
    }

    /// Non-empty cells, row-major in canonical order.
    pub fn cells(&self) -> Vec<Cell> {
        let n = self.size();
        let mut out = Vec::new();
        for i in 0..n {
            for j in 0..n {
                let k = i * n + j;
                if self.accounts[k] != 0 {
                    out.push(Cell {
                        from: self.row_label(i).to_string(),
                        to: self.col_label(j).to_string(),
                        accounts: self.accounts[k],
                        revenue_a: self.revenue_a[k],
                        revenue_b: self.revenue_b[k],
                    });
                }
            }
        }
        out
    }

    /// Rows with at least one account (A's segments, then `(new)` when any).
    pub fn row_labels(&self) -> Vec<String> {
        let n = self.size();
        (0..n)
            .filter(|&i| (0..n).any(|j| self.accounts[i * n + j] != 0))
            .map(|i| self.row_label(i).to_string())
            .collect()
    }

    /// Columns with at least one account (B's segments, then `(gone)` when any).
    pub fn col_labels(&self) -> Vec<String> {
        let n = self.size();
        (0..n)
            .filter(|&j| (0..n).any(|i| self.accounts[i * n + j] != 0))
            .map(|j| self.col_label(j).to_string())
            .collect()
    }
}

/// Walk two account-ordered sides together, calling `f(from, to, rev_a, rev_b, account)` for
/// every account of either side, with `None` for the side it is missing from.
fn merge<F: FnMut(Option<u16>, Option<u16>, i64, i64, u32)>(a: Side<'_>, b: Side<'_>, mut f: F) {
    let (mut i, mut j) = (0, 0);
    let (na, nb) = (a.account.len(), b.account.len());
    let ra = |i: usize| if a.revenue.is_empty() { 0 } else { a.revenue[i] };
    let rb = |j: usize| if b.revenue.is_empty() { 0 } else { b.revenue[j] };
    while i < na || j < nb {
        if j >= nb || (i < na && a.account[i] < b.account[j]) {
            f(Some(a.code[i]), None, ra(i), 0, a.account[i]);
            i += 1;
        } else if i >= na || b.account[j] < a.account[i] {
            f(None, Some(b.code[j]), 0, rb(j), b.account[j]);
            j += 1;
        } else {
            f(Some(a.code[i]), Some(b.code[j]), ra(i), rb(j), a.account[i]);
            i += 1;
            j += 1;
        }
    }
}

fn check_sorted(side: &Side<'_>, name: &str) -> Result<()> {
    if side.account.windows(2).any(|w| w[0] >= w[1]) {
        return Err(HistoryError::Invalid(format!("snapshot {name}: accounts are not strictly ascending")));
    }
    if side.code.len() != side.account.len() || (!side.revenue.is_empty() && side.revenue.len() != side.account.len()) {
        return Err(HistoryError::Invalid(format!("snapshot {name}: columns differ in length")));
    }
    Ok(())
}

/// The matrix of two sides whose codes index `labels` (one label space for both), with rows
/// and columns in the canonical order of `order`.
pub fn matrix(a: Side<'_>, b: Side<'_>, labels: &Labels, order: &[&str]) -> Result<Matrix> {
    check_sorted(&a, "A")?;
    check_sorted(&b, "B")?;
    let perm = canonical_order(order, labels.names());
    let l = perm.len();
    let mut pos = vec![0usize; l];
    for (new, &old) in perm.iter().enumerate() {
        pos[old] = new;
    }
    let n = l + 1;
    let mut m = Matrix {
        labels: perm.iter().map(|&i| labels.names()[i].clone()).collect(),
        accounts: vec![0; n * n],
        revenue_a: vec![0; n * n],
        revenue_b: vec![0; n * n],
    };
    merge(a, b, |from, to, ra, rb, _| {
        let i = from.map(|c| pos[c as usize]).unwrap_or(l);
        let j = to.map(|c| pos[c as usize]).unwrap_or(l);
        let k = i * n + j;
        m.accounts[k] += 1;
        m.revenue_a[k] += ra;
        m.revenue_b[k] += rb;
    });
    Ok(m)
}

/// The accounts of one cell: `from`/`to` are codes, `None` meaning `(new)` / `(gone)`.
/// Returns `(account, revenue_a, revenue_b)` columns in account order.
pub fn cell_accounts(
    a: Side<'_>,
    b: Side<'_>,
    from: Option<u16>,
    to: Option<u16>,
) -> Result<(Vec<u32>, Vec<i64>, Vec<i64>)> {
    check_sorted(&a, "A")?;
    check_sorted(&b, "B")?;
    let (mut acc, mut ra_out, mut rb_out) = (Vec::new(), Vec::new(), Vec::new());
    merge(a, b, |f, t, ra, rb, account| {
        if f == from && t == to {
            acc.push(account);
            ra_out.push(ra);
            rb_out.push(rb);
        }
    });
    Ok((acc, ra_out, rb_out))
}

/// Both snapshots' columns for `map`, read in parallel on two connections, coded in one
/// label space. With `effective`, RFM maps use the effective (hysteresis) segments stored in
/// `snapshot_effective`.
pub fn read_pair(
    path: &Path,
    a: i64,
    b: i64,
    spec: &MapSpec,
    effective: bool,
) -> Result<(SnapCols, SnapCols, Labels)> {
    let use_held = effective && spec.hysteresis;
    let read = |id: i64| -> Result<(SnapCols, Labels, Vec<(u32, u16, u16, u32)>)> {
        let conn = open_read(path)?;
        let mut labels = Labels::new();
        let cols = read_map(&conn, id, spec.column, spec.null_label, &mut labels)?;
        let held = if use_held {
            // Held rows are coded in the same interner as the map's column; the other RFM
            // map's labels go to a scratch interner and are recoded below.
            let mut other = Labels::new();
            let (l11, l5) = if spec.name == "rfm5" { (&mut other, &mut labels) } else { (&mut labels, &mut other) };
            read_held(&conn, id, l11, l5)?
        } else {
            Vec::new()
        };
        Ok((cols, labels, held))
    };
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| read(a));
        let rb = read(b);
        (ha.join().expect("snapshot reader panicked"), rb)
    });
    let (mut ca, la, held_a) = ra?;
    let (mut cb, lb, held_b) = rb?;
    let rfm5 = spec.name == "rfm5";
    apply_held(&mut ca, &held_a, 0, rfm5);
    apply_held(&mut cb, &held_b, 0, rfm5);
    // One label space: recode B into A's interner.
    let mut labels = la;
    let remap: Vec<u16> = lb.names().iter().map(|n| labels.code_str(n)).collect();
    for c in cb.codes[0].iter_mut() {
        *c = remap[*c as usize];
    }
    Ok((ca, cb, labels))
}

/// The migration matrix between snapshots `a` and `b` of the store at `path` over map `map`.
pub fn migration(path: &Path, a: i64, b: i64, map: &str, effective: bool) -> Result<Matrix> {
    let spec = map_spec(map).ok_or_else(|| unknown_map(map))?;
    let (ca, cb, labels) = read_pair(path, a, b, spec, effective)?;
    matrix(Side::of(&ca, 0), Side::of(&cb, 0), &labels, spec.order)
}

/// The accounts of the cell `from -> to` (labels; `(new)`/`(gone)` allowed) between
/// snapshots `a` and `b`: `(account, revenue_a, revenue_b)`.
pub fn migration_cell(
    path: &Path,
    a: i64,
    b: i64,
    map: &str,
    effective: bool,
    from: &str,
    to: &str,
) -> Result<(Vec<u32>, Vec<i64>, Vec<i64>)> {
    let spec = map_spec(map).ok_or_else(|| unknown_map(map))?;
    let (ca, cb, labels) = read_pair(path, a, b, spec, effective)?;
    let code = |label: &str, special: &str| -> Result<Option<Option<u16>>> {
        if label == special {
            return Ok(Some(None));
        }
        Ok(labels.find(label).map(Some))
    };
    let (Some(f), Some(t)) = (code(from, NEW)?, code(to, GONE)?) else {
        // A label neither snapshot has: the cell is empty.
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    cell_accounts(Side::of(&ca, 0), Side::of(&cb, 0), f, t)
}

/// The matrices between consecutive snapshots of `ids` (`ids[0] -> ids[1]`, `ids[1] -> ids[2]`,
/// …), each snapshot read once (in parallel), all coded in one label space.
pub fn migration_chain(path: &Path, ids: &[i64], map: &str, effective: bool) -> Result<Vec<Matrix>> {
    use rayon::prelude::*;
    let spec = map_spec(map).ok_or_else(|| unknown_map(map))?;
    let use_held = effective && spec.hysteresis;
    let rfm5 = spec.name == "rfm5";
    let read = |id: i64| -> Result<(SnapCols, Labels)> {
        let conn = open_read(path)?;
        let mut labels = Labels::new();
        let mut cols = read_map(&conn, id, spec.column, spec.null_label, &mut labels)?;
        if use_held {
            let mut other = Labels::new();
            let (l11, l5) = if rfm5 { (&mut other, &mut labels) } else { (&mut labels, &mut other) };
            let held = read_held(&conn, id, l11, l5)?;
            apply_held(&mut cols, &held, 0, rfm5);
        }
        Ok((cols, labels))
    };
    let read_all: Vec<Result<(SnapCols, Labels)>> = ids.par_iter().map(|&id| read(id)).collect();
    let mut labels = Labels::new();
    let mut snaps = Vec::with_capacity(ids.len());
    for r in read_all {
        let (mut cols, own) = r?;
        let remap: Vec<u16> = own.names().iter().map(|n| labels.code_str(n)).collect();
        for c in cols.codes[0].iter_mut() {
            *c = remap[*c as usize];
        }
        snaps.push(cols);
    }
    snaps.windows(2).map(|w| matrix(Side::of(&w[0], 0), Side::of(&w[1], 0), &labels, spec.order)).collect()
}

pub(crate) fn unknown_map(map: &str) -> HistoryError {
    HistoryError::Invalid(format!(
        "unknown segment map {map:?}: choose one of {}",
        super::maps::map_names().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::maps::RFM11_ORDER;

    fn labels(names: &[&str]) -> Labels {
        let mut l = Labels::new();
        for n in names {
            l.code_str(n);
        }
        l
    }

    #[test]
    fn matrix_counts_new_gone_and_reconciles() {
        // codes: 0 Lost, 1 Champions, 2 Loyal
        let l = labels(&["Lost", "Champions", "Loyal"]);
        let a = Side { account: &[1, 2, 3, 5], code: &[1, 2, 2, 0], revenue: &[100, 50, 40, 7] };
        let b = Side { account: &[1, 2, 4, 5], code: &[1, 1, 2, 0], revenue: &[110, 80, 30, 0] };
        let m = matrix(a, b, &l, RFM11_ORDER).unwrap();
        assert_eq!(m.labels, ["Champions", "Loyal", "Lost"]);
        let cells = m.cells();
        let want = [
            ("Champions", "Champions", 1, 100, 110),
            ("Loyal", "Champions", 1, 50, 80),
            ("Loyal", GONE, 1, 40, 0),
            ("Lost", "Lost", 1, 7, 0),
            (NEW, "Loyal", 1, 0, 30),
        ];
        assert_eq!(cells.len(), want.len());
        for (c, w) in cells.iter().zip(want) {
            assert_eq!((c.from.as_str(), c.to.as_str(), c.accounts, c.revenue_a, c.revenue_b), w);
        }
        assert_eq!(m.revenue_a.iter().sum::<i64>(), 197);
        assert_eq!(m.revenue_b.iter().sum::<i64>(), 220);
        assert_eq!(m.row_labels(), ["Champions", "Loyal", "Lost", NEW]);
        assert_eq!(m.col_labels(), ["Champions", "Loyal", "Lost", GONE]);
    }

    #[test]
    fn cell_lists_the_accounts_that_moved() {
        let a = Side { account: &[1, 2, 3, 5], code: &[1, 2, 2, 0], revenue: &[100, 50, 40, 7] };
        let b = Side { account: &[1, 2, 3, 4], code: &[1, 1, 1, 2], revenue: &[110, 80, 1, 30] };
        let (acc, ra, rb) = cell_accounts(a, b, Some(2), Some(1)).unwrap();
        assert_eq!((acc, ra, rb), (vec![2, 3], vec![50, 40], vec![80, 1]));
        let (acc, _, rb) = cell_accounts(a, b, None, Some(2)).unwrap();
        assert_eq!((acc, rb), (vec![4], vec![30]));
        let (acc, ra, _) = cell_accounts(a, b, Some(0), None).unwrap();
        assert_eq!((acc, ra), (vec![5], vec![7]));
    }

    #[test]
    fn unsorted_input_is_refused() {
        let l = labels(&["Lost"]);
        let a = Side { account: &[2, 1], code: &[0, 0], revenue: &[0, 0] };
        let b = Side { account: &[], code: &[], revenue: &[] };
        assert!(matrix(a, b, &l, RFM11_ORDER).is_err());
    }
}
