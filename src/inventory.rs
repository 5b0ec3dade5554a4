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
        let mut rows: Vec<Row> = shared.scopes.iter().flat_map(|s| scope_rows(s)).collect();
        let per_user = session.for_each_user(|out| (scope_rows(&out.scope), out.warnings));
        let mut warnings = Vec::new();
        let scopes = shared.scopes.len() + per_user.len();
        for (mut r, mut w) in per_user {
            rows.append(&mut r);
            warnings.append(&mut w);
        }
        sort(&mut rows);
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
pub struct ListJson {
    pub schema: &'static str,
    pub timers: Vec<Row>,
}

pub fn rows_json(l: Listing) -> ListJson {
    ListJson { schema: LIST_SCHEMA, timers: l.rows }
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
