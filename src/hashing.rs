//! Content hashing, one way for the whole crate: lower-case hex SHA-256, of bytes or of a value's
//! compact JSON form. Caches, proposal names and the map's identity all key on it.

use std::fmt::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Lower-case hex SHA-256 of `value`'s compact JSON: equal values have equal hashes.
pub fn json_sha256_hex<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_vec(value).map(|bytes| sha256_hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn json_hash_is_the_hash_of_the_compact_json() {
        let value = vec!["a", "b"];
        assert_eq!(
            json_sha256_hex(&value).ok(),
            Some(sha256_hex(br#"["a","b"]"#))
        );
    }
}
