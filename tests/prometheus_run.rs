//! Live Prometheus checks in the operator, end to end: the real kube-apiserver, the real
//! Prometheus (scripts/with-prometheus.sh) scraping a tiny exporter this test runs on
//! 127.0.0.1, and the operator in-process as its service account. The exporter's Istio counters
//! turn to failures mid-run: the measured check breaks, the experiment is paused and the
//! hypothesis refuted. An analysis whose Prometheus does not answer gets a Degraded condition,
//! and its proposal's run never starts, saying why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod prometheus_support;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use operator_support::{
    admin_with_operator_manifests, create_proposal, deployment, eventually, proposal,
};
use smart_chaos::api::{
    ApprovalState, ChaosAnalysis, ChaosAnalysisSpec, CheckKind, ExperimentProposal, Guardrails,
    PrometheusSource, ProviderSpec, RefreshPolicy, RunPhase, Scope, SteadyStateCheck, Telemetry,
    Verdict, conditions,
};
use smart_chaos::chaosmesh::{ChaosKind, PAUSE_ANNOTATION};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::leader::LeaseSettings;
use smart_chaos::controller::proposals::chaos_resource;
use smart_chaos::controller::{ControllerSettings, Operator, OperatorConfig};
use support::User;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An exporter of one Istio edge (loadgen → web): 100 good calls a second, and once `failing`
/// is set, 1000 failed calls a second on top.
async fn exporter(ns: String, failing: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let failing_since: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let ns = ns.clone();
            let failing = failing.clone();
            let failing_since = failing_since.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let good = 100.0 * started.elapsed().as_secs_f64();
                let bad = {
                    let mut since = failing_since.lock().unwrap();
                    if failing.load(Ordering::SeqCst) && since.is_none() {
                        *since = Some(Instant::now());
                    }
                    since.map_or(0.0, |s| 1000.0 * s.elapsed().as_secs_f64())
                };
                let labels = format!(
                    "reporter=\"source\",source_workload=\"loadgen\",source_workload_namespace=\"{ns}\",destination_service_name=\"web\",destination_service_namespace=\"{ns}\""
                );
                let body = format!(
                    "# TYPE istio_requests_total counter\nistio_requests_total{{{labels},response_code=\"200\"}} {good:.0}\nistio_requests_total{{{labels},response_code=\"503\"}} {bad:.0}\n"
                );
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    address
}

/// The analysis `name` in `ns`, reading the Prometheus at `url`.
fn analysis(ns: &str, name: &str, url: &str) -> ChaosAnalysis {
    let mut analysis = ChaosAnalysis::new(
        name,
        ChaosAnalysisSpec {
            scope: Scope {
                namespaces: vec![ns.into()],
                label_selector: None,
            },
            architecture: None,
            provider: ProviderSpec::default(),
            guardrails: Guardrails::default(),
            refresh: RefreshPolicy::default(),
            telemetry: Some(Telemetry {
                prometheus: Some(PrometheusSource {
                    url: url.into(),
                    window: Some("10m".into()),
                    bearer_token_secret_ref: None,
                    ca: None,
                }),
            }),
            architecture_refs: Vec::new(),
            test_cases: Vec::new(),
            suppressions: Vec::new(),
        },
    );
    analysis.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        // The harness's admin user, as the tenancy policy requires.
        annotations: Some(
            [
                (smart_chaos::api::REQUESTED_BY_ANNOTATION, "admin"),
                (
                    smart_chaos::api::REQUESTED_BY_GROUPS_ANNOTATION,
                    "system:masters,system:authenticated",
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ),
        ..ObjectMeta::default()
    };
    analysis
}

/// A pod-kill proposal of `analysis_ref` whose one check is the call success ratio of Service
/// web, as the shell builds it from `istio_requests_total` (at least 98%).
fn measured_proposal(name: &str, ns: &str, analysis_ref: &str) -> ExperimentProposal {
    let mut p = proposal(name, ns, "web");
    p.spec.analysis_ref = analysis_ref.into();
    let this = format!(
        "reporter=\"source\",destination_service_name=\"web\",destination_service_namespace=\"{ns}\""
    );
    p.spec.steady_state = vec![SteadyStateCheck {
        name: "web-success".into(),
        kind: CheckKind::Prometheus,
        subject: Some(format!("{ns}/Service/web")),
        url: None,
        query: Some(format!(
            "100 * (1 - (sum(rate(istio_requests_total{{{this},response_code=~\"5..\"}}[2m])) or vector(0)) / sum(rate(istio_requests_total{{{this}}}[2m])))"
        )),
        min_value: 98,
        max_value: None,
    }];
    p
}

async fn start_operator(
    ns: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let client = support::server().client(User::Operator).await;
    let mut lease = LeaseSettings::new("smart-chaos-system", &format!("lease-{ns}"), "prom");
    lease.lease_duration = Duration::from_secs(3);
    lease.renew_deadline = Duration::from_secs(2);
    lease.retry_period = Duration::from_millis(300);
    let config = OperatorConfig {
        controller: ControllerSettings {
            check_interval: Duration::from_millis(500),
            default_window: Duration::from_secs(600),
            ..ControllerSettings::default()
        },
        lease,
        watch_namespace: Some(ns.into()),
        http_addr: "127.0.0.1:0".parse().unwrap(),
    };
    let operator = Operator::bind(client, config).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        operator
            .run(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    });
    (stop_tx, task)
}

