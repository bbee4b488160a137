//! The operator evaluates the Http steady-state checks it holds, on the real kube-apiserver,
//! against a real HTTP server on 127.0.0.1 (a tiny one in the test): a healthy server gives
//! samples in the run's timeline and the verdict Held; a server that starts answering 500 is a
//! breach, and the run is paused and Refuted with the values sampled before it. A URL the target
//! guard refuses is never fetched, and the run does not start.
//!
//! Loopback is allowed here only through the operator's explicit setting
//! (`--http-checks-allow-loopback`), never by default; the third test runs without it.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
#[path = "support/status_server.rs"]
mod status_server;
mod support;

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};
use operator_support::{
    admin_with_operator_manifests, create_proposal, eventually, proposal, record_injected,
    start_operator_adjusted,
};
use smart_chaos::api::{
    ApprovalState, CheckHolder, CheckKind, ExperimentProposal, RunEventKind, RunPhase,
    SteadyStateCheck, Verdict,
};
use smart_chaos::chaosmesh::{ChaosKind, PAUSE_ANNOTATION};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::proposals::chaos_resource;
use status_server::StatusServer;
use support::User;

/// A pod-kill proposal whose only steady-state check is an Http GET of `url`, lasting `duration`.
fn probing_proposal(name: &str, ns: &str, url: &str, duration: &str) -> ExperimentProposal {
    let mut p = proposal(name, ns, "web");
    p.spec.steady_state = vec![SteadyStateCheck {
        name: "front".into(),
        kind: CheckKind::Http,
        subject: None,
        url: Some(url.into()),
        query: None,
        min_value: 1,
        max_value: None,
    }];
    p.spec
        .experiment
        .pod_chaos
        .as_mut()
        .expect("a pod-kill")
        .duration = Some(duration.into());
    p
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
            reason: Some("game day".into()),
        },
    )
    .await
    .expect("approving as the approver");
}

async fn operator(ns: &str, identity: &str, allow_loopback: bool) -> operator_support::Running {
    let client = support::server().client(User::Operator).await;
    start_operator_adjusted(client, ns, identity, Duration::from_secs(1), |settings| {
        settings.check_targets.allow_loopback = allow_loopback;
    })
    .await
}

async fn proposal_now(admin: &Client, ns: &str, name: &str) -> ExperimentProposal {
    Api::<ExperimentProposal>::namespaced(admin.clone(), ns)
        .get(name)
        .await
        .expect("reading the proposal")
}

async fn pod_chaos(admin: &Client, ns: &str, name: &str) -> Option<DynamicObject> {
    Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &chaos_resource(ChaosKind::PodChaos))
        .get_opt(name)
        .await
        .expect("reading the PodChaos")
}

