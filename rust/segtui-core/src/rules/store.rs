//! Reading the events a set of rules needs straight out of the store.

use std::collections::{BTreeSet, HashMap};

use rusqlite::Connection;

use super::compile::{CompiledRule, Test};

/// Which events the rules read: kinds (`None` = every kind) and the oldest day that matters
/// (`None` = all history, for `ever` and `first`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EventNeeds {
    pub kinds: Option<BTreeSet<String>>,
    /// The longest window in days, `None` when some condition needs all history.
    pub max_window: Option<u32>,
    /// False when no rule has an event condition.
    pub any: bool,
}

impl EventNeeds {
    pub fn of(rules: &[CompiledRule]) -> Self {
        let mut kinds: Option<BTreeSet<String>> = Some(BTreeSet::new());
        let mut max_window: Option<u32> = Some(0);
        let mut any = false;
        let widen = |w: Option<u32>, max_window: &mut Option<u32>| {
            *max_window = match (*max_window, w) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            }
        };
        for r in rules {
            for l in &r.leaves {
                match &l.test {
                    Test::Count { kind, window, .. } => {
                        any = true;
                        if let Some(k) = kinds.as_mut() {
                            k.insert(kind.clone());
                        }
                        widen(*window, &mut max_window);
                    }
                    Test::Active { kind, window, .. } => {
                        any = true;
                        match kind {
                            Some(kind) => {
                                if let Some(k) = kinds.as_mut() {
                                    k.insert(kind.clone());
                                }
                            }
                            None => kinds = None,
                        }
                        widen(Some(*window), &mut max_window);
                    }
                    Test::First { kind, .. } => {
                        any = true;
                        if let Some(k) = kinds.as_mut() {
                            k.insert(kind.clone());
                        }
                        widen(None, &mut max_window);
                    }
                    _ => {}
                }
            }
        }
        EventNeeds { kinds, max_window, any }
    }
}

/// Events as owned columns: dense account index (`accounts.id - 1`), day, kind index into
/// `kinds` (every kind of the store, by id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventColumns {
    pub account: Vec<u32>,
    pub day: Vec<i32>,
    pub kind: Vec<u32>,
    pub kinds: Vec<String>,
}

/// Reads the events `needs` asks for, on or before `as_of_day`.
pub fn read_events(conn: &Connection, needs: &EventNeeds, as_of_day: i32) -> rusqlite::Result<EventColumns> {
    let mut out = EventColumns::default();
    let mut id_to_index: HashMap<i64, u32> = HashMap::new();
    let mut ids: Vec<i64> = Vec::new();
    {
        let mut st = conn.prepare("SELECT id, name FROM event_kinds ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, name) = row?;
            id_to_index.insert(id, out.kinds.len() as u32);
            ids.push(id);
            out.kinds.push(name);
        }
    }
    if !needs.any {
        return Ok(out);
    }
    let mut sql = String::from("SELECT account, day, kind FROM events WHERE day <= ?1");
    if let Some(w) = needs.max_window {
        sql.push_str(&format!(" AND day > {}", as_of_day as i64 - w as i64));
    }
    if let Some(kinds) = &needs.kinds {
        let ids: Vec<String> =
            out.kinds.iter().zip(&ids).filter(|(k, _)| kinds.contains(*k)).map(|(_, id)| id.to_string()).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        sql.push_str(&format!(" AND kind IN ({})", ids.join(",")));
    }
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query([as_of_day])?;
    while let Some(r) = rows.next()? {
        let account: i64 = r.get(0)?;
        let kind: i64 = r.get(2)?;
        let (Some(&k), true) = (id_to_index.get(&kind), account >= 1) else { continue };
        out.account.push((account - 1) as u32);
        out.day.push(r.get(1)?);
        out.kind.push(k);
    }
    Ok(out)
}

/// [`read_events`] on a store opened read-only at `path` (waits up to 5 s for a writer).
pub fn read_events_at(path: &str, needs: &EventNeeds, as_of_day: i32) -> Result<EventColumns, String> {
    let run = || -> rusqlite::Result<EventColumns> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        read_events(&conn, needs, as_of_day)
    };
    run().map_err(|e| format!("reading events from {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{compile, Schema};

    #[test]
    fn reads_only_what_the_rules_need() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE event_kinds (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
             CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, day INTEGER NOT NULL, kind INTEGER NOT NULL);
             INSERT INTO event_kinds VALUES (1, 'login'), (3, 'invite');
             INSERT INTO events(account, day, kind) VALUES (1, 100, 1), (2, 95, 3), (2, 90, 3), (1, 101, 3), (3, 99, 1);",
        )
        .unwrap();
        let schema = Schema::default();
        let rules = [compile("did \"invite\" in 7d", &schema).unwrap()];
        let needs = EventNeeds::of(&rules);
        assert_eq!(needs.max_window, Some(7));
        let ev = read_events(&conn, &needs, 100).unwrap();
        assert_eq!(ev.kinds, vec!["login", "invite"]);
        assert_eq!((ev.account, ev.day, ev.kind), (vec![1], vec![95], vec![1]));
        let rules = [compile("active_days in 2d >= 1 or first \"invite\" in 3d", &schema).unwrap()];
        let needs = EventNeeds::of(&rules);
        assert_eq!((needs.kinds.clone(), needs.max_window), (None, None));
        let mut ev = read_events(&conn, &needs, 100).unwrap();
        ev.day.sort();
        assert_eq!(ev.day, vec![90, 95, 99, 100]);
    }
}
