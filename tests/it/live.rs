//! Live end to end: boot a debootstrapped root with a real systemd as PID 1
//! (`systemd-nspawn -b`), holding an unapproved enabled timer and a lingering user; inside
//! it, `timerguard fix --apply --unsafe` runs against the running manager; then
//! `systemctl` and `loginctl` must show the timer stopped and disabled and linger off.
//! Needs root, systemd-nspawn and a bootable root with dbus: scripts/test.sh builds one
//! and sets TIMERGUARD_E2E_ROOT (see README "Live test").

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const SCRIPT: &str = r#"#!/bin/sh
out=/root/e2e.out
# logind starts the lingering user's manager after boot, and a loaded machine is slow:
# wait for it (and the timer) rather than race them.
for i in $(seq 60); do
  [ "$(systemctl is-active user@1000.service)" = active ] && [ "$(systemctl is-active evil.timer)" = active ] && break
  sleep 1
done
{
  echo "== before"
  systemctl is-active evil.timer
  loginctl show-user alice -p Linger
  ls -A /var/lib/systemd/linger
  /usr/local/bin/timerguard --config /etc/timerguard.yaml fix --unsafe --apply --select TG301 --select TG201
  echo "fix rc=$?"
  echo "== after"
  systemctl is-active evil.timer
  systemctl is-enabled evil.timer
  systemctl list-timers --all --no-pager --no-legend
  loginctl show-user alice -p Linger
  ls -A /var/lib/systemd/linger
  echo "== end"
} > $out.tmp 2>&1
mv $out.tmp $out
systemctl poweroff
"#;

