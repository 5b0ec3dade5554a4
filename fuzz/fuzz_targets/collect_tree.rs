//! The collector over random trees: files (with fuzzed content), links with hostile
//! targets (loops, climbs, absolute paths, /dev/null, /proc) and directories in the unit
//! directories, then a full collection. Never panics, never hangs, and no host path leaks
//! into the facts.
#![no_main]
use libfuzzer_sys::fuzz_target;

const DIRS: &[&str] = &[
    "etc/systemd/system",
    "usr/lib/systemd/system",
    "etc/systemd/system/timers.target.wants",
    "etc/systemd/system/a.timer.d",
    "home/u/.config/systemd/user",
    "var/lib/systemd/linger",
];
const NAMES: &[&str] =
    &["a.timer", "a.service", "b.timer", "x.conf", ".h.timer", "c@.timer", "c@i.timer", "timers.target.wants", "u"];
const TARGETS: &[&str] = &[
    "a.timer", "../a.timer", "/etc/systemd/system/b.timer", "/dev/null", "../../../../..", "/", "..", ".",
    "/proc/self/root", "/etc/passwd", "c@.timer", "/home/u/.config/systemd/user/a.timer",
];

const HEADS: &[&str] = &[
    "[Unit]\nWants=a.timer\n[Timer]\nOnCalendar=",
    "[Service]\nRootDirectory=/home/u\nBindPaths=/etc/systemd/system:/usr/bin\nExecStart=/usr/bin/",
    "[Service]\nExecStart=/etc/systemd/system/a.timer\nInaccessiblePaths=/etc\nBindReadOnlyPaths=",
    "[Service]\nProtectHome=yes\nTemporaryFileSystem=/etc/systemd\nExecStart=+/home/u/.config/systemd/user/",
    "[Service]\nRootImage=/etc/passwd\nMountImages=/home/u:/usr\nExecStart=true\nExtensionDirectories=/",
    "[Service]\nExtensionImages=-/etc/systemd/system/a.timer\nExtensionDirectories=/home/u /etc\nExecStart=/usr/",
];

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for d in ["etc/systemd/system", "usr/lib/systemd/system", "home/u/.config/systemd/user"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n").ok();
    let mut it = data.chunks(4);
    while let Some(op) = it.next() {
        let [kind, d, n, t] = *op else { break };
        let p = root.join(DIRS[d as usize % DIRS.len()]).join(NAMES[n as usize % NAMES.len()]);
        if p.symlink_metadata().is_ok() || std::fs::create_dir_all(p.parent().expect("parent")).is_err() {
            continue;
        }
        let _ = match kind % 3 {
            0 => {
                let body = it.next().unwrap_or(&[]);
                // A timer's schedule, or what its service runs and the file system that
                // service sees (jail, binds, hidden paths) in a tree of hostile links.
                let mut content = HEADS[t as usize % HEADS.len()].as_bytes().to_vec();
                content.extend_from_slice(body);
                std::fs::write(&p, content)
            }
            1 => std::os::unix::fs::symlink(TARGETS[t as usize % TARGETS.len()], &p),
            _ => std::fs::create_dir(&p),
        };
    }
    let host = timerguard::collect::collect(root).expect("collect");
    let text = format!("{:?}", host.scopes);
    assert!(!text.contains(&root.display().to_string()), "a host path leaked into the facts");
});