/// The values the timeline sampled for the check `front`, oldest first.
fn front_samples(p: &ExperimentProposal) -> Vec<(Option<i64>, bool)> {
    p.status
        .as_ref()
        .map(|s| s.timeline.as_slice())
        .unwrap_or_default()
        .iter()
        .flat_map(|e| e.samples.iter())
        .filter(|s| s.check == "front")
        .map(|s| (s.value, s.steady))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_endpoint_is_sampled_through_the_run_and_the_verdict_is_held() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "http-held").await;
    let server = StatusServer::start(200).await;
    create_proposal(
        &admin,
        &probing_proposal("probe-front", &ns, &server.url("/healthz"), "4s"),
    )
    .await;
    let operator = operator(&ns, "http-held", true).await;
    approve(&ns, "probe-front").await;

    // The fault exists; Chaos Mesh (not running on this server) would record the injection.
    eventually("the PodChaos", Duration::from_secs(30), || async {
        pod_chaos(&admin, &ns, "probe-front").await
    })
    .await;
    record_injected(&admin, &ns, ChaosKind::PodChaos, "probe-front").await;

    let done = eventually("verdict Held", Duration::from_secs(60), || async {
        let p = proposal_now(&admin, &ns, "probe-front").await;
        (p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Completed)).then_some(p)
    })
    .await;
    let status = done.status.clone().unwrap();
    assert_eq!(status.verdict, Some(Verdict::Held), "{:?}", status.message);
    let samples = front_samples(&done);
    assert!(
        samples.len() >= 2,
        "the pre-check and at least one sample in the run: {samples:?}"
    );
    assert!(
        samples.iter().all(|s| *s == (Some(200), true)),
        "{samples:?}"
    );
    assert!(
        status
            .timeline
            .iter()
            .any(|e| e.kind == RunEventKind::Sampled),
        "{:?}",
        status.timeline
    );
    assert!(server.requests() >= samples.len(), "every sample was a GET");
    // The operator held the check, and says so.
    assert_eq!(status.held_by.len(), 1);
    assert_eq!(status.held_by[0].held_by, CheckHolder::Operator);
    assert_eq!(status.checks_held_by.as_deref(), Some("Operator 1"));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_starts_answering_500_pauses_and_refutes_the_run() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "http-breach").await;
    let server = StatusServer::start(200).await;
    let url = server.url("/");
    create_proposal(&admin, &probing_proposal("probe-front", &ns, &url, "10m")).await;
    let operator = operator(&ns, "http-breach", true).await;
    approve(&ns, "probe-front").await;

    eventually(
        "a healthy sample while running",
        Duration::from_secs(60),
        || async {
            let p = proposal_now(&admin, &ns, "probe-front").await;
            let running = p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Running);
            (running && front_samples(&p).contains(&(Some(200), true))).then_some(())
        },
    )
    .await;
    assert!(
        pod_chaos(&admin, &ns, "probe-front").await.is_some(),
        "a running proposal has its PodChaos"
    );

    server.answer(500);
    let paused = eventually("the run paused", Duration::from_secs(30), || async {
        let p = proposal_now(&admin, &ns, "probe-front").await;
        (p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Paused)).then_some(p)
    })
    .await;
    let status = paused.status.clone().unwrap();
    assert_eq!(status.verdict, Some(Verdict::Refuted));
    let message = status.message.clone().unwrap_or_default();
    assert!(
        message.contains("front broke") && message.contains(&format!("GET {url} answered 500")),
        "{message}"
    );
    // The evidence: healthy values first, then the breach.
    let samples = front_samples(&paused);
    assert_eq!(samples.first(), Some(&(Some(200), true)), "{samples:?}");
    assert_eq!(samples.last(), Some(&(None, false)), "{samples:?}");
    assert!(
        status
            .timeline
            .iter()
            .any(|e| e.kind == RunEventKind::Paused
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("answered 500"))),
        "{:?}",
        status.timeline
    );
    // Chaos Mesh is told to stop: the pause annotation is on the PodChaos.
    let chaos = pod_chaos(&admin, &ns, "probe-front").await.unwrap();
    assert_eq!(
        chaos
            .metadata
            .annotations
            .unwrap_or_default()
            .get(PAUSE_ANNOTATION)
            .map(String::as_str),
        Some("true")
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_operators_word_loopback_is_never_fetched_and_nothing_starts() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "http-ssrf").await;
    let server = StatusServer::start(200).await;
    create_proposal(
        &admin,
        &probing_proposal("probe-front", &ns, &server.url("/"), "10m"),
    )
    .await;
    let operator = operator(&ns, "http-ssrf", false).await;
    approve(&ns, "probe-front").await;

    let waiting = eventually("the refusal in status", Duration::from_secs(30), || async {
        let p = proposal_now(&admin, &ns, "probe-front").await;
        let message = p.status.as_ref()?.message.clone()?;
        message.contains("refused to probe").then_some(p)
    })
    .await;
    let status = waiting.status.unwrap();
    assert_eq!(status.phase, Some(RunPhase::NotStarted));
    assert!(
        status.message.as_deref().unwrap().contains("IP address"),
        "{:?}",
        status.message
    );
    // A few more rounds: still nothing created, still nothing fetched.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(pod_chaos(&admin, &ns, "probe-front").await.is_none());
    assert_eq!(server.requests(), 0, "the refused URL was fetched");
    operator.stop().await;
}
