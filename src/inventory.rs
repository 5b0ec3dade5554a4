//! `timerguard list`: one row per timer across all scopes — offline
//! `systemctl list-timers --all` plus who it runs as, what it runs and why it runs.
//! Rows are built once (`rows`) and rendered as a table or as `timerguard.list/v1` JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::model::{Host, ScopeKind};

/// Version tag of the list JSON (docs/list.md).
pub const LIST_SCHEMA: &str = "timerguard.list/v1";

/// One timer as the table shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `system`, `global` or `user:NAME`.
    pub scope: String,
    pub timer: String,
    /// Activation word (enabled, vendor, wanted, transient, inert, masked, bad, …).
    pub activation: String,
    pub will_run: bool,
    /// `systemctl is-enabled`'s answer.
    pub file_state: Option<String>,
    /// Triggers, `; `-joined (`OnCalendar=daily; OnBootSec=15min`).
    pub schedule: String,
    pub service: String,
    pub runs_as: String,
    pub privileged: bool,
    /// The first `ExecStart=` executable, resolved inside the root.
    pub exec: Option<String>,
    pub source: Option<String>,
    /// For user timers: does the owner linger (runs without a login)?
    pub linger: Option<bool>,
    /// Live view only (`/` with systemd as PID 1): what the running manager has loaded.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveRow>,
}

/// A timer as its running manager reports it, the way `systemctl list-timers --all`
/// shows it: times in µs since the epoch, spans in µs.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRow {
    /// `loaded` when the manager has the timer, `not-loaded` when it exists only on disk.
    pub manager: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed_usec: Option<u64>,
    /// The files changed since the manager loaded them.
    pub need_daemon_reload: bool,
    /// NEXT, LEFT, LAST, PASSED as the table prints them.
    #[serde(skip)]
    pub text: [String; 4],
}

/// What `list` shows: the rows, sorted by scope (system, global, users) then timer,
/// and the counts of the summary line.
pub struct Listing {
    pub rows: Vec<Row>,
    pub scopes: usize,
    pub warnings: usize,
    /// The rows carry the live view.
    pub live: bool,
}

impl Listing {
    pub fn of_host(host: &Host) -> Listing {
        let mut rows: Vec<Row> = host.scopes.iter().flat_map(|s| scope_rows(s)).collect();
        sort(&mut rows);
        let mut l = Listing { rows, scopes: host.scopes.len(), warnings: host.warnings.len(), live: false };
        if host.live {
            l.merge_live(&host.loaded, &host.managers, &crate::schedule::Zone::Utc);
        }
        l
    }

    /// The same, reading each user scope in turn and keeping only its rows; returns the
    /// collection's warnings too.
    pub fn stream(session: &crate::collect::Session) -> (Listing, Vec<crate::model::Warning>) {
        let shared = session.host(Vec::new());
        let sorted = |s: &crate::model::Scope| {
            let mut r = scope_rows(s);
            sort(&mut r);
            r
        };
        let mut groups: Vec<Vec<Row>> = shared.scopes.iter().map(|s| sorted(s)).collect();
        let per_user = session.for_each_user(|out| (sorted(&out.scope), out.warnings));
        let mut warnings = Vec::new();
        let scopes = shared.scopes.len() + per_user.len();
        for (r, mut w) in per_user {
            groups.push(r);
            warnings.append(&mut w);
        }
        let rows = sort_groups(groups);
        let warnings = session.warnings_with(warnings);
        let mut l = Listing { rows, scopes, warnings: warnings.len(), live: false };
        if shared.live {
            l.merge_live(&shared.loaded, &shared.managers, session.local_zone());
        }
        (l, warnings)
    }

