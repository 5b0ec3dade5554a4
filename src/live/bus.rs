//! A manager connection: the live view's calls over a Unix socket, blocking with
//! timeouts. A manager is reached the way `systemctl` reaches it as root: its private
//! socket first (`/run/systemd/private`, `/run/user/UID/systemd/private`: peer-to-peer,
//! no bus daemon needed), else the system bus or the user's bus (`Hello` first).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::wire::{self, Arg, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPS: &str = "org.freedesktop.DBus.Properties";
/// A manager that does not answer a call within this is reported, not waited for.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The whole conversation with one manager ends by then: a peer that trickles bytes
/// cannot hold a run (or a long-running `watch`) for longer.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The largest reply we accept (systemd's biggest, ListUnits on a host with tens of
/// thousands of units, is a few MiB); memory grows only as bytes arrive.
const MAX_REPLY: usize = 32 << 20;

/// Who must be at the other end of a socket. A user owns `/run/user/UID`, so anything
/// under it may be theirs: their manager runs as them, and only answers for them.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// The system manager: PID 1.
    Pid1,
    /// A user's manager or bus: that uid.
    Uid(u32),
    /// The system bus daemon (its policy lets only systemd own systemd's name).
    Any,
}

/// A connection to one manager; a bus connection names the destination.
pub struct Manager {
    sock: UnixStream,
    serial: u32,
    dest: Option<&'static str>,
    deadline: Instant,
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
    /// Connects to the manager behind `private` (its private socket, served by
    /// `peer`), else `bus` (served by `bus_peer`).
    pub fn connect(private: &str, peer: Peer, bus: Option<(&str, Peer)>) -> Result<Manager, String> {
        let mut errors = Vec::new();
        match Manager::open(private, None, peer) {
            Ok(m) => return Ok(m),
            Err(e) => errors.push(format!("{private}: {e}")),
        }
        if let Some((bus, bus_peer)) = bus {
            match Manager::open(bus, Some(DEST), bus_peer) {
                Ok(m) => return Ok(m),
                Err(e) => errors.push(format!("{bus}: {e}")),
            }
        }
        Err(errors.join("; "))
    }

