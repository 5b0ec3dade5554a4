//! A manager connection: the live view's calls over a Unix socket, blocking with
//! timeouts. A manager is reached the way `systemctl` reaches it as root: its private
//! socket first (`/run/systemd/private`, `/run/user/UID/systemd/private`: peer-to-peer,
//! no bus daemon needed), else the system bus or the user's bus (`Hello` first).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::wire::{self, Arg, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPS: &str = "org.freedesktop.DBus.Properties";
/// A manager that does not answer a call within this is reported, not waited for.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to one manager; a bus connection names the destination.
pub struct Manager {
    sock: UnixStream,
    serial: u32,
    dest: Option<&'static str>,
}

/// One timer's properties, as the manager reports them.
#[derive(Debug, Default)]
pub struct Props {
    pub unit: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub fragment_path: String,
    pub transient: bool,
    pub need_daemon_reload: bool,
    pub service: String,
    pub next_realtime: u64,
    pub next_monotonic: u64,
    pub last_trigger: u64,
}

type Dict = Vec<(String, Value)>;

impl Manager {
    /// Connects to the manager behind `private` (its private socket), else `bus`.
    pub fn connect(private: &str, bus: Option<&str>) -> Result<Manager, String> {
        let mut errors = Vec::new();
        match Manager::open(private, None) {
            Ok(m) => return Ok(m),
            Err(e) => errors.push(format!("{private}: {e}")),
        }
        if let Some(bus) = bus {
            match Manager::open(bus, Some(DEST)) {
                Ok(m) => return Ok(m),
                Err(e) => errors.push(format!("{bus}: {e}")),
            }
        }
        Err(errors.join("; "))
    }

    fn open(path: &str, dest: Option<&'static str>) -> Result<Manager, String> {
        let sock = UnixStream::connect(path).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
        let mut m = Manager { sock, serial: 0, dest };
        m.auth()?;
        if dest.is_some() {
            m.call(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[])?;
        }
        Ok(m)
    }

