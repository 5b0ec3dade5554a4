//! A user manager as the oracle for the user search path (S2, S3, S5–S9, S12–S15): random
//! shapes of a user's timers — fragments, masks, drop-ins and enablement links spread over
//! her own directories, her runtime directory and the shared ones, persistent and under
//! /run — are read offline with `facts`, then the root is booted (`systemd-nspawn -b`) and
//! her running manager is asked, unit by unit, what it loaded, from where, what it
//! triggers, its calendar, its unit-file state and whether it is active. She lingers in
//! half the runs; in the others her manager is started as a login would start it.
//! `systemd-analyze verify --root` cannot load user units, so this is the only oracle for
//! them. Each timer has its own names: the shapes do not touch one another. Needs root,
//! systemd-nspawn and scripts/test.sh's bootable root.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::common::*;
use crate::live::{boot, e2e_base, facts_json, give_alice_her_home, prepare};

const HOME_CONFIG: &str = "/home/alice/.config/systemd/user";
const HOME_DATA: &str = "/home/alice/.local/share/systemd/user";
/// The user search path (systemd 252, defaults for XDG_*) in its order, without the
/// transient and generator directories (the manager empties those when it starts). The
/// container mounts fresh tmpfses on /run and /run/user/1000, so what the image has under
/// /run is copied in from [`STAGED`] by her manager's `ExecStartPre=+`.
const DIRS: &[&str] = &[
    "/home/alice/.config/systemd/user.control",
    "/run/user/1000/systemd/user.control",
    HOME_CONFIG,
    "/etc/xdg/systemd/user",
    "/etc/systemd/user",
    "/run/user/1000/systemd/user",
    "/run/systemd/user",
    HOME_DATA,
    "/usr/local/share/systemd/user",
    "/usr/share/systemd/user",
    "/usr/local/lib/systemd/user",
    "/usr/lib/systemd/user",
];

/// Where the image's /run is kept for the boot to copy back.
const STAGED: &str = "/var/lib/tg-run";

/// The image's /run as her manager must see it: kept under [`STAGED`], copied back into the
/// runtime directories logind has just mounted, before her manager starts, owners and
/// modes as they are.
fn stage_run(root: &std::path::Path) {
    let sh = |cmd: String| {
        let st = std::process::Command::new("sh").args(["-c", &cmd]).status().unwrap();
        assert!(st.success(), "{cmd}");
    };
    let (r, staged) = (root.display(), root.join(STAGED.trim_start_matches('/')));
    std::fs::create_dir_all(root.join("run/user/1000/systemd")).unwrap();
    std::fs::create_dir_all(root.join("run/systemd/user")).unwrap();
    sh(format!("chown -R 1000:1000 {r}/run/user/1000 && chmod 0700 {r}/run/user/1000"));
    std::fs::create_dir_all(staged.join("u")).unwrap();
    std::fs::create_dir_all(staged.join("sys")).unwrap();
    sh(format!("cp -a {r}/run/user/1000/systemd {s}/u/ && cp -a {r}/run/systemd/user {s}/sys/", s = staged.display()));
    let copy = format!(
        "[Service]\nExecStartPre=+/bin/cp -a {STAGED}/u/systemd /run/user/1000/\n\
         ExecStartPre=+/bin/cp -a {STAGED}/sys/user /run/systemd/\n"
    );
    let d = root.join("etc/systemd/system/user@1000.service.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("tg-run.conf"), copy).unwrap();
}

/// The driver: waits for alice's manager to finish starting, then asks it about `names`.
fn driver(names: &[String], services: &[String]) -> String {
    format!(
        r#"#!/bin/sh
cd /root
# Her manager runs at boot when she lingers, else from her first login: start it as a
# login would.
systemctl start user@1000.service
for i in $(seq 90); do
  [ "$(systemctl is-active user@1000.service)" = active ] && [ -S /run/user/1000/systemd/private ] && break
  sleep 1
done
u() {{ runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user "$@"; }}
u is-system-running --wait > state.txt 2>&1
u show -p Id,Names,LoadState,ActiveState,UnitFileState,Triggers,FragmentPath,DropInPaths,TimersCalendar {} > show.txt 2>&1
u show -p Id,LoadState,FragmentPath,DropInPaths,ExecStart {} > svc.txt 2>&1
u show-environment >> state.txt 2>&1
runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemd-analyze --user unit-paths >> state.txt 2>&1
echo done > e2e.out
systemctl poweroff
"#,
        names.join(" "),
        services.join(" ")
    )
}

/// What one random case wrote, for the failure message.
struct Case {
    name: String,
    wrote: String,
}

fn write(root: &std::path::Path, log: &mut String, rel: &str, content: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    let _ = writeln!(log, "  {rel}: {content:?}");
}

fn link(root: &std::path::Path, log: &mut String, rel: &str, target: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&p);
    std::os::unix::fs::symlink(target, &p).unwrap();
    let _ = writeln!(log, "  {rel} -> {target}");
}