pub(crate) fn put(root: &std::path::Path, rel: &str, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn append(root: &std::path::Path, rel: &str, line: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    let mut s = std::fs::read_to_string(&p).unwrap_or_default();
    s.push_str(line);
    std::fs::write(p, s).unwrap();
}

/// A copy of the bootable root with the binary under test, a lingering `alice` (uid
/// 1000) and `driver`: a script run once the system is up, which writes its output to
/// `/root/e2e.out` and powers off. Returns the copy (kept until the guard drops).
pub(crate) struct Booted {
    _dir: tempfile::TempDir,
    pub(crate) root: std::path::PathBuf,
}

pub(crate) fn prepare(base: &str, driver: &str) -> Booted {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = dir.path().join("root");
    let st = Command::new("cp").args(["-a", base, root.to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    std::fs::copy(env!("CARGO_BIN_EXE_timerguard"), root.join("usr/local/bin/timerguard")).unwrap();
    append(&root, "/etc/passwd", "alice:x:1000:1000::/home/alice:/bin/sh\n");
    append(&root, "/etc/group", "alice:x:1000:\n");
    append(&root, "/etc/shadow", "alice:*:19000:0:99999:7:::\n");
    put(&root, "/var/lib/systemd/linger/alice", "", 0o644);
    put(&root, "/usr/local/bin/tg-e2e.sh", driver, 0o755);
    put(
        &root,
        "/etc/systemd/system/tg-e2e.service",
        "[Unit]\nAfter=multi-user.target systemd-logind.service user@1000.service\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/tg-e2e.sh\n",
        0o644,
    );
    std::fs::create_dir_all(root.join("etc/systemd/system/multi-user.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/tg-e2e.service",
        root.join("etc/systemd/system/multi-user.target.wants/tg-e2e.service"),
    )
    .unwrap();
    put(&root, "/etc/machine-id", "6aef49f50614453386767d831f4f6ddf\n", 0o444);
    Booted { _dir: dir, root }
}

/// Enables `unit` (a timer) in `wants_dir` of the root, as `systemctl enable` would.
fn enable(root: &std::path::Path, wants_dir: &str, target: &str) {
    let d = root.join(wants_dir.trim_start_matches('/'));
    std::fs::create_dir_all(&d).unwrap();
    let name = std::path::Path::new(target).file_name().unwrap();
    std::os::unix::fs::symlink(target, d.join(name)).unwrap();
}

/// Writes `dir/NAME.timer` (`OnCalendar=` `calendar`, wanted by timers.target) and its
/// oneshot `NAME.service` running /bin/true, and enables the timer in `dir`.
fn timer_unit(root: &std::path::Path, dir: &str, name: &str, calendar: &str) {
    let timer = format!("[Timer]\nOnCalendar={calendar}\n[Install]\nWantedBy=timers.target\n");
    put(root, &format!("{dir}/{name}.timer"), &timer, 0o644);
    put(root, &format!("{dir}/{name}.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\n", 0o644);
    enable(root, &format!("{dir}/timers.target.wants"), &format!("{dir}/{name}.timer"));
}

/// Boots the root with systemd as PID 1 and returns what the driver wrote. nspawn may
/// not exit by itself after the container halts: the harness watches for the result.
pub(crate) fn boot(b: &Booted) -> String {
    let root = &b.root;
    let mut child = Command::new("systemd-nspawn")
        .args(["--register=no", "--keep-unit", "-q", "-D", root.to_str().unwrap(), "-b"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = root.join("root/e2e.out");
    let start = Instant::now();
    while !out.exists() && start.elapsed() < Duration::from_secs(180) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&out)
        .unwrap_or_else(|_| panic!("the container produced no result in {:?}", start.elapsed()))
}

/// `timerguard facts` of the image, read offline.
pub(crate) fn facts_json(root: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["--root", root.to_str().unwrap(), "facts"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

pub(crate) fn e2e_base() -> Option<String> {
    let Ok(base) = std::env::var("TIMERGUARD_E2E_ROOT") else {
        skip("TIMERGUARD_E2E_ROOT not set (scripts/test.sh sets it as root)");
        return None;
    };
    assert!(is_root(), "the live test needs root");
    Some(base)
}

/// alice (uid 1000 in the booted root) owns her home and everything in it.
pub(crate) fn give_alice_her_home(root: &std::path::Path) {
    let st =
        Command::new("chown").args(["-R", "1000:1000", root.join("home/alice").to_str().unwrap()]).status().unwrap();
    assert!(st.success());
}

#[test]
fn live_fix_against_a_running_systemd() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, SCRIPT);
    let root = &b.root;
    // An unapproved root timer.
    timer_unit(root, "/etc/systemd/system", "evil", "minutely");
    put(
        root,
        "/etc/timerguard.yaml",
        "params:\n  TG301:\n    approved: [systemd-tmpfiles-clean.timer, fstrim.timer, apt-daily.timer, apt-daily-upgrade.timer, dpkg-db-backup.timer, e2scrub_all.timer, logrotate.timer, man-db.timer]\n",
        0o644,
    );
    let text = boot(&b);
    let (before, after) = text.split_once("== after").unwrap();
    assert!(before.contains("\nactive\n") && before.contains("Linger=yes") && before.contains("\nalice\n"), "{text}");
    assert!(before.contains("live: DisableLinger"), "linger goes through logind on a live system: {text}");
    assert!(before.contains("fix rc=0"), "{text}");
    let after_lines: Vec<&str> = after.lines().map(str::trim).collect();
    assert_eq!(after_lines.get(1).copied(), Some("inactive"), "{text}");
    assert_eq!(after_lines.get(2).copied(), Some("disabled"), "{text}");
    assert!(
        !after.lines().any(|l| l.contains("evil.timer") && !l.contains("n/a")),
        "no next elapse for evil.timer: {text}"
    );
    // logind either keeps the user with Linger=no or, with nothing left running, drops it.
    assert!(after.contains("Linger=no") || after.contains("is not logged in or lingering"), "{text}");
    assert!(!after.lines().any(|l| l.trim() == "alice"), "the linger file is gone: {text}");
}

const VIEW_SCRIPT: &str = r#"#!/bin/sh
cd /root
# The lingering user's manager comes up after boot: wait for it.
for i in $(seq 60); do
  [ "$(systemctl is-active user@1000.service)" = active ] && [ -S /run/user/1000/systemd/private ] && break
  sleep 1
done
systemd-run --unit=tg-cal --on-calendar='@CAL@' /bin/true > run.log 2>&1
systemd-run --unit=tg-mono --on-active=2h /bin/true >> run.log 2>&1
echo '# edited after load' >> /etc/systemd/system/stale.timer
rm -f /etc/systemd/system/gone.timer /etc/systemd/system/timers.target.wants/gone.timer
systemctl list-timers --all --output=json > sys.json 2>&1
runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user list-timers --all --output=json > user.json 2>&1
/usr/local/bin/timerguard list --format json > tg.json 2> tg.err
/usr/local/bin/timerguard list > tg.txt 2>> tg.err
/usr/local/bin/timerguard check --format json --select TG601 --select TG602 --select TG307 > check.json 2>> tg.err
echo "check rc=$?" >> tg.err
echo done > e2e.out
systemctl poweroff
"#;

/// A daily calendar `hours` hours from now (UTC, the root's zone): a timer of the test
/// never fires between systemctl's snapshot and ours, which would move its last elapse.
fn far_hour(hours: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    format!("*-*-* {:02}:00:00", (now / 3600 + hours) % 24)
}

/// `systemctl list-timers --all --output=json` rows, keyed by unit: (next, last).
fn systemctl_rows(text: &str) -> std::collections::BTreeMap<String, (Option<u64>, Option<u64>)> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let n = |x: &serde_json::Value| x.as_u64().filter(|&u| u > 0 && u != u64::MAX);
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["unit"].as_str().unwrap().to_string(), (n(&r["next"]), n(&r["last"]))))
        .collect()
}

/// The live view (issue 15): in a booted Debian root, `list` asks the running system and
/// user managers and agrees with `systemctl list-timers --all` on every timer's next and
/// last elapse — a `systemd-run --on-calendar` timer and a monotonic one included — and
/// `check` reports a timer changed since it was loaded (TG601) and one whose file was
/// deleted while it runs (TG602).
#[test]
fn live_view_matches_systemctl_list_timers() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, &VIEW_SCRIPT.replace("@CAL@", &far_hour(10)));
    let root = &b.root;
    for name in ["stale", "gone"] {
        timer_unit(root, "/etc/systemd/system", name, &far_hour(11));
    }
    let user_dir = "/home/alice/.config/systemd/user";
    timer_unit(root, user_dir, "ut", &far_hour(12));
    give_alice_her_home(root);
    // A shared user timer, enabled for every user (`systemctl --global enable`).
    timer_unit(root, "/etc/systemd/user", "team", &far_hour(13));
    // bob neither lingers nor logs in: his manager does not run.
    append(root, "/etc/passwd", "bob:x:1001:1001::/home/bob:/bin/sh\n");
    append(root, "/etc/group", "bob:x:1001:\n");
    let bob_dir = "/home/bob/.config/systemd/user";
    timer_unit(root, bob_dir, "b", "daily");
    put(root, "/etc/timerguard.yaml", "params: {}\n", 0o644);

    boot(&b);
    let read = |f: &str| std::fs::read_to_string(root.join("root").join(f)).unwrap_or_default();
    let diag = || format!("run.log: {}\ntg.err: {}\ntg.txt:\n{}", read("run.log"), read("tg.err"), read("tg.txt"));
    let sys = systemctl_rows(&read("sys.json"));
    let user = systemctl_rows(&read("user.json"));
    let tg: serde_json::Value = serde_json::from_str(&read("tg.json")).unwrap_or_else(|e| panic!("{e}: {}", diag()));
    let rows = tg["timers"].as_array().unwrap();
    let row = |scope: &str, unit: &str| {
        rows.iter()
            .find(|r| r["scope"] == scope && r["timer"] == unit)
            .unwrap_or_else(|| panic!("no {unit} ({scope}) in the list: {}", diag()))
    };
    for (unit, want) in ["tg-cal.timer", "tg-mono.timer", "stale.timer", "gone.timer"].iter().map(|u| (u, sys.get(*u)))
    {
        assert!(want.is_some(), "systemctl lists {unit}: {}", read("sys.json"));
        let _ = row("system", unit);
    }
    // Every timer systemctl lists is in ours, with the same next and last elapse (a
    // monotonic deadline is converted at a slightly different moment: within 5 s).
    let close = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => a.abs_diff(b) <= 5_000_000,
        (None, None) => true,
        _ => false,
    };
    for (scope, table) in [("system", &sys), ("user:alice", &user)] {
        assert!(!table.is_empty(), "{scope}: systemctl listed nothing");
        for (unit, (next, last)) in table {
            let r = row(scope, unit);
            assert_eq!(r["manager"], "loaded", "{unit}: {r}");
            assert!(close(r["next_usec"].as_u64(), *next), "{scope} {unit}: next {r} vs systemctl {next:?}");
            assert_eq!(r["last_usec"].as_u64(), *last, "{scope} {unit}: last {r}");
        }
    }
    assert!(user.contains_key("ut.timer"), "{}", read("user.json"));
    assert!(row("user:bob", "b.timer").get("manager").is_none(), "no manager runs for bob: no live fields");
    assert_eq!(row("system", "tg-cal.timer")["activation"], "transient");
    assert_eq!(row("system", "gone.timer")["activation"], "memory-only", "{}", diag());
    // A shared user timer as alice's manager has it: the global row's facts, her scope.
    let g = row("global", "team.timer");
    let mine = row("user:alice", "team.timer");
    assert_eq!((&mine["activation"], &mine["schedule"]), (&g["activation"], &g["schedule"]), "{mine}");
    assert_eq!(mine["runs_as"], "alice");
    assert_eq!(row("system", "stale.timer")["need_daemon_reload"], true);
    let text = read("tg.txt");
    assert!(text.lines().next().unwrap_or("").contains("NEXT  ") && text.contains("PASSED"), "{text}");

    let check: serde_json::Value =
        serde_json::from_str(&read("check.json")).unwrap_or_else(|e| panic!("{e}: {}", diag()));
    let mut got: Vec<String> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["policy"].as_str().unwrap_or(""),
                f["rule"].as_str().unwrap_or(""),
                f["subject"].as_str().unwrap_or("")
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "TG307 transient tg-cal.timer".to_string(),
            "TG307 transient tg-mono.timer".to_string(),
            "TG601 timer-changed gone.timer (system)".to_string(),
            "TG601 timer-changed stale.timer (system)".to_string(),
            "TG602 file-gone gone.timer (system)".to_string(),
        ],
        "{}\n{}",
        read("check.json"),
        diag()
    );
}

