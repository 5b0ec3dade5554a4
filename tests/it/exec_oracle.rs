//! S31, S41: what a timer's service runs, against the manager of the booted image: the
//! host-wide specifiers (`%H %l %q %m %o %w %W %B %M %A %a`), what `%y %Y %d` stand for
//! (a linked unit running the script next to its file), the order a command line is
//! read in (split into words, then each word's specifiers resolved), the unit's
//! environment in a command's arguments (`$SCRIPT`, `${DIR}`, `$$`) and in `LD_PRELOAD`,
//! what the manager puts in that environment (`DefaultEnvironment=`, the account's
//! `HOME`, `USER`, `SHELL`, `XDG_RUNTIME_DIR`, `STATE_DIRECTORY`; a user manager's too,
//! with its `environment.d`),
//! where an executable is found (`ExecSearchPath=`, execute bits, `RootDirectory=`,
//! binds, hidden paths, `ExtensionDirectories=`) and
//! a relative script (`WorkingDirectory=`, `~`, and the default without one).
//! How a service's lists of mounts merge across a drop-in is read back with `systemctl
//! show`. `systemd-analyze verify --root` is no oracle here: it resolves specifiers and looks
//! executables up on the machine it runs on, not in the image, and puts in no
//! environment. The image gets its own host name, pretty name and os-release; seventeen
//! system services and one of alice's print what they are started with, and the facts
//! read offline must say the same. Needs root, systemd-nspawn and scripts/test.sh's
//! bootable root.

use crate::live::{boot, e2e_base, facts_json, give_alice_her_home, prepare, put};

/// An instance whose `%I` holds a space, a `;` and a quote: read as one word after the
/// split, it stays one argument; read into the line before the split, it would end the
/// command and hide the second one.
const INSTANCE: &str = r"spec@a\x20b\x3bc\x22d";

const DRIVER: &str = r#"#!/bin/sh
cd /root
systemctl start spec-a.service 'spec@a\x20b\x3bc\x22d.service' spec-e.service spec-s.service spec-x.service spec-j.service spec-w.service spec-h.service spec-y.service spec-m.service spec-n.service spec-r.service spec-v.service spec-p.service spec-o.service spec-q.service spec-b.service spec-k.service spec-l.service spec-d.service spec-dq.service spec-ga.service spec-gb.service spec-gc.service spec-gd.service spec-fa.service spec-fb.service spec-fc.service spec-ea.service spec-eb.service > start.txt 2>&1
systemctl show -p ExecStart -p Environment spec-a.service 'spec@a\x20b\x3bc\x22d.service' >> start.txt 2>&1
systemctl show -p BindPaths -p BindReadOnlyPaths -p TemporaryFileSystem -p ExtensionDirectories -p StateDirectory spec-mr.service > show-mr.txt 2>&1
journalctl --no-pager -u 'spec-*' >> start.txt 2>&1
hostname >> start.txt
# alice's lingering manager starts spec-u on its own time: wait (at most 60 s) for its
# last line before the power goes off.
i=0
while ! grep -q u-rel.sh /home/alice/args-u 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
journalctl --no-pager -u user@1000.service >> start.txt 2>&1
echo done > e2e.out
systemctl poweroff
"#;

/// `dir/spec-NAME.timer` and its oneshot `spec-NAME.service`, whose commands write to
/// `args-NAME` (`env`: more of its `Environment=`; `body`: the rest of `[Service]`).
fn spec(root: &std::path::Path, dir: &str, name: &str, env: &str, body: &str) {
    put(root, &format!("{dir}/spec-{name}.timer"), "[Timer]\nOnCalendar=daily\n", 0o644);
    let service = format!("[Service]\nType=oneshot\nEnvironment=OUT={name}{env}\n{body}");
    put(root, &format!("{dir}/spec-{name}.service"), &service, 0o644);
}

