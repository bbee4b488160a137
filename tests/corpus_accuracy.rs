//! Accuracy of the service map against the answer keys of real public applications in
//! `../shared/corpus/` (Online Boutique, Sock Shop, Bookinfo).
//!
//! Recall: of the key's `config` edges (derivable from the manifests), how many the map has.
//! Precision: of the map's edges to a Service of the input, to an Unresolved node, or from an
//! entry point, how many the key lists: `config` or `code` (real dependencies), or, for an edge to
//! an Unresolved node, a `dangling` or `external` reference to that name. An invented reference to
//! nothing counts against precision. `dangling` targets must be Unresolved nodes with an edge,
//! never Service nodes; `external` targets must not become edges to a Service of the input.

// Helpers of a test file are test code: clippy's in-test allowances only cover #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use smart_chaos::servicemap::{self, NodeKind, ServiceMap};
use smart_chaos::snapshot::{self, ReadOptions};

const APPS: &[&str] = &["online-boutique", "sock-shop", "bookinfo"];
const MIN_PRECISION: f64 = 0.95;
const MIN_RECALL: f64 = 0.95;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

struct KeyEdge {
    from: String,
    to: String,
    class: String,
}

fn read_key(app: &str) -> Vec<KeyEdge> {
    let path = corpus_dir().join(app).join("edges.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .skip(1) // the header
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            assert!(columns.len() >= 3, "bad key line in {app}: {line}");
            KeyEdge {
                from: columns[0].to_owned(),
                to: columns[1].to_owned(),
                class: columns[2].to_owned(),
            }
        })
        .collect()
}

/// The app's manifests: every YAML file of its folder, read like `map -f <folder>`.
fn build_map(app: &str) -> ServiceMap {
    let outcome = snapshot::read_paths(&[corpus_dir().join(app)], &ReadOptions::default())
        .unwrap_or_else(|e| panic!("reading {app}: {e}"));
    assert!(
        outcome.warnings.is_empty(),
        "{app}: unexpected warnings: {:?}",
        outcome.warnings
    );
    servicemap::build(&outcome.snapshot)
}

struct Score {
    app: &'static str,
    key_edges: usize,
    found: usize,
    scored_edges: usize,
    true_edges: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        if self.scored_edges == 0 {
            1.0
        } else {
            self.true_edges as f64 / self.scored_edges as f64
        }
    }

    fn recall(&self) -> f64 {
        if self.key_edges == 0 {
            1.0
        } else {
            self.found as f64 / self.key_edges as f64
        }
    }
}

fn kind_of(map: &ServiceMap, id: &str) -> Option<NodeKind> {
    map.nodes
        .iter()
        .find(|n| n.id.as_str() == id)
        .map(|n| n.kind)
}

fn score(app: &'static str) -> Score {
    let key = read_key(app);
    let map = build_map(app);
    let edges: BTreeSet<(&str, &str)> = map
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    let config: Vec<&KeyEdge> = key.iter().filter(|e| e.class == "config").collect();
    let real: BTreeSet<(&str, &str)> = key
        .iter()
        .filter(|e| e.class == "config" || e.class == "code")
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    // References the key says point outside the input: reported as Unresolved nodes, they are
    // true edges.
    let reported: BTreeSet<(String, String)> = key
        .iter()
        .filter(|e| e.class == "dangling" || e.class == "external")
        .map(|e| {
            let (namespace, _, name) = split_id(&e.to);
            (e.from.clone(), format!("{namespace}/Unresolved/{name}"))
        })
        .collect();
    let is_true = |edge: &(&str, &str)| {
        real.contains(edge) || reported.contains(&(edge.0.to_owned(), edge.1.to_owned()))
    };
    let found = config
        .iter()
        .filter(|e| edges.contains(&(e.from.as_str(), e.to.as_str())))
        .count();
    for missing in config
        .iter()
        .filter(|e| !edges.contains(&(e.from.as_str(), e.to.as_str())))
    {
        eprintln!("{app}: missed {} -> {}", missing.from, missing.to);
    }
    // Edges the key can judge: to a Service of the input, to an Unresolved node, or from an
    // entry point.
    let scored: Vec<(&str, &str)> = map
        .edges
        .iter()
        .filter(|e| {
            matches!(
                kind_of(&map, e.to.as_str()),
                Some(NodeKind::Service | NodeKind::Unresolved)
            ) || matches!(
                kind_of(&map, e.from.as_str()),
                Some(NodeKind::Ingress | NodeKind::HTTPRoute | NodeKind::VirtualService)
            )
        })
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    for invented in scored.iter().filter(|e| !is_true(e)) {
        eprintln!("{app}: invented {} -> {}", invented.0, invented.1);
    }
    let true_edges = scored.iter().filter(|e| is_true(e)).count();

    // Dangling references: an Unresolved node with an edge, never a Service node.
    for dangling in key.iter().filter(|e| e.class == "dangling") {
        let (namespace, _, name) = split_id(&dangling.to);
        let unresolved = format!("{namespace}/Unresolved/{name}");
        assert_eq!(
            kind_of(&map, &unresolved),
            Some(NodeKind::Unresolved),
            "{app}: {} must be reported as {unresolved}",
            dangling.to
        );
        assert!(
            edges.contains(&(dangling.from.as_str(), unresolved.as_str())),
            "{app}: missing edge {} -> {unresolved}",
            dangling.from
        );
        assert_eq!(
            kind_of(&map, &dangling.to),
            None,
            "{app}: {} must not be a node",
            dangling.to
        );
        assert!(
            !map.nodes
                .iter()
                .any(|n| n.kind == NodeKind::Service && n.name == name),
            "{app}: dangling {name} became a Service node"
        );
    }
    // External targets: never an edge to a Service of the input.
    for external in key.iter().filter(|e| e.class == "external") {
        let (_, _, name) = split_id(&external.to);
        for edge in map
            .edges
            .iter()
            .filter(|e| e.from.as_str() == external.from)
        {
            let to_input_service = kind_of(&map, edge.to.as_str()) == Some(NodeKind::Service)
                && edge.to.as_str().ends_with(&format!("/Service/{name}"));
            assert!(
                !to_input_service,
                "{app}: external {} became an edge to {}",
                external.to, edge.to
            );
        }
        assert_eq!(
            kind_of(&map, &external.to),
            None,
            "{app}: {} invented",
            external.to
        );
    }
    Score {
        app,
        key_edges: config.len(),
        found,
        scored_edges: scored.len(),
        true_edges,
    }
}

