//! The live view: when the root is `/` and systemd is PID 1, ask the running system
//! manager and every running user manager which timers they have loaded — their state,
//! next and last elapse, and whether their files changed since they were loaded. Files
//! say what will run after the next reload or boot; the managers say what runs now.
//! The two can differ, which is itself worth a finding (TG601, TG602).

mod bus;
pub mod wire;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::model::{LoadedTimer, User, Warning};

/// A moment on both clocks, µs (the way systemd keeps a `dual_timestamp`).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub realtime: u64,
    pub monotonic: u64,
}

impl Now {
    pub fn read() -> Now {
        let realtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let monotonic = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
            .unwrap_or(0);
        Now { realtime, monotonic }
    }
}

/// `systemctl list-timers`' next elapse: the earlier of the realtime deadline and the
/// monotonic one converted to realtime; `None` when neither is set.
pub fn next_elapse(now: Now, realtime: u64, monotonic: u64) -> Option<u64> {
    let set = |x: u64| x > 0 && x != u64::MAX;
    let next = if set(monotonic) {
        let converted = if monotonic > now.monotonic {
            now.realtime.saturating_add(monotonic - now.monotonic)
        } else {
            now.realtime.saturating_sub(now.monotonic - monotonic)
        };
        if set(realtime) { converted.min(realtime) } else { converted }
    } else {
        realtime
    };
    set(next).then_some(next)
}

/// One manager to ask.
struct Target {
    label: String,
    private: String,
    peer: bus::Peer,
    bus: Option<(String, bus::Peer)>,
}

fn targets(users: &[User]) -> Vec<Target> {
    let mut v = vec![Target {
        label: "system".into(),
        private: "/run/systemd/private".into(),
        peer: bus::Peer::Pid1,
        bus: Some(("/run/dbus/system_bus_socket".into(), bus::Peer::Any)),
    }];
    // A user manager runs when its runtime dir has the manager's private socket.
    for u in users {
        let private = format!("/run/user/{}/systemd/private", u.uid);
        if Path::new(&private).exists() {
            v.push(Target {
                label: format!("user:{}", u.name),
                private,
                peer: bus::Peer::Uid(u.uid),
                bus: Some((format!("/run/user/{}/bus", u.uid), bus::Peer::Uid(u.uid))),
            });
        }
    }
    v
}

/// What the running managers said: their timers, which managers answered (labels, sorted),
/// and a warning for each that did not.
pub struct Answer {
    pub loaded: Vec<LoadedTimer>,
    pub managers: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// Managers asked at once (a login server may run thousands): each in its own thread.
const BATCH: usize = 128;

/// Asks every running manager, each in its own thread with a deadline: a manager that
/// hangs costs a warning, never the run. A batch takes at most one deadline, whatever
/// its managers do; a user can slow only their own manager.
pub fn query(users: &[User]) -> Answer {
    let now = Now::read();
    let mut a = Answer { loaded: Vec::new(), managers: Vec::new(), warnings: Vec::new() };
    for batch in targets(users).chunks(BATCH) {
        ask_batch(batch, now, &mut a);
    }
    a.loaded.sort_by(|x, y| (&x.manager, &x.unit).cmp(&(&y.manager, &y.unit)));
    a.managers.sort();
    a
}

fn ask_batch(list: &[Target], now: Now, a: &mut Answer) {
    let (tx, rx) = mpsc::channel();
    for t in list {
        let mine = tx.clone();
        let (label, private, peer, busp) = (t.label.clone(), t.private.clone(), t.peer, t.bus.clone());
        let spawned = std::thread::Builder::new().stack_size(256 << 10).spawn(move || {
            let r = ask(&label, &private, peer, busp.as_ref().map(|(p, q)| (p.as_str(), *q)), now);
            let _ = mine.send((label, r));
        });
        if let Err(e) = spawned {
            let _ = tx.send((t.label.clone(), Err(format!("no thread to ask it: {e}"))));
        }
    }
    drop(tx);
    // Each conversation ends by its own deadline (private socket, then the bus); this
    // only bounds the wait for them.
    let deadline = Instant::now() + bus::DEADLINE * 2 + Duration::from_secs(1);
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < list.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((label, Ok(mut v))) => {
                answered.insert(label.clone());
                a.managers.push(label);
                a.loaded.append(&mut v);
            }
            Ok((label, Err(e))) => {
                let path = list.iter().find(|t| t.label == label).map(|t| t.private.clone()).unwrap_or_default();
                answered.insert(label.clone());
                let message = format!("live view of the {label} manager: {e}");
                a.warnings.push(Warning { path, line: None, message });
            }
            Err(_) => break,
        }
    }
    for t in list.iter().filter(|t| !answered.contains(&t.label)) {
        let message = format!("live view: the {} manager did not answer in time", t.label);
        a.warnings.push(Warning { path: t.private.clone(), line: None, message });
    }
}

fn ask(
    label: &str,
    private: &str,
    peer: bus::Peer,
    busp: Option<(&str, bus::Peer)>,
    now: Now,
) -> Result<Vec<LoadedTimer>, String> {
    let mut m = bus::Manager::connect(private, peer, busp)?;
    let mut out = Vec::new();
    for (unit, path) in m.timers()? {
        let (p, service_reload) = m.props(&unit, &path).map_err(|e| format!("{unit}: {e}"))?;
        let fragment = (!p.fragment_path.is_empty()).then(|| p.fragment_path.clone());
        out.push(LoadedTimer {
            manager: label.to_string(),
            unit: p.unit,
            load_state: p.load_state,
            active_state: p.active_state,
            sub_state: p.sub_state,
            fragment_exists: fragment.as_deref().is_some_and(|f| Path::new(f).exists()),
            fragment_path: fragment,
            transient: p.transient,
            need_daemon_reload: p.need_daemon_reload,
            service: (!p.service.is_empty()).then_some(p.service),
            service_need_daemon_reload: service_reload,
            next_usec: next_elapse(now, p.next_realtime, p.next_monotonic),
            last_usec: (p.last_trigger > 0 && p.last_trigger != u64::MAX).then_some(p.last_trigger),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_elapse_as_systemctl_computes_it() {
        let now = Now { realtime: 1_000_000_000, monotonic: 50_000_000 };
        assert_eq!(next_elapse(now, 0, 0), None);
        assert_eq!(next_elapse(now, u64::MAX, 0), None);
        assert_eq!(next_elapse(now, 1_200_000_000, 0), Some(1_200_000_000));
        // 10 s ahead on the monotonic clock is 10 s ahead in real time.
        assert_eq!(next_elapse(now, 0, 60_000_000), Some(1_010_000_000));
        // Both set: the earlier wins.
        assert_eq!(next_elapse(now, 1_005_000_000, 60_000_000), Some(1_005_000_000));
        // A monotonic deadline already past converts to the past.
        assert_eq!(next_elapse(now, 0, 40_000_000), Some(990_000_000));
    }
}