    fn open(path: &str, dest: Option<&'static str>, peer: Peer) -> Result<Manager, String> {
        let sock = UnixStream::connect(path).map_err(|e| e.to_string())?;
        check_peer(&sock, peer)?;
        sock.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
        let mut m = Manager { sock, serial: 0, dest, deadline: Instant::now() + DEADLINE };
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
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 {
                return Err("authentication answer too long".into());
            }
            self.read_more(&mut line, 1).map_err(|e| format!("authentication: {e}"))?;
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
            let mut buf = Vec::new();
            self.read_more(&mut buf, 16).map_err(|e| format!("{member}: {e}"))?;
            let head: [u8; 16] = buf[..16].try_into().map_err(|_| format!("{member}: short header"))?;
            let len = wire::message_len(&head).map_err(|e| format!("{member}: {e}"))?;
            if len > MAX_REPLY {
                return Err(format!("{member}: a reply of {len} bytes is over the limit"));
            }
            self.read_more(&mut buf, len - 16).map_err(|e| format!("{member}: {e}"))?;
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

    /// Appends exactly `n` more bytes to `buf`, before the deadline.
    fn read_more(&mut self, buf: &mut Vec<u8>, n: usize) -> Result<(), String> {
        let mut chunk = [0u8; 65536];
        let mut left = n;
        while left > 0 {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(format!("no complete answer within {DEADLINE:?}"));
            }
            self.sock.set_read_timeout(Some(remaining.min(TIMEOUT))).map_err(|e| e.to_string())?;
            let want = left.min(chunk.len());
            match self.sock.read(&mut chunk[..want]) {
                Ok(0) => return Err("the manager closed the connection".into()),
                Ok(k) => {
                    buf.extend_from_slice(&chunk[..k]);
                    left -= k;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Err(if Instant::now() >= self.deadline {
                        format!("no complete answer within {DEADLINE:?}")
                    } else {
                        format!("no answer for {TIMEOUT:?}")
                    });
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
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

/// Refuses a socket served by anyone but `peer` (SO_PEERCRED: who created it).
fn check_peer(sock: &UnixStream, peer: Peer) -> Result<(), String> {
    let cred = nix::sys::socket::getsockopt(sock, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| format!("peer credentials: {e}"))?;
    match peer {
        Peer::Pid1 if cred.pid() != 1 => {
            Err(format!("served by pid {}, not by PID 1: not the system manager", cred.pid()))
        }
        Peer::Uid(u) if cred.uid() != u => {
            Err(format!("served by uid {}, not by uid {u}: not that user's manager", cred.uid()))
        }
        _ => Ok(()),
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
            // scripts/test.sh installs it; under CI a missing tool fails instead of skipping.
            assert!(std::env::var_os("TIMERGUARD_REQUIRE_ALL").is_none(), "required but missing: dbus-daemon");
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
        let me = nix::unistd::geteuid().as_raw();
        let r = Manager::open(sock.to_str().unwrap(), Some(DEST), Peer::Uid(me)).and_then(|mut m| {
            m.call(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames", &[])
        });
        let _ = child.kill();
        let _ = child.wait();
        let body = r.unwrap();
        let Some(Value::Array(names)) = body.first() else { panic!("{body:?}") };
        assert!(names.iter().any(|n| n.as_str() == Some("org.freedesktop.DBus")), "{names:?}");
    }

    /// A fake manager: accepts one connection and runs `serve` on it.
    fn fake(serve: impl FnOnce(UnixStream) + Send + 'static) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                serve(s);
            }
        });
        (dir, path.to_str().unwrap().to_string())
    }

    /// A socket that is not PID 1's is not taken for the system manager, and one served
    /// by another uid is not taken for a user's manager (a user owns /run/user/UID).
    #[test]
    fn a_socket_served_by_someone_else_is_refused() {
        let (_d, p) = fake(|_| {});
        let e = Manager::connect(&p, Peer::Pid1, None).err().unwrap();
        assert!(e.contains("not by PID 1"), "{e}");
        let (_d, p) = fake(|_| {});
        let other = nix::unistd::geteuid().as_raw() + 1;
        let e = Manager::connect(&p, Peer::Uid(other), None).err().unwrap();
        assert!(e.contains("not that user's manager"), "{e}");
    }

    /// A peer that answers one byte at a time, slower than nothing at all, or claims a
    /// huge reply: an error by the deadline, nothing allocated ahead of the bytes.
    #[test]
    fn a_hostile_peer_costs_at_most_the_deadline() {
        let me = nix::unistd::geteuid().as_raw();
        let (_d, p) = fake(|mut s| {
            let _ = s.write_all(b"OK 0123\r\n");
            // A header announcing a 1 GiB body, then silence.
            let mut h = vec![b'l', 2, 0, 1];
            h.extend_from_slice(&(1u32 << 30).to_le_bytes());
            h.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
            let _ = s.write_all(&h);
            std::thread::sleep(Duration::from_secs(2));
        });
        let mut m = Manager::connect(&p, Peer::Uid(me), None).unwrap();
        let e = m.timers().err().unwrap();
        assert!(e.contains("over the limit"), "{e}");
        // A valid header announcing a 4 KiB body, then one byte every 200 ms (14 minutes).
        let (_d, p) = fake(|mut s| {
            let _ = s.write_all(b"OK 0123\r\n");
            let mut h = vec![b'l', 2, 0, 1];
            h.extend_from_slice(&4096u32.to_le_bytes());
            h.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
            let _ = s.write_all(&h);
            for _ in 0..4096 {
                std::thread::sleep(Duration::from_millis(200));
                if s.write_all(b"x").is_err() {
                    return;
                }
            }
        });
        let t = Instant::now();
        let mut m = Manager::connect(&p, Peer::Uid(me), None).unwrap();
        let e = m.timers().err().unwrap();
        assert!(t.elapsed() < DEADLINE * 3, "{:?}", t.elapsed());
        assert!(e.contains("no complete answer"), "{e}");
    }
}
