//! Hysteresis: an account leaves its (effective) RFM segment only after `k` consecutive
//! snapshots whose raw assignment is elsewhere.
//!
//! The rule, applied along a chain of comparable snapshots (same mode and configuration
//! fingerprint) in as-of order, per account:
//! - first snapshot of the chain that has the account: effective = raw (it enters at once);
//! - raw == effective: stay, the count of snapshots elsewhere resets to 0;
//! - raw != effective: the count goes up by one; when it reaches `k`, the account moves to its
//!   current raw segment (count back to 0), else it is *held* in its effective segment.
//!   Snapshots elsewhere count even when the raw segment changes among them (Loyal held while
//!   raw goes At Risk, then Need Attention: that is two snapshots elsewhere);
//! - `No Purchase` is a fact, not a score near a border: moving into or out of it is immediate;
//! - `k <= 1` means no hysteresis (effective = raw everywhere).
//!
//! The rfm11 segment decides; the rfm5 segment follows it (the effective rfm5 segment is the
//! one the account had when its effective rfm11 segment was last its raw one), so the two maps
//! never contradict each other.
//!
//! Storage (schema v2): only held accounts are stored, in `snapshot_effective`; every other
//! account's effective segment is its raw one. `snapshot_hysteresis` stamps each snapshot with
//! the `k`, the previous snapshot of its chain and its own `created_at` it was computed with,
//! so a changed `k`, an inserted, removed or rescored snapshot makes the rest of its chain stale
//! and [`refresh`] recomputes it, in one transaction.

use std::path::Path;

use rusqlite::{params, Connection};

use super::maps::NO_PURCHASE;
use super::snapcols::{open_write, read_held, read_snapshot, Labels, SnapCols};
use super::Result;

/// The effective state of every account of one snapshot, in account order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub account: Vec<u32>,
    pub raw11: Vec<u16>,
    pub eff11: Vec<u16>,
    pub eff5: Vec<u16>,
    /// Consecutive snapshots elsewhere so far (0 unless held).
    pub pending: Vec<u32>,
}

impl State {
    /// Indexes of held accounts (effective differs from raw).
    pub fn held(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.account.len()).filter(|&i| self.pending[i] > 0)
    }
}

/// One step of the rule. `raw` holds the snapshot's accounts with `codes[0]` = rfm11 and
/// `codes[1]` = rfm5; `prev` is the state at the previous snapshot of the chain. Codes come
/// from interners shared by the whole chain; `no_purchase` is the rfm11 code of `No Purchase`
/// when that label has been seen.
pub fn step(prev: Option<&State>, raw: &SnapCols, k: u32, no_purchase: Option<u16>) -> State {
    let n = raw.account.len();
    let (r11, r5) = (&raw.codes[0], &raw.codes[1]);
    let mut out = State {
        account: raw.account.clone(),
        raw11: r11.clone(),
        eff11: r11.clone(),
        eff5: r5.clone(),
        pending: vec![0; n],
    };
    let Some(prev) = prev else { return out };
    if k <= 1 {
        return out;
    }
    let mut p = 0;
    for i in 0..n {
        let acc = raw.account[i];
        while p < prev.account.len() && prev.account[p] < acc {
            p += 1;
        }
        if p >= prev.account.len() || prev.account[p] != acc {
            continue; // new to the chain: enters at once
        }
        let eff = prev.eff11[p];
        if r11[i] == eff {
            continue;
        }
        if Some(r11[i]) == no_purchase || Some(eff) == no_purchase {
            continue;
        }
        let count = prev.pending[p] + 1;
        if count >= k {
            continue; // k snapshots elsewhere: it leaves, to its raw segment
        }
        out.eff11[i] = eff;
        out.eff5[i] = prev.eff5[p];
        out.pending[i] = count;
    }
    out
}

/// What [`refresh`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    pub chains: usize,
    /// Snapshots whose effective segments were (re)computed.
    pub computed: usize,
    /// Held accounts written.
    pub held: usize,
}

struct Stamp {
    k: i64,
    prev: Option<i64>,
    basis: String,
}

