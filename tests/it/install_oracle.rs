//! S5, S9, S15–S19, S21: `list-unit-files` (install.c's view) of the system and global
//! scopes against `systemctl --root` itself, on the shapes a random search found where the
//! two differed, and on seeded random layouts: aliases, masks, linked files, `.wants`/
//! `.requires`/`.upholds` links and `[Install]` sections in every directory of the search
//! path, the runtime, control, generator and transient ones included.

use timerguard::model::{Scope, ScopeKind};

use crate::common::*;

const V: &str = "/usr/lib/systemd/system";
const E: &str = "/etc/systemd/system";
const BODY: &str = "[Unit]\nDescription=t\n";

/// `(name, state)` pairs, sorted.
type States = Vec<(String, String)>;

/// A shape: what it is, how to build it, the unit and the state systemd 252 gives it.
type Shape = (&'static str, Box<dyn Fn(&Fx)>, &'static str, &'static str);

/// Our `unit_files` of the system (or global) scope against `systemctl list-unit-files`;
/// `None` when systemctl is not installed.
fn against_systemctl(fx: &Fx, global: bool) -> Option<(States, States)> {
    let mut args = vec!["list-unit-files", "--no-legend", "--no-pager"];
    if global {
        args.insert(0, "--global");
    }
    let out = fx.systemctl(&args)?;
    let h = fx.collect();
    let s: Scope = if global { scope(&h, ScopeKind::Global, None) } else { system(&h) };
    Some((our_unit_files(&s), parse_unit_files(&out)))
}

fn state(fx: &Fx, name: &str) -> String {
    system(&fx.collect()).unit_files.get(name).map(|s| s.as_str().to_string()).unwrap_or_else(|| "-".into())
}

/// One minimal root per shape, with the state systemd 252 gives it.
#[test]
fn s15_s19_shapes_where_install_state_differed_match_systemctl() {
    let cases: Vec<Shape> = vec![
        // S19: a mask anywhere under /run is a runtime mask, the control directory included.
        (
            "mask in /run/…/system.control",
            Box::new(|fx| {
                fx.link("/run/systemd/system.control/a.target", "/dev/null");
            }),
            "a.target",
            "masked-runtime",
        ),
        // S5/S21: a link in a generator directory to a file outside the search path is a
        // linked unit file (judged by its target), linked at runtime, not generated.
        (
            "linked from a generator dir",
            Box::new(|fx| {
                fx.file("/opt/a.target", BODY).link("/run/systemd/generator/a.target", "/opt/a.target");
            }),
            "a.target",
            "linked-runtime",
        ),
        // S9: a link to a name of another type is rejected by the manager; install.c
        // reports it `bad` (and does not fall through to a lower file of the name).
        (
            "alias to another type",
            Box::new(|fx| {
                fx.file(&format!("{V}/b.path"), "[Path]\nPathExists=/x\n").file(&format!("{V}/a.target"), BODY);
                fx.link(&format!("{E}/a.target"), &format!("{V}/b.path"));
            }),
            "a.target",
            "bad",
        ),
        // install.c follows an alias by name, to that name's first entry, which the
        // manager may have skipped: b.target's first entry is a link to another type.
        (
            "alias to a name whose first entry is bad",
            Box::new(|fx| {
                fx.file(&format!("{V}/b.target"), BODY).link("/usr/local/lib/systemd/system/b.target", "x.service");
                fx.link(&format!("{E}/a.target"), &format!("{V}/b.target"));
            }),
            "a.target",
            "bad",
        ),
        // A link that cannot be followed at all: a directory on its way is a loop.
        (
            "link through a looping directory",
            Box::new(|fx| {
                fx.link("/opt/loop", "loop").link(&format!("{E}/a.target"), "/opt/loop/a.target");
            }),
            "a.target",
            "bad",
        ),
        (
            "alias to a missing name",
            Box::new(|fx| {
                fx.link(&format!("{E}/a.target"), &format!("{V}/b.target"));
            }),
            "a.target",
            "bad",
        ),
        (
            "named as its target, which exists",
            Box::new(|fx| {
                fx.file(&format!("{V}/a.target"), BODY).link("/run/systemd/system/a.target", &format!("{V}/a.target"));
            }),
            "a.target",
            "bad",
        ),
        (
            "invalid alias even on to /dev/null",
            Box::new(|fx| {
                fx.link(&format!("{V}/b.path"), "/dev/null").link(&format!("{E}/a.target"), "b.path");
            }),
            "a.target",
            "bad",
        ),
        (
            "alias to a linked file that leads nowhere",
            Box::new(|fx| {
                fx.link("/usr/local/lib/systemd/system/b.target", "/opt/gone.target");
                fx.link(&format!("{E}/a.target"), &format!("{V}/b.target"));
            }),
            "a.target",
            "bad",
        ),
        // S5: a search directory that does not exist is still on the search path: a link
        // into it is an alias, followed by name.
        (
            "alias through an absent search dir",
            Box::new(|fx| {
                fx.file("/usr/local/lib/systemd/system/b.target", BODY);
                fx.link(&format!("{E}/a.target"), "/run/systemd/system/b.target");
            }),
            "a.target",
            "alias",
        ),
        // S15: 252 knows no `UpheldBy=` in [Install] and does not read `.upholds/`.
        (
            "UpheldBy= is no rule",
            Box::new(|fx| {
                fx.file(
                    &format!("{E}/a.service"),
                    "[Service]\nExecStart=/bin/true\n[Install]\nUpheldBy=multi-user.target\n",
                );
            }),
            "a.service",
            "static",
        ),
        (
            ".upholds links do not enable",
            Box::new(|fx| {
                fx.file(&format!("{V}/a.target"), &format!("{BODY}[Install]\nWantedBy=multi-user.target\n"));
                fx.link(&format!("{E}/multi-user.target.upholds/a.target"), &format!("{V}/a.target"));
            }),
            "a.target",
            "disabled",
        ),
        // Links in system.control are neither the persistent config nor runtime.
        (
            "links in /etc/…/system.control",
            Box::new(|fx| {
                fx.file(&format!("{V}/a.target"), &format!("{BODY}[Install]\nWantedBy=multi-user.target\n"));
                fx.link("/etc/systemd/system.control/multi-user.target.wants/a.target", &format!("{V}/a.target"));
            }),
            "a.target",
            "disabled",
        ),
        // A `.wants` link in a directory below the unit's own still counts.
        (
            "a runtime link below the unit's dir",
            Box::new(|fx| {
                fx.file("/run/systemd/system.control/a.path", "[Path]\nPathExists=/x\n");
                fx.link("/run/systemd/transient/b.target.requires/a.path", "/etc/systemd/system/a.path");
            }),
            "a.path",
            "enabled-runtime",
        ),
        (
            "an instance [Install] does not name",
            Box::new(|fx| {
                fx.file(
                    &format!("{E}/j@.timer"),
                    "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\nDefaultInstance=alpha\n",
                );
                fx.link("/run/systemd/system/default.target.requires/j@beta.timer", &format!("{E}/j@.timer"));
            }),
            "j@.timer",
            "indirect",
        ),
    ];
    for (what, build, name, want) in cases {
        let fx = Fx::new();
        fx.debian_layout().dir("/dev").file("/dev/null", "");
        build(&fx);
        assert_eq!(state(&fx, name), want, "{what}");
        if let Some((ours, theirs)) = against_systemctl(&fx, false) {
            assert_eq!(ours, theirs, "{what}: systemctl differs");
        }
    }
}

const NAMES: [&str; 7] = ["a", "b", "c", "job@", "web@", "x-y", "tgt"];
const TYPES: [&str; 5] = ["timer", "service", "target", "socket", "path"];

fn unit_name(g: &mut Rng, instances: bool) -> String {
    let (n, t) = (g.pick(&NAMES), g.pick(&TYPES));
    if n.ends_with('@') && instances && g.chance(50) {
        return format!("{n}{}.{t}", g.pick(&["alpha", "beta"]));
    }
    format!("{n}.{t}")
}

fn unit_body(g: &mut Rng, name: &str) -> String {
    let ty = name.rsplit('.').next().unwrap();
    let mut s = match ty {
        "timer" => "[Timer]\nOnCalendar=daily\n",
        "service" => "[Service]\nExecStart=/bin/true\n",
        "socket" => "[Socket]\nListenStream=/run/x.sock\n",
        "path" => "[Path]\nPathExists=/x\n",
        _ => "[Unit]\nDescription=t\n",
    }
    .to_string();
    let n = g.below(4);
    if n > 0 {
        s.push_str("[Install]\n");
    }
    for _ in 0..n {
        let line = match g.below(6) {
            0 => format!("Alias={}.{ty}", g.pick(&NAMES).trim_end_matches('@')),
            1 => format!("Also={}", unit_name(g, true)),
            2 => format!("DefaultInstance={}", g.pick(&["alpha", "beta", ""])),
            3 => format!("UpheldBy={}", g.pick(&["timers.target", "tgt.target"])),
            k => format!(
                "{}={}",
                if k == 4 { "WantedBy" } else { "RequiredBy" },
                g.pick(&["timers.target", "multi-user.target", "tgt.target", "default.target"])
            ),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// One random layout over the directories `dirs` (the first three: vendor, config, runtime).
fn random_layout(g: &mut Rng, fx: &Fx, dirs: &[&str]) {
    let main = [dirs[0], dirs[0], dirs[1], dirs[1], dirs[2]];
    for _ in 0..1 + g.below(12) {
        let name = unit_name(g, false);
        let d = if g.chance(60) { g.pick(&main) } else { g.pick(&dirs[3..]) };
        let p = format!("{d}/{name}");
        if std::fs::symlink_metadata(fx.host_path(&p)).is_ok() {
            continue;
        }
        match g.below(100) {
            0..45 => {
                let b = unit_body(g, &name);
                fx.file(&p, &b);
            }
            45..55 => {
                fx.file(&p, "");
            }
            55..65 => {
                fx.link(&p, "/dev/null");
            }
            65..78 => {
                let t = unit_name(g, false);
                let td = g.pick(&main[..3]);
                let target = match g.below(3) {
                    0 => format!("{td}/{t}"),
                    1 => t,
                    _ => format!("../{t}"),
                };
                fx.link(&p, &target);
            }
            78..83 => {
                let b = unit_body(g, &name);
                fx.file(&format!("/opt/{name}"), &b).link(&p, &format!("/opt/{name}"));
            }
            _ => {
                let owner = match g.below(5) {
                    0 => unit_name(g, false),
                    _ => g.pick(&["timers.target", "multi-user.target", "tgt.target", "default.target"]).to_string(),
                };
                let kind = g.pick(&["wants", "requires", "upholds"]);
                let link = unit_name(g, true);
                let at = link.find('@').map(|i| format!("{}@.{}", &link[..i], link.rsplit('.').next().unwrap()));
                let dest = format!("{}/{}", g.pick(&main[..3]), at.unwrap_or_else(|| link.clone()));
                let lp = format!("{d}/{owner}.{kind}/{link}");
                if std::fs::symlink_metadata(fx.host_path(&lp)).is_err() {
                    fx.link(&lp, &dest);
                }
            }
        }
    }
}

fn random_layouts_match(global: bool, seeds: std::ops::Range<u64>) {
    let dirs: &[&str] = if global {
        &[
            "/usr/lib/systemd/user",
            "/etc/systemd/user",
            "/run/systemd/user",
            "/usr/local/lib/systemd/user",
            "/usr/share/systemd/user",
            "/usr/local/share/systemd/user",
        ]
    } else {
        &[
            V,
            E,
            "/run/systemd/system",
            "/run/systemd/generator",
            "/run/systemd/transient",
            "/usr/local/lib/systemd/system",
            "/etc/systemd/system.control",
            "/run/systemd/system.control",
            "/run/systemd/generator.early",
            "/run/systemd/generator.late",
            "/etc/systemd/system.attached",
        ]
    };
    for seed in seeds {
        let fx = Fx::new();
        fx.debian_layout().dir("/dev").file("/dev/null", "");
        let mut g = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        random_layout(&mut g, &fx, dirs);
        let Some((ours, theirs)) = against_systemctl(&fx, global) else {
            skip("systemctl not installed");
            return;
        };
        if ours != theirs {
            let listing = walkdir::WalkDir::new(fx.path())
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| !e.file_type().is_dir())
                .map(|e| {
                    let p = e.path().strip_prefix(fx.path()).unwrap().display().to_string();
                    match std::fs::read_link(e.path()) {
                        Ok(t) => format!("{p} -> {}", t.display()),
                        Err(_) => format!("{p}: {:?}", std::fs::read_to_string(e.path()).unwrap_or_default()),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            panic!("seed {seed} (global: {global}): ours {ours:?}\nsystemctl {theirs:?}\n{listing}");
        }
    }
}

#[test]
fn s15_s19_random_system_layouts_match_systemctl() {
    random_layouts_match(false, 0..120);
}

#[test]
fn s15_s19_random_global_layouts_match_systemctl() {
    random_layouts_match(true, 0..80);
}

/// S5/S9 for the manager: a search directory that does not exist (offline, `/run` is
/// often empty) is still on the search path, so a link into it names another unit: an
/// alias, loaded from wherever that name lives, not a linked file that is missing.
#[test]
fn s5_a_link_into_an_absent_search_dir_is_an_alias_for_the_manager_too() {
    let fx = Fx::new();
    fx.debian_layout().file("/usr/local/lib/systemd/system/b.target", BODY);
    fx.link(&format!("{E}/a.target"), "/run/systemd/system/b.target");
    let s = system(&fx.collect());
    let u = s.units.iter().find(|u| u.names.iter().any(|n| n == "a.target")).expect("a.target loads");
    assert_eq!(u.name, "b.target");
    assert_eq!(u.load_state, timerguard::model::LoadState::Loaded);
    assert_eq!(u.fragment.as_ref().map(|f| f.path.as_str()), Some("/usr/local/lib/systemd/system/b.target"));
    if !have("systemd-analyze") {
        skip("systemd-analyze not installed");
        return;
    }
    let log = fx.verify_log("a.target");
    assert!(log.contains("Unit a.target has alias b.target"), "{log}");
}
