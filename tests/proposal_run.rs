//! The operator runs approved experiments, with stop conditions, on the real kube-apiserver: it
//! runs in-process as the operator's service account (so the shipped RBAC is what it has), a
//! person approves with their own token, the Chaos Mesh resource appears owned by the proposal,
//! and a broken steady-state check (available replicas, ready endpoints) pauses it and refutes
//! the hypothesis.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use operator_support::{
    admin_with_operator_manifests, create_proposal, deployment, eventually, proposal,
    record_injected, set_available,
};
use smart_chaos::api::{
    ApprovalState, CheckKind, ExperimentProposal, PROPOSAL_LABEL, RunPhase, SteadyStateCheck,
    Verdict,
};
use smart_chaos::chaosmesh::{ChaosKind, PAUSE_ANNOTATION};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::leader::LeaseSettings;
use smart_chaos::controller::proposals::chaos_resource;
use smart_chaos::controller::{ControllerSettings, Operator, OperatorConfig};
use support::User;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts an operator watching `ns` as the operator's service account; returns its HTTP address
/// and a sender that stops it.
async fn start_operator(
    ns: &str,
    identity: &str,
    lease: &str,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let client = support::server().client(User::Operator).await;
    let mut lease = LeaseSettings::new("smart-chaos-system", lease, identity);
    lease.lease_duration = Duration::from_secs(3);
    lease.renew_deadline = Duration::from_secs(2);
    lease.retry_period = Duration::from_millis(300);
    let config = OperatorConfig {
        controller: ControllerSettings {
            check_interval: Duration::from_millis(500),
            default_window: Duration::from_secs(60),
            ..ControllerSettings::default()
        },
        lease,
        watch_namespace: Some(ns.into()),
        http_addr: "127.0.0.1:0".parse().expect("an address"),
    };
    let operator = Operator::bind(client, config)
        .await
        .expect("binding the operator");
    let addr = operator.http_addr().expect("an HTTP address");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        operator
            .run(async {
                let _ = stop_rx.await;
            })
            .await
            .expect("the operator ran");
    });
    (addr, stop_tx, task)
}

/// A plain HTTP/1.0 GET; returns the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("writing a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("reading the response");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (code, body)
}

async fn chaos_object(client: &Client, ns: &str, name: &str) -> Option<DynamicObject> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &chaos_resource(ChaosKind::PodChaos));
    api.get_opt(name).await.expect("reading the PodChaos")
}

async fn proposal_now(client: &Client, ns: &str, name: &str) -> ExperimentProposal {
    Api::<ExperimentProposal>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("reading the proposal")
}