/// Bring the stored effective segments of every chain up to date for `k`.
pub fn refresh(path: &Path, k: u32) -> Result<RefreshSummary> {
    let mut conn = open_write(path)?;
    refresh_conn(&mut conn, k)
}

/// [`refresh`] on an open connection.
pub fn refresh_conn(conn: &mut Connection, k: u32) -> Result<RefreshSummary> {
    let k = k.max(1);
    let mut summary = RefreshSummary::default();
    let chains: Vec<(String, String)> = {
        let mut stmt = conn.prepare("SELECT DISTINCT mode, config_fp FROM snapshots ORDER BY mode, config_fp")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (mode, fp) in chains {
        summary.chains += 1;
        let snaps: Vec<(i64, String)> = {
            let mut stmt = conn.prepare(
                "SELECT id, created_at FROM snapshots WHERE mode = ?1 AND config_fp = ?2 ORDER BY as_of_day, id",
            )?;
            let rows = stmt.query_map([&mode, &fp], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let first_stale = {
            let mut stmt =
                conn.prepare("SELECT k, prev_snapshot, basis FROM snapshot_hysteresis WHERE snapshot = ?1")?;
            let mut first = None;
            for (i, (id, created)) in snaps.iter().enumerate() {
                let prev = if i == 0 { None } else { Some(snaps[i - 1].0) };
                let stamp = stmt
                    .query_row([id], |r| Ok(Stamp { k: r.get(0)?, prev: r.get(1)?, basis: r.get(2)? }))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
                let fresh = matches!(&stamp, Some(s) if s.k == k as i64 && s.prev == prev && &s.basis == created);
                if !fresh {
                    first = Some(i);
                    break;
                }
            }
            first
        };
        let Some(start) = first_stale else { continue };
        let tx = conn.transaction()?;
        {
            let mut l11 = Labels::new();
            let mut l5 = Labels::new();
            let mut state: Option<State> = None;
            if start > 0 && k > 1 {
                state = Some(load_state(&tx, snaps[start - 1].0, &mut l11, &mut l5)?);
            }
            let mut del = tx.prepare("DELETE FROM snapshot_effective WHERE snapshot = ?1")?;
            let mut ins = tx.prepare(
                "INSERT INTO snapshot_effective(snapshot, account, rfm_segment, rfm5_segment, pending) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut stamp = tx.prepare(
                "INSERT OR REPLACE INTO snapshot_hysteresis(snapshot, k, prev_snapshot, basis, held, computed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            )?;
            for i in start..snaps.len() {
                let (id, created) = &snaps[i];
                del.execute([id])?;
                let mut held = 0usize;
                if k > 1 {
                    let raw = {
                        let mut labs = [std::mem::take(&mut l11), std::mem::take(&mut l5)];
                        let raw =
                            read_snapshot(&tx, *id, &["rfm_segment", "rfm5_segment"], &mut labs, "(none)", false)?;
                        let [a, b] = labs;
                        l11 = a;
                        l5 = b;
                        raw
                    };
                    let next = step(state.as_ref(), &raw, k, l11.find(NO_PURCHASE));
                    for j in next.held() {
                        ins.execute(params![
                            id,
                            next.account[j],
                            l11.names()[next.eff11[j] as usize],
                            l5.names()[next.eff5[j] as usize],
                            next.pending[j]
                        ])?;
                        held += 1;
                    }
                    state = Some(next);
                }
                let prev = if i == 0 { None } else { Some(snaps[i - 1].0) };
                stamp.execute(params![id, k, prev, created, held as i64])?;
                summary.computed += 1;
                summary.held += held;
            }
        }
        tx.commit()?;
    }
    Ok(summary)
}

/// The state at snapshot `id` as stored: raw segments patched by the held rows.
pub fn load_state(conn: &Connection, id: i64, l11: &mut Labels, l5: &mut Labels) -> Result<State> {
    let raw = {
        let mut labs = [std::mem::take(l11), std::mem::take(l5)];
        let raw = read_snapshot(conn, id, &["rfm_segment", "rfm5_segment"], &mut labs, "(none)", false);
        let [a, b] = labs;
        *l11 = a;
        *l5 = b;
        raw?
    };
    let held = read_held(conn, id, l11, l5)?;
    let mut st = State {
        account: raw.account.clone(),
        raw11: raw.codes[0].clone(),
        eff11: raw.codes[0].clone(),
        eff5: raw.codes[1].clone(),
        pending: vec![0; raw.account.len()],
    };
    let mut i = 0;
    for (acc, c11, c5, pending) in held {
        while i < st.account.len() && st.account[i] < acc {
            i += 1;
        }
        if i < st.account.len() && st.account[i] == acc {
            st.eff11[i] = c11;
            st.eff5[i] = c5;
            st.pending[i] = pending;
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the rule over a sequence of rfm11 labels for one account (rfm5 = "5:" + label).
    fn run(seq: &[&str], k: u32) -> Vec<String> {
        let mut l11 = Labels::new();
        let mut l5 = Labels::new();
        let mut state: Option<State> = None;
        let mut out = Vec::new();
        for s in seq {
            let raw = SnapCols {
                account: vec![7],
                codes: vec![vec![l11.code_str(s)], vec![l5.code_str(&format!("5:{s}"))]],
                revenue: vec![],
            };
            let next = step(state.as_ref(), &raw, k, l11.find(NO_PURCHASE));
            let e11 = l11.names()[next.eff11[0] as usize].clone();
            let e5 = l5.names()[next.eff5[0] as usize].clone();
            assert_eq!(e5, format!("5:{e11}"), "rfm5 follows rfm11");
            out.push(e11);
            state = Some(next);
        }
        out
    }

    #[test]
    fn entering_is_immediate_for_a_new_account() {
        assert_eq!(run(&["Loyal"], 3), ["Loyal"]);
    }

    #[test]
    fn leaving_takes_k_snapshots_elsewhere() {
        let seq = ["Loyal", "At Risk", "At Risk", "At Risk", "At Risk"];
        assert_eq!(run(&seq, 3), ["Loyal", "Loyal", "Loyal", "At Risk", "At Risk"]);
        assert_eq!(run(&seq, 2), ["Loyal", "Loyal", "At Risk", "At Risk", "At Risk"]);
        assert_eq!(run(&seq, 1), seq);
        assert_eq!(run(&seq, 0), seq);
    }

    #[test]
    fn flapping_never_leaves() {
        let seq = ["Loyal", "At Risk", "Loyal", "At Risk", "Loyal", "At Risk"];
        assert_eq!(run(&seq, 2), ["Loyal"; 6]);
        // k = 1 shows every flap
        assert_eq!(run(&seq, 1), seq);
    }

    #[test]
    fn elsewhere_counts_across_different_raw_segments() {
        let seq = ["Loyal", "At Risk", "Need Attention", "Need Attention"];
        assert_eq!(run(&seq, 2), ["Loyal", "Loyal", "Need Attention", "Need Attention"]);
    }

    #[test]
    fn no_purchase_moves_at_once() {
        assert_eq!(run(&["No Purchase", "New Customers"], 3), ["No Purchase", "New Customers"]);
        assert_eq!(run(&["Lost", "No Purchase"], 3), ["Lost", "No Purchase"]);
    }

    #[test]
    fn accounts_missing_from_the_previous_snapshot_enter_at_once() {
        let mut l11 = Labels::new();
        let mut l5 = Labels::new();
        let (loyal, risk) = (l11.code_str("Loyal"), l11.code_str("At Risk"));
        let (x5, y5) = (l5.code_str("L"), l5.code_str("R"));
        let s1 = SnapCols { account: vec![1, 3], codes: vec![vec![loyal, loyal], vec![x5, x5]], revenue: vec![] };
        let st1 = step(None, &s1, 2, None);
        let s2 = SnapCols {
            account: vec![1, 2, 3],
            codes: vec![vec![risk, risk, loyal], vec![y5, y5, x5]],
            revenue: vec![],
        };
        let st2 = step(Some(&st1), &s2, 2, None);
        assert_eq!(st2.eff11, [loyal, risk, loyal]);
        assert_eq!(st2.eff5, [x5, y5, x5]);
        assert_eq!(st2.pending, [1, 0, 0]);
        assert_eq!(st2.held().collect::<Vec<_>>(), [0]);
    }
}
