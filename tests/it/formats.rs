//! Report formats for gates and hooks: every format from the same report, the same exit
//! code; GitHub annotations on the right file and line; JSONL; JUnit read back by a real
//! JUnit consumer (junitparser); several formats at once with `--report`.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn planted() -> Fx {
    let fx = crate::common::planted();
    fx.file(
        "/etc/tg.yaml",
        "waivers:\n  - { policy: TG201, subject: \"*alice\", reason: on-call account, expires: 2999-01-01 }\n",
    );
    fx
}

fn check(fx: &Fx, extra: &[&str]) -> (i32, String) {
    let cfg = fx.host_path("/etc/tg.yaml").display().to_string();
    let mut args = vec!["--config", cfg.as_str(), "check"];
    args.extend_from_slice(extra);
    let o = fx.cli(&args);
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn every_format_has_the_same_exit_code() {
    let fx = planted();
    for f in ["text", "json", "jsonl", "github", "junit", "sarif"] {
        assert_eq!(check(&fx, &["--format", f]).0, 1, "{f}");
        assert_eq!(check(&fx, &["--format", f, "--fail-on", "critical", "--ignore", "TG303"]).0, 0, "{f}");
    }
}

#[test]
fn github_annotations_point_at_file_and_line() {
    let (_, out) = check(&planted(), &["--format", "github"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("::error file=etc/systemd/system/beacon.service,line=2,title=TG303 inline-shell-payload (critical)::beacon.timer: ")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.starts_with("::error file=etc/systemd/system/report.timer,title=TG102")), "{out}");
    assert!(!out.contains("alice"), "waived findings are not annotated");
    assert!(lines.iter().all(|l| l.starts_with("::") && !l.contains('\n')));
}

#[test]
fn jsonl_is_one_finding_per_line() {
    let fx = planted();
    let (_, out) = check(&fx, &["--format", "jsonl"]);
    let (_, json) = check(&fx, &["--format", "json"]);
    let all: Value = serde_json::from_str(&json).unwrap();
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), all["findings"].as_array().unwrap().len());
    assert!(lines.iter().all(|l| l["schema"] == "timerguard.finding/v1"));
    assert!(lines.iter().any(|l| l["waived"] == true && l["policy"] == "TG201"));
}

#[test]
fn junit_reads_back_in_junitparser_and_report_writes_several() {
    let fx = planted();
    let xml = fx.path().join("out.xml");
    let jl = fx.path().join("out.jsonl");
    let (code, text) =
        check(&fx, &["--report", &format!("junit={}", xml.display()), "--report", &format!("jsonl={}", jl.display())]);
    assert_eq!(code, 1);
    assert!(text.contains("CRITICAL (1)"), "stdout keeps the chosen format");
    assert!(std::fs::read_to_string(&jl).unwrap().lines().count() >= 3);
    let has_parser = Command::new(python()).args(["-c", "import junitparser"]).status().is_ok_and(|s| s.success());
    if !has_parser {
        skip("python3 junitparser not installed (scripts/test.sh installs it)");
        return;
    }
    let script = r#"
import sys, junitparser
x = junitparser.JUnitXml.fromfile(sys.argv[1])
suites = list(x)
cases = [c for s in suites for c in s]
fail = [c for c in cases if c.result and isinstance(c.result[0], junitparser.Failure)]
skip = [c for c in cases if c.result and isinstance(c.result[0], junitparser.Skipped)]
print(len(suites), len(cases), len(fail), len(skip))
for c in fail: print("FAIL", c.classname, c.name)
"#;
    let o = Command::new(python()).args(["-c", script, xml.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let first: Vec<usize> = out.lines().next().unwrap().split(' ').map(|n| n.parse().unwrap()).collect();
    let n = timerguard::policy::builtin_ids().len();
    assert_eq!(first[0], n, "one suite per policy: {out}");
    assert_eq!((first[2], first[3]), (3, 1), "three failing cases, the waived one skipped: {out}");
    assert!(out.contains("FAIL TG303.inline-shell-payload beacon.timer"), "{out}");
    assert_eq!(first[1], n, "clean policies with one passing case, 4 with one subject each: {out}");
}