fn split_id(id: &str) -> (&str, &str, &str) {
    let mut parts = id.splitn(3, '/');
    let namespace = parts.next().unwrap_or_default();
    let kind = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    (namespace, kind, name)
}

#[test]
fn edges_match_the_answer_keys() {
    let scores: Vec<Score> = APPS.iter().map(|app| score(app)).collect();
    println!();
    println!(
        "{:<16} {:>9} {:>6} {:>11} {:>10} {:>7}",
        "app", "key edges", "found", "map edges*", "precision", "recall"
    );
    for s in &scores {
        println!(
            "{:<16} {:>9} {:>6} {:>11} {:>10.3} {:>7.3}",
            s.app,
            s.key_edges,
            s.found,
            s.scored_edges,
            s.precision(),
            s.recall()
        );
    }
    println!("* edges to a Service of the input, to an Unresolved node, or from an entry point");
    for s in &scores {
        assert!(
            s.precision() >= MIN_PRECISION,
            "{}: precision {:.3}",
            s.app,
            s.precision()
        );
        assert!(
            s.recall() >= MIN_RECALL,
            "{}: recall {:.3}",
            s.app,
            s.recall()
        );
    }
}

#[test]
fn entry_points_and_backends_follow_the_manifests() {
    let boutique = build_map("online-boutique");
    let node = |map: &ServiceMap, id: &str| {
        map.nodes
            .iter()
            .find(|n| n.id.as_str() == id)
            .cloned()
            .unwrap_or_else(|| panic!("no node {id}"))
    };
    let external = node(&boutique, "default/Service/frontend-external");
    assert!(
        external.entry_point,
        "a LoadBalancer Service is an entry point"
    );
    let redis = node(&boutique, "default/Deployment/redis-cart");
    assert!(
        redis.workload.and_then(|w| w.data_store).is_some(),
        "redis-cart is a data store"
    );

    let bookinfo = build_map("bookinfo");
    let reviews = node(&bookinfo, "default/Service/reviews");
    let backends: Vec<String> = reviews
        .service
        .map(|s| s.backends.iter().map(|b| b.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(
        backends,
        vec![
            "default/Deployment/reviews-v1",
            "default/Deployment/reviews-v2",
            "default/Deployment/reviews-v3"
        ]
    );
    assert!(node(&bookinfo, "default/Ingress/gateway").entry_point);

    let sock = build_map("sock-shop");
    assert!(
        node(&sock, "sock-shop/Service/front-end").entry_point,
        "NodePort entry point"
    );
    let zipkin = node(&sock, "jaeger/Unresolved/zipkin");
    assert_eq!(zipkin.kind, NodeKind::Unresolved);
    let zipkin_edge = sock
        .edges
        .iter()
        .find(|e| e.to == zipkin.id)
        .expect("an edge to the unresolved zipkin");
    assert!(
        zipkin_edge.confidence < 0.8,
        "outside references get low confidence"
    );
}

#[test]
fn building_is_deterministic() {
    for app in APPS {
        let first = build_map(app);
        let second = build_map(app);
        let json = first.to_json().expect("json");
        assert_eq!(json, second.to_json().expect("json"), "{app}");
        assert_eq!(
            first.content_hash().expect("hash"),
            second.content_hash().expect("hash"),
            "{app}"
        );
        assert_eq!(first.to_dot(), second.to_dot(), "{app}");
        assert_eq!(first.to_mermaid(), second.to_mermaid(), "{app}");
    }
}