const WATCH_SCRIPT: &str = r#"#!/bin/sh
cd /root
for i in $(seq 60); do
  [ "$(systemctl is-active user@1000.service)" = active ] && journalctl -u timerguard-watch -o cat | grep -q '^watching ' && break
  sleep 1
done
systemctl show timerguard-watch -p ActiveState -p User > state.txt
printf '[Timer]\nOnCalendar=daily\n' > /etc/systemd/system/planted.timer
chmod 666 /etc/systemd/system/planted.timer
mkdir -p /home/alice/.config/systemd/user
printf '[Timer]\nOnCalendar=hourly\n' > /home/alice/.config/systemd/user/mine.timer
chown -R alice:alice /home/alice/.config
for i in $(seq 60); do
  journalctl -u timerguard-watch -o cat | grep -q 'mine.timer' && journalctl -u timerguard-watch -o cat | grep -q 'planted.timer' && break
  sleep 1
done
journalctl -u timerguard-watch -o cat > watch.log
journalctl -u timerguard-watch -p err -o cat > watch-err.log
echo done > e2e.out
systemctl poweroff
"#;

/// The shipped unit (examples/systemd/timerguard-watch.service) in a booted Debian root:
/// hardened as it is (read-only, only CAP_DAC_READ_SEARCH), it starts, watches, and puts
/// a JSON line in the journal for a timer planted in /etc/systemd/system and one in a
/// lingering user's home — and its live view reaches the system and the user manager
/// with no warning.
#[test]
fn watch_service_reports_into_the_journal() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, WATCH_SCRIPT);
    let root = &b.root;
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/systemd/timerguard-watch.service"))
            .unwrap();
    put(root, "/etc/systemd/system/timerguard-watch.service", &unit, 0o644);
    enable(root, "/etc/systemd/system/multi-user.target.wants", "/etc/systemd/system/timerguard-watch.service");
    std::fs::create_dir_all(root.join("home/alice")).unwrap();
    give_alice_her_home(root);
    boot(&b);
    let read = |f: &str| std::fs::read_to_string(root.join("root").join(f)).unwrap_or_default();
    let log = read("watch.log");
    assert!(read("state.txt").contains("ActiveState=active"), "{}\n{log}", read("state.txt"));
    let events: Vec<serde_json::Value> =
        log.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let new_about =
        |needle: &str| events.iter().any(|e| e["event"] == "new" && e["finding"].to_string().contains(needle));
    assert!(new_about("/etc/systemd/system/planted.timer"), "{log}");
    assert!(new_about("mine.timer"), "{log}");
    assert!(!log.contains("live view"), "the live view reaches both managers: {log}");
    // Lines carry their priority for the journal: the planted world-writable system timer
    // (high) is an error there; the start-up line is not.
    let err = read("watch-err.log");
    assert!(err.contains("/etc/systemd/system/planted.timer") && !err.contains("watching "), "{err}");
    assert!(!log.lines().any(|l| l.starts_with('<')), "journald strips the prefix: {log}");
}

