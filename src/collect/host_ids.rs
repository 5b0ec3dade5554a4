//! What the host-wide specifiers (S31) stand for in the image: `%H %l %q` (host names),
//! `%m` (machine id), `%o %w %W %B %M %A` (os-release), `%a` (architecture), and on the
//! running host `%b` (boot id) and `%v` (kernel release). A manager resolves them when it
//! loads a unit: `ExecStart=/opt/%o/bin/job` runs `/opt/debian/bin/job` on Debian, and
//! reading it as written would report a missing executable that is not missing.
//! Offline, the image's own files say what its manager will see; the boot id and the
//! kernel of a boot to come cannot be known, and stay as written.

use super::environ::env_file;
use super::root::Root;

/// The values, read once per run.
#[derive(Debug, Clone, Default)]
pub struct HostIds {
    hostname: String,
    pretty: Option<String>,
    machine_id: String,
    /// The image's os-release, when it has one (`None`: the os-release specifiers fail).
    os: Option<Vec<(u32, String, String)>>,
    arch: Option<&'static str>,
    boot_id: Option<String>,
    kernel: Option<String>,
}

/// Largest os-release or machine-info read.
const MAX: u64 = 64 * 1024;

impl HostIds {
    /// For the system under `root`, its static host name (`etc_hostname`) and machine id
    /// already read: the running one's own values when `root` is `/`.
    pub fn read(root: &Root, etc_hostname: Option<&str>, machine_id: Option<&str>) -> HostIds {
        let file = |p: &str| super::text_file(root, p, MAX).map(|t| env_file(&t));
        let os = file("/etc/os-release").or_else(|| file("/usr/lib/os-release"));
        let pretty = file("/etc/machine-info").and_then(|t| lookup(&t, "PRETTY_HOSTNAME")).filter(|v| !v.is_empty());
        let running = root.is_slash().then(running).flatten();
        // systemd sets the hostname from /etc/hostname at boot, else os-release's
        // DEFAULT_HOSTNAME, else its compiled-in "localhost".
        let hostname = match &running {
            Some(r) => r.hostname.clone(),
            None => etc_hostname
                .map(str::to_string)
                .or_else(|| os.as_ref().and_then(|o| lookup(o, "DEFAULT_HOSTNAME")).filter(|h| !h.is_empty()))
                .unwrap_or_else(|| "localhost".into()),
        };
        let arch = match &running {
            Some(r) => arch_of_machine(&r.machine),
            None => image_arch(root),
        };
        HostIds {
            hostname,
            pretty,
            machine_id: machine_id.unwrap_or_default().to_string(),
            os,
            arch,
            boot_id: running.as_ref().map(|r| r.boot_id.clone()),
            kernel: running.map(|r| r.kernel),
        }
    }

    /// A host with this name and machine id and nothing else known (tests).
    #[cfg(test)]
    pub fn fixed(hostname: &str, machine_id: &str) -> HostIds {
        HostIds { hostname: hostname.into(), machine_id: machine_id.into(), ..HostIds::default() }
    }

    /// What `%c` stands for, or `None` when it cannot be known here (kept as written).
    pub fn get(&self, c: char) -> Option<String> {
        let os = |k: &str| self.os.as_ref().map(|o| lookup(o, k).unwrap_or_default());
        match c {
            'H' => Some(self.hostname.clone()),
            'l' => Some(short(&self.hostname).to_string()),
            'q' => Some(self.pretty.clone().unwrap_or_else(|| short(&self.hostname).to_string())),
            'm' => Some(self.machine_id.clone()),
            'o' => os("ID"),
            'w' => os("VERSION_ID"),
            'W' => os("VARIANT_ID"),
            'B' => os("BUILD_ID"),
            'M' => os("IMAGE_ID"),
            'A' => os("IMAGE_VERSION"),
            'a' => self.arch.map(str::to_string),
            'b' => self.boot_id.clone(),
            'v' => self.kernel.clone(),
            _ => None,
        }
    }

    /// What changes with the boot and no file shows (`check --cache` keys on it).
    pub fn volatile(root_is_slash: bool) -> String {
        root_is_slash.then(running).flatten().map(|r| format!("{r:?}")).unwrap_or_default()
    }
}

fn short(h: &str) -> &str {
    h.split('.').next().unwrap_or(h)
}