#[test]
fn s31_s41_commands_are_read_as_the_booted_manager_starts_them() {
    let Some(base) = e2e_base() else { return };
    let b = prepare(&base, DRIVER);
    let root = &b.root;
    put(root, "/etc/hostname", "# the image's own\ntg-oracle.example\n", 0o644);
    put(root, "/etc/machine-info", "PRETTY_HOSTNAME=\"Oracle Box\"\n", 0o644);
    let _ = std::fs::remove_file(root.join("etc/os-release"));
    put(
        root,
        "/etc/os-release",
        "ID=tgos\nVERSION_ID=\"7.1\"\nVARIANT_ID=edge\nBUILD_ID='b 42'\nIMAGE_ID=gate\nIMAGE_VERSION=3\n",
        0o644,
    );
    // Each service appends its arguments, one a line, to /root/args-NAME.
    // (To `$ARGS_DIR` when set: a user's service cannot write to /root.)
    put(
        root,
        "/usr/local/bin/tg-args",
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> \"${ARGS_DIR:-/root}/args-$OUT\"\n",
        0o755,
    );
    let sys = "/etc/systemd/system";
    put(root, &format!("{sys}/spec-a.timer"), "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n", 0o644);
    put(
        root,
        &format!("{sys}/spec-a.service"),
        "[Service]\nType=oneshot\nEnvironment=OUT=a \"LD_PRELOAD=/opt/%o/%w lib.so\"\n\
         ExecStart=/usr/local/bin/tg-args %o %w %W %B %M %A %a %q %H %l %m %% %n\n",
        0o644,
    );
    put(root, &format!("{sys}/spec@.timer"), "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n", 0o644);
    put(
        root,
        &format!("{sys}/spec@.service"),
        "[Service]\nType=oneshot\nEnvironment=OUT=i\n\
         ExecStart=/usr/local/bin/tg-args %I \"x %I y\" %i ; /usr/local/bin/tg-args second %j\n",
        0o644,
    );
    // The unit's environment in its arguments (S41): `$SCRIPT` from an environment file
    // (a word of its own: split), `${DIR}` from `Environment=` (within a word), `$$`.
    put(root, "/opt/jobs/run.sh", "#!/bin/sh\n", 0o755);
    put(root, "/opt/jobs/post.sh", "#!/bin/sh\n", 0o755);
    put(root, "/etc/default/spec-e", "SCRIPT=\"/opt/jobs/run.sh -q\"\n", 0o644);
    let body = "EnvironmentFile=/etc/default/spec-e\nExecStart=/usr/local/bin/tg-args $SCRIPT ${DIR}/post.sh $$DIR\n";
    spec(root, sys, "e", " DIR=/opt/jobs", body);
    // Where a bare executable is found at exec time: `ExecSearchPath=` alone when set
    // (an entry with `..` drops the rest of its line, so `/usr/local/bin` comes after the
    // second line's `/opt/sp`), else the fixed path, passing over a file that is not
    // executable (`/usr/local/sbin/tgx`, 0644). Each one names itself.
    for (path, mode) in [
        ("/opt/sp/tgjob", 0o755),
        ("/usr/local/bin/tgjob", 0o755),
        ("/usr/local/sbin/tgx", 0o644),
        ("/usr/bin/tgx", 0o755),
    ] {
        put(root, path, &format!("#!/bin/sh\necho {path} >> \"/root/args-$OUT\"\n"), mode);
    }
    for (name, body) in [
        (
            "s",
            "ExecSearchPath=/nowhere:%T/../opt/sp:/usr/local/bin\nExecSearchPath=/opt//sp/:/usr/local/bin\nExecStart=tgjob\n",
        ),
        ("x", "ExecStart=tgx\n"),
    ] {
        spec(root, sys, name, "", body);
    }
    // `RootDirectory=`: a command runs the jail's file of that path and looks a bare name
    // up in the jail, one with `+` too. The jail borrows the image's /usr.
    for (path, mode) in
        [("/srv/jail/opt/tgjail", 0o755), ("/opt/tgjail", 0o755), ("/srv/jail/usr/local/bin/tgbare", 0o755)]
    {
        put(root, path, &format!("#!/bin/sh\necho {path} >> \"/root/args-$OUT\"\n"), mode);
    }
    for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
        std::os::unix::fs::symlink(target, root.join("srv/jail").join(link)).unwrap();
    }
    std::fs::create_dir_all(root.join("srv/jail/root")).unwrap();
    let body = "RootDirectory=/srv/jail\nBindReadOnlyPaths=/usr/bin /usr/lib /usr/lib64\nBindPaths=/root\n\
                ExecStart=/opt/tgjail\nExecStart=tgbare\nExecStartPost=+/opt/tgjail\n";
    spec(root, sys, "j", "", body);
    // What a command sees (S41): links in the jail resolve in it (an absolute target from
    // its root, a `..` held there); bind mounts put their source (links followed) where
    // their destination resolves, the first of two wins, a `-` one with no source is
    // passed over, a `+` command sees them too; `InaccessiblePaths=`, `ProtectHome=` and
    // `PrivateTmp=` hide from the other commands only, `TemporaryFileSystem=` from all,
    // a bind beneath it showing. Each script names itself; where the facts resolve each
    // command that runs must be what printed.
    for path in ["/opt/tgbsrc", "/opt/tgrel", "/opt/tgdsrc/run", "/usr/local/lib/tgd/run", "/usr/local/bin/tgbound"] {
        put(root, path, &format!("#!/bin/sh\necho {path} >> \"/root/args-$OUT\"\n"), 0o755);
    }
    for path in ["/home/alice/tgh", "/var/tmp/tgt", "/srv/tgtmp/gone", "/srv/tgtmp/x"] {
        put(root, path, &format!("#!/bin/sh\necho {path} >> \"/root/args-$OUT\"\n"), 0o755);
    }
    for (link, target) in [
        ("srv/jail/usr/local/bin/tglink", "/opt/tgjail"),
        ("srv/jail/usr/local/bin/tgup", "../../../../../../opt/tgjail"),
        ("opt/tgslink", "/opt/tgbsrc"),
        ("usr/local/lnk", "/opt"),
    ] {
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    let jail = "RootDirectory=/srv/jail\nBindReadOnlyPaths=/usr/bin /usr/lib /usr/lib64\nBindPaths=/root\n";
    let run = "ExecStart=/usr/local/bin/tglink\nExecStart=/usr/local/bin/tgup\nExecStart=tglink\nExecStart=+/usr/local/bin/tglink\n";
    spec(root, sys, "k", "", &format!("{jail}{run}"));
    let body = "BindReadOnlyPaths=/opt/tgbsrc:/usr/local/bin/tgbound\nExecStart=/usr/local/bin/tgbound\n\
                ExecStartPost=+/usr/local/bin/tgbound\nExecStartPost=tgbound\n";
    spec(root, sys, "l", "", body);
    let body = "BindReadOnlyPaths=/opt/tgdsrc:/usr/local/lib/tgd /opt/tgslink:/usr/local/lnk/tgjail\n\
                BindReadOnlyPaths=/opt/tgrel:/opt/tgjail\nExecStart=/usr/local/lib/tgd/run\nExecStart=/opt/tgjail\n";
    spec(root, sys, "d", "", body);
    let body = "BindReadOnlyPaths=-/tg-nothing-here:/usr/local/bin/tgbound\nExecStart=/usr/local/bin/tgbound\n";
    spec(root, sys, "dq", "", body);
    for (name, hide, path) in [
        ("ga", "InaccessiblePaths=-/opt/tgdsrc", "/opt/tgdsrc/run"),
        ("gb", "ProtectHome=yes", "/home/alice/tgh"),
        ("gc", "PrivateTmp=yes", "/var/tmp/tgt"),
    ] {
        spec(root, sys, name, "", &format!("{hide}\nExecStart=-{path}\nExecStart=-+{path}\nExecStart=/bin/true\n"));
    }
    let body = "TemporaryFileSystem=/srv/tgtmp:ro\nBindReadOnlyPaths=/usr/local/bin/tgbound:/srv/tgtmp/x\n\
                ExecStart=-/srv/tgtmp/gone\nExecStart=-+/srv/tgtmp/gone\nExecStart=/srv/tgtmp/x\n";
    spec(root, sys, "gd", "", body);
    // `ExtensionDirectories=`: each directory's usr/ over /usr, the last listed on top;
    // one without the extension-release file the manual asks for (spec-eb).
    for path in [
        "/srv/tgexta/usr/local/bin/tgext",
        "/srv/tgextb/usr/local/bin/tgext",
        "/srv/tgexta/usr/local/bin/tgonlya",
        "/srv/tgextc/usr/local/bin/tgext",
        "/usr/local/bin/tgext",
    ] {
        put(root, path, &format!("#!/bin/sh\necho {path} >> \"/root/args-$OUT\"\n"), 0o755);
    }
    for ext in ["tgexta", "tgextb"] {
        let release = format!("/srv/{ext}/usr/lib/extension-release.d/extension-release.{ext}");
        put(root, &release, "ID=tgos\nVERSION_ID=7.1\n", 0o644);
    }
    let run = "ExecStart=/usr/local/bin/tgext\nExecStart=/usr/local/bin/tgonlya\nExecStart=+/usr/local/bin/tgext\n";
    spec(root, sys, "ea", "", &format!("ExtensionDirectories=/srv/tgexta /srv/tgextb\n{run}"));
    spec(root, sys, "eb", "", "ExtensionDirectories=/srv/tgextc\nExecStart=/usr/local/bin/tgext\n");
    // The lists of mounts across a fragment and its drop-in (S28): an empty `BindPaths=`
    // resets the read-only binds too; the rest accumulate. Read with `systemctl show`.
    let body = "BindReadOnlyPaths=/opt/tgbsrc:/srv/b1\nBindPaths=/opt/tgrel:/srv/b2\nTemporaryFileSystem=/srv/t1\n\
                ExtensionDirectories=-/srv/e1\nStateDirectory=tgs1\nExecStart=/bin/true\n";
    spec(root, sys, "mr", "", body);
    let dropin = "[Service]\nBindPaths=\nBindReadOnlyPaths=/opt/tgbsrc:/srv/b3\nTemporaryFileSystem=/srv/t2\n\
                  ExtensionDirectories=-/srv/e2\nStateDirectory=tgs2\n";
    put(root, &format!("{sys}/spec-mr.service.d/x.conf"), dropin, 0o644);
    // Binds the manager cannot make: the service fails before any command.
    for (name, bind) in
        [("fa", "/tg-nothing-here:/opt/tgbsrc"), ("fb", "/opt/tgdsrc:/opt/tgbsrc"), ("fc", "/opt/tgbsrc:/opt/tgdsrc")]
    {
        spec(root, sys, name, "", &format!("BindReadOnlyPaths={bind}\nExecStart=/opt/tgbsrc\n"));
    }
    // `WorkingDirectory=`: a relative argument is a file there; `~` is the home of the
    // user the service runs as (root's here); without one, `/` (and a user's home for her
    // manager, spec-u below).
    for (name, wd, arg, script) in [
        ("w", "WorkingDirectory=-/opt/wd\n", "rel.sh", "/opt/wd/rel.sh"),
        ("h", "WorkingDirectory=~\n", "rel.sh", "/root/rel.sh"),
        ("r", "", "opt/wd/r-rel.sh", "/opt/wd/r-rel.sh"),
    ] {
        put(root, script, &format!("echo {script} >> \"/root/args-$OUT\"\n"), 0o644);
        spec(root, sys, name, "", &format!("{wd}ExecStart=/bin/sh -e {arg}\n"));
    }
    // `%y`/`%Y`: the fragment's real path and its directory, here a unit linked in from
    // /opt/units, running the script that lies next to it; `%d`: its credentials directory.
    put(root, "/opt/units/spec-y.sh", "echo /opt/units/spec-y.sh >> \"/root/args-$OUT\"\n", 0o644);
    put(
        root,
        "/opt/units/spec-y.service",
        "[Service]\nType=oneshot\nEnvironment=OUT=y\nExecStart=/usr/local/bin/tg-args %y %Y %d\n\
         ExecStartPost=/bin/sh %Y/spec-y.sh\n",
        0o644,
    );
    std::os::unix::fs::symlink("/opt/units/spec-y.service", root.join("etc/systemd/system/spec-y.service")).unwrap();
    put(root, &format!("{sys}/spec-y.timer"), "[Timer]\nOnCalendar=daily\n", 0o644);
    // What the manager puts in the environment (S41, `manager_env`): `DefaultEnvironment=`
    // of system.conf.d (whose `HOME` a service's account overrides) and user.conf.d, the
    // account's `HOME`, `USER`, `SHELL`, `XDG_RUNTIME_DIR` and the service's directories.
    // Every argument names a file in the image, so the scripts read offline must be the
    // arguments the command got, in order.
    put(
        root,
        "/etc/systemd/system.conf.d/50-tg.conf",
        "[Manager]\nDefaultEnvironment=TGDEF=/opt/def HOME=/opt/wrong\n",
        0o644,
    );
    put(root, "/etc/systemd/user.conf.d/50-tg.conf", "[Manager]\nDefaultEnvironment=TGUDEF=/opt/udef\n", 0o644);
    // What the user manager's environment generator reads: environment.d, hers too.
    put(root, "/etc/environment.d/50-tg.conf", "TGENVD=/opt/envd\n", 0o644);
    put(root, "/home/alice/.config/environment.d/60-her.conf", "HERS=${HOME}/envd-her\n", 0o644);
    for f in [
        "/home/alice/m-home.sh",
        "/home/alice/m-user.sh",
        "/var/lib/tgm/m-state.sh",
        "/run/tgm/m-run.sh",
        "/opt/def/m-def.sh",
        "/opt/wrong/n-home.sh",
        "/home/alice/u-home.sh",
        "/run/user/1000/u-run.sh",
        "/home/alice/.config/tgu/u-state.sh",
        "/opt/def/u-def.sh",
        "/opt/udef/u-udef.sh",
        "/opt/envd/u-envd.sh",
        "/home/alice/envd-her/u-her.sh",
    ] {
        put(root, f, "#!/bin/sh\n", 0o644);
    }
    for (name, body) in [
        (
            "m",
            "User=alice\nStateDirectory=tgm\nRuntimeDirectory=tgm\nExecStart=/usr/local/bin/tg-args ${HOME}/m-home.sh \
             /home/${USER}/m-user.sh ${STATE_DIRECTORY}/m-state.sh ${RUNTIME_DIRECTORY}/m-run.sh ${TGDEF}/m-def.sh $SHELL\n",
        ),
        ("n", "ExecStart=/usr/local/bin/tg-args ${HOME}/n-home.sh\n"),
    ] {
        spec(root, sys, name, " ARGS_DIR=/home/alice", body);
    }
    // A name set nowhere is unset when a system service starts: `${NOPE}` is empty and a
    // `$NOPE` word goes (a missing optional environment file sets nothing). Not known
    // when the service passes the manager's own environment on (`PassEnvironment=`):
    // kept as written there.
    for f in ["/opt/v/v-empty.sh", "/opt/v/v-user.sh", "/opt/v/v-pass.sh"] {
        put(root, f, "#!/bin/sh\n", 0o644);
    }
    let body = "EnvironmentFile=-/etc/default/none\n\
                ExecStart=/usr/local/bin/tg-args A $NOPE ${NOPE}/opt/v/v-empty.sh B${NOPE}C ${USER}/opt/v/v-user.sh $$NOPE\n";
    spec(root, sys, "v", "", body);
    spec(root, sys, "p", "", "PassEnvironment=NOPE\nExecStart=/usr/local/bin/tg-args ${NOPE}/opt/v/v-pass.sh\n");
    // The account by name or number: `root` and `nobody` as the manager knows them
    // without their passwd lines (nobody has no home or shell, so no `HOME`), a uid as
    // its account.
    // They write where every account may.
    // Root's passwd line names another shell than the one the manager gives it.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let passwd = passwd.replace("root:x:0:0:root:/root:/bin/bash", "root:x:0:0:root:/root:/bin/sh");
    std::fs::write(root.join("etc/passwd"), passwd).unwrap();
    std::fs::create_dir_all(root.join("var/tmp/tgargs")).unwrap();
    std::fs::set_permissions(root.join("var/tmp/tgargs"), std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .unwrap();
    for f in [
        "/root/o-home.sh",
        "/home/alice/q-home.sh",
        "/home/alice/q-user.sh",
        "/opt/wrong/b-home.sh",
        "/nonexistent/b-home.sh",
    ] {
        put(root, f, "#!/bin/sh\n", 0o644);
    }
    for (name, user, args) in [
        ("o", "root", "${HOME}/o-home.sh $SHELL"),
        ("q", "1000", "${HOME}/q-home.sh /home/${USER}/q-user.sh $SHELL"),
        ("b", "nobody", "${HOME}/b-home.sh $SHELL"),
    ] {
        let body = format!("User={user}\nExecStart=/usr/local/bin/tg-args {args}\n");
        spec(root, sys, name, " ARGS_DIR=/var/tmp/tgargs", &body);
    }
    // alice's own, started with her manager (she lingers).
    let user_dir = "/home/alice/.config/systemd/user";
    let body = "StateDirectory=tgu\nExecStart=/usr/local/bin/tg-args ${HOME}/u-home.sh ${XDG_RUNTIME_DIR}/u-run.sh \
                ${STATE_DIRECTORY}/u-state.sh ${TGDEF}/u-def.sh ${TGUDEF}/u-udef.sh $SHELL ${TGENVD}/u-envd.sh \
                ${HERS}/u-her.sh\n\
                ExecStartPost=/bin/sh -e u-rel.sh\n[Install]\nWantedBy=default.target\n";
    put(root, "/home/alice/u-rel.sh", "echo /home/alice/u-rel.sh >> /home/alice/args-u\n", 0o644);
    spec(root, user_dir, "u", " ARGS_DIR=/home/alice", body);
    std::fs::create_dir_all(root.join("home/alice/.config/systemd/user/default.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        format!("{user_dir}/spec-u.service"),
        root.join("home/alice/.config/systemd/user/default.target.wants/spec-u.service"),
    )
    .unwrap();
    give_alice_her_home(root);
    let wants = root.join(sys.trim_start_matches('/')).join("timers.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    for (link, target) in [("spec-a.timer", "spec-a.timer"), (&format!("{INSTANCE}.timer"), "spec@.timer")] {
        std::os::unix::fs::symlink(format!("{sys}/{target}"), wants.join(link)).unwrap();
    }

    // Offline, before the boot: the arguments each timer's service is read to run with.
    let facts = facts_json(root);
    let system = facts["scopes"].as_array().unwrap().iter().find(|s| s["kind"] == "system").unwrap();
    let ours = |timer: &str| -> Vec<String> {
        let t = system["timers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == timer)
            .unwrap_or_else(|| panic!("no {timer} in the facts"));
        t["exec"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["argv"].as_array().unwrap()[1..].iter().map(|a| a.as_str().unwrap().to_string()))
            .collect()
    };
    let (a, i) = (ours("spec-a.timer"), ours(&format!("{INSTANCE}.timer")));
    // The files of a timer's service in one role: its scripts, its preloaded libraries.
    let used = |timer: &str, role: &str| -> Vec<String> {
        let t = system["timers"].as_array().unwrap().iter().find(|t| t["name"] == timer).unwrap();
        let files = t["files"].as_array().unwrap().iter();
        files.filter(|f| f["role"] == role).map(|f| f["target"]["path"].as_str().unwrap().to_string()).collect()
    };
    let (scripts, preloads) = (used("spec-e.timer", "script"), used("spec-a.timer", "preload"));
    let (relative, in_home) = (used("spec-w.timer", "script"), used("spec-h.timer", "script"));
    let from_slash = used("spec-r.timer", "script");
    let (unset, passed) = (used("spec-v.timer", "script"), used("spec-p.timer", "script"));
    let accounts = ["o", "q", "b"].map(|n| used(&format!("spec-{n}.timer"), "script"));
    let (fragment_args, next_to_unit) = (ours("spec-y.timer"), used("spec-y.timer", "script"));
    let (by_manager, by_default) = (used("spec-m.timer", "script"), used("spec-n.timer", "script"));
    let alice =
        facts["scopes"].as_array().unwrap().iter().find(|s| s["kind"] == "user" && s["user"] == "alice").unwrap();
    let t = alice["timers"].as_array().unwrap().iter().find(|t| t["name"] == "spec-u.timer").unwrap();
    let files = t["files"].as_array().unwrap().iter().filter(|f| f["role"] == "script");
    let by_her_manager: Vec<String> = files.map(|f| f["target"]["path"].as_str().unwrap().to_string()).collect();
    let exe = |timer: &str| used(timer, "executable");
    let (exe_s, exe_x, exe_j) = (exe("spec-s.timer"), exe("spec-x.timer"), exe("spec-j.timer"));
    let warned = |name: &str| {
        let said = format!("the manager fails spec-{name}.service at start");
        facts["warnings"].as_array().unwrap().iter().any(|w| w["message"].as_str().unwrap().contains(&said))
    };
    let fails = ["fa", "fb", "fc", "eb"].map(warned);
    // The files the commands that start get, in order (one that is missing is skipped).
    let viewed = ["k", "l", "d", "dq", "ga", "gb", "gc", "gd", "ea"].map(|n| {
        let t = system["timers"].as_array().unwrap().iter().find(|t| t["name"] == format!("spec-{n}.timer")).unwrap();
        let runs = t["exec"].as_array().unwrap().iter().map(|c| &c["executable"]);
        let runs = runs.filter(|e| e["error"].is_null() && e["resolved"] != "/usr/bin/true");
        (n, runs.map(|e| e["resolved"].as_str().unwrap().to_string()).collect::<Vec<_>>())
    });

    // The words of each list setting of spec-mr as merged offline.
    let mr = system["units"].as_array().unwrap().iter().find(|u| u["name"] == "spec-mr.service").unwrap();
    let merged = |k: &str| -> Vec<String> {
        let values = mr["settings"]["Service"][k].as_array().cloned().unwrap_or_default();
        values.iter().flat_map(|s| s["value"].as_str().unwrap().split_whitespace().map(str::to_string)).collect()
    };
    const LISTS: [&str; 5] =
        ["BindPaths", "BindReadOnlyPaths", "TemporaryFileSystem", "ExtensionDirectories", "StateDirectory"];
    let offline = LISTS.map(|k| (k, merged(k)));

    boot(&b);
    let read = |f: &str| std::fs::read_to_string(root.join("root").join(f)).unwrap_or_default();
    let theirs = |f: &str| read(f).lines().map(str::to_string).collect::<Vec<_>>();
    let context = read("start.txt");
    assert_eq!(a, theirs("args-a"), "%o %w %W %B %M %A %a %q %H %l %m %% %n\n{context}");
    assert_eq!(i, theirs("args-i"), "%I \"x %I y\" %i ; … %j\n{context}");
    let env = context.lines().find_map(|l| l.strip_prefix("Environment=")).unwrap_or_default();
    assert!(env.contains("LD_PRELOAD=/opt/tgos/7.1 lib.so"), "{context}");
    assert_eq!(preloads, ["/opt/tgos/7.1"], "ld.so takes a space as a separator: {context}");
    // The scripts read offline are the arguments that name them, as the command got them.
    assert_eq!(theirs("args-e"), ["/opt/jobs/run.sh", "-q", "/opt/jobs/post.sh", "$DIR"], "{context}");
    assert_eq!(scripts, ["/opt/jobs/run.sh", "/opt/jobs/post.sh"], "{context}");
    assert_eq!(theirs("args-s"), ["/opt/sp/tgjob"], "{context}");
    assert_eq!(exe_s, ["/opt/sp/tgjob"], "{context}");
    assert_eq!(theirs("args-x"), ["/usr/bin/tgx"], "{context}");
    assert_eq!(exe_x, ["/usr/bin/tgx"], "{context}");
    assert_eq!(theirs("args-w"), ["/opt/wd/rel.sh"], "{context}");
    assert_eq!(relative, ["/opt/wd/rel.sh"], "{context}");
    assert_eq!(theirs("args-h"), ["/root/rel.sh"], "{context}");
    assert_eq!(in_home, ["/root/rel.sh"], "{context}");
    assert_eq!(theirs("args-r"), ["/opt/wd/r-rel.sh"], "{context}");
    assert_eq!(from_slash, ["/opt/wd/r-rel.sh"], "{context}");
    assert_eq!(theirs("args-v"), ["A", "/opt/v/v-empty.sh", "BC", "/opt/v/v-user.sh", "$NOPE"], "{context}");
    assert_eq!(unset, ["/opt/v/v-empty.sh", "/opt/v/v-user.sh"], "{context}");
    assert_eq!(theirs("args-p"), ["/opt/v/v-pass.sh"], "this manager's own environment lacks it: {context}");
    assert!(passed.is_empty(), "a manager's own environment is not known offline: {passed:?}");
    let shared = |f: &str| {
        let text = std::fs::read_to_string(root.join("var/tmp/tgargs").join(f)).unwrap_or_default();
        text.lines().map(str::to_string).collect::<Vec<_>>()
    };
    for (n, ours) in ["o", "q", "b"].iter().zip(&accounts) {
        assert_eq!(ours, &shared(&format!("args-{n}")), "spec-{n}: {context}");
    }
    assert_eq!(accounts[0], ["/root/o-home.sh", "/bin/bash"], "root's shell is not its passwd line's");
    assert_eq!(accounts[2], ["/opt/wrong/b-home.sh"], "nobody's home is /: no HOME of its own");
    // The script's own line comes last: it ran from where `%Y` pointed.
    assert_eq!(fragment_args, theirs("args-y"), "%y %Y %d, then `sh %Y/spec-y.sh`\n{context}");
    // Every argument that names a file is taken as code the command may run: the unit
    // file `%y` named to `tg-args`, and the script `sh` ran.
    assert_eq!(next_to_unit, ["/opt/units/spec-y.service", "/opt/units/spec-y.sh"], "{context}");
    let in_her_home = |f: &str| {
        std::fs::read_to_string(root.join("home/alice").join(f))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(by_manager, in_her_home("args-m"), "{context}");
    assert_eq!(by_default, in_her_home("args-n"), "{context}");
    let hers = in_her_home("args-u");
    assert_eq!(by_her_manager, hers, "{context}");
    assert_eq!(by_manager[0], "/home/alice/m-home.sh", "the account's HOME over DefaultEnvironment's");
    assert_eq!(by_default, ["/opt/wrong/n-home.sh"], "no User=: DefaultEnvironment's HOME");
    assert_eq!(hers.len(), 9, "{context}");
    assert_eq!(hers.last().map(String::as_str), Some("/home/alice/u-rel.sh"), "a user's service starts in her home");
    for (n, ours) in ["fa", "fb", "fc", "eb"].iter().zip(fails) {
        let failed = context.contains(&format!("spec-{n}.service: Failed at step NAMESPACE"));
        assert_eq!((ours, failed, theirs(&format!("args-{n}")).len()), (true, true, 0), "spec-{n}: {context}");
    }
    // The manager's lists (`systemctl show` adds a bind's default `:rbind`).
    let shown = read("show-mr.txt");
    for (k, ours) in &offline {
        let line = shown.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_else(|| panic!("{shown}"));
        let theirs: Vec<&str> = line.split_whitespace().map(|w| w.trim_end_matches(":rbind")).collect();
        assert_eq!(ours, &theirs, "{k}: {shown}");
    }
    assert_eq!(offline[1].1, ["/opt/tgbsrc:/srv/b3"], "an empty BindPaths= reset the read-only binds too");
    assert_eq!(offline[2].1, ["/srv/t1", "/srv/t2"]);
    for (n, ours) in &viewed {
        assert_eq!(ours, &theirs(&format!("args-{n}")), "spec-{n}: {context}");
    }
    let lines = viewed.iter().map(|(_, v)| v.len()).collect::<Vec<_>>();
    assert_eq!(lines, [4, 3, 2, 1, 1, 1, 1, 1, 3], "{viewed:?}");
    let top = "/srv/tgextb/usr/local/bin/tgext";
    assert_eq!(viewed[8].1, [top, "/srv/tgexta/usr/local/bin/tgonlya", top], "the last extension on top, `+` too");
    assert_eq!(viewed[0].1, ["/srv/jail/opt/tgjail"; 4]);
    assert_eq!(viewed[2].1, ["/opt/tgdsrc/run", "/opt/tgbsrc"]);
    assert_eq!(viewed[3].1, ["/usr/local/bin/tgbound"]);
    let jail = ["/srv/jail/opt/tgjail", "/srv/jail/usr/local/bin/tgbare", "/srv/jail/opt/tgjail"];
    assert_eq!(theirs("args-j"), jail, "{context}");
    assert_eq!(exe_j, jail, "{context}");
    // What the words came to, so that a pass is not two empty lists agreeing.
    assert_eq!(a[..6], ["tgos", "7.1", "edge", "b 42", "gate", "3"]);
    assert_eq!(i[..3], ["a b;c\"d", "x a b;c\"d y", r"a\x20b\x3bc\x22d"]);
}