async fn event_reasons(client: &Client, ns: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("listing events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
async fn an_approved_experiment_runs_and_a_broken_check_pauses_it() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "run").await;
    deployment(&admin, &ns, "web", 3).await;
    let created = create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let (addr, stop, task) = start_operator(&ns, "run-a", &format!("lease-{ns}")).await;

    // Pending: nothing runs, and the status says what is awaited.
    let pending = eventually("status NotStarted", Duration::from_secs(20), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.phase == Some(RunPhase::NotStarted))
    })
    .await;
    assert!(
        pending
            .message
            .unwrap_or_default()
            .contains("waiting for a person to approve")
    );
    assert!(chaos_object(&admin, &ns, "kill-web").await.is_none());

    // A person approves with their own token.
    let approver = support::server().client(User::Approver).await;
    let approved_at = Instant::now();
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.clone(),
            name: "kill-web".into(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving");

    let chaos = eventually("the PodChaos", Duration::from_secs(20), || {
        let admin = admin.clone();
        let ns = ns.clone();
        async move { chaos_object(&admin, &ns, "kill-web").await }
    })
    .await;
    eprintln!(
        "PodChaos created {:?} after approval",
        approved_at.elapsed()
    );
    let owner = chaos
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
        .expect("an owner reference");
    assert_eq!(owner.kind, "ExperimentProposal");
    assert_eq!(owner.name, "kill-web");
    assert_eq!(Some(&owner.uid), created.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(
        chaos
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(PROPOSAL_LABEL))
            .map(String::as_str),
        Some("kill-web")
    );
    assert!(
        chaos
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(PAUSE_ANNOTATION))
    );
    assert_eq!(chaos.data["spec"]["action"], "pod-kill");

    let running = eventually("status Running", Duration::from_secs(20), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.phase == Some(RunPhase::Running))
    })
    .await;
    assert_eq!(running.chaos_resource.as_deref(), Some("kill-web"));
    assert!(running.started_at.is_some());

    // The stop condition: the target reports no available replicas.
    set_available(&admin, &ns, "web", 0).await;
    let broke_at = Instant::now();
    let paused = eventually("the pause annotation", Duration::from_secs(20), || {
        let admin = admin.clone();
        let ns = ns.clone();
        async move {
            chaos_object(&admin, &ns, "kill-web").await.filter(|o| {
                o.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(PAUSE_ANNOTATION))
                    .map(String::as_str)
                    == Some("true")
            })
        }
    })
    .await;
    eprintln!("paused {:?} after the check broke", broke_at.elapsed());
    assert_eq!(
        paused.metadata.uid, chaos.metadata.uid,
        "paused in place, not recreated"
    );
    let status = eventually("verdict Refuted", Duration::from_secs(20), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.verdict.is_some())
    })
    .await;
    assert_eq!(status.phase, Some(RunPhase::Paused));
    assert_eq!(status.verdict, Some(Verdict::Refuted));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("web-available broke"), "{message}");
    assert!(message.contains("is 0, below the minimum 2"), "{message}");
    assert!(status.finished_at.is_some());

    // Events on the transitions, by the operator.
    let reasons = eventually("events", Duration::from_secs(10), || async {
        let reasons = event_reasons(&admin, &ns).await;
        (reasons.iter().any(|r| r == "SteadyStateBroken")
            && reasons.iter().any(|r| r == "ExperimentStarted"))
        .then_some(reasons)
    })
    .await;
    assert!(
        !reasons.iter().any(|r| r == "HypothesisHeld"),
        "{reasons:?}"
    );

    // Restoring the replicas does not unpause: the verdict stands.
    set_available(&admin, &ns, "web", 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = chaos_object(&admin, &ns, "kill-web")
        .await
        .expect("still there");
    assert_eq!(
        still
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PAUSE_ANNOTATION))
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        proposal_now(&admin, &ns, "kill-web")
            .await
            .status
            .and_then(|s| s.verdict),
        Some(Verdict::Refuted)
    );

    // Probes and metrics.
    assert_eq!(http_get(addr, "/livez").await.0, 200);
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    assert_eq!(http_get(addr, "/readyz").await.0, 200);
    let (code, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("smart_chaos_reconcile_runs_total{controller=\"proposals\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smart_chaos_reconcile_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("smart_chaos_leader 1"), "{metrics}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the operator stops on shutdown")
        .expect("the operator task");
}

/// Service `name` selecting `app=name`, and one EndpointSlice for it with three endpoints of
/// which the first `ready` are ready. Nothing maintains endpoints here (no controller-manager),
/// so the test writes the slice itself.
async fn service_with_endpoints(admin: &Client, ns: &str, name: &str, ready: usize) {
    let service = Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".into(), name.into())])),
            ports: Some(vec![ServicePort {
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    };
    Api::<Service>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &service)
        .await
        .expect("creating a service");
    set_ready_endpoints(admin, ns, name, ready).await;
}

/// Server-side applies the Service's EndpointSlice with `ready` of its three endpoints ready.
async fn set_ready_endpoints(admin: &Client, ns: &str, service: &str, ready: usize) {
    let slice = EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("{service}-slice")),
            namespace: Some(ns.into()),
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".into(),
                service.into(),
            )])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: (0..3)
            .map(|i| Endpoint {
                addresses: vec![format!("10.0.0.{}", i + 1)],
                conditions: Some(EndpointConditions {
                    ready: Some(i < ready),
                    ..EndpointConditions::default()
                }),
                ..Endpoint::default()
            })
            .collect(),
        ports: None,
    };
    Api::<EndpointSlice>::namespaced(admin.clone(), ns)
        .patch(
            &format!("{service}-slice"),
            &PatchParams::apply(support::TEST_FIELD_MANAGER).force(),
            &Patch::Apply(&slice),
        )
        .await
        .expect("applying an EndpointSlice");
}

