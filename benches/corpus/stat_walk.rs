// stat_walk.rs - floor_probe.rs without its reads: the stat-only walk that a warm
// re-check (`check --cache`, nothing changed) is measured against. Derived from the
// shared floor_probe.rs by deleting the read of unit files; nothing else changed.
//
//   rustc -C opt-level=3 -o $PROBE benches/corpus/stat_walk.rs
//   $PROBE ROOT [THREADS]
//
// Does the unavoidable syscalls of the real tool and nothing else:
//   * read ROOT/etc/passwd and list ROOT/var/lib/systemd/linger
//   * lstat every entry in the system and global-user unit dirs, and per user
//     the ancestors (home, ~/.config, ~/.config/systemd, ~/.local, ...) and every
//     entry in ~/.config/systemd/user and ~/.local/share/systemd/user
//   * readlink every symlink
//   * read every *.timer, *.service and drop-in *.conf and split it into lines
//     (counts "key=value" lines: a stand-in for parsing, no evaluation)
// THREADS (default 1) workers pull users from a shared counter.
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default, Clone, Copy)]
struct Acc {
    entries: u64,
    units: u64,
    bytes: u64,
    kv: u64,
    ww: u64,
}

impl Acc {
    fn add(&mut self, o: Acc) {
        self.entries += o.entries;
        self.units += o.units;
        self.bytes += o.bytes;
        self.kv += o.kv;
        self.ww += o.ww;
    }
}

fn walk(dir: &Path, acc: &mut Acc) {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(_) => return,
    };
    for de in rd.flatten() {
        let md = match de.metadata() {
            // DirEntry::metadata = fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)
            Ok(m) => m,
            Err(_) => continue,
        };
        acc.entries += 1;
        let ft = md.file_type();
        if ft.is_symlink() {
            let _ = fs::read_link(de.path());
            continue;
        }
        if md.mode() & 0o002 != 0 {
            acc.ww += 1;
        }
        if ft.is_dir() {
            walk(&de.path(), acc);
        }
    }
}

fn lstat(p: &str, acc: &mut Acc) {
    if fs::symlink_metadata(p).is_ok() {
        acc.entries += 1;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = args.get(1).expect("usage: floor_probe ROOT [THREADS]").trim_end_matches('/').to_string();
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1);

    let passwd = fs::read_to_string(format!("{root}/etc/passwd")).expect("passwd");
    let homes: Vec<String> = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let uid: u32 = f.get(2)?.parse().ok()?;
            (f.len() >= 7 && uid >= 1000 && uid != 65534).then(|| format!("{root}{}", f[5]))
        })
        .collect();
    let linger = fs::read_dir(format!("{root}/var/lib/systemd/linger"))
        .map(|r| r.count())
        .unwrap_or(0);

    let mut total = Acc::default();
    let mut seen = Vec::new();
    for d in [
        "/etc/systemd/system", "/run/systemd/system", "/run/systemd/transient",
        "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
        "/etc/systemd/user", "/usr/lib/systemd/user",
    ] {
        let p = format!("{root}{d}");
        if let Ok(real) = fs::canonicalize(&p) {
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
        }
        walk(Path::new(&p), &mut total);
    }

    let next = AtomicUsize::new(0);
    let per_user = |acc: &mut Acc| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(h) = homes.get(i) else { break };
        for sfx in ["", "/.config", "/.config/systemd", "/.local", "/.local/share", "/.local/share/systemd"] {
            lstat(&format!("{h}{sfx}"), acc);
        }
        walk(Path::new(&format!("{h}/.config/systemd/user")), acc);
        walk(Path::new(&format!("{h}/.local/share/systemd/user")), acc);
    };
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut a = Acc::default();
                    per_user(&mut a);
                    a
                })
            })
            .collect();
        for h in hs {
            total.add(h.join().unwrap());
        }
    });
    println!(
        "users={} linger={} entries={} unit_files={} bytes={} kv_lines={} world_writable={} threads={}",
        homes.len(), linger, total.entries, total.units, total.bytes, total.kv, total.ww, threads
    );
}
