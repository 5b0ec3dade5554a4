//! Specifier expansion (S31) for the settings timerguard interprets: `Unit=`,
//! `OnCalendar=`, `Exec*=`, `User=`, `EnvironmentFile=`. `%u/%h/%U/%g/%G/%s` are the
//! *manager's* user (root for the system manager, whatever `User=` says, S41).
//! The host-wide ones are the image's (`host_ids`); what cannot be known offline (`%b`
//! boot id, `%v` kernel) stays literal. `%y`/`%Y` are the real path of the unit's
//! fragment and its directory (a linked unit's file outside the search path, measured
//! against the booted manager), `%d` its credentials directory.

/// What specifiers expand to for one unit in one scope.
pub struct SpecCtx<'a> {
    pub unit: &'a str,
    pub user: &'a str,
    pub uid: u32,
    pub group: &'a str,
    pub gid: u32,
    pub home: &'a str,
    pub shell: &'a str,
    pub system: bool,
    pub ids: &'a super::host_ids::HostIds,
    /// The real (link-free) in-image path of the unit's fragment, when it has one.
    pub fragment: Option<&'a str>,
    /// A user manager's `XDG_CONFIG_HOME` and `XDG_CACHE_HOME` when `user@.service`
    /// sets them (`user_manager`): `%E %S %L` and `%C` are under them.
    pub homes: Option<&'a super::user_manager::Homes>,
}

impl<'a> SpecCtx<'a> {
    /// The system manager's: it runs as root, whatever `User=` says (S41).
    pub fn system(unit: &'a str, ids: &'a super::host_ids::HostIds, fragment: Option<&'a str>) -> SpecCtx<'a> {
        SpecCtx {
            unit,
            user: "root",
            uid: 0,
            group: "root",
            gid: 0,
            home: "/root",
            shell: "/bin/sh",
            system: true,
            ids,
            fragment,
            homes: None,
        }
    }
}

/// Expands `%x` specifiers; an unknown one is an error (systemd ignores the setting).
pub fn expand(value: &str, c: &SpecCtx<'_>) -> Result<String, String> {
    if !value.contains('%') {
        return Ok(value.to_string());
    }
    let name = c.unit;
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let prefix = super::names::prefix(name);
    let inst = super::names::instance(name).unwrap_or("");
    let (state, cache, logs, config, runtime) = if c.system {
        (
            "/var/lib".to_string(),
            "/var/cache".to_string(),
            "/var/log".to_string(),
            "/etc".to_string(),
            "/run".to_string(),
        )
    } else {
        let h = c.home.trim_end_matches('/');
        let moved =
            |d: Option<&Option<String>>| d.and_then(|d| d.as_deref()).map(|d| d.trim_end_matches('/').to_string());
        let config = moved(c.homes.map(|x| &x.config)).unwrap_or_else(|| format!("{h}/.config"));
        let cache = moved(c.homes.map(|x| &x.cache)).unwrap_or_else(|| format!("{h}/.cache"));
        (config.clone(), cache, format!("{config}/log"), config, format!("/run/user/{}", c.uid))
    };
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let Some(s) = chars.next() else {
            return Err("trailing '%'".into());
        };
        let rep: String = match s {
            '%' => "%".into(),
            'n' => name.into(),
            'N' => stem.into(),
            'p' => prefix.into(),
            'P' => unescape(prefix),
            'i' => inst.into(),
            'I' => unescape(inst),
            'j' => prefix.rsplit('-').next().unwrap_or(prefix).into(),
            'J' => unescape(prefix.rsplit('-').next().unwrap_or(prefix)),
            'f' => format!("/{}", unescape(if inst.is_empty() { prefix } else { inst })),
            'u' => c.user.into(),
            'U' => c.uid.to_string(),
            'g' => c.group.into(),
            'G' => c.gid.to_string(),
            'h' => c.home.into(),
            's' => c.shell.into(),
            't' => runtime.clone(),
            'S' => state.clone(),
            'C' => cache.clone(),
            'L' => logs.clone(),
            'E' => config.clone(),
            'T' => "/tmp".into(),
            'V' => "/var/tmp".into(),
            'H' | 'l' | 'q' | 'm' | 'a' | 'A' | 'B' | 'M' | 'o' | 'w' | 'W' | 'b' | 'v' => {
                c.ids.get(s).unwrap_or_else(|| format!("%{s}"))
            }
            'd' => format!("{runtime}/credentials/{name}"),
            // A unit without a fragment fails the specifier, and systemd the setting.
            'y' => c.fragment.ok_or("%y: the unit has no fragment")?.into(),
            'Y' => {
                let f = c.fragment.ok_or("%Y: the unit has no fragment")?;
                f.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }).into()
            }
            // Cgroup paths: accepted by 252 (measured: not an error), not known offline.
            'r' | 'R' => format!("%{s}"),
            other => return Err(format!("unknown specifier '%{other}'")),
        };
        out.push_str(&rep);
    }
    Ok(out)
}