#[tokio::test]
async fn a_ready_endpoints_breach_pauses_the_run() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "endpoints").await;
    deployment(&admin, &ns, "web", 3).await;
    service_with_endpoints(&admin, &ns, "web", 3).await;
    let mut by_endpoints = proposal("kill-web", &ns, "web");
    by_endpoints.spec.steady_state = vec![SteadyStateCheck {
        name: "web-endpoints".into(),
        kind: CheckKind::ReadyEndpoints,
        subject: Some(format!("{ns}/Service/web")),
        url: None,
        query: None,
        min_value: 2,
        max_value: None,
    }];
    create_proposal(&admin, &by_endpoints).await;
    let (_addr, stop, task) = start_operator(&ns, "endpoints-a", &format!("lease-{ns}")).await;
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.clone(),
            name: "kill-web".into(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving");
    let running = eventually("status Running", Duration::from_secs(20), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.phase == Some(RunPhase::Running))
    })
    .await;
    assert_eq!(running.chaos_resource.as_deref(), Some("kill-web"));
    let chaos = chaos_object(&admin, &ns, "kill-web")
        .await
        .expect("the PodChaos");
    assert!(
        chaos
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(PAUSE_ANNOTATION)),
        "paused while 3 of 3 endpoints were ready"
    );

    // Two of three endpoints go unready: 1 is below the minimum 2.
    set_ready_endpoints(&admin, &ns, "web", 1).await;
    let paused = eventually("the pause annotation", Duration::from_secs(20), || {
        let admin = admin.clone();
        let ns = ns.clone();
        async move {
            chaos_object(&admin, &ns, "kill-web").await.filter(|o| {
                o.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(PAUSE_ANNOTATION))
                    .map(String::as_str)
                    == Some("true")
            })
        }
    })
    .await;
    assert_eq!(
        paused.metadata.uid, chaos.metadata.uid,
        "paused in place, not recreated"
    );
    let status = eventually("verdict Refuted", Duration::from_secs(20), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.verdict.is_some())
    })
    .await;
    assert_eq!(status.phase, Some(RunPhase::Paused));
    assert_eq!(status.verdict, Some(Verdict::Refuted));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains(&format!(
            "web-endpoints broke: ready endpoints of {ns}/Service/web is 1, below the minimum 2"
        )),
        "{message}"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn a_rejected_proposal_never_runs_and_a_broken_start_waits() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "never").await;
    deployment(&admin, &ns, "web", 3).await;
    deployment(&admin, &ns, "api", 0).await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    create_proposal(&admin, &proposal("kill-api", &ns, "api")).await;
    let (_addr, stop, task) = start_operator(&ns, "never-a", &format!("lease-{ns}")).await;

    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.clone(),
            name: "kill-web".into(),
        },
        &Decision {
            state: ApprovalState::Rejected,
            reason: Some("not today".into()),
        },
    )
    .await
    .expect("rejecting");
    // The api Deployment is already unsteady: approving must not start anything.
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.clone(),
            name: "kill-api".into(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving");

    let rejected = eventually(
        "the rejection in status",
        Duration::from_secs(20),
        || async {
            let p = proposal_now(&admin, &ns, "kill-web").await;
            p.status.filter(|s| {
                s.message
                    .as_deref()
                    .is_some_and(|m| m.contains("rejected by approver"))
            })
        },
    )
    .await;
    assert_eq!(rejected.phase, Some(RunPhase::NotStarted));
    let waiting = eventually("the wait in status", Duration::from_secs(20), || async {
        let p = proposal_now(&admin, &ns, "kill-api").await;
        p.status.filter(|s| {
            s.message
                .as_deref()
                .is_some_and(|m| m.contains("does not hold before"))
        })
    })
    .await;
    assert_eq!(waiting.phase, Some(RunPhase::NotStarted));
    // Several check rounds later, still nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(chaos_object(&admin, &ns, "kill-web").await.is_none());
    assert!(chaos_object(&admin, &ns, "kill-api").await.is_none());

    // Once the steady state holds, the approved one starts.
    set_available(&admin, &ns, "api", 3).await;
    eventually("the PodChaos for kill-api", Duration::from_secs(20), || {
        let admin = admin.clone();
        let ns = ns.clone();
        async move { chaos_object(&admin, &ns, "kill-api").await }
    })
    .await;
    assert!(chaos_object(&admin, &ns, "kill-web").await.is_none());

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn a_window_that_passes_with_checks_holding_completes_with_verdict_held() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "held").await;
    deployment(&admin, &ns, "web", 3).await;
    let mut short = proposal("kill-web", &ns, "web");
    if let Some(pod) = short.spec.experiment.pod_chaos.as_mut() {
        pod.duration = Some("2s".into());
    }
    create_proposal(&admin, &short).await;
    let (_addr, stop, task) = start_operator(&ns, "held-a", &format!("lease-{ns}")).await;
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.clone(),
            name: "kill-web".into(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving");
    // No Chaos Mesh controller runs on this server: record the injection as Chaos Mesh would, since
    // the operator claims no verdict for a fault it never saw injected.
    eventually("the PodChaos", Duration::from_secs(20), || {
        let admin = admin.clone();
        let ns = ns.clone();
        async move { chaos_object(&admin, &ns, "kill-web").await }
    })
    .await;
    record_injected(&admin, &ns, ChaosKind::PodChaos, "kill-web").await;
    let status = eventually("verdict Held", Duration::from_secs(30), || async {
        let p = proposal_now(&admin, &ns, "kill-web").await;
        p.status.filter(|s| s.verdict.is_some())
    })
    .await;
    assert_eq!(status.phase, Some(RunPhase::Completed));
    assert_eq!(status.verdict, Some(Verdict::Held));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("all 1 evaluated steady-state checks held for 2s"),
        "{message}"
    );
    let (started, finished) = (
        status.started_at.expect("startedAt").0,
        status.finished_at.expect("finishedAt").0,
    );
    assert!(
        finished.duration_since(started).as_secs() >= 2,
        "{started} .. {finished}"
    );
    // Completed is final, and the experiment was never paused.
    let chaos = chaos_object(&admin, &ns, "kill-web")
        .await
        .expect("the PodChaos");
    assert!(
        chaos
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(PAUSE_ANNOTATION))
    );
    let reasons = event_reasons(&admin, &ns).await;
    assert!(reasons.iter().any(|r| r == "HypothesisHeld"), "{reasons:?}");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn the_operator_binary_serves_probes_and_stops_on_sigterm() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "binary").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log_path = std::env::temp_dir().join(format!("smart-chaos-operator-{ns}.log"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["operator", "--watch-namespace", &ns, "--log-format", "json"])
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .args([
            "--lease-name",
            &format!("lease-{ns}"),
            "--identity",
            "binary-a",
        ])
        .env(
            "KUBECONFIG",
            support::server().kubeconfig_path(User::Operator),
        )
        .env("POD_NAMESPACE", "smart-chaos-system")
        .env("RUST_LOG", "info,smart_chaos=debug,kube=warn")
        .stdout(std::process::Stdio::null())
        // A file, not a pipe: nobody reads a pipe until the end, and a full one would block it.
        .stderr(std::fs::File::create(&log_path).expect("a log file"))
        .spawn()
        .expect("starting smart-chaos operator");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
    eventually("/readyz 200", Duration::from_secs(20), || async move {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => (http_get(addr, "/readyz").await.0 == 200).then_some(()),
            Err(_) => None,
        }
    })
    .await;
    assert_eq!(http_get(addr, "/livez").await.0, 200);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("sending SIGTERM");
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("waiting for the operator") {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the operator ignored SIGTERM; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let logs = std::fs::read_to_string(&log_path).expect("the operator's log");
    assert!(exit.success(), "exit {exit:?}; logs:\n{logs}");
    // JSON logs, one object per line, with the start and stop milestones.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(
        messages.contains(&"smart-chaos operator starting"),
        "{messages:?}"
    );
    assert!(messages.contains(&"became leader"), "{messages:?}");
    assert!(
        messages.contains(&"smart-chaos operator stopped"),
        "{messages:?}"
    );
    // It released the Lease on the way out.
    let lease = kube::Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(
        admin,
        "smart-chaos-system",
    )
    .get(&format!("lease-{ns}"))
    .await
    .expect("the lease");
    assert_eq!(lease.spec.and_then(|s| s.holder_identity), None);
}

/// A shutdown that arrives before the watches' first lists completed still ends the operator
/// (kube-runtime would otherwise wait for a list whose watch it already cut).
#[tokio::test]
async fn stopping_at_once_does_not_hang() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "stop-at-once").await;
    for round in 0..3 {
        let client = support::server().client(User::Operator).await;
        let config = OperatorConfig {
            controller: ControllerSettings::default(),
            lease: LeaseSettings::new("smart-chaos-system", &format!("lease-{ns}"), "stopper"),
            watch_namespace: Some(ns.clone()),
            http_addr: "127.0.0.1:0".parse().expect("an address"),
        };
        let operator = Operator::bind(client, config).await.expect("binding");
        let start = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(15),
            operator.run(std::future::ready(())),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: the operator did not stop"))
        .expect("the operator ran");
        eprintln!("round {round}: stopped in {:?}", start.elapsed());
    }
}
