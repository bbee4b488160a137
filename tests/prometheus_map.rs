//! Prometheus as runtime evidence, against a real Prometheus (scripts/with-prometheus.sh):
//! Sock Shop's calls, written by this test as Istio metrics from a description of the
//! application a team would give (not from the answer key), backfilled as TSDB blocks, then
//! read back into the map of Sock Shop's manifests and scored against
//! `../shared/corpus/sock-shop/edges.tsv`. Then the measured steady states, and a Prometheus
//! that answers 500, hangs or returns garbage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod prometheus_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_support::{Fault, OpenMetrics};
use smart_chaos::analysis::{self, AnalysisConfig, Probe};
use smart_chaos::servicemap::{self, CallEnd, Evidence, EvidenceKind, ServiceMap};
use smart_chaos::snapshot::{self, ReadOptions};
use smart_chaos::traffic::prometheus::{
    self, PrometheusClient, PrometheusConfig, PrometheusError, measure_baselines,
};

const NS: &str = "sock-shop";
const WINDOW: Duration = Duration::from_secs(3600);
/// Backfilled history: 70 minutes, a sample every 30 seconds, ending a little before now.
const HISTORY_SECONDS: i64 = 70 * 60;
const STEP_SECONDS: i64 = 30;

/// Sock Shop's calls as its team describes them: (caller namespace, caller workload, callee
/// namespace, callee Service, protocol, calls per second, share failing, typical latency ms).
/// The ingress gateway and the tracing collector are outside the manifests: their calls must be
/// listed as unmatched, never become nodes or edges.
/// (caller ns, caller, callee ns, callee, protocol, calls/s, failing share, median ms).
type Call = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    f64,
    f64,
    f64,
);

const CALLS: &[Call] = &[
    (
        "istio-system",
        "istio-ingressgateway",
        NS,
        "front-end",
        "http",
        30.0,
        0.001,
        40.0,
    ),
    (NS, "front-end", NS, "catalogue", "http", 20.0, 0.0, 8.0),
    (NS, "front-end", NS, "carts", "http", 8.0, 0.002, 15.0),
    (NS, "front-end", NS, "orders", "http", 2.0, 0.0, 60.0),
    (NS, "front-end", NS, "user", "http", 5.0, 0.0, 12.0),
    (NS, "front-end", NS, "session-db", "tcp", 1.0, 0.0, 0.0),
    (NS, "orders", NS, "payment", "http", 2.0, 0.01, 20.0),
    (NS, "orders", NS, "shipping", "http", 2.0, 0.0, 25.0),
    (NS, "orders", NS, "user", "http", 2.0, 0.0, 12.0),
    (NS, "orders", NS, "carts", "http", 2.0, 0.0, 15.0),
    (NS, "orders", NS, "orders-db", "tcp", 0.5, 0.0, 0.0),
    (NS, "carts", NS, "carts-db", "tcp", 0.5, 0.0, 0.0),
    (NS, "catalogue", NS, "catalogue-db", "tcp", 0.5, 0.0, 0.0),
    (NS, "user", NS, "user-db", "tcp", 0.5, 0.0, 0.0),
    (NS, "shipping", NS, "rabbitmq", "tcp", 0.2, 0.0, 0.0),
    (NS, "queue-master", NS, "rabbitmq", "tcp", 0.2, 0.0, 0.0),
    (NS, "shipping", "jaeger", "zipkin", "http", 2.0, 0.0, 3.0),
];

const LATENCY_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
];

/// Share of calls at most `le` ms when the median is `typical` ms (an exponential tail).
fn share_below(le: f64, typical: f64) -> f64 {
    1.0 - 0.5f64.powf(le / typical)
}