    /// Joins what the running managers report to the rows read from disk; a timer a
    /// manager has loaded whose file is gone (or never was) gets a row of its own. Rows of
    /// a scope whose manager is not running (or did not answer) get no live fields.
    pub fn merge_live(
        &mut self,
        loaded: &[crate::model::LoadedTimer],
        managers: &[String],
        zone: &crate::schedule::Zone,
    ) {
        use crate::schedule::format::{relative, timestamp};
        let now = crate::live::Now::read().realtime;
        self.live = true;
        let live_of = |t: Option<&crate::model::LoadedTimer>| {
            let Some(t) = t else {
                return LiveRow {
                    manager: "not-loaded",
                    active_state: None,
                    next_usec: None,
                    left_usec: None,
                    last_usec: None,
                    passed_usec: None,
                    need_daemon_reload: false,
                    text: ["-".into(), "-".into(), "-".into(), "-".into()],
                };
            };
            let left = t.next_usec.map(|n| n.saturating_sub(now));
            let passed = t.last_usec.map(|l| now.saturating_sub(l));
            let ts = |u: Option<u64>| u.map_or("-".to_string(), |u| timestamp(u as i64, zone));
            let rel = |u: Option<u64>| u.map_or("-".to_string(), |u| relative(u as i64, now as i64));
            LiveRow {
                manager: "loaded",
                active_state: Some(t.active_state.clone()),
                next_usec: t.next_usec,
                left_usec: left,
                last_usec: t.last_usec,
                passed_usec: passed,
                need_daemon_reload: t.need_daemon_reload,
                text: [ts(t.next_usec), rel(t.next_usec), ts(t.last_usec), rel(t.last_usec)],
            }
        };
        let mut seen = std::collections::HashSet::new();
        for r in &mut self.rows {
            let t = loaded.iter().find(|t| t.manager == r.scope && t.unit == r.timer);
            if let Some(t) = t {
                seen.insert((t.manager.clone(), t.unit.clone()));
            }
            // The global scope has no manager of its own: its timers run in each user's.
            if managers.contains(&r.scope) {
                r.live = Some(live_of(t));
            }
        }
        let mut extra = Vec::new();
        for t in loaded.iter().filter(|t| !seen.contains(&(t.manager.clone(), t.unit.clone()))) {
            if t.load_state == "not-found" && t.active_state == "inactive" {
                continue; // a name something refers to, never a timer the manager runs
            }
            let user = t.manager.strip_prefix("user:");
            // A shared user unit (the global scope) as this user's manager runs it.
            let global = user.and_then(|_| self.rows.iter().find(|r| r.scope == "global" && r.timer == t.unit));
            let row = match global {
                Some(g) => Row {
                    scope: t.manager.clone(),
                    runs_as: user.unwrap_or_default().to_string(),
                    linger: None,
                    live: Some(live_of(Some(t))),
                    ..g.clone()
                },
                None => Row {
                    scope: t.manager.clone(),
                    timer: t.unit.clone(),
                    // Loaded from a file we did not list, from memory only, or made by
                    // systemd-run with its file gone.
                    activation: match (t.fragment_exists, t.transient) {
                        (true, _) => "loaded".into(),
                        (false, true) => "transient".into(),
                        (false, false) => "memory-only".into(),
                    },
                    will_run: t.active_state == "active" && t.next_usec.is_some(),
                    file_state: None,
                    schedule: String::new(),
                    service: t.service.clone().unwrap_or_default(),
                    runs_as: user.map_or("?", |u| u).to_string(),
                    privileged: user == Some("root"),
                    exec: None,
                    source: t.fragment_path.clone(),
                    linger: None,
                    live: Some(live_of(Some(t))),
                },
            };
            extra.push(row);
        }
        self.rows.append(&mut extra);
        sort(&mut self.rows);
    }
}

fn sort(v: &mut [Row]) {
    v.sort_by(|a, b| (scope_rank(&a.scope), &a.scope, &a.timer).cmp(&(scope_rank(&b.scope), &b.scope, &b.timer)));
}