/// The last value assigned to `k`.
fn lookup(o: &[(u32, String, String)], k: &str) -> Option<String> {
    o.iter().rev().find(|(_, key, _)| key == k).map(|(_, _, v)| v.clone())
}

/// The first line of /etc/hostname that is not blank or a comment.
pub fn etc_hostname(t: &str) -> Option<String> {
    t.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string)
}

/// The running system's own values.
#[derive(Debug)]
struct Running {
    hostname: String,
    machine: String,
    kernel: String,
    boot_id: String,
}

fn running() -> Option<Running> {
    let u = nix::sys::utsname::uname().ok()?;
    let s = |o: &std::ffi::OsStr| o.to_string_lossy().into_owned();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?.trim().replace('-', "");
    Some(Running { hostname: s(u.nodename()), machine: s(u.machine()), kernel: s(u.release()), boot_id })
}

/// systemd's name for a kernel's `uname -m` (`architecture_to_string(uname_architecture())`).
fn arch_of_machine(m: &str) -> Option<&'static str> {
    Some(match m {
        "x86_64" => "x86-64",
        "i386" | "i486" | "i586" | "i686" => "x86",
        "aarch64" => "arm64",
        "aarch64_be" => "arm64-be",
        m if m.starts_with("arm") && m.ends_with('b') => "arm-be",
        m if m.starts_with("arm") => "arm",
        "ppc64le" => "ppc64-le",
        "ppc64" => "ppc64",
        "ppcle" => "ppc-le",
        "ppc" => "ppc",
        "s390x" => "s390x",
        "s390" => "s390",
        "riscv64" => "riscv64",
        "riscv32" => "riscv32",
        "loongarch64" => "loongarch64",
        "mips64" => "mips64",
        "mips" => "mips",
        "sparc64" => "sparc64",
        "sparc" => "sparc",
        "alpha" => "alpha",
        "ia64" => "ia64",
        "parisc64" => "parisc64",
        "parisc" => "parisc",
        "m68k" => "m68k",
        _ => return None,
    })
}

/// The architecture an image boots as, from the ELF header of its systemd: the kernel
/// that boots it is not in sight, so a 32-bit image is taken to run on a 32-bit kernel.
fn image_arch(root: &Root) -> Option<&'static str> {
    let c = root.chase("/usr/lib/systemd/systemd", true).ok().filter(|c| c.exists)?;
    elf_arch(&root.read_head(&c.path, 20).ok()?)
}