/// The OpenMetrics text of [`CALLS`]: both Istio reporters (the reader must count one side), a
/// 503 series where calls fail, and the request-duration histogram on the source side.
fn sock_shop_series(end: i64) -> String {
    let times: Vec<i64> = (0..=HISTORY_SECONDS / STEP_SECONDS)
        .map(|i| end - HISTORY_SECONDS + i * STEP_SECONDS)
        .collect();
    let labels = |call: &Call, reporter: &str| {
        let (src_ns, src, dst_ns, dst, ..) = *call;
        BTreeMap::from([
            ("reporter", reporter.to_string()),
            ("source_workload", src.to_string()),
            ("source_workload_namespace", src_ns.to_string()),
            ("destination_service_name", dst.to_string()),
            ("destination_service_namespace", dst_ns.to_string()),
            (
                "destination_service",
                format!("{dst}.{dst_ns}.svc.cluster.local"),
            ),
            ("destination_workload", dst.to_string()),
            ("destination_workload_namespace", dst_ns.to_string()),
        ])
    };
    let elapsed = |t: i64| (t - times[0] + STEP_SECONDS) as f64;
    let mut om = OpenMetrics::default();
    om.family("istio_requests", "counter");
    for call in CALLS.iter().filter(|c| c.4 == "http") {
        let (rate, failing) = (call.5, call.6);
        for reporter in ["source", "destination"] {
            for (code, share) in [("200", 1.0 - failing), ("503", failing)] {
                if share <= 0.0 {
                    continue;
                }
                let mut l = labels(call, reporter);
                l.insert("response_code", code.into());
                let points: Vec<(i64, f64)> = times
                    .iter()
                    .map(|&t| (t, (rate * share * elapsed(t)).round()))
                    .collect();
                om.counter("istio_requests_total", &l, &points);
            }
        }
    }
    om.family("istio_tcp_connections_opened", "counter");
    for call in CALLS.iter().filter(|c| c.4 == "tcp") {
        let points: Vec<(i64, f64)> = times
            .iter()
            .map(|&t| (t, (call.5 * elapsed(t)).round()))
            .collect();
        om.counter(
            "istio_tcp_connections_opened_total",
            &labels(call, "source"),
            &points,
        );
    }
    om.family("istio_request_duration_milliseconds", "histogram");
    for call in CALLS.iter().filter(|c| c.4 == "http") {
        let points: Vec<prometheus_support::HistogramPoint> = times
            .iter()
            .map(|&t| {
                let total = (call.5 * elapsed(t)).round();
                let mut buckets: Vec<(String, f64)> = LATENCY_BUCKETS
                    .iter()
                    .map(|&le| (format!("{le}"), (total * share_below(le, call.7)).floor()))
                    .collect();
                buckets.push(("+Inf".into(), total));
                (t, buckets, total * call.7)
            })
            .collect();
        om.histogram(
            "istio_request_duration_milliseconds",
            &labels(call, "source"),
            &points,
        );
    }
    om.finish()
}

/// Backfills Sock Shop once per test process and waits until Prometheus has loaded it.
async fn sock_shop_loaded() -> PrometheusClient {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        prometheus_support::backfill(
            "sock-shop",
            &sock_shop_series(prometheus_support::now() - 15),
        );
    });
    let client = prometheus_support::client();
    prometheus_support::wait_for(
        &client,
        "count_over_time(istio_tcp_connections_opened_total{source_workload=\"queue-master\"}[1h])",
    )
    .await;
    prometheus_support::wait_for(
        &client,
        "count_over_time(istio_request_duration_milliseconds_bucket{source_workload=\"orders\"}[1h])",
    )
    .await;
    client
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sock-shop")
}

fn manifests_map() -> ServiceMap {
    let outcome = snapshot::read_paths(&[corpus()], &ReadOptions::default()).unwrap();
    servicemap::build(&outcome.snapshot)
}

