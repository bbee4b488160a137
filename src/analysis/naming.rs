//! Deterministic ids and names: readable, short, stable for identical input, and valid DNS-1123
//! labels where Kubernetes needs them.

use serde::Serialize;

use crate::chaosmesh::ChaosKind;
use crate::hashing::{json_sha256_hex, sha256_hex};

/// Longest Kubernetes object name we emit (a DNS-1123 label).
pub const MAX_NAME_LEN: usize = 63;

/// The first 8 hex digits of the SHA-256 of `parts`, joined by NUL so ("a","bc") ≠ ("ab","c").
pub fn hash8(parts: &[&str]) -> String {
    let joined = parts.join("\0");
    let mut hex = sha256_hex(joined.as_bytes());
    hex.truncate(8);
    hex
}

/// The first 8 hex digits of the SHA-256 of `value`'s JSON form (its Debug form if it has none).
pub fn content_hash8<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    let mut hex =
        json_sha256_hex(value).unwrap_or_else(|_| sha256_hex(format!("{value:?}").as_bytes()));
    hex.truncate(8);
    hex
}

/// `text` turned into a DNS-1123 label fragment of at most `max_len` characters: lowercase
/// alphanumerics and single dashes, no dash at either end. May be empty.
pub fn dns_fragment(text: &str, max_len: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_len));
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max_len {
            break;
        }
    }
    out.truncate(max_len);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A readable id: `<prefix>-<name fragment>-<hash8 of parts>`, at most 63 characters.
pub fn item_id(prefix: &str, name: &str, parts: &[&str]) -> String {
    let hash = hash8(parts);
    let room = MAX_NAME_LEN.saturating_sub(prefix.len() + hash.len() + 2);
    let fragment = dns_fragment(name, room.min(40));
    if fragment.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{fragment}-{hash}")
    }
}

/// The short form of a kind used in object names.
pub fn short_kind(kind: ChaosKind) -> &'static str {
    match kind {
        ChaosKind::PodChaos => "pod",
        ChaosKind::NetworkChaos => "net",
        ChaosKind::StressChaos => "stress",
        ChaosKind::IOChaos => "io",
        ChaosKind::DNSChaos => "dns",
        ChaosKind::HTTPChaos => "http",
        ChaosKind::TimeChaos => "time",
    }
}

/// An experiment's object name: `<short-kind>-<target-name>-<hash8>`, a DNS-1123 label of at most
/// 63 characters.
pub fn experiment_name(kind: ChaosKind, target_name: &str, hash: &str) -> String {
    let prefix = short_kind(kind);
    let room = MAX_NAME_LEN.saturating_sub(prefix.len() + hash.len() + 2);
    let fragment = dns_fragment(target_name, room);
    if fragment.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{fragment}-{hash}")
    }
}

/// Whether `name` is a DNS-1123 label (what Kubernetes requires of most object names).
pub fn is_dns1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_are_dns_safe() {
        assert_eq!(dns_fragment("Cart_Service.v2", 63), "cart-service-v2");
        assert_eq!(dns_fragment("--a--b--", 63), "a-b");
        assert_eq!(dns_fragment("abcdef", 3), "abc");
        assert_eq!(dns_fragment("ab-cdef", 3), "ab");
        assert_eq!(dns_fragment("ÄÖÜ", 10), "");
    }

    #[test]
    fn experiment_names_are_valid_and_bounded() {
        let long = "a".repeat(200);
        for target in ["cartservice", long.as_str(), "Weird.Name_With.Dots", "---"] {
            let name = experiment_name(ChaosKind::NetworkChaos, target, "0123abcd");
            assert!(is_dns1123_label(&name), "{name}");
            assert!(name.starts_with("net-"), "{name}");
            assert!(name.ends_with("-0123abcd"), "{name}");
        }
        assert_eq!(
            experiment_name(ChaosKind::PodChaos, "cartservice", "0123abcd"),
            "pod-cartservice-0123abcd"
        );
    }

    #[test]
    fn hashes_separate_parts_and_are_stable() {
        assert_ne!(hash8(&["a", "bc"]), hash8(&["ab", "c"]));
        assert_eq!(hash8(&["x"]), hash8(&["x"]));
        assert_eq!(hash8(&["x"]).len(), 8);
        let id = item_id("f-single-replica", "shop/Deployment/cart", &["x"]);
        assert!(
            id.len() <= MAX_NAME_LEN && id.starts_with("f-single-replica-shop-deployment-cart-")
        );
    }
}