const CLEAN_SCRIPT: &str = r#"#!/bin/sh
cd /root
for i in $(seq 60); do
  [ "$(systemctl is-active user@1000.service)" = active ] && [ -S /run/user/1000/systemd/private ] && break
  sleep 1
done
tg="/usr/local/bin/timerguard --config /etc/timerguard.yaml"
$tg check --format json --fail-on info > check.json 2> check.err
echo "check rc=$?" >> rc.txt
$tg fix --unsafe --format json > fix.json 2>> check.err
echo "fix rc=$?" >> rc.txt
$tg list --format json > list.json 2>> check.err
stat -c '%U %a' /run/user/1000 > rundir.txt
# Outputs go to a directory the check does not read (root's home is read: a file made
# there just before a check leaves a timestamp too recent to trust, and no cache).
mkdir -m 700 -p /var/cache/timerguard c
sleep 2
# What the managers hold, around each cached check (a failure shows what moved).
p=Id,LoadState,ActiveState,SubState,NeedDaemonReload,FragmentPath
state() {
  systemctl show -p $p '*.timer'
  runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user show -p $p '*.timer'
}
# A third check only when the second found the managers' view moved (a live host may
# start a timer's service between two checks): then the third must reuse the second's.
for i in 1 2 3; do
  state > c/$i.before 2>&1
  $tg check --format json --fail-on info --cache /var/cache/timerguard/check > c/$i.json 2> c/$i.err
  echo "cache$i rc=$?" >> rc.txt
  state > c/$i.after 2>&1
  [ $i = 2 ] && ! grep -q "managers' view changed" c/2.err && break