/// One timer's shape: where its fragments, masks, drop-ins, enablement links and service
/// are. A fragment's calendar names the directory it is in (the hour is its index), so
/// the winning one is visible.
fn random_case(rng: &mut Rng, root: &std::path::Path, i: usize) -> Case {
    // A dash in the name: `r7-.timer.d/` (S10's dash-prefix drop-ins) applies to it.
    let name = format!("r{i}-t");
    let mut log = String::new();
    let dir = |rng: &mut Rng| DIRS[rng.below(DIRS.len())];
    let mut fragments = Vec::new();
    for _ in 0..[0, 1, 1, 1, 2][rng.below(5)] {
        let d = dir(rng);
        let cal = format!("*-*-* {:02}:{:02}:00", DIRS.iter().position(|x| *x == d).unwrap(), i % 60);
        // `%u` is the manager's user: a shared timer triggers a different unit for each.
        let unit = match rng.below(20) {
            0..=2 => format!("Unit=s{i}.service\n"),
            3 => format!("Unit=%u-s{i}.service\n"),
            _ => String::new(),
        };
        write(
            root,
            &mut log,
            &format!("{d}/{name}.timer"),
            &format!("[Timer]\nOnCalendar={cal}\n{unit}[Install]\nWantedBy=timers.target\n"),
        );
        fragments.push(format!("{d}/{name}.timer"));
    }
    if rng.chance(15) {
        let d = dir(rng);
        if rng.chance(50) {
            link(root, &mut log, &format!("{d}/{name}.timer"), "/dev/null");
        } else {
            write(root, &mut log, &format!("{d}/{name}.timer"), "");
        }
    }
    if rng.chance(35) {
        let d = dir(rng);
        let body = match rng.below(4) {
            0 => format!("[Timer]\nOnCalendar=\nOnCalendar=*-*-* 20:{:02}:00\n", i % 60),
            1 => format!("[Timer]\nOnCalendar=*-*-* 21:{:02}:00\n", i % 60),
            2 => format!("[Timer]\nUnit=s{i}.service\n"),
            _ => "[Timer]\nOnCalendar=\n".to_string(),
        };
        let stem = if rng.chance(25) { format!("r{i}-") } else { name.clone() };
        if rng.chance(10) {
            link(root, &mut log, &format!("{d}/{stem}.timer.d/50-x.conf"), "/dev/null");
        } else {
            write(root, &mut log, &format!("{d}/{stem}.timer.d/50-x.conf"), &body);
        }
    }
    // An alias by symlink (S9), and enablement links may use it.
    let alias = rng.chance(15).then(|| format!("a{i}.timer"));
    if let Some(a) = &alias {
        let d = dir(rng);
        let target = match fragments.first() {
            Some(f) if rng.chance(85) => f.clone(),
            _ => format!("{}/{name}.timer", dir(rng)),
        };
        link(root, &mut log, &format!("{d}/{a}"), &target);
    }
    for _ in 0..[0, 1, 1, 2][rng.below(4)] {
        let d = dir(rng);
        let wants = if rng.chance(80) { "timers.target.wants" } else { "default.target.wants" };
        let target = match fragments.first() {
            Some(f) if rng.chance(85) => f.clone(),
            _ => format!("{}/{name}.timer", dir(rng)),
        };
        let as_named = match &alias {
            Some(a) if rng.chance(50) => a.clone(),
            _ => format!("{name}.timer"),
        };
        link(root, &mut log, &format!("{d}/{wants}/{as_named}"), &target);
    }
    // Each service file runs a command that names its directory, and a drop-in may
    // replace it: which file and drop-ins won is visible in what runs.
    for svc in [format!("{name}.service"), format!("s{i}.service"), format!("alice-s{i}.service")] {
        if rng.chance(70) {
            let d = dir(rng);
            let n = DIRS.iter().position(|x| *x == d).unwrap();
            write(
                root,
                &mut log,
                &format!("{d}/{svc}"),
                &format!("[Service]\nType=oneshot\nExecStart=/bin/echo {n}\n"),
            );
        }
        if rng.chance(20) {
            let d = dir(rng);
            let n = DIRS.iter().position(|x| *x == d).unwrap();
            write(
                root,
                &mut log,
                &format!("{d}/{svc}.d/50-x.conf"),
                &format!("[Service]\nExecStart=\nExecStart=/bin/echo d{n}\n"),
            );
        }
    }
    Case { name: format!("{name}.timer"), wrote: log }
}

