//! Rules over a scoring run: the engine's [`ScoreResult`] and [`AccountCols`] as a [`Table`].
//!
//! The table has one row per account of the snapshot (`AccountScores` order) and the metric
//! names of the accounts export (`snapshot_accounts` columns), so a rule in `segtui.toml`
//! means the same here as in `segtui accounts --rule`:
//!
//! | metrics | unit |
//! |---|---|
//! | `recency_days`, `frequency`, `r_score`, `f_score`, `m_score`, `churn_risk`, `health` | whole numbers (scores: missing without a purchase) |
//! | `monetary`, `revenue`, `direct_cost`, `allocated_cost`, `margin` | money |
//! | `margin_pct` | a percentage (stored as a fraction; missing when revenue <= 0) |
//! | `rfm_segment`, `rfm5_segment`, `quadrant`, `churn_band`, `health_band`, `lifecycle`, `tier`, `size_band` | text |
//! | `employees`, `seats`, `seat_limit` (per account) | whole numbers |
//! | `mrr` (per account) | money |
//! | `signup_day`, `renewal_day` (per account) | dates |
//!
//! Text firmographics (industry, region, plan, name) are not engine inputs: add them as
//! [`Values::Codes32`] columns with `per_account: true`.

use crate::engine::{AccountCols, ScoreResult};

use super::table::{MetricColumn, Table, Unit, Values};

fn col<'a>(name: &str, unit: Unit, values: Values<'a>, per_account: bool) -> MetricColumn<'a> {
    MetricColumn { name: name.to_string(), unit, values, valid: None, per_account }
}

/// The table of a scoring run; `money_scale` is the store currency's number of decimals.
pub fn snapshot_table<'a>(r: &'a ScoreResult, accounts: &AccountCols<'a>, money_scale: u32) -> Table<'a> {
    let s = &r.scores;
    let money = Unit::Money { scale: money_scale };
    let codes = |codes: &'a [u8], labels: &'a [String], null_code: Option<u8>| Values::Codes8 { codes, labels, null_code };
    let mut columns = vec![
        col("recency_days", Unit::Int, Values::I64(&s.recency_days), false),
        col("frequency", Unit::Int, Values::I64(&s.frequency), false),
        col("monetary", money, Values::I64(&s.monetary), false),
        col("r_score", Unit::Int, Values::U8 { values: &s.r_score, null: Some(0) }, false),
        col("f_score", Unit::Int, Values::U8 { values: &s.f_score, null: Some(0) }, false),
        col("m_score", Unit::Int, Values::U8 { values: &s.m_score, null: Some(0) }, false),
        col("rfm_segment", Unit::Text, codes(&s.rfm_segment, &r.rfm_segment_labels, None), false),
        col("rfm5_segment", Unit::Text, codes(&s.rfm5_segment, &r.rfm5_segment_labels, None), false),
        col("revenue", money, Values::I64(&s.revenue), false),
        col("direct_cost", money, Values::I64(&s.direct_cost), false),
        col("allocated_cost", money, Values::I64(&s.allocated_cost), false),
        col("margin", money, Values::I64(&s.margin), false),
        col("margin_pct", Unit::Ratio, Values::F64(&s.margin_pct), false),
        col("quadrant", Unit::Text, codes(&s.quadrant, &r.quadrant_labels, Some(0)), false),
        col("churn_risk", Unit::Int, Values::U8 { values: &s.churn_risk, null: None }, false),
        col("churn_band", Unit::Text, codes(&s.churn_band, &r.churn_band_labels, None), false),
        col("health", Unit::Int, Values::U8 { values: &s.health, null: None }, false),
        col("health_band", Unit::Text, codes(&s.health_band, &r.health_band_labels, None), false),
        col("lifecycle", Unit::Text, codes(&s.lifecycle, &r.lifecycle_labels, None), false),
        col("tier", Unit::Text, codes(&s.tier, &r.tier_labels, Some(0)), false),
        col("size_band", Unit::Text, codes(&s.size_band, &r.size_band_labels, Some(0)), false),
    ];
    let firmo: [(&str, Unit, Values<'a>); 6] = [
        ("employees", Unit::Int, Values::I64(accounts.employees)),
        ("mrr", money, Values::I64(accounts.mrr)),
        ("seats", Unit::Int, Values::I64(accounts.seats)),
        ("seat_limit", Unit::Int, Values::I64(accounts.seat_limit)),
        ("signup_day", Unit::Day, Values::I32(accounts.signup_day)),
        ("renewal_day", Unit::Day, Values::I32(accounts.renewal_day)),
    ];
    for (name, unit, values) in firmo {
        // An engine run without firmographics lends empty slices: leave those metrics out.
        if !values.is_empty() {
            columns.push(col(name, unit, values, true));
        }
    }
    Table { n_rows: s.account.len(), account: Some(&s.account), columns }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{score, Costs, Events, Inputs, LineItems, ScoreConfig, NULL_DAY, NULL_I64};
    use crate::rules::{run, EventLog};

    #[test]
    fn rules_run_over_a_scoring_result_with_the_export_names() {
        // Three accounts: 0 buys twice recently, 1 once long ago, 2 only has a refund.
        let li_account = vec![0u32, 0, 1, 2];
        let li_day = vec![95, 99, 10, 98];
        let li_amount = vec![5000i64, 7000, 300, -200];
        let li_invoice = vec![1i64, 2, 3, 4];
        let employees = vec![120i64, NULL_I64, 5];
        let mrr = vec![NULL_I64; 3];
        let seats = vec![NULL_I64; 3];
        let signup = vec![90i32, NULL_DAY, 1];
        let renewal = vec![NULL_DAY; 3];
        let kinds = vec!["login".to_string()];
        let (ea, ed, ek) = (vec![1u32, 1], vec![97i32, 99], vec![0u32, 0]);
        let accounts = AccountCols {
            employees: &employees,
            mrr: &mrr,
            seats: &seats,
            seat_limit: &seats,
            signup_day: &signup,
            renewal_day: &renewal,
        };
        let inputs = Inputs {
            n_accounts: 3,
            line_items: LineItems { account: &li_account, day: &li_day, amount: &li_amount, invoice_key: &li_invoice },
            costs: Costs::default(),
            events: Events { account: &ea, day: &ed, kind: &ek },
            accounts,
            cost_categories: &[],
            event_kinds: &kinds,
        };
        let r = score(&inputs, 100, &ScoreConfig::default()).unwrap();
        let t = snapshot_table(&r, &accounts, 2);
        let log = EventLog { events: inputs.events, kinds: &kinds };
        let m = run(
            &[
                "revenue > 100 and frequency = 2",
                "rfm_segment = \"No Purchase\" and r_score is null and margin_pct is null",
                "employees > 100 or signup_day in 30d",
                "did \"login\" >= 2 times in 7d",
                "margin_pct = 100 and margin_pct = 100%",
            ],
            &t,
            Some(&log),
            100,
        )
        .unwrap();
        let rows = |i: usize| m[i].rows().into_iter().map(|r| t.account.unwrap()[r]).collect::<Vec<_>>();
        assert_eq!(rows(0), vec![0]);
        assert_eq!(rows(1), vec![2]);
        assert_eq!(rows(2), vec![0]);
        assert_eq!(rows(3), vec![1]);
        assert_eq!(rows(4), vec![0, 1]);
    }
}