/// systemd's architecture name for an ELF header.
pub fn elf_arch(h: &[u8]) -> Option<&'static str> {
    if h.len() < 20 || &h[..4] != b"\x7fELF" {
        return None;
    }
    let (wide, le) = (h[4] == 2, h[5] == 1);
    let machine = if le { u16::from_le_bytes([h[18], h[19]]) } else { u16::from_be_bytes([h[18], h[19]]) };
    Some(match (machine, wide, le) {
        (62, _, _) => "x86-64",
        (3, _, _) => "x86",
        (183, _, true) => "arm64",
        (183, _, false) => "arm64-be",
        (40, _, true) => "arm",
        (40, _, false) => "arm-be",
        (21, _, true) => "ppc64-le",
        (21, _, false) => "ppc64",
        (20, _, true) => "ppc-le",
        (20, _, false) => "ppc",
        (22, true, _) => "s390x",
        (22, false, _) => "s390",
        (243, true, _) => "riscv64",
        (243, false, _) => "riscv32",
        (258, _, _) => "loongarch64",
        (8, true, true) => "mips64-le",
        (8, true, false) => "mips64",
        (8, false, true) => "mips-le",
        (8, false, false) => "mips",
        (43, _, _) => "sparc64",
        (2, _, _) => "sparc",
        (0x9026, _, _) => "alpha",
        (50, _, _) => "ia64",
        (15, true, _) => "parisc64",
        (15, false, _) => "parisc",
        (4, _, _) => "m68k",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S31: os-release values as systemd's env-file parser reads them.
    #[test]
    fn s31_os_release_values_unquoted_and_quoted() {
        let o = env_file(
            "# c\nID=debian\nVERSION_ID=\"12\"\nIMAGE_ID='img one'\nBUILD_ID=\"a\\\"b\"\nbad line\n VARIANT_ID = x \n",
        );
        let get = |k: &str| lookup(&o, k);
        assert_eq!(get("ID").as_deref(), Some("debian"));
        assert_eq!(get("VERSION_ID").as_deref(), Some("12"));
        assert_eq!(get("IMAGE_ID").as_deref(), Some("img one"));
        assert_eq!(get("BUILD_ID").as_deref(), Some("a\"b"));
        assert_eq!(get("VARIANT_ID").as_deref(), Some("x"));
        assert_eq!(get("NONE"), None);
    }

    /// S31: `%a` from the ELF header of an image's systemd, in both byte orders.
    #[test]
    fn s31_architecture_from_an_elf_header() {
        let header = |wide: u8, le: u8, m: u16| {
            let mut h = b"\x7fELF".to_vec();
            h.extend([wide, le, 1]);
            h.resize(18, 0);
            h.extend(if le == 1 { m.to_le_bytes() } else { m.to_be_bytes() });
            h
        };
        assert_eq!(elf_arch(&header(2, 1, 62)), Some("x86-64"));
        assert_eq!(elf_arch(&header(2, 1, 183)), Some("arm64"));
        assert_eq!(elf_arch(&header(2, 2, 21)), Some("ppc64"));
        assert_eq!(elf_arch(&header(2, 1, 21)), Some("ppc64-le"));
        assert_eq!(elf_arch(&header(1, 1, 40)), Some("arm"));
        assert_eq!(elf_arch(&header(2, 2, 22)), Some("s390x"));
        assert_eq!(elf_arch(&header(2, 1, 9999)), None);
        assert_eq!(elf_arch(b"#!/bin/sh\n"), None);
        // The binary this test runs as is an ELF file of the machine's own architecture.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let uname = nix::sys::utsname::uname().unwrap();
        assert_eq!(elf_arch(&me), arch_of_machine(&uname.machine().to_string_lossy()));
    }

    /// S31: an image's values and their fallbacks: os-release from /usr/lib when /etc
    /// has none, os-release's `DEFAULT_HOSTNAME` without /etc/hostname, the short host
    /// name for an empty pretty name, `%a` from the ELF header of its systemd; without
    /// os-release its specifiers stay as written, and the host name is `localhost`.
    #[test]
    fn s31_an_images_values_and_their_fallbacks() {
        let d = tempfile::tempdir().unwrap();
        let put = |p: &str, b: &[u8]| {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b).unwrap();
        };
        let root = || Root::open(d.path()).unwrap();
        // A systemd that is no regular file (here a FIFO, which must not be opened) says
        // nothing of the architecture.
        std::fs::create_dir_all(d.path().join("usr/lib/systemd")).unwrap();
        nix::unistd::mkfifo(&d.path().join("usr/lib/systemd/systemd"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let bare = HostIds::read(&root(), None, None);
        assert_eq!((bare.get('H'), bare.get('o'), bare.get('a')), (Some("localhost".into()), None, None));
        assert_eq!(bare.get('b'), None, "no boot id offline");

        put(
            "usr/lib/os-release",
            b"ID=tgos
DEFAULT_HOSTNAME=box.example
",
        );
        put(
            "etc/machine-info",
            b"PRETTY_HOSTNAME=
",
        );
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        std::fs::remove_file(d.path().join("usr/lib/systemd/systemd")).unwrap();
        put("usr/lib/systemd/systemd", &me[..4096]);
        let ids = HostIds::read(&root(), None, Some("abc"));
        assert_eq!(ids.get('H').as_deref(), Some("box.example"));
        assert_eq!(ids.get('q').as_deref(), Some("box"), "an empty pretty name falls back to the short name");
        assert_eq!(ids.get('o').as_deref(), Some("tgos"));
        assert_eq!(ids.get('w').as_deref(), Some(""), "a key os-release lacks is empty");
        assert_eq!(ids.get('m').as_deref(), Some("abc"));
        let uname = nix::sys::utsname::uname().unwrap();
        assert_eq!(ids.get('a').as_deref(), arch_of_machine(&uname.machine().to_string_lossy()));
        // /etc/hostname wins over DEFAULT_HOSTNAME.
        assert_eq!(HostIds::read(&root(), Some("web1"), None).get('H').as_deref(), Some("web1"));
    }

    /// S31: /etc/hostname's first line that is not a comment.
    #[test]
    fn s31_etc_hostname_skips_comments() {
        assert_eq!(etc_hostname("# set by the installer\n\n  web1.example \n").as_deref(), Some("web1.example"));
        assert_eq!(etc_hostname("# only a comment\n"), None);
    }
}
