//! The team's architecture as input, on Sock Shop: its manifests name one dependency, its public
//! architecture (examples/architecture, written from the upstream README and design docs) names
//! the rest. Map = manifests + diagram, scored against the answer key in
//! `../shared/corpus/sock-shop/edges.tsv` (config and code edges are true).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use smart_chaos::analysis::{self, AnalysisConfig, FindingKind};
use smart_chaos::api::Guardrails;
use smart_chaos::architecture::{self, ArchitectureSource, Diagram};
use smart_chaos::servicemap::{self, EvidenceKind, NodeKind, ServiceMap};
use smart_chaos::snapshot::{self, ReadOptions};

const MIN_RECALL: f64 = 0.9;
const MIN_PRECISION: f64 = 0.95;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> PathBuf {
    crate_dir().join("../shared/corpus/sock-shop")
}

/// The key's real dependencies (`config` and `code`), as (from, to) ids.
fn true_edges() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(corpus().join("edges.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| c.len() >= 3 && (c[2] == "config" || c[2] == "code"))
        .map(|c| (c[0].to_owned(), c[1].to_owned()))
        .collect()
}

fn manifests_map() -> ServiceMap {
    let outcome = snapshot::read_paths(&[corpus()], &ReadOptions::default()).unwrap();
    servicemap::build(&outcome.snapshot)
}

fn diagrams(text: &str, origin: &str) -> Vec<Diagram> {
    architecture::parse(origin, text.as_bytes())
        .unwrap()
        .into_iter()
        .filter_map(|s| match s {
            ArchitectureSource::Diagram(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn example(file: &str) -> Vec<Diagram> {
    let path = crate_dir().join("examples/architecture").join(file);
    diagrams(&std::fs::read_to_string(&path).unwrap(), file)
}

struct Score {
    key: usize,
    found: usize,
    scored: usize,
    correct: usize,
}

/// Recall over the key; precision over the edges the key can judge (to a Service of the input
/// or from an entry point), as in corpus_accuracy.
fn score(map: &ServiceMap, key: &BTreeSet<(String, String)>) -> Score {
    let kind = |id: &str| {
        map.nodes
            .iter()
            .find(|n| n.id.as_str() == id)
            .map(|n| n.kind)
    };
    let edges: BTreeSet<(String, String)> = map
        .edges
        .iter()
        .map(|e| (e.from.as_str().to_owned(), e.to.as_str().to_owned()))
        .collect();
    let scored: Vec<&(String, String)> = edges
        .iter()
        .filter(|(from, to)| {
            kind(to) == Some(NodeKind::Service)
                || matches!(
                    kind(from),
                    Some(NodeKind::Ingress | NodeKind::HTTPRoute | NodeKind::VirtualService)
                )
        })
        .collect();
    for missed in key.iter().filter(|e| !edges.contains(e)) {
        eprintln!("missed {} -> {}", missed.0, missed.1);
    }
    for wrong in scored.iter().filter(|e| !key.contains(e)) {
        eprintln!("not in the key {} -> {}", wrong.0, wrong.1);
    }
    Score {
        key: key.len(),
        found: key.iter().filter(|e| edges.contains(e)).count(),
        scored: scored.len(),
        correct: scored.iter().filter(|e| key.contains(e)).count(),
    }
}

#[test]
fn manifests_plus_diagram_reach_the_key() {
    let key = true_edges();
    assert!(key.len() >= 10, "the key lists {} true edges", key.len());
    println!("| input | key edges | found | recall | judged edges | precision |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let manifests = manifests_map();
    let base = score(&manifests, &key);
    let row = |name: &str, s: &Score| {
        let recall = s.found as f64 / s.key as f64;
        let precision = if s.scored == 0 {
            1.0
        } else {
            s.correct as f64 / s.scored as f64
        };
        println!(
            "| {name} | {} | {} | {recall:.3} | {} | {precision:.3} |",
            s.key, s.found, s.scored
        );
        (recall, precision)
    };
    let (base_recall, _) = row("manifests", &base);
    // blind/: written afterwards by an engineer who saw neither the key nor the diagrams above,
    // from the upstream docs and general knowledge of the public design (blind/SOURCES.md).
    for file in [
        "sock-shop.mmd",
        "sock-shop.dot",
        "blind/sock-shop.mmd",
        "blind/sock-shop.dot",
    ] {
        let mut map = manifests.clone();
        let report = architecture::declare(&mut map, &example(file));
        let (recall, precision) = row(&format!("manifests + {file}"), &score(&map, &key));
        assert!(recall >= MIN_RECALL, "{file}: recall {recall:.3}");
        assert!(
            precision >= MIN_PRECISION,
            "{file}: precision {precision:.3}"
        );
        assert!(recall > base_recall);
        // Every declared edge says where it was declared.
        for edge in map
            .edges
            .iter()
            .filter(|e| e.has_kind(EvidenceKind::Declared))
        {
            assert!(edge.evidence.iter().any(|e| matches!(
                e,
                servicemap::Evidence::Declared(d) if d.origin == file && d.line.is_some()
            )));
        }
        // Nothing invented: the nodes are the manifests' nodes (their entry points may change:
        // a declared call can reach a workload that only looked like a root of the call graph).
        let ids =
            |m: &servicemap::ServiceMap| m.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&map), ids(&manifests), "{file}");
        assert!(report.attach.new_edges >= 10, "{file}: {report:?}");
        for name in &map.unmatched {
            println!(
                "{file}: unmatched {:?} at {}: {}",
                name.name, name.origin, name.reason
            );
        }
    }
}

#[test]
fn unmatched_diagram_names_are_listed() {
    let mut map = manifests_map();
    architecture::declare(&mut map, &example("sock-shop.mmd"));
    let names: Vec<&str> = map.unmatched.iter().map(|u| u.name.as_str()).collect();
    // The customer is a person, drawn as a circle: no workload has that name.
    assert_eq!(names, vec!["Customer"]);
    let customer = &map.unmatched[0];
    assert_eq!(customer.origin, "sock-shop.mmd");
    assert_eq!(customer.peers.len(), 1);
    assert_eq!(customer.peers[0].as_str(), "sock-shop/Service/front-end");
}

#[test]
fn a_service_the_cluster_lacks_is_a_drift_finding() {
    let mut map = manifests_map();
    let diagram = diagrams(
        "flowchart LR\n  fe[Front End] --> catalogue\n  fe --> recs[Recommendations Service]\n  orders --> fraud-check\n",
        "team-architecture.mmd",
    );
    architecture::declare(&mut map, &diagram);
    let config = AnalysisConfig::from_guardrails(&Guardrails::default(), None).unwrap();
    let result = analysis::analyze_builtin(&map, &config).unwrap();
    let missing: Vec<(&str, &str)> = result
        .dependencies
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::DeclaredServiceMissing)
        .map(|f| (f.subject.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(missing.len(), 2, "{missing:#?}");
    assert!(missing.iter().any(
        |(subject, message)| *subject == "sock-shop/Deployment/front-end"
            && message.contains("Recommendations Service")
            && message.contains("team-architecture.mmd")
    ));
    assert!(missing.iter().any(
        |(subject, message)| *subject == "sock-shop/Deployment/orders"
            && message.contains("fraud-check")
    ));
    // Declared calls nothing in the manifests shows, and the one manifest call the diagram
    // does not show (user → user-db), are drift too.
    let kinds: BTreeSet<FindingKind> = result
        .dependencies
        .findings
        .iter()
        .map(|f| f.kind)
        .collect();
    assert!(kinds.contains(&FindingKind::DeclaredCallNotConfigured));
    assert!(kinds.contains(&FindingKind::UndeclaredCall));
    assert!(
        result
            .rumsfeld
            .unknown_knowns
            .iter()
            .any(|i| i.statement.contains("user → user-db"))
    );
    assert!(
        result
            .rumsfeld
            .known_unknowns
            .iter()
            .any(|i| i.statement.contains("fraud-check"))
    );
}