done
echo done > e2e.out
systemctl poweroff
"#;

/// An ordinary booted host raises nothing (issue 10's promise, live): Debian's own
/// timers running, a lingering user (allowed) with her own enabled timer, her runtime
/// dir and user manager up, generators run, the live view on. `check` at every severity
/// finds nothing and `fix --unsafe` plans nothing.
#[test]
fn an_ordinary_booted_host_raises_nothing() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, CLEAN_SCRIPT);
    let root = &b.root;
    let user_dir = "/home/alice/.config/systemd/user";
    timer_unit(root, user_dir, "sync", "hourly");
    give_alice_her_home(root);
    put(
        root,
        "/etc/timerguard.yaml",
        "params:\n  TG201: { allowed: [alice] }\n  TG202: { allowed_users: [alice] }\n",
        0o644,
    );
    boot(&b);
    let read = |f: &str| std::fs::read_to_string(root.join("root").join(f)).unwrap_or_default();
    let diag = || format!("rc: {}\nstderr: {}\n{}", read("rc.txt"), read("check.err"), read("check.json"));
    assert_eq!(read("rundir.txt").trim(), "alice 700", "the runtime dir is there, the user's own");
    assert!(read("rc.txt").contains("check rc=0"), "{}", diag());
    assert!(!read("check.err").contains("warning"), "no warning on an ordinary host: {}", diag());
    let check: serde_json::Value =
        serde_json::from_str(&read("check.json")).unwrap_or_else(|e| panic!("{e}: {}", diag()));
    assert_eq!(check["findings"].as_array().map(Vec::len), Some(0), "{}", diag());
    assert!(read("rc.txt").contains("fix rc=0"), "{}", diag());
    let fix: serde_json::Value = serde_json::from_str(&read("fix.json")).unwrap();
    assert_eq!(fix["changes"], false, "{fix}");
    // `check --cache` on a live host: the first check keeps its report (the live view's
    // sum with it), the second finds nothing changed and reuses it, byte for byte.
    // A second check that saw the managers' view move (what the managers hold around
    // each check is in c/N.before and c/N.after) is followed by a third, which must reuse.
    let errs: Vec<String> = (1..=3).map(|i| read(&format!("c/{i}.err"))).collect();
    let states: Vec<String> = (1..=3)
        .flat_map(|i| ["before", "after"].map(|w| format!("{i}.{w}:\n{}", read(&format!("c/{i}.{w}")))))
        .collect();
    let why = || format!("checks: {errs:#?}\n{}", states.join("\n"));
    assert!(read("rc.txt").contains("cache1 rc=0") && read("rc.txt").contains("cache2 rc=0"), "{}", diag());
    assert!(errs[0].contains("checking afresh") && !errs[0].contains("not written"), "{}", why());
    // The script runs the third only after a second that saw the view move.
    let reused = if errs[2].is_empty() { 2 } else { 3 };
    assert!(read("rc.txt").contains(&format!("cache{reused} rc=0")), "{}", diag());
    assert!(errs[reused - 1].contains("cache: nothing changed"), "{}", why());
    assert_eq!(read(&format!("c/{reused}.json")), read("check.json"));
    // The live view was on: the user's timer is loaded in her manager.
    let list: serde_json::Value = serde_json::from_str(&read("list.json")).unwrap();
    let sync =
        list["timers"].as_array().unwrap().iter().find(|r| r["scope"] == "user:alice" && r["timer"] == "sync.timer");
    assert_eq!(sync.map(|r| r["manager"].clone()), Some(serde_json::json!("loaded")), "{list}");
}