/// (from, to, class) rows of the answer key.
fn answer_key() -> Vec<(String, String, String)> {
    std::fs::read_to_string(corpus().join("edges.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("from\t") && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (
                cols[0].to_string(),
                cols[1].to_string(),
                cols[2].to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sock_shop_istio_metrics_give_every_true_edge_and_nothing_else() {
    let client = sock_shop_loaded().await;
    let mut map = manifests_map();
    let before = map.edges.len();
    let nodes_before = map.nodes.clone();
    let enrichment = prometheus::enrich(&client, &mut map, WINDOW).await.unwrap();
    assert_eq!(
        enrichment.metrics,
        vec!["istio_requests_total", "istio_tcp_connections_opened_total"],
        "the metrics that exist, and only those, are read"
    );

    let key = answer_key();
    let truth: BTreeSet<(String, String)> = key
        .iter()
        .filter(|(_, _, class)| class == "config" || class == "code")
        .map(|(f, t, _)| (f.clone(), t.clone()))
        .collect();
    let edges: BTreeMap<(String, String), &servicemap::Edge> = map
        .edges
        .iter()
        .map(|e| ((e.from.to_string(), e.to.to_string()), e))
        .collect();
    let observed: Vec<&servicemap::Edge> = map
        .edges
        .iter()
        .filter(|e| e.has_kind(EvidenceKind::Traffic))
        .collect();
    let found = truth.iter().filter(|k| edges.contains_key(*k)).count();
    let observed_true = observed
        .iter()
        .filter(|e| truth.contains(&(e.from.to_string(), e.to.to_string())))
        .count();
    let recall = found as f64 / truth.len() as f64;
    let precision = observed_true as f64 / observed.len().max(1) as f64;

    println!(
        "Sock Shop, manifests + Istio metrics from a real Prometheus ({})",
        client.url()
    );
    println!(
        "{:<32} {:<34} {:<8} {:>8} {:>7} {:>9}",
        "from", "to", "kinds", "calls/h", "errors", "p99 ms"
    );
    for edge in &map.edges {
        let traffic = edge.evidence.iter().find_map(|e| match e {
            Evidence::Traffic(t) => Some(t),
            _ => None,
        });
        let kinds: Vec<&str> = edge.kinds.iter().map(|k| k.as_str()).collect();
        println!(
            "{:<32} {:<34} {:<8} {:>8} {:>7} {:>9}",
            edge.from.as_str().trim_start_matches("sock-shop/"),
            edge.to.as_str().trim_start_matches("sock-shop/"),
            kinds.join("+"),
            traffic.map_or("-".into(), |t| t.requests.to_string()),
            traffic.map_or("-".into(), |t| t.errors.to_string()),
            traffic
                .and_then(|t| t.p99_micros)
                .map_or("-".into(), |p| format!("{:.1}", p as f64 / 1000.0)),
        );
    }
    for name in &map.unmatched {
        println!(
            "unmatched {:?} {}: {} ({} calls)",
            name.end, name.name, name.reason, name.calls
        );
    }
    println!(
        "true edges {}: found {found} (recall {recall:.3}); observed edges {}: true {observed_true} (precision {precision:.3}); manifests-only edges {before}",
        truth.len(),
        observed.len()
    );
    assert!(recall >= 0.95, "recall {recall:.3} < 0.95");
    assert_eq!(precision, 1.0, "an observed edge the key does not list");
    assert!(
        before < found,
        "the manifests alone find fewer edges ({before})"
    );

    // Outside the manifests: listed, never invented.
    // (Entry points may change: traffic can reach a workload that only looked like a root.)
    let ids = |nodes: &[smart_chaos::servicemap::Node]| {
        nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&map.nodes),
        ids(&nodes_before),
        "no node invented from telemetry"
    );
    let unmatched: BTreeSet<(String, CallEnd)> = map
        .unmatched
        .iter()
        .map(|u| (u.name.clone(), u.end))
        .collect();
    assert!(
        unmatched.contains(&("jaeger/zipkin".to_string(), CallEnd::Callee)),
        "{unmatched:?}"
    );
    assert!(
        unmatched.contains(&(
            "istio-system/istio-ingressgateway".to_string(),
            CallEnd::Caller
        )),
        "{unmatched:?}"
    );

    // The evidence carries what the series say: one reporter counted, errors, latency.
    let traffic = |from: &str, to: &str| {
        edges[&(
            format!("{NS}/Deployment/{from}"),
            format!("{NS}/Service/{to}"),
        )]
            .evidence
            .iter()
            .find_map(|e| match e {
                Evidence::Traffic(t) => Some(t.clone()),
                _ => None,
            })
            .unwrap()
    };
    let catalogue = traffic("front-end", "catalogue");
    assert_eq!(catalogue.origin, "istio_requests_total");
    assert_eq!(catalogue.window_seconds, Some(3600));
    let expected = 20.0 * 3600.0;
    assert!(
        (catalogue.requests as f64 - expected).abs() / expected < 0.05,
        "{} calls in an hour at 20/s: one reporter only",
        catalogue.requests
    );
    let p99 = catalogue.p99_micros.unwrap() as f64 / 1000.0;
    assert!(
        (20.0..=100.0).contains(&p99),
        "p99 {p99} ms for a median of 8 ms"
    );
    let payment = traffic("orders", "payment");
    let ratio = payment.error_ratio().unwrap();
    assert!(
        (0.005..0.02).contains(&ratio),
        "error ratio {ratio}, 1% failing"
    );
    let db = traffic("carts", "carts-db");
    assert_eq!(db.origin, "istio_tcp_connections_opened_total");
}

/// The metric names a PromQL query reads: identifiers followed by `{`.
fn metrics_in(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = query.chars().collect();
    for (i, c) in bytes.iter().enumerate() {
        if *c == '{' {
            let name: String = bytes[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == ':')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_states_name_only_series_that_exist_with_their_baselines() {
    let client = sock_shop_loaded().await;
    let mut map = manifests_map();
    let enrichment = prometheus::enrich(&client, &mut map, WINDOW).await.unwrap();
    assert!(!enrichment.measurements.services.is_empty());
    let config = AnalysisConfig {
        measurements: Some(enrichment.measurements.clone()),
        ..AnalysisConfig::default()
    };
    let result = analysis::analyze_builtin(&map, &config).unwrap();
    let existing = client.metric_names().await.unwrap();
    let mut measured = 0;
    for state in &result.steady_state.steady_states {
        let Probe::Prometheus { query } = &state.probe else {
            continue;
        };
        measured += 1;
        let baseline = state
            .baseline
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no baseline", state.id));
        for name in metrics_in(query)
            .into_iter()
            .chain(metrics_in(&baseline.query))
        {
            assert!(
                existing.contains(&name),
                "{} names {name}, which the server does not have",
                state.id
            );
        }
        let measured_now = client.query(&baseline.query).await.unwrap();
        let value = measured_now.first().unwrap().value;
        let recorded = baseline.value();
        assert!(
            (value - recorded).abs() <= recorded.abs() * 0.05 + 0.5,
            "{}: the server says {value} for {}, the baseline says {recorded}",
            state.id,
            baseline.query
        );
        match state.unit.as_str() {
            "percent of calls succeeding" => {
                assert_eq!(
                    state.min_value,
                    (recorded - 1.0).floor() as i64,
                    "{}",
                    state.id
                )
            }
            "milliseconds (p99)" => {
                let max = state.max_value.unwrap();
                assert!(
                    max as f64 >= 2.0 * recorded && max as f64 <= 2.0 * recorded + 11.0,
                    "{}",
                    state.id
                )
            }
            "calls per minute" => {
                assert_eq!(
                    state.min_value,
                    (recorded / 2.0).floor().max(1.0) as i64,
                    "{}",
                    state.id
                )
            }
            other => panic!("unexpected unit {other}"),
        }
        println!(
            "{:<44} {:>8} (baseline {:.2} over {}s) min {} max {:?}",
            state.name,
            state.unit,
            recorded,
            baseline.window_seconds,
            state.min_value,
            state.max_value
        );
    }
    assert!(measured >= 3, "only {measured} measured steady states");
    // Sock Shop's front door: an entry point Service gets a traffic floor.
    assert!(
        result
            .steady_state
            .steady_states
            .iter()
            .any(|s| s.unit == "calls per minute"
                && s.subject.as_str() == "sock-shop/Service/front-end"),
        "{:#?}",
        result.steady_state.steady_states
    );
    // The measured states reach the proposals as checks with both bounds.
    let proposals = analysis::build_proposals(&result, "sock-shop");
    assert!(
        proposals
            .iter()
            .any(|p| p.spec.steady_state.iter().any(|c| c.query.is_some()))
    );
}

#[tokio::test]
async fn a_broken_prometheus_gives_clear_errors_and_leaves_the_map_alone() {
    let manifests = manifests_map();
    for (fault, category, words) in [
        (Fault::ServerError, "PrometheusStatus", "HTTP 500"),
        (Fault::Hang, "PrometheusTimeout", "did not answer"),
        (Fault::Garbage, "PrometheusGarbage", "not its JSON API"),
    ] {
        let url = prometheus_support::faulty_server(fault).await;
        let client = PrometheusClient::new(&PrometheusConfig {
            url: url.clone(),
            timeout: Some(Duration::from_secs(1)),
            ..PrometheusConfig::default()
        })
        .unwrap();
        let mut map = manifests.clone();
        let error: PrometheusError = prometheus::enrich(&client, &mut map, WINDOW)
            .await
            .unwrap_err();
        let message = error.to_string();
        println!("{fault:?}: {message}");
        assert_eq!(error.category(), category, "{message}");
        assert!(
            message.contains(&url) && message.contains(words),
            "{message}"
        );
        assert_eq!(map, manifests, "the manifests' map stands");
        let error = measure_baselines(&client, &map, WINDOW).await.unwrap_err();
        assert_eq!(error.category(), category);
    }
    // Nobody listens.
    let client = PrometheusClient::new(&PrometheusConfig {
        url: "http://127.0.0.1:9".into(),
        timeout: Some(Duration::from_secs(2)),
        ..PrometheusConfig::default()
    })
    .unwrap();
    let error = client.metric_names().await.unwrap_err();
    assert_eq!(error.category(), "PrometheusUnreachable", "{error}");
}

#[tokio::test]
async fn the_cli_map_warns_and_keeps_the_manifests_map_when_prometheus_fails() {
    let url = prometheus_support::faulty_server(Fault::ServerError).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["map", "-o", "json", "--prometheus", &url, "-f"])
        .arg(corpus())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HTTP 500") && stderr.contains("the map holds what the manifests declare"),
        "{stderr}"
    );
    let map: ServiceMap = serde_json::from_slice(&output.stdout).unwrap();
    let pairs = |m: &ServiceMap| -> BTreeSet<(String, String)> {
        m.edges
            .iter()
            .map(|e| (e.from.to_string(), e.to.to_string()))
            .collect()
    };
    let manifests = manifests_map();
    assert_eq!(
        pairs(&map),
        pairs(&manifests),
        "the manifests' edges, no more, no fewer"
    );
    assert_eq!(map.nodes.len(), manifests.nodes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_map_adds_observed_edges_from_the_real_prometheus() {
    sock_shop_loaded().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args([
            "map",
            "-o",
            "json",
            "--prometheus-window",
            "1h",
            "--prometheus",
        ])
        .arg(prometheus_support::url())
        .arg("-f")
        .arg(corpus())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let map: ServiceMap = serde_json::from_slice(&output.stdout).unwrap();
    let json = String::from_utf8_lossy(&output.stdout);
    assert!(
        json.contains("\"kinds\":[\"traffic\"]") || json.contains("\"traffic\""),
        "evidence kind in the JSON contract"
    );
    assert!(
        map.edges
            .iter()
            .any(|e| e.from.as_str() == "sock-shop/Deployment/orders"
                && e.to.as_str() == "sock-shop/Service/payment"
                && e.has_kind(EvidenceKind::Traffic))
    );
}
