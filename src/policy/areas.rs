//! Which recorded paths belong to one account alone: inside its home or its
//! `/run/user/UID`, and inside or above no other account's. A streamed user scope checks
//! those `path` subjects itself and lets them go, instead of keeping 100,000 paths of
//! 10,000 users (and what their chains say of them) for one pass at the end.

use std::collections::BTreeSet;

use crate::collect::FastMap;
use crate::model::User;

/// Each account's areas (home, runtime directory): their paths sorted (for what lies
/// below a path), and by path the account indexes into the host's users with whether
/// another account's area lies below (every parent of every path of 10,000 users is looked up
/// here: a sorted map's string comparisons were 2% of `check`).
pub struct Areas {
    sorted: BTreeSet<String>,
    exact: FastMap<String, (Vec<usize>, bool)>,
}

impl Areas {
    pub fn new(users: &[User]) -> Areas {
        let mut exact: FastMap<String, (Vec<usize>, bool)> = FastMap::default();
        for (i, u) in users.iter().enumerate() {
            // The same test as the chains' owners (`Chains::add`): a home of "/" or ""
            // holds no one's paths alone.
            let home = u.home.trim_end_matches('/');
            if !home.is_empty() {
                exact.entry(home.to_string()).or_default().0.push(i);
            }
            exact.entry(format!("/run/user/{}", u.uid)).or_default().0.push(i);
        }
        let sorted: BTreeSet<String> = exact.keys().cloned().collect();
        let foreign: Vec<(String, bool)> = sorted
            .iter()
            .map(|k| {
                let own = &exact[k].0;
                let foreign = below(&sorted, k).any(|b| exact[b].0.iter().any(|i| !own.contains(i)));
                (k.clone(), foreign)
            })
            .collect();
        for (k, f) in foreign {
            if let Some(e) = exact.get_mut(&k) {
                e.1 = f;
            }
        }
        Areas { sorted, exact }
    }

    /// The one account (index) whose areas hold `p`, when every area at, above or below
    /// `p` is that account's: two accounts sharing a home, or a home inside another's,
    /// make the paths there nobody's alone.
    pub fn sole_owner(&self, p: &str) -> Option<usize> {
        let mut owner = None;
        // Whether the deepest area at or above `p` has another account's area below it.
        let mut foreign_below = None;
        let mut q = p;
        loop {
            if let Some((v, foreign)) = self.exact.get(q) {
                for &i in v {
                    match owner {
                        Some(o) if o != i => return None,
                        _ => owner = Some(i),
                    }
                }
                foreign_below.get_or_insert(*foreign);
            }
            match crate::collect::root::last_byte(q, b'/') {
                Some(i) if i > 0 => q = &q[..i],
                _ => break,
            }
        }
        let o = owner?;
        // Below `p` lies only what lies below that area: none of it is another's.
        if foreign_below == Some(false) {
            return Some(o);
        }
        for b in below(&self.sorted, p) {
            if self.exact[b].0.iter().any(|&i| i != o) {
                return None;
            }
        }
        Some(o)
    }
}

/// The areas strictly below `p`.
fn below<'a>(m: &'a BTreeSet<String>, p: &str) -> impl Iterator<Item = &'a String> {
    let below = format!("{}/", p.trim_end_matches('/'));
    m.range(below.clone()..).take_while(move |k| k.starts_with(&below))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::User;

    fn user(name: &str, uid: u32, home: &str) -> User {
        User::for_tests(name, uid, home)
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
            // Sorted between `/home/g` and what lies below it (`-` and `.` come before `/`).
            user("g", 1004, "/home/g"),
            user("h", 1005, "/home/g-h"),
            user("i", 1006, "/home/g.i"),
            user("j", 1007, "/home/g/j"),
            user("k", 1008, "/home/k"),
            user("l", 1009, "/home/k-l"),
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
        assert_eq!(a.sole_owner("/home/g"), None, "j's home is below, past g-h and g.i");
        assert_eq!(a.sole_owner("/home/g-h/.config"), Some(7));
        assert_eq!(a.sole_owner("/home/g.i"), Some(8));
        assert_eq!(a.sole_owner("/home/k"), Some(10), "k-l's home is beside it, not below");
        assert_eq!(a.sole_owner("/home/k/.config/systemd/user"), Some(10));
    }
}