/// `unit_name_printf` (`Unit=`): only the specifiers that are safe in a unit name are
/// resolved there (systemd 252: `%i %j %n %N %p`, the system ones, `%g %G %u %U`);
/// any other (`%I`, `%h`, `%t`, …) fails and systemd ignores the line.
pub fn expand_name(value: &str, c: &SpecCtx<'_>) -> Result<String, String> {
    const NAME_SPECIFIERS: &str = "%ijnNpgGuUaAbBHlmMoqvwW";
    let mut it = value.chars();
    while let Some(ch) = it.next() {
        if ch == '%' {
            match it.next() {
                Some(s) if NAME_SPECIFIERS.contains(s) => {}
                Some(s) => return Err(format!("specifier '%{s}' is not resolved in a unit name")),
                None => return Err("trailing '%'".into()),
            }
        }
    }
    expand(value, c)
}

/// Specifiers `unit_full_printf` (252) resolves to an absolute path, and to anything else
/// (together, the ones `expand` knows).
const PATH_SPECIFIERS: &str = "CdEfhLsStTVyY";
const OTHER_SPECIFIERS: &str = "aAbBgGHiIjJlmMnNopPqrRuUvwW%";

/// `v` with its specifiers stood for (`/s` for a path, `s` otherwise), or `None` when one
/// is unknown (or a `%` ends it): enough to judge a value's shape (absolute? a user name?)
/// where the unit it belongs to is not known yet (`service_check`).
pub fn stand_in(v: &str) -> Option<String> {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next()? {
            s if PATH_SPECIFIERS.contains(s) => out.push_str("/s"),
            s if OTHER_SPECIFIERS.contains(s) => out.push('s'),
            _ => return None,
        }
    }
    Some(out)
}

/// `unit_name_unescape`: `-` is `/`, `\xNN` is a byte.
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            out.push(b'/');
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() + 1 {
            if let Some(v) = s.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
            out.push(b[i]);
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::host_ids::HostIds;
    use super::*;

    fn ctx(unit: &str) -> SpecCtx<'_> {
        static IDS: std::sync::LazyLock<HostIds> = std::sync::LazyLock::new(|| HostIds::fixed("h1.example", "abc"));
        SpecCtx::system(unit, &IDS, Some("/opt/units/job@.service"))
    }

    #[test]
    fn s31_specifiers() {
        let c = ctx("job@beta.timer");
        assert_eq!(expand("%p-worker.service", &c).unwrap(), "job-worker.service");
        assert_eq!(
            expand("%i|%n|%N|%u|%h|%H|%l|%%", &c).unwrap(),
            "beta|job@beta.timer|job@beta|root|/root|h1.example|h1|%"
        );
        assert_eq!(expand("/run/%I", &ctx("a@x\\x2dy-z.service")).unwrap(), "/run/x-y/z");
        assert_eq!(
            expand("%y|%Y|%d", &c).unwrap(),
            "/opt/units/job@.service|/opt/units|/run/credentials/job@beta.timer"
        );
        assert!(expand("%y", &SpecCtx { fragment: None, ..ctx("x.service") }).is_err());
        assert_eq!(expand("%Y", &SpecCtx { fragment: Some("/x.service"), ..ctx("x.service") }).unwrap(), "/");
        assert!(expand("%z", &c).is_err());
        assert!(expand("50%", &c).is_err());
        // `expand` and `stand_in` know the same specifiers.
        for s in ('!'..='~').filter(|s| *s != '%') {
            let v = format!("/x%{s}");
            assert_eq!(expand(&v, &c).is_ok(), stand_in(&v).is_some(), "%{s}");
        }
    }

    #[test]
    fn s31_unit_names_resolve_only_name_safe_specifiers() {
        let c = ctx("job@beta.timer");
        assert_eq!(expand_name("%p-%i@%j.service", &c).unwrap(), "job-beta@job.service");
        assert_eq!(expand_name("%u-%U%%.service", &c).unwrap(), "root-0%.service");
        for bad in ["%I.service", "%h.service", "%t.service", "%P.service", "%s", "x%"] {
            assert!(expand_name(bad, &c).is_err(), "{bad}");
        }
    }
}
