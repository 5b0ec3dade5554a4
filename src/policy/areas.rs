//! Which recorded paths belong to one account alone: inside its home or its
//! `/run/user/UID`, and inside or above no other account's. A streamed user scope checks
//! those `path` subjects itself and lets them go, instead of keeping 100,000 paths of
//! 10,000 users (and what their chains say of them) for one pass at the end.

use std::collections::BTreeMap;

use crate::model::User;

/// Each account's areas (home, runtime directory), by path: account indexes into the
/// host's users.
pub struct Areas(BTreeMap<String, Vec<usize>>);

impl Areas {
    pub fn new(users: &[User]) -> Areas {
        let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, u) in users.iter().enumerate() {
            // The same test as the chains' owners (`Chains::add`): a home of "/" or ""
            // holds no one's paths alone.
            let home = u.home.trim_end_matches('/');
            if !home.is_empty() {
                m.entry(home.to_string()).or_default().push(i);
            }
            m.entry(format!("/run/user/{}", u.uid)).or_default().push(i);
        }
        Areas(m)
    }

    /// The one account (index) whose areas hold `p`, when every area at, above or below
    /// `p` is that account's: two accounts sharing a home, or a home inside another's,
    /// make the paths there nobody's alone.
    pub fn sole_owner(&self, p: &str) -> Option<usize> {
        let mut owner = None;
        let mut q = p;
        loop {
            for &i in self.0.get(q).map(Vec::as_slice).unwrap_or(&[]) {
                match owner {
                    Some(o) if o != i => return None,
                    _ => owner = Some(i),
                }
            }
            match q.rfind('/') {
                Some(i) if i > 0 => q = &q[..i],
                _ => break,
            }
        }
        let o = owner?;
        let below = format!("{}/", p.trim_end_matches('/'));
        let others = self.0.range(below.clone()..).take_while(|(k, _)| k.starts_with(&below));
        for (_, v) in others {
            if v.iter().any(|&i| i != o) {
                return None;
            }
        }
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32, home: &str) -> User {
        User {
            name: name.into(),
            uid,
            gid: uid,
            home: home.into(),
            shell: "/bin/sh".into(),
            groups: Vec::new(),
            login_shell: true,
            system: false,
            linger: false,
            home_exists: true,
            line: 0,
        }
    }

    #[test]
    fn a_path_is_one_accounts_only_when_no_other_area_touches_it() {
        let users = [
            user("root", 0, "/root"),
            user("toor", 0, "/root"),
            user("a", 1000, "/home/a"),
            user("b", 1001, "/home/a/b"),
            user("c", 1002, "/home/c/"),
            user("d", 1003, "/"),
        ];
        let a = Areas::new(&users);
        assert_eq!(a.sole_owner("/home/a/.config/systemd"), Some(2));
        assert_eq!(a.sole_owner("/home/a"), None, "b's home is below");
        assert_eq!(a.sole_owner("/home/a/b/.config"), None, "inside a's home and b's");
        assert_eq!(a.sole_owner("/home/c/.config"), Some(4));
        assert_eq!(a.sole_owner("/home/cc"), None);
        assert_eq!(a.sole_owner("/root/.config"), None, "two accounts share /root");
        assert_eq!(a.sole_owner("/run/user/1000/systemd"), Some(2));
        assert_eq!(a.sole_owner("/run/user"), None);
        assert_eq!(a.sole_owner("/home"), None);
        assert_eq!(a.sole_owner("/etc/systemd/user"), None, "a home of / holds nothing alone");
    }
}