    /// SASL EXTERNAL with our uid (the server checks it against the socket's peer
    /// credentials). BEGIN is sent with AUTH, as sd-bus clients do: sent after the OK,
    /// it can reach systemd in one read with the first call, which then sits unread in
    /// the server's auth buffer and the call never gets an answer.
    fn auth(&mut self) -> Result<(), String> {
        let uid = nix::unistd::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.sock.write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes()).map_err(|e| e.to_string())?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 {
                return Err("authentication answer too long".into());
            }
            self.sock.read_exact(&mut b).map_err(|e| format!("authentication: {e}"))?;
            line.push(b[0]);
        }
        if !line.starts_with(b"OK ") {
            return Err(format!("authentication refused: {}", String::from_utf8_lossy(&line).trim()));
        }
        Ok(())
    }

    /// One call and its reply (signals and other traffic in between are skipped).
    fn call(
        &mut self,
        dest: Option<&str>,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Value>, String> {
        self.serial += 1;
        let msg = wire::method_call(self.serial, dest, path, iface, member, args);
        self.sock.write_all(&msg).map_err(|e| format!("{member}: {e}"))?;
        loop {
            let mut head = [0u8; 16];
            self.sock.read_exact(&mut head).map_err(|e| format!("{member}: {e}"))?;
            let len = wire::message_len(&head).map_err(|e| format!("{member}: {e}"))?;
            let mut buf = head.to_vec();
            buf.resize(len, 0);
            self.sock.read_exact(&mut buf[16..]).map_err(|e| format!("{member}: {e}"))?;
            let reply = wire::parse(&buf).map_err(|e| format!("{member}: bad reply: {e}"))?;
            if reply.reply_serial != Some(self.serial) {
                continue;
            }
            return match reply.kind {
                2 => Ok(reply.body),
                3 => Err(format!(
                    "{member}: {}: {}",
                    reply.error_name.unwrap_or_default(),
                    reply.body.first().and_then(Value::as_str).unwrap_or("")
                )),
                k => Err(format!("{member}: unexpected message type {k}")),
            };
        }
    }

    fn systemd(&mut self, path: &str, iface: &str, member: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, String> {
        self.call(self.dest, path, iface, member, args)
    }

    /// Every timer unit the manager has loaded (any state), with its object path.
    pub fn timers(&mut self) -> Result<Vec<(String, String)>, String> {
        let body = self.systemd(PATH, MANAGER, "ListUnitsByPatterns", &[Arg::Strs(&[]), Arg::Strs(&["*.timer"])])?;
        let Some(Value::Array(rows)) = body.first() else { return Err("ListUnitsByPatterns: no array".into()) };
        let mut out = Vec::new();
        for r in rows {
            // (ssssssouso): name, description, load, active, sub, following, path, …
            if let Value::Struct(f) = r
                && let (Some(n), Some(p)) = (f.first().and_then(Value::as_str), f.get(6).and_then(Value::as_str))
            {
                out.push((n.to_string(), p.to_string()));
            }
        }
        Ok(out)
    }

    fn all(&mut self, path: &str, iface: &str) -> Result<Dict, String> {
        let body = self.systemd(path, PROPS, "GetAll", &[Arg::Str(iface)])?;
        let Some(Value::Array(entries)) = body.first() else { return Err("GetAll: no dict".into()) };
        Ok(entries
            .iter()
            .filter_map(|e| match e {
                Value::Struct(kv) if kv.len() == 2 => kv[0].as_str().map(|k| (k.to_string(), kv[1].clone())),
                _ => None,
            })
            .collect())
    }

    /// The Unit and Timer properties of the timer at `path`, and whether the unit it
    /// triggers needs a reload.
    pub fn props(&mut self, unit: &str, path: &str) -> Result<(Props, bool), String> {
        let u = self.all(path, "org.freedesktop.systemd1.Unit")?;
        let t = self.all(path, "org.freedesktop.systemd1.Timer")?;
        let p = Props {
            unit: unit.to_string(),
            load_state: string(&u, "LoadState"),
            active_state: string(&u, "ActiveState"),
            sub_state: string(&u, "SubState"),
            fragment_path: string(&u, "FragmentPath"),
            transient: flag(&u, "Transient"),
            need_daemon_reload: flag(&u, "NeedDaemonReload"),
            service: string(&t, "Unit"),
            next_realtime: number(&t, "NextElapseUSecRealtime"),
            next_monotonic: number(&t, "NextElapseUSecMonotonic"),
            last_trigger: number(&t, "LastTriggerUSec"),
        };
        let service_reload = if p.service.is_empty() {
            false
        } else {
            // Not loaded: nothing in memory to be stale.
            match self.systemd(PATH, MANAGER, "GetUnit", &[Arg::Str(&p.service)]) {
                Ok(b) => match b.first().and_then(Value::as_str).map(str::to_string) {
                    Some(sp) => {
                        self.all(&sp, "org.freedesktop.systemd1.Unit").is_ok_and(|s| flag(&s, "NeedDaemonReload"))
                    }
                    None => false,
                },
                Err(_) => false,
            }
        };
        Ok((p, service_reload))
    }
}

fn get<'a>(d: &'a Dict, k: &str) -> Option<&'a Value> {
    d.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

fn string(d: &Dict, k: &str) -> String {
    get(d, k).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn flag(d: &Dict, k: &str) -> bool {
    get(d, k).and_then(Value::as_bool).unwrap_or(false)
}

fn number(d: &Dict, k: &str) -> u64 {
    get(d, k).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client against a real bus daemon (dbus-daemon, when installed): it
    /// authenticates, says Hello and reads a reply with a string array.
    #[test]
    fn talks_to_a_real_dbus_daemon() {
        if std::process::Command::new("dbus-daemon").arg("--version").output().is_err() {
            eprintln!("skipping: no dbus-daemon");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("bus");
        let mut child = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", &format!("--address=unix:path={}", sock.display())])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = Manager::open(sock.to_str().unwrap(), Some(DEST)).and_then(|mut m| {
            m.call(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames", &[])
        });
        let _ = child.kill();
        let _ = child.wait();
        let body = r.unwrap();
        let Some(Value::Array(names)) = body.first() else { panic!("{body:?}") };
        assert!(names.iter().any(|n| n.as_str() == Some("org.freedesktop.DBus")), "{names:?}");
    }
}
