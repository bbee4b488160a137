//! Anonymisation of prompts: the map's names replaced by stable tokens before a prompt leaves the
//! process, and mapped back in the answer.

use std::collections::BTreeMap;

use regex::Regex;

use crate::servicemap::{NodeKind, ServiceMap};

/// Replaces names (services, namespaces, hosts) with stable tokens (`svc-001`) before a prompt
/// and maps tokens in the answer back. Deterministic: register names in a sorted order (or use
/// [`Anonymizer::from_sorted`]) and the same map gives the same tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anonymizer {
    forward: BTreeMap<String, String>,
    backward: BTreeMap<String, String>,
    counters: BTreeMap<String, u32>,
}

impl Anonymizer {
    /// An empty anonymizer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `names` (sorted and de-duplicated first) under `prefix`.
    pub fn from_sorted<'a>(prefix: &str, names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut anonymizer = Self::new();
        anonymizer.register_all(prefix, names);
        anonymizer
    }

    /// Registers `names` (sorted and de-duplicated first) under `prefix`.
    pub fn register_all<'a>(&mut self, prefix: &str, names: impl IntoIterator<Item = &'a str>) {
        let mut sorted: Vec<&str> = names.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        for name in sorted {
            self.token_for(prefix, name);
        }
    }

    /// The token of `name`, registering it under `prefix` on first sight.
    pub fn token_for(&mut self, prefix: &str, name: &str) -> String {
        if let Some(token) = self.forward.get(name) {
            return token.clone();
        }
        let counter = self.counters.entry(prefix.to_string()).or_insert(0);
        *counter += 1;
        let token = format!("{prefix}-{counter:03}");
        self.forward.insert(name.to_string(), token.clone());
        self.backward.insert(token.clone(), name.to_string());
        token
    }

    /// The name behind a token.
    pub fn name_for(&self, token: &str) -> Option<&str> {
        self.backward.get(token).map(String::as_str)
    }

    /// The token of an already registered name.
    pub fn token_of(&self, name: &str) -> Option<&str> {
        self.forward.get(name).map(String::as_str)
    }

    /// Replaces every registered name in `text` by its token.
    pub fn anonymize(&self, text: &str) -> String {
        replace_whole_words(text, &self.forward)
    }

    /// Replaces every token in `text` by its name.
    pub fn deanonymize(&self, text: &str) -> String {
        replace_whole_words(text, &self.backward)
    }
}

