//! Names by SHA-1: how Redis names a script (`EVALSHA`), and how Thing names a
//! cached query and a long value under a stamp.

/// SHA-1 of `data` in lowercase hex: how Redis names a script (`EVALSHA`), and
/// how Thing names a cached query.
pub(crate) fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    use std::fmt::Write;
    let digest = sha1::Sha1::digest(data);
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::sha1_hex;

    #[test]
    fn sha1_matches_known_digests() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