/// A template timer's instance (S13, S15): the template, an instance's own file, the
/// template's drop-ins and an enablement link by the instance's name, each somewhere on
/// the path; the service is the template's instance.
fn template_case(rng: &mut Rng, root: &std::path::Path, i: usize) -> Case {
    let mut log = String::new();
    let dir = |rng: &mut Rng| DIRS[rng.below(DIRS.len())];
    let at = |d: &str| DIRS.iter().position(|x| *x == d).unwrap();
    let mut template = None;
    if rng.chance(60) {
        let d = dir(rng);
        let body =
            format!("[Timer]\nOnCalendar=*-*-* {:02}:{:02}:00\n[Install]\nWantedBy=timers.target\n", at(d), i % 60);
        write(root, &mut log, &format!("{d}/q{i}@.timer"), &body);
        template = Some(format!("{d}/q{i}@.timer"));
    }
    if rng.chance(20) {
        let d = dir(rng);
        let body = format!("[Timer]\nOnCalendar=*-*-* {}:{:02}:00\n", 12 + at(d), i % 60);
        write(root, &mut log, &format!("{d}/q{i}@x.timer"), &body);
    }
    if rng.chance(25) {
        let d = dir(rng);
        write(
            root,
            &mut log,
            &format!("{d}/q{i}@.timer.d/50-x.conf"),
            &format!("[Timer]\nOnCalendar=*-*-* 22:{:02}:00\n", i % 60),
        );
    }
    if rng.chance(70) {
        let d = dir(rng);
        let target = template.clone().unwrap_or_else(|| format!("{}/q{i}@.timer", dir(rng)));
        link(root, &mut log, &format!("{d}/timers.target.wants/q{i}@x.timer"), &target);
    }
    if rng.chance(80) {
        let d = dir(rng);
        write(
            root,
            &mut log,
            &format!("{d}/q{i}@.service"),
            &format!("[Service]\nType=oneshot\nExecStart=/bin/echo {} %i\n", at(d)),
        );
    }
    Case { name: format!("q{i}@x.timer"), wrote: log }
}

/// `systemctl show` blocks (blank-line separated), keyed by `Id`. A property with several
/// values (`TimersCalendar=`, one line each) keeps them all, a space apart.
fn show_blocks(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut props: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in block.lines().filter_map(|l| l.split_once('=')) {
            let e = props.entry(k.to_string()).or_default();
            if !e.is_empty() {
                e.push(' ');
            }
            e.push_str(v);
        }
        if let Some(id) = props.get("Id") {
            out.insert(id.clone(), props);
        }
    }
    out
}

/// The command lines of `ExecStart={ path=… ; argv[]=ARGS ; … }`.
fn argvs(v: &str) -> Vec<String> {
    v.split("argv[]=").skip(1).filter_map(|s| s.split(" ;").next()).map(str::to_string).collect()
}

/// The calendars of `TimersCalendar={ OnCalendar=SPEC ; next_elapse=… }`, sorted: systemd
/// prepends each value it parses, so it lists them last line first.
fn calendars(v: &str) -> Vec<String> {
    let mut c: Vec<String> =
        v.split("{ OnCalendar=").skip(1).filter_map(|s| s.split(" ;").next()).map(str::to_string).collect();
    c.sort();
    c
}

