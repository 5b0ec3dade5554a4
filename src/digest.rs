//! FNV-1a, 64 bits, as hex: a stable, dependency-free digest for noticing a changed file
//! and for finding fingerprints. Not a security hash: nothing trusts it against an attacker.

/// The digest of `bytes`, 16 hex digits.
pub fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vectors() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(super::fnv1a(b""), "cbf29ce484222325");
        assert_eq!(super::fnv1a(b"a"), "af63dc4c8601ec8c");
    }
}