const REFUSED_DRIVER: &str = r#"#!/bin/sh
cd /root
systemctl show -p Id,ActiveState m.timer n.timer ok.timer > refused.txt 2>&1
journalctl --no-pager -b -o cat -u m.timer -u n.timer >> refused.txt 2>&1
echo done > e2e.out
systemctl poweroff
"#;

/// S34: a timer the boot starts whose unit does not load (masked: `m`; missing: `n`) is
/// refused by the manager ("Refusing to start, unit … to trigger not loaded"), and stays
/// inactive; with its unit, it waits (`ok`). The facts say `will_run` (the boot starts
/// it) and `service_loaded: false`; TG308 reports each security timer so refused.
#[test]
fn s34_a_timer_whose_unit_does_not_load_is_refused_at_boot() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, REFUSED_DRIVER);
    let root = &b.root;
    let sys = "/etc/systemd/system";
    for n in ["m", "n", "ok"] {
        let timer = "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n";
        put(root, &format!("{sys}/{n}.timer"), timer, 0o644);
        enable(root, &format!("{sys}/timers.target.wants"), &format!("{sys}/{n}.timer"));
    }
    put(root, &format!("{sys}/ok.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\n", 0o644);
    std::os::unix::fs::symlink("/dev/null", root.join("etc/systemd/system/m.service")).unwrap();
    let config = b._dir.path().join("timerguard.yaml");
    std::fs::write(&config, "params:\n  TG308:\n    timers: [m.timer, n.timer, ok.timer]\n").unwrap();
    let facts = facts_json(root);
    let system = facts["scopes"].as_array().unwrap().iter().find(|s| s["kind"] == "system").unwrap();
    let timer = |n: &str| system["timers"].as_array().unwrap().iter().find(|t| t["name"] == n).unwrap().clone();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_timerguard"))
        .args(["--root", root.to_str().unwrap(), "check", "--format", "json", "--select", "TG308"])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut refused: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (f["rule"].as_str().unwrap_or_default().to_string(), f["subject"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    refused.sort();
    boot(&b);
    let text = std::fs::read_to_string(root.join("root/refused.txt")).unwrap_or_default();
    let blocks: Vec<&str> = text.split("\n\n").collect();
    for (n, state) in [("m", "inactive"), ("n", "inactive"), ("ok", "active")] {
        assert!(
            blocks.iter().any(|b| b.contains(&format!("Id={n}.timer")) && b.contains(&format!("ActiveState={state}"))),
            "{text}"
        );
        let t = timer(&format!("{n}.timer"));
        assert_eq!(t["activation"]["will_run"], true, "{n}: {t}");
        assert_eq!(t["service_loaded"], n == "ok", "{n}: {t}");
    }
    for n in ["m", "n"] {
        assert!(text.contains(&format!("Refusing to start, unit {n}.service to trigger not loaded")), "{text}");
    }
    assert_eq!(
        refused,
        [
            ("unit-not-loaded".to_string(), "m.timer".to_string()),
            ("unit-not-loaded".to_string(), "n.timer".to_string())
        ],
        "{report}"
    );
}
