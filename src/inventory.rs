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
}

/// What `list` shows: the rows, sorted by scope (system, global, users) then timer,
/// and the counts of the summary line.
pub struct Listing {
    pub rows: Vec<Row>,
    pub scopes: usize,
    pub warnings: usize,
}

impl Listing {
    pub fn of_host(host: &Host) -> Listing {
        let mut rows: Vec<Row> = host.scopes.iter().flat_map(|s| scope_rows(s)).collect();
        sort(&mut rows);
        Listing { rows, scopes: host.scopes.len(), warnings: host.warnings.len() }
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
        (Listing { rows, scopes, warnings: warnings.len() }, warnings)
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
    let header = ["SCOPE", "TIMER", "ACTIVATION", "RUNS", "SCHEDULE", "SERVICE", "AS", "EXEC", "SOURCE", "LINGER"];
    let table: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
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
            ]
        })
        .collect();
    let mut w = header.map(|h| h.chars().count());
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
    writeln!(out, "{}", line(header.to_vec()))?;
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