/// S2/S3 and the rest of the user search path, against a running user manager.
#[test]
fn s2_s3_random_user_scopes_match_a_running_user_manager() {
    let Some(base) = e2e_base() else { return };
    let (mut rng, cases) = random_run(0x5eed_2026_1207, 40);
    let names: Vec<String> = (0..cases).flat_map(|i| [format!("r{i}-t.timer"), format!("q{i}@x.timer")]).collect();
    let services: Vec<String> = (0..cases)
        .flat_map(|i| {
            [
                format!("r{i}-t.service"),
                format!("s{i}.service"),
                format!("alice-s{i}.service"),
                format!("q{i}@x.service"),
            ]
        })
        .collect();
    let b = prepare(&base, &driver(&names, &services));
    let root = &b.root;
    let shapes: Vec<Case> =
        (0..cases).flat_map(|i| [random_case(&mut rng, root, i), template_case(&mut rng, root, i)]).collect();
    // A type-level drop-in (S12) touches every timer, the shared ones too: then all are
    // hers to resolve.
    let mut common = String::new();
    if rng.chance(50) {
        let d = DIRS[rng.below(DIRS.len())];
        write(root, &mut common, &format!("{d}/timer.d/10-tg.conf"), "[Timer]\nAccuracySec=1h\n");
    }
    give_alice_her_home(root);
    stage_run(root);
    // Half the runs without lingering: what her manager loads does not depend on it.
    let lingers = rng.chance(50);
    if !lingers {
        std::fs::remove_file(root.join("var/lib/systemd/linger/alice")).unwrap();
    }

    // Offline, before the boot: what the image says.
    let facts = facts_json(root);
    let scope = |kind: &str| facts["scopes"].as_array().unwrap().iter().find(|s| s["kind"] == kind).cloned();
    let (global, mine) = (scope("global").unwrap(), scope("user"));

    boot(&b);
    let read = |f: &str| std::fs::read_to_string(root.join("root").join(f)).unwrap_or_default();
    let shown = show_blocks(&read("show.txt"));
    let svcs = show_blocks(&read("svc.txt"));
    assert_eq!(shown.len(), names.len(), "state: {}\nshow:\n{}", read("state.txt"), read("show.txt"));
    // A search directory may be a link to another (Debian: /etc/xdg/systemd/user ->
    // /etc/systemd/user). systemd names a file by the first directory it was found in,
    // we by where it is: compare where they are.
    let real = |p: &str| -> String {
        if p.is_empty() {
            return String::new();
        }
        let (dir, file) = p.rsplit_once('/').unwrap_or(("", p));
        match std::fs::canonicalize(root.join(dir.trim_start_matches('/'))) {
            Ok(d) => format!(
                "{}/{file}",
                d.strip_prefix(root).map_or(d.clone(), |x| std::path::Path::new("/").join(x)).display()
            ),
            Err(_) => p.to_string(),
        }
    };

    let mut bad = Vec::new();
    // What the run covered, by systemd's account: aliases loaded, dash-prefix drop-ins
    // applied, timers active.
    let (mut aliased, mut dashed, mut active, mut runtime) = (0, 0, 0, 0);
    for case in &shapes {
        let sd = &shown[&case.name];
        let get = |k: &str| sd.get(k).map(String::as_str).unwrap_or("");
        aliased += usize::from(get("Names").split_whitespace().count() > 1);
        dashed += usize::from(get("DropInPaths").contains("-.timer.d/"));
        active += usize::from(get("ActiveState") == "active");
        runtime += usize::from(format!("{} {}", get("FragmentPath"), get("DropInPaths")).contains("/run/"));
        // Her view: her own scope when her directories touch the timer, else the shared one.
        let find = |s: &serde_json::Value, list: &str| {
            s[list].as_array().and_then(|v| v.iter().find(|u| u["name"] == case.name.as_str())).cloned()
        };
        let sc = mine.as_ref().filter(|m| find(m, "units").is_some()).unwrap_or(&global);
        let (unit, timer) = (find(sc, "units"), find(sc, "timers"));
        let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
        let loaded = get("LoadState") == "loaded";
        let ours = unit.as_ref().map(|u| {
            let t = timer.clone().unwrap_or_default();
            let dropins: Vec<String> = u["dropins"]
                .as_array()
                .unwrap()
                .iter()
                // systemd lists a drop-in masked by a link to /dev/null too.
                .map(|d| real(&s(&d["path"])))
                .collect();
            let mut cal: Vec<String> = t["triggers"]
                .as_array()
                .map(|v| v.iter().filter(|x| x["key"] == "OnCalendar").map(|x| s(&x["normalized"])).collect())
                .unwrap_or_default();
            cal.sort();
            (
                s(&u["load_state"]),
                s(&u["file_state"]),
                loaded.then(|| {
                    let runs = t["activation"]["will_run"] == true && t["service_loaded"] == true;
                    let exec: Vec<String> = t["exec"]
                        .as_array()
                        .map(|v| {
                            v.iter()
                                .filter(|c| c["key"] == "ExecStart")
                                .map(|c| c["argv"].as_array().unwrap().iter().map(s).collect::<Vec<_>>().join(" "))
                                .collect()
                        })
                        .unwrap_or_default();
                    let loads = t["service_loaded"] == true;
                    let service = (loads, real(&s(&t["service_fragment"])), if loads { exec } else { Vec::new() });
                    let mut names: Vec<String> = u["names"].as_array().unwrap().iter().map(s).collect();
                    names.sort();
                    (runs, s(&t["service"]), real(&s(&u["fragment"]["path"])), dropins, cal, service, names)
                }),
            )
        });
        let theirs = (
            get("LoadState").to_string(),
            get("UnitFileState").to_string(),
            loaded.then(|| {
                let dropins: Vec<String> = get("DropInPaths").split_whitespace().map(real).collect();
                let svc = svcs.get(get("Triggers")).cloned().unwrap_or_default();
                let sget = |k: &str| svc.get(k).map(String::as_str).unwrap_or("");
                let service = (sget("LoadState") == "loaded", real(sget("FragmentPath")), argvs(sget("ExecStart")));
                // What a service that does not load would run is ours alone to say (its
                // drop-ins' commands, for the policies); systemd says nothing.
                (
                    get("ActiveState") == "active",
                    get("Triggers").to_string(),
                    real(get("FragmentPath")),
                    dropins,
                    calendars(get("TimersCalendar")),
                    service,
                    {
                        let mut n: Vec<String> = get("Names").split_whitespace().map(str::to_string).collect();
                        n.sort();
                        n
                    },
                )
            }),
        );
        let agree = match &ours {
            // `show` loads any instance of a template; we list those something starts.
            None if case.name.contains('@') => theirs.0 == "not-found" || get("ActiveState") != "active",
            None => theirs.0 == "not-found",
            Some(o) => *o == theirs,
        };
        if !agree {
            bad.push(format!(
                "{}:\n  systemd    {theirs:?}\n  timerguard {ours:?}\n  TimersCalendar={}\n{}",
                case.name,
                get("TimersCalendar"),
                case.wrote
            ));
            bad.last_mut().unwrap().push_str(&common);
        }
    }
    eprintln!(
        "{} timers: {aliased} with an alias, {dashed} with a dash-prefix drop-in, {runtime} loaded from /run, \
         {active} active, lingering: {lingers}{common}",
        names.len()
    );
    if cases >= 40 {
        assert!(aliased > 0 && dashed > 0 && runtime > 0 && active > 5, "the shapes reach what they are for");
    }
    assert!(bad.is_empty(), "{} of {cases} differ:\n{}\nunit paths:\n{}", bad.len(), bad.join("\n"), read("state.txt"));
}