/// Characters that continue a word. A hyphen does not: names are hidden inside the compound ids
/// built from them (`f-no-pdb-cartservice-1a2b` → `f-no-pdb-svc-002-1a2b`), and tokens found
/// there map back the same way.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces whole-word occurrences of the map's keys, longest key first, in one pass (so a
/// replacement is never replaced again).
fn replace_whole_words(text: &str, map: &BTreeMap<String, String>) -> String {
    if map.is_empty() {
        return text.to_string();
    }
    let mut keys: Vec<&String> = map.keys().filter(|k| !k.is_empty()).collect();
    keys.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    let alternation = keys
        .iter()
        .map(|k| regex::escape(k))
        .collect::<Vec<_>>()
        .join("|");
    let Ok(pattern) = Regex::new(&alternation) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut search_from = 0;
    while let Some(found) = pattern.find_at(text, search_from) {
        let before_ok = text[..found.start()]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word_char(c));
        let after_ok = text[found.end()..]
            .chars()
            .next()
            .is_none_or(|c| !is_word_char(c));
        if before_ok && after_ok {
            if let Some(replacement) = map.get(found.as_str()) {
                out.push_str(&text[last..found.start()]);
                out.push_str(replacement);
                last = found.end();
            }
            search_from = found.end();
        } else {
            // Try again one character further: a shorter name may start inside this match.
            search_from = text[found.start()..]
                .char_indices()
                .nth(1)
                .map(|(i, _)| found.start() + i)
                .unwrap_or(text.len());
        }
        if search_from >= text.len() {
            break;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Words of the prompt's own vocabulary: a name equal to one of them is left as it is, since
/// replacing it would garble the rendering around every occurrence.
const RESERVED_WORDS: &[&str] = &[
    "args",
    "backends",
    "confidence",
    "configMap",
    "container",
    "edges",
    "entry",
    "env",
    "evidence",
    "host",
    "hpa",
    "image",
    "ingress",
    "labels",
    "limits",
    "liveness",
    "mounts",
    "nodes",
    "path",
    "pdb",
    "port",
    "ports",
    "protocol",
    "readiness",
    "replicas",
    "selector",
    "type",
    "yes",
];

fn anonymizable(name: &str) -> bool {
    name.chars().count() >= 3 && !RESERVED_WORDS.contains(&name) && !is_kind_name(name)
}

fn is_kind_name(name: &str) -> bool {
    [
        NodeKind::Deployment,
        NodeKind::StatefulSet,
        NodeKind::DaemonSet,
        NodeKind::Job,
        NodeKind::CronJob,
        NodeKind::Pod,
        NodeKind::Service,
        NodeKind::Ingress,
        NodeKind::HTTPRoute,
        NodeKind::VirtualService,
        NodeKind::External,
        NodeKind::Unresolved,
    ]
    .iter()
    .any(|kind| kind.as_str() == name)
}

/// Stable tokens for the map's names: namespaces (`ns-001`), hosts outside the cluster
/// (`host-001`), then every other node name (`name-001`), each group in sorted order.
pub fn anonymizer_for(map: &ServiceMap) -> Anonymizer {
    let mut anonymizer = Anonymizer::new();
    anonymizer.register_all(
        "ns",
        map.nodes
            .iter()
            .map(|n| n.namespace.as_str())
            .filter(|n| anonymizable(n)),
    );
    anonymizer.register_all(
        "host",
        map.nodes
            .iter()
            .filter_map(|n| n.host.as_deref())
            .filter(|n| anonymizable(n)),
    );
    anonymizer.register_all(
        "name",
        map.nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| anonymizable(n)),
    );
    anonymizer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;

    #[test]
    fn anonymizer_is_deterministic_and_reversible() {
        let a = Anonymizer::from_sorted("svc", ["frontend", "cartservice", "cart", "frontend"]);
        let b = Anonymizer::from_sorted("svc", ["cart", "frontend", "cartservice"]);
        assert_eq!(a, b);
        assert_eq!(a.token_of("cart"), Some("svc-001"));
        assert_eq!(a.token_of("cartservice"), Some("svc-002"));
        assert_eq!(a.token_of("frontend"), Some("svc-003"));
        let text = "frontend calls cartservice at cartservice.default:7070; cart is not carts";
        let hidden = a.anonymize(text);
        assert_eq!(
            hidden,
            "svc-003 calls svc-002 at svc-002.default:7070; svc-001 is not carts"
        );
        assert_eq!(a.deanonymize(&hidden), text);
        assert_eq!(a.name_for("svc-002"), Some("cartservice"));
    }

    #[test]
    fn anonymizer_prefixes_count_separately_and_tokens_are_whole_words() {
        let mut a = Anonymizer::new();
        assert_eq!(a.token_for("svc", "api"), "svc-001");
        assert_eq!(a.token_for("ns", "shop"), "ns-001");
        assert_eq!(a.token_for("svc", "api"), "svc-001");
        assert_eq!(a.deanonymize("svc-0011 and svc-001"), "svc-0011 and api");
        assert_eq!(
            a.anonymize("rapid api-gateway api"),
            "rapid svc-001-gateway svc-001"
        );
        assert_eq!(
            a.deanonymize("rapid svc-001-gateway svc-001"),
            "rapid api-gateway api"
        );
        // Names inside ids built from them are hidden too, and come back.
        let mut b = Anonymizer::new();
        b.register_all("svc", ["redis-cart", "cart"]);
        let id = "h-partition-cart-redis-cart-2c8c8f17";
        let hidden = b.anonymize(id);
        assert_eq!(hidden, "h-partition-svc-001-svc-002-2c8c8f17");
        assert_eq!(b.deanonymize(&hidden), id);
    }

    #[test]
    fn anonymizer_tokens_are_stable_and_skip_reserved_words() {
        let map = fixtures::boutique();
        let a = anonymizer_for(&map);
        assert_eq!(a, anonymizer_for(&map));
        assert_eq!(a.token_of("kube-system"), Some("ns-001"));
        assert_eq!(a.token_of("shop"), Some("ns-002"));
        assert!(
            a.token_of("frontend")
                .is_some_and(|t| t.starts_with("name-"))
        );
        assert!(!anonymizable("Deployment"));
        assert!(!anonymizable("db"));
        assert!(!anonymizable("labels"));
    }
}
