//! Runtime evidence from trace files on real applications of `../shared/corpus/`: the manifests
//! give the map, traces written here (from each app's calls as its team documents them, in
//! OTLP, Jaeger and Zipkin JSON) add the calls wired in code. Scored against the answer keys:
//! recall of every true edge (config and code) and precision of the observed edges.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod trace_files;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use smart_chaos::analysis::{self, AnalysisConfig, FindingKind};
use smart_chaos::servicemap::{self, CallEnd, EvidenceKind, Matching, ServiceMap};
use smart_chaos::snapshot::{self, ReadOptions};
use smart_chaos::traffic::traces::{self, ReadLimits, TraceFormat};
use trace_files::{Call, Deployment, Shape, call};

const MIN_RECALL: f64 = 0.95;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// The key's real edges (config and code classes).
fn true_edges(app: &str) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(corpus_dir().join(app).join("edges.tsv")).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .skip(1)
        .filter_map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            matches!(columns[2], "config" | "code")
                .then(|| (columns[0].to_owned(), columns[1].to_owned()))
        })
        .collect()
}

fn manifests_map(app: &str) -> ServiceMap {
    let outcome = snapshot::read_paths(&[corpus_dir().join(app)], &ReadOptions::default()).unwrap();
    servicemap::build(&outcome.snapshot)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("smart-chaos-traces-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sock Shop as its architecture documents it (microservices-demo design notes): the front-end
/// calls the APIs, each service its own database, orders the services of a checkout, shipping
/// and queue-master the broker. Plus one call to a service that does not exist in the manifests
/// (a recommendations service of a newer version), which must stay unmatched.
const SOCK_SHOP: &[Call] = &[
    call("front-end", "catalogue", Shape::Paired),
    call("front-end", "carts", Shape::Paired),
    call("front-end", "orders", Shape::Paired),
    call("front-end", "user", Shape::Paired),
    call("front-end", "session-db", Shape::ServerAddress),
    call("front-end", "recommendations", Shape::PeerService),
    call("carts", "carts-db", Shape::ServerAddress),
    call("orders", "orders-db", Shape::ServerAddress),
    call("orders", "payment", Shape::Paired),
    call("orders", "shipping", Shape::PeerService),
    call("orders", "user", Shape::Paired),
    call("orders", "carts", Shape::Paired),
    call("catalogue", "catalogue-db", Shape::ServerAddress),
    call("user", "user-db", Shape::ServerAddress),
    call("shipping", "rabbitmq", Shape::ServerAddress),
    call("queue-master", "rabbitmq", Shape::ServerAddress),
];

/// Online Boutique as its README draws it, but for frontend → adservice, which the window
/// below does not exercise (ads turned off while the traces were taken).
const ONLINE_BOUTIQUE: &[Call] = &[
    call("frontend", "productcatalogservice", Shape::Paired),
    call("frontend", "currencyservice", Shape::Paired),
    call("frontend", "cartservice", Shape::Paired),
    call("frontend", "recommendationservice", Shape::Paired),
    call("frontend", "shippingservice", Shape::Paired),
    call("frontend", "checkoutservice", Shape::Paired),
    call("checkoutservice", "productcatalogservice", Shape::Paired),
    call("checkoutservice", "shippingservice", Shape::Paired),
    call("checkoutservice", "paymentservice", Shape::PeerService),
    call("checkoutservice", "emailservice", Shape::Paired),
    call("checkoutservice", "currencyservice", Shape::Paired),
    call("checkoutservice", "cartservice", Shape::Paired),
    call(
        "recommendationservice",
        "productcatalogservice",
        Shape::Paired,
    ),
    call("cartservice", "redis-cart", Shape::ServerAddress),
    call("loadgenerator", "frontend", Shape::PeerService),
];

/// Trace files of `calls` in every format (and both OTLP layouts), in `dir`.
fn write_all_formats(dir: &Path, calls: &[Call], namespace: &str) -> Vec<(PathBuf, TraceFormat)> {
    let traces = trace_files::generate(calls, 40);
    let with_workload = Deployment {
        namespace,
        with_workload_name: true,
    };
    let pods_only = Deployment {
        namespace,
        with_workload_name: false,
    };
    let files = [
        (dir.join("collector.jsonl"), TraceFormat::Otlp),
        (dir.join("otlp.json"), TraceFormat::Otlp),
        (dir.join("jaeger.json"), TraceFormat::Jaeger),
        (dir.join("zipkin.json"), TraceFormat::Zipkin),
    ];
    trace_files::write_otlp_lines(&files[0].0, &traces, &with_workload);
    trace_files::write_otlp_document(&files[1].0, &traces, &pods_only);
    trace_files::write_jaeger(&files[2].0, &traces, &with_workload);
    trace_files::write_zipkin(&files[3].0, &traces);
    files.to_vec()
}

struct Score {
    label: String,
    true_edges: usize,
    found: usize,
    observed: usize,
    observed_true: usize,
}

/// Adds the file's calls to the app's manifests-only map and scores the result.
fn score(app: &str, file: &Path, format: TraceFormat) -> (Score, ServiceMap) {
    let key = true_edges(app);
    let mut map = manifests_map(app);
    let read = traces::read_file(file, ReadLimits::default());
    assert!(read.error.is_none(), "{}: {:?}", file.display(), read.error);
    assert_eq!(read.format, Some(format), "{}", file.display());
    servicemap::attach(
        &mut map,
        read.calls.into_iter().map(|c| c.into_named_call()),
        Matching::Exact,
    );
    let edges: BTreeSet<(String, String)> = map
        .edges
        .iter()
        .map(|e| (e.from.0.clone(), e.to.0.clone()))
        .collect();
    let observed: Vec<(String, String)> = map
        .edges
        .iter()
        .filter(|e| e.has_kind(EvidenceKind::Traffic))
        .map(|e| (e.from.0.clone(), e.to.0.clone()))
        .collect();
    for missed in key.difference(&edges) {
        eprintln!("{app} {format}: missed {} -> {}", missed.0, missed.1);
    }
    for wrong in observed.iter().filter(|e| !key.contains(*e)) {
        eprintln!(
            "{app} {format}: observed edge not in the key {} -> {}",
            wrong.0, wrong.1
        );
    }
    let score = Score {
        label: format!(
            "{app} / {format} ({})",
            file.file_name().unwrap().to_string_lossy()
        ),
        true_edges: key.len(),
        found: key.intersection(&edges).count(),
        observed: observed.len(),
        observed_true: observed.iter().filter(|e| key.contains(*e)).count(),
    };
    (score, map)
}

fn print_table(scores: &[Score]) {
    println!(
        "{:<44} {:>10} {:>7} {:>9} {:>10}",
        "app / format", "true edges", "found", "recall", "precision"
    );
    for s in scores {
        println!(
            "{:<44} {:>10} {:>7} {:>9.3} {:>10.3}",
            s.label,
            s.true_edges,
            s.found,
            s.found as f64 / s.true_edges as f64,
            if s.observed == 0 {
                1.0
            } else {
                s.observed_true as f64 / s.observed as f64
            }
        );
    }
}

#[test]
fn sock_shop_traces_in_every_format_find_the_code_edges() {
    let dir = temp_dir("sock-shop");
    let mut scores = Vec::new();
    let manifests_only = manifests_map("sock-shop");
    for (file, format) in write_all_formats(&dir, SOCK_SHOP, "sock-shop") {
        let (score, map) = score("sock-shop", &file, format);
        // The call to a service that is not in the manifests is listed, never invented.
        let unmatched: Vec<_> = map
            .unmatched
            .iter()
            .filter(|u| u.end == CallEnd::Callee && u.name.contains("recommendations"))
            .collect();
        assert_eq!(unmatched.len(), 1, "{format}: {:?}", map.unmatched);
        assert_eq!(unmatched[0].calls, 40, "{format}");
        assert!(
            map.nodes
                .iter()
                .all(|n| !n.name.contains("recommendations")),
            "{format}"
        );
        assert_eq!(
            map.nodes.len(),
            manifests_only.nodes.len(),
            "{format}: traces added nodes"
        );
        // Observed edges carry counts, errors, latency and the window.
        let observed = map
            .edges
            .iter()
            .find(|e| {
                e.from.0 == "sock-shop/Deployment/orders" && e.to.0 == "sock-shop/Service/payment"
            })
            .unwrap();
        let traffic = observed
            .evidence
            .iter()
            .find_map(|e| match e {
                servicemap::Evidence::Traffic(t) => Some(t),
                _ => None,
            })
            .unwrap();
        assert_eq!(traffic.requests, 40, "{format}");
        assert_eq!(traffic.errors, 2, "{format}");
        assert!(traffic.window_seconds.is_some_and(|w| w >= 1), "{format}");
        let p99 = traffic.p99_micros.unwrap();
        assert!((2_000..=6_000).contains(&p99), "{format}: p99 {p99}");
        scores.push(score);
    }
    print_table(&scores);
    for s in &scores {
        assert!(
            s.found as f64 / s.true_edges as f64 >= MIN_RECALL,
            "{}: recall {}/{}",
            s.label,
            s.found,
            s.true_edges
        );
        assert_eq!(
            s.observed, s.observed_true,
            "{}: precision below 1.0",
            s.label
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn online_boutique_traces_flag_the_configured_call_never_observed() {
    let dir = temp_dir("online-boutique");
    let mut scores = Vec::new();
    for (file, format) in write_all_formats(&dir, ONLINE_BOUTIQUE, "default") {
        let (score, map) = score("online-boutique", &file, format);
        // frontend → adservice stands on its configuration, unobserved.
        let ads = map
            .edges
            .iter()
            .find(|e| {
                e.from.0 == "default/Deployment/frontend" && e.to.0 == "default/Service/adservice"
            })
            .unwrap();
        assert_eq!(ads.kinds, vec![EvidenceKind::Config], "{format}");
        let result = analysis::analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
        let flagged: Vec<_> = result
            .dependencies
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::DeclaredNotObserved)
            .collect();
        assert_eq!(flagged.len(), 1, "{format}: {flagged:#?}");
        assert_eq!(flagged[0].subject.0, "default/Deployment/frontend");
        assert!(
            flagged[0]
                .related
                .iter()
                .any(|r| r.0 == "default/Service/adservice"),
            "{format}: {:?}",
            flagged[0].related
        );
        assert!(
            flagged[0]
                .related
                .iter()
                .all(|r| r.0 != "default/Service/productcatalogservice"),
            "{format}"
        );
        assert!(
            result
                .rumsfeld
                .known_unknowns
                .iter()
                .any(|item| item.statement.contains("adservice")),
            "{format}: the Rumsfeld matrix lists the unobserved call"
        );
        // Every Online Boutique call is in its manifests: nothing observed is undeclared.
        assert!(
            result
                .dependencies
                .findings
                .iter()
                .all(|f| f.kind != FindingKind::ObservedNotDeclared),
            "{format}"
        );
        scores.push(score);
    }
    print_table(&scores);
    for s in &scores {
        assert!(
            s.found as f64 / s.true_edges as f64 >= MIN_RECALL,
            "{}",
            s.label
        );
        assert_eq!(
            s.observed, s.observed_true,
            "{}: precision below 1.0",
            s.label
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sock_shop_code_edges_are_flagged_observed_but_not_declared() {
    let dir = temp_dir("sock-shop-flags");
    let file = dir.join("collector.jsonl");
    trace_files::write_otlp_lines(
        &file,
        &trace_files::generate(SOCK_SHOP, 5),
        &Deployment {
            namespace: "sock-shop",
            with_workload_name: true,
        },
    );
    let (_, map) = score("sock-shop", &file, TraceFormat::Otlp);
    let result = analysis::analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let undeclared: BTreeSet<&str> = result
        .dependencies
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::ObservedNotDeclared)
        .map(|f| f.subject.as_str())
        .collect();
    assert!(
        undeclared.contains("sock-shop/Deployment/front-end"),
        "{undeclared:?}"
    );
    assert!(
        undeclared.contains("sock-shop/Deployment/orders"),
        "{undeclared:?}"
    );
    // user → user-db is in the manifests (env) and observed: no flag for user.
    assert!(
        !undeclared.contains("sock-shop/Deployment/user"),
        "{undeclared:?}"
    );
    assert!(
        result
            .rumsfeld
            .unknown_knowns
            .iter()
            .any(|item| item.id.starts_with("uk-undeclared")),
        "{:#?}",
        result.rumsfeld.unknown_knowns
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn planning_covers_every_service_of_sock_shop_without_edges() {
    let map = manifests_map("sock-shop");
    let result = analysis::analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let targets: BTreeSet<&str> = result
        .hypotheses
        .hypotheses
        .iter()
        .map(|h| h.target.as_str())
        .collect();
    let services = map.nodes.iter().filter(|n| n.kind.is_workload()).count();
    println!(
        "sock-shop manifests only: {services} workloads, {} hypotheses on {} of them, {} experiments",
        result.hypotheses.hypotheses.len(),
        targets.len(),
        result.planned.len()
    );
    for workload in map.nodes.iter().filter(|n| n.kind.is_workload()) {
        assert!(
            targets.contains(workload.id.as_str()),
            "no hypothesis about {}",
            workload.id
        );
    }
    assert!(
        result.planned.len() >= services,
        "{} experiments",
        result.planned.len()
    );

    // Learned edges add caller/callee experiments on top.
    let dir = temp_dir("sock-shop-plan");
    let file = dir.join("collector.jsonl");
    trace_files::write_otlp_lines(
        &file,
        &trace_files::generate(SOCK_SHOP, 5),
        &Deployment {
            namespace: "sock-shop",
            with_workload_name: true,
        },
    );
    let (_, observed) = score("sock-shop", &file, TraceFormat::Otlp);
    let with_traces = analysis::analyze_builtin(&observed, &AnalysisConfig::default()).unwrap();
    let with_peer = |r: &analysis::AnalysisResult| {
        r.hypotheses
            .hypotheses
            .iter()
            .filter(|h| h.peer.is_some())
            .count()
    };
    println!(
        "sock-shop with traces: {} hypotheses ({} about a caller/callee pair), {} experiments",
        with_traces.hypotheses.hypotheses.len(),
        with_peer(&with_traces),
        with_traces.planned.len()
    );
    assert!(with_peer(&with_traces) > with_peer(&result) + 5);
    assert!(with_traces.planned.len() > result.planned.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