async fn proposal_now(client: &Client, ns: &str, name: &str) -> ExperimentProposal {
    Api::<ExperimentProposal>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

async fn chaos_object(client: &Client, ns: &str, name: &str) -> Option<DynamicObject> {
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, &chaos_resource(ChaosKind::PodChaos))
        .get_opt(name)
        .await
        .unwrap()
}

async fn approve(ns: &str, name: &str) {
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.into(),
            name: name.into(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_check_that_breaks_mid_run_pauses_and_refutes() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "prom").await;
    deployment(&admin, &ns, "web", 3).await;

    // The exporter, scraped every second by the real Prometheus.
    let failing = Arc::new(AtomicBool::new(false));
    let address = exporter(ns.clone(), failing.clone()).await;
    let targets = prometheus_support::targets_dir().join(format!("{ns}.json"));
    std::fs::write(
        &targets,
        serde_json::to_string(&[serde_json::json!({ "targets": [address] })]).unwrap(),
    )
    .unwrap();
    let prometheus = prometheus_support::client();
    let check = measured_proposal("kill-web", &ns, "shop");
    let query = check.spec.steady_state[0].query.clone().unwrap();
    let steady = eventually(
        "the success ratio measured at 100%",
        Duration::from_secs(60),
        || async {
            let samples = prometheus.query(&query).await.ok()?;
            samples.first().filter(|s| s.value >= 99.0).cloned()
        },
    )
    .await;
    eprintln!("baseline success ratio {}", steady.value);

    let analyses: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    analyses
        .create(
            &PostParams::default(),
            &analysis(&ns, "shop", &prometheus_support::url()),
        )
        .await
        .unwrap();
    analyses
        .create(
            &PostParams::default(),
            &analysis(&ns, "dead", "http://127.0.0.1:9"),
        )
        .await
        .unwrap();
    create_proposal(&admin, &check).await;
    create_proposal(&admin, &measured_proposal("kill-web-blind", &ns, "dead")).await;
    let (stop, task) = start_operator(&ns).await;

    // The analysis whose Prometheus does not answer: Degraded, and the objects' map stands.
    let dead = eventually(
        "Degraded on the dead Prometheus",
        Duration::from_secs(60),
        || async {
            let a = analyses.get("dead").await.ok()?;
            let status = a.status?;
            status
                .conditions
                .iter()
                .find(|c| c.type_ == conditions::DEGRADED && c.status == "True")
                .cloned()
                .map(|c| (c, status.summary))
        },
    )
    .await;
    eprintln!("dead analysis: {}: {}", dead.0.reason, dead.0.message);
    assert_eq!(dead.0.reason, "TelemetryNotAvailable");
    assert!(dead.0.message.contains("127.0.0.1:9"), "{}", dead.0.message);
    assert!(
        dead.0
            .message
            .contains("the map from the cluster's objects stands")
    );
    assert!(
        dead.1.is_some_and(|s| s.workloads >= 1),
        "the map of the objects is there"
    );

    // Its proposal, approved, never starts: the check cannot be evaluated.
    approve(&ns, "kill-web-blind").await;
    let blind = eventually("the blind run waits", Duration::from_secs(30), || async {
        let p = proposal_now(&admin, &ns, "kill-web-blind").await;
        p.status.filter(|s| {
            s.phase == Some(RunPhase::NotStarted)
                && s.message
                    .as_deref()
                    .is_some_and(|m| m.contains("cannot be evaluated"))
        })
    })
    .await;
    eprintln!("blind: {}", blind.message.clone().unwrap_or_default());
    assert!(blind.message.unwrap().contains("not started"));
    assert!(chaos_object(&admin, &ns, "kill-web-blind").await.is_none());

    // The measured run starts while the ratio holds...
    approve(&ns, "kill-web").await;
    eventually("Running", Duration::from_secs(30), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.phase == Some(RunPhase::Running))
    })
    .await;
    assert!(chaos_object(&admin, &ns, "kill-web").await.is_some());

    // ...and the calls start failing.
    failing.store(true, Ordering::SeqCst);
    let broke_at = Instant::now();
    let status = eventually("verdict Refuted", Duration::from_secs(60), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.verdict.is_some())
    })
    .await;
    eprintln!(
        "paused {:?} after the calls failed: {}",
        broke_at.elapsed(),
        status.message.clone().unwrap_or_default()
    );
    assert_eq!(status.phase, Some(RunPhase::Paused));
    assert_eq!(status.verdict, Some(Verdict::Refuted));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("web-success broke"), "{message}");
    assert!(message.contains("below the minimum 98"), "{message}");
    let paused = chaos_object(&admin, &ns, "kill-web").await.unwrap();
    assert_eq!(
        paused
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PAUSE_ANNOTATION))
            .map(String::as_str),
        Some("true")
    );

    let _ = std::fs::remove_file(&targets);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}
