//! The chart's Grafana dashboard names only metrics the operator exports: every `smart_chaos_*`
//! series its queries use must be one that a running operator's `/metrics` lists after it
//! analysed something. Two families appear there only once they have a sample (a reconcile that
//! failed, model tokens used); for those the test touches the operator's own metrics code
//! (`smart_chaos::metrics`, the registry `/metrics` serves) once and reads its encoding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod operator_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{Api, PostParams};
use operator_support::{admin_with_operator_manifests, analysis, eventually, start_operator};
use serde::Deserialize;
use smart_chaos::api::{AnalysisPhase, ChaosAnalysis};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Deserialize)]
struct Dashboard {
    title: String,
    panels: Vec<Panel>,
}

#[derive(Deserialize)]
struct Panel {
    title: String,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    expr: String,
}

/// Series names a Prometheus scrape of this OpenMetrics text yields: sample names, and for each
/// family its type's suffixes (a counter's `_total`, a histogram's `_bucket`, `_sum`, `_count`).
fn series_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap();
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            for suffix in suffixes {
                names.insert(format!("{family}{suffix}"));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: operator\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("application/openmetrics-text"),
        "{head}"
    );
    body.to_string()
}

#[tokio::test]
async fn the_grafana_dashboard_queries_only_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/smart-chaos/files/grafana-dashboard.json");
    let dashboard: Dashboard = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();

    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "dashboard").await;
    let app = support::manifests_in_namespace(&support::examples_dir().join("demo-app"), &ns);
    support::apply_manifests(&admin, &app).await;
    let operator = start_operator(&ns, "dashboard").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "shop",
            serde_json::json!({"scope": {"namespaces": [ns]}}),
        ),
    )
    .await
    .unwrap();
    eventually("the analysis to be Ready", Duration::from_secs(60), || {
        let api = api.clone();
        async move {
            let status = api.get("shop").await.ok()?.status?;
            (status.phase == Some(AnalysisPhase::Ready)).then_some(())
        }
    })
    .await;
    let text = scrape(operator.http_addr).await;
    operator.stop().await;
    let live = series_names(&text);
    let touched = {
        let mut registry = smart_chaos::metrics::registry();
        let metrics = smart_chaos::metrics::Metrics::register(&mut registry);
        metrics.reconcile_failure("analyses", "Kube");
        metrics.record_llm_usage("openai", "m", 1, 0, 1, 0.0);
        series_names(&smart_chaos::metrics::encode(&registry).unwrap())
    };
    // Most of what the dashboard shows must be live after one analysis, not only declared.
    for name in [
        "smart_chaos_reconcile_runs_total",
        "smart_chaos_reconcile_duration_seconds_bucket",
        "smart_chaos_analyses",
        "smart_chaos_proposals",
        "smart_chaos_leader",
    ] {
        assert!(
            live.contains(name),
            "{name} missing from /metrics: {live:?}"
        );
    }
    let exported: BTreeSet<String> = live.union(&touched).cloned().collect();

    let metric = regex::Regex::new(r"\bsmart_chaos_[a-z0-9_]+").unwrap();
    let mut used = BTreeSet::new();
    for panel in &dashboard.panels {
        assert!(
            !panel.targets.is_empty(),
            "panel {} has no query",
            panel.title
        );
        for target in &panel.targets {
            let names: Vec<&str> = metric.find_iter(&target.expr).map(|m| m.as_str()).collect();
            assert!(
                !names.is_empty(),
                "{}: no smart_chaos metric in {}",
                panel.title,
                target.expr
            );
            for name in names {
                assert!(
                    exported.contains(name),
                    "dashboard {:?}, panel {:?} queries {name}, which /metrics does not export; it exports {exported:?}",
                    dashboard.title,
                    panel.title
                );
                used.insert(name.to_string());
            }
        }
    }
    println!(
        "dashboard queries {} metrics, all exported: {used:?}",
        used.len()
    );
    assert!(
        used.len() >= 8,
        "the dashboard covers the operator's metrics: {used:?}"
    );
}