const XDG_DRIVER: &str = r#"#!/bin/sh
cd /root
for i in $(seq 90); do
  [ "$(systemctl is-active user@1000.service)" = active ] && [ -S /run/user/1000/systemd/private ] && break
  sleep 1
done
u() { runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user "$@"; }
u is-system-running --wait > xdg.txt 2>&1
u daemon-reload >> xdg.txt 2>&1
u show -p Id,LoadState,FragmentPath h.timer d.timer c.timer l.timer > xdg-show.txt 2>&1
u show-environment > xdg-env.txt 2>&1
u show -p ExecStartPost h.service > xdg-exec.txt 2>&1
echo done > e2e.out
systemctl poweroff
"#;

/// S2: the environment `user@.service` starts her manager with (a template drop-in, `%i`
/// her uid; the instance's own drop-in) moves her unit directories, before and after a
/// reload; the same names from `environment.d` do not, though her services get them.
/// Her `environment.d` is under the moved `XDG_CONFIG_HOME`. Read offline first, then
/// asked of her running manager.
#[test]
fn s2_what_user_at_service_sets_moves_her_directories_and_environment_d_does_not() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, XDG_DRIVER);
    let root = &b.root;
    let put = |rel: &str, text: &str| crate::live::put(root, rel, text, 0o644);
    put("/etc/systemd/system/user@.service.d/tg-xdg.conf", "[Service]\nEnvironment=XDG_DATA_HOME=/srv/xdg/%i\n");
    put(
        "/etc/systemd/system/user@1000.service.d/tg-cfg.conf",
        "[Service]\nEnvironment=XDG_CONFIG_HOME=/home/alice/.hidden XDG_CACHE_HOME=/home/alice/.hcache\n",
    );
    put("/etc/environment.d/50-tg.conf", "XDG_DATA_HOME=/home/alice/.nowhere\n");
    put("/home/alice/.hidden/environment.d/60-tg.conf", "TGX=/opt/tgx\n");
    put("/home/alice/.config/environment.d/60-tg.conf", "TGX=/opt/wrong\n");
    put("/opt/tgx/x.sh", "#!/bin/sh\n");
    let t = "[Timer]\nOnCalendar=daily\n";
    for f in [
        "/home/alice/.hidden/systemd/user/h.timer",
        "/srv/xdg/1000/systemd/user/d.timer",
        "/home/alice/.config/systemd/user/c.timer",
        "/home/alice/.local/share/systemd/user/l.timer",
        "/home/alice/.nowhere/systemd/user/n.timer",
    ] {
        put(f, t);
    }
    put(
        "/home/alice/.hidden/systemd/user/h.service",
        "[Service]\nExecStart=/bin/sh ${TGX}/x.sh\nExecStartPost=/bin/true %E %S %C %L\n",
    );
    give_alice_her_home(root);
    let facts = facts_json(root);
    let alice =
        facts["scopes"].as_array().unwrap().iter().find(|s| s["kind"] == "user" && s["user"] == "alice").unwrap();
    let timers = alice["timers"].as_array().unwrap();
    let ours: BTreeMap<String, String> = timers
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["source"].as_str().unwrap_or_default().to_string()))
        .collect();
    let h = timers.iter().find(|t| t["name"] == "h.timer").unwrap();
    let scripts: Vec<&str> = h["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["role"] == "script")
        .map(|f| f["target"]["path"].as_str().unwrap())
        .collect();
    let post: Vec<&str> =
        h["exec"].as_array().unwrap()[1]["argv"].as_array().unwrap()[1..].iter().map(|a| a.as_str().unwrap()).collect();
    let post = post.join(" ");
    boot(&b);
    let read = |f: &str| std::fs::read_to_string(root.join("root").join(f)).unwrap_or_default();
    let (shown, env) = (read("xdg-show.txt"), read("xdg-env.txt"));
    // `%E %S %C %L` as her manager resolved them when it loaded the unit.
    let exec = read("xdg-exec.txt");
    assert!(exec.contains(&format!("argv[]=/bin/true {post} ;")), "ours: {post}\n{exec}");
    assert_eq!(post, "/home/alice/.hidden /home/alice/.hidden /home/alice/.hcache /home/alice/.hidden/log");
    let context = format!("{}\n{shown}\n{env}", read("xdg.txt"));
    let theirs: BTreeMap<String, String> = show_blocks(&shown)
        .into_values()
        .filter(|p| p.get("LoadState").map(String::as_str) == Some("loaded"))
        .map(|p| (p["Id"].clone(), p["FragmentPath"].clone()))
        .collect();
    assert_eq!(ours, theirs, "{context}");
    assert_eq!(ours.keys().collect::<Vec<_>>(), ["d.timer", "h.timer"], "{context}");
    assert!(env.lines().any(|l| l == "TGX=/opt/tgx"), "{context}");
    assert_eq!(scripts, ["/opt/tgx/x.sh"], "{context}");
}