/// `sort` of the rows of scopes, each group one scope's rows (`scope_rows`: they all
/// carry its label) already sorted (user scopes sort their own on their thread): the
/// groups are put in order, not every row. 30,000 rows of 10,000 users took 20 ms to sort
/// on one thread at the end of a run (10 ms now, most of it moving the rows into one
/// list). The same order as `sort` of all rows (a stable sort); when two groups carry the
/// same label every row is sorted after all.
fn sort_groups(mut groups: Vec<Vec<Row>>) -> Vec<Row> {
    groups.retain(|g| !g.is_empty());
    groups.sort_by(|a, b| (scope_rank(&a[0].scope), &a[0].scope).cmp(&(scope_rank(&b[0].scope), &b[0].scope)));
    let unique = groups.windows(2).all(|w| w[0][0].scope != w[1][0].scope);
    let mut rows: Vec<Row> = Vec::with_capacity(groups.iter().map(Vec::len).sum());
    for g in groups {
        rows.extend(g);
    }
    if !unique {
        sort(&mut rows);
    }
    rows
}

/// One scope's rows.
fn scope_rows(s: &crate::model::Scope) -> Vec<Row> {
    let mut v = Vec::new();
    {
        for t in &s.timers {
            let schedule = t.triggers.iter().map(|x| format!("{}={}", x.key, x.value)).collect::<Vec<_>>().join("; ");
            let exec = t
                .exec
                .iter()
                .find(|e| e.key == "ExecStart")
                .map(|e| e.executable.resolved.clone().unwrap_or_else(|| e.executable.path.clone()));
            v.push(Row {
                scope: s.label(),
                timer: t.name.clone(),
                activation: t.activation.state.clone(),
                will_run: t.activation.will_run,
                file_state: t.file_state.map(|f| f.as_str().to_string()),
                schedule,
                service: t.service.clone(),
                runs_as: t.runs_as.label(),
                privileged: t.runs_as.privileged,
                exec,
                source: t.source.clone(),
                linger: if s.kind == ScopeKind::User { t.linger } else { None },
                live: None,
            });
        }
    }
    v
}

fn scope_rank(s: &str) -> u8 {
    match s {
        "system" => 0,
        "global" => 1,
        _ => 2,
    }
}

/// The JSON document of `list --format json`.
#[derive(Serialize)]
pub struct ListJson<'a> {
    pub schema: &'static str,
    pub timers: &'a [Row],
}

/// Writes the `ListJson` of `l`'s rows, the rows rendered in parallel
/// (`report::json::write_around`): 30,000 rows of 10,000 users were 27 ms on one thread
/// at the end of a run.
pub fn write_json(l: &Listing, out: &mut dyn Write) -> io::Result<()> {
    let doc = |timers| ListJson { schema: LIST_SCHEMA, timers };
    crate::report::json::write_around(&doc(&[]), "timers", &l.rows, out, &|out| {
        serde_json::to_writer_pretty(out, &doc(&l.rows))
    })
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// The table, then a one-line summary.
pub fn render_text(l: &Listing, out: &mut dyn Write) -> io::Result<()> {
    let rows = &l.rows;
    let mut header =
        vec!["SCOPE", "TIMER", "ACTIVATION", "RUNS", "SCHEDULE", "SERVICE", "AS", "EXEC", "SOURCE", "LINGER"];
    if l.live {
        header.splice(2..2, ["NEXT", "LEFT", "LAST", "PASSED"]);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.scope.clone(),
                r.timer.clone(),
                r.activation.clone(),
                if r.will_run { "yes".into() } else { "no".into() },
                cut(&r.schedule, 36),
                r.service.clone(),
                r.runs_as.clone(),
                cut(r.exec.as_deref().unwrap_or("-"), 36),
                r.source.clone().unwrap_or_else(|| "-".into()),
                match r.linger {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
            ];
            if l.live {
                let dash = || "-".to_string();
                let t = r.live.as_ref().map_or_else(|| [dash(), dash(), dash(), dash()], |x| x.text.clone());
                row.splice(2..2, t);
            }
            row
        })
        .collect();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &table {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.clone()))?;
    for row in &table {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    let running = rows.iter().filter(|r| r.will_run).count();
    let root_runs = rows.iter().filter(|r| r.will_run && r.privileged).count();
    writeln!(
        out,
        "\n{} timers, {} will run ({} as root); {} scopes; {} warnings",
        rows.len(),
        running,
        root_runs,
        l.scopes,
        l.warnings
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(scope: &str, timer: &str, service: &str) -> Row {
        Row {
            scope: scope.into(),
            timer: timer.into(),
            activation: "enabled".into(),
            will_run: true,
            file_state: Some("enabled".into()),
            schedule: "OnCalendar=daily".into(),
            service: service.into(),
            runs_as: "root".into(),
            privileged: false,
            exec: None,
            source: Some("/etc/systemd/system/x.timer".into()),
            linger: None,
            live: None,
        }
    }

    fn pretty(rows: &[Row]) -> Vec<u8> {
        let mut want = Vec::new();
        serde_json::to_writer_pretty(&mut want, &ListJson { schema: LIST_SCHEMA, timers: rows }).unwrap();
        want.push(b'\n');
        want
    }

    fn written(rows: Vec<Row>) -> Vec<u8> {
        let mut got = Vec::new();
        write_json(&Listing { rows, scopes: 1, warnings: 0, live: false }, &mut got).unwrap();
        got
    }

    /// The list JSON written in parallel parts is serde_json's pretty document byte for
    /// byte: no rows, one, and across part boundaries; strings with newlines, quotes,
    /// tabs and non-ASCII text; the live fields (flattened, some left out) on some rows.
    #[test]
    fn the_list_json_is_serde_jsons_pretty_document_byte_for_byte() {
        let mut rows = Vec::new();
        for i in 0..2100 {
            let mut r = row(&format!("user:u{i}"), &format!("t{i}.timer"), "a\nb \"c\"\t\u{e9}\u{1f600}");
            r.exec = (i % 3 == 0).then(|| format!("/home/u{i}/bin/x\ny"));
            r.linger = (i % 2 == 0).then_some(i % 4 == 0);
            if i % 5 == 0 {
                r.live = Some(LiveRow {
                    manager: "loaded",
                    active_state: Some("active".into()),
                    next_usec: Some(i),
                    left_usec: None,
                    last_usec: (i % 2 == 0).then_some(7),
                    passed_usec: None,
                    need_daemon_reload: i % 10 == 0,
                    text: ["-".into(), "in 3h".into(), "x\ny".into(), "-".into()],
                });
            }
            rows.push(r);
        }
        for n in [0, 1, 2, 1023, 1024, 1025, 2048, 2100] {
            let got = written(rows[..n].to_vec());
            let want = pretty(&rows[..n]);
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap(), "{n} rows");
        }
    }

    proptest! {
        /// Putting sorted per-scope groups in order is the stable sort of all their rows,
        /// also when two groups carry the same label or a group is empty; ties (same
        /// scope and timer, told apart by their service) keep their order.
        #[test]
        fn grouped_rows_come_out_as_the_sort_of_all_rows(
            groups in prop::collection::vec(
                (prop::sample::select(vec!["system", "global", "user:a", "user:b", "user:a1", "user:B", "user:"]),
                 prop::collection::vec(0u8..4, 0..6)),
                0..8),
        ) {
            let groups: Vec<Vec<Row>> = groups
                .iter()
                .enumerate()
                .map(|(g, (scope, rs))| {
                    rs.iter().enumerate().map(|(i, t)| row(scope, &format!("t{t}.timer"), &format!("{g}.{i}"))).collect()
                })
                .collect();
            let mut want: Vec<Row> = groups.iter().flatten().cloned().collect();
            sort(&mut want);
            let sorted: Vec<Vec<Row>> = groups
                .into_iter()
                .map(|mut g| {
                    sort(&mut g);
                    g
                })
                .collect();
            let got = sort_groups(sorted);
            let key = |r: &Row| (r.scope.clone(), r.timer.clone(), r.service.clone());
            prop_assert_eq!(got.iter().map(key).collect::<Vec<_>>(), want.iter().map(key).collect::<Vec<_>>());
        }
    }
}
