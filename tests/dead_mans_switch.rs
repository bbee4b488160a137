//! The dead man's switch on the real kube-apiserver: every experiment the operator creates carries
//! a duration within its ceiling (so Chaos Mesh ends it by its own clock), and when the leader
//! dies mid-run and its Lease lapses, the new leader neither recreates nor touches the running
//! experiment: nothing extends the run.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, DynamicObject};
use operator_support::{
    OPERATOR_NAMESPACE, admin_with_operator_manifests, create_proposal, deployment, eventually,
    lease_name, metrics_text, proposal, start_operator,
};
use smart_chaos::api::{ExperimentProposal, RunPhase};
use smart_chaos::chaosmesh::{ChaosKind, ChaosSpec};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::proposals::chaos_resource;
use support::User;

async fn approve(ns: &str, name: &str) {
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.into(),
            name: name.into(),
        },
        &Decision {
            state: smart_chaos::api::ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving");
}

async fn created_experiment(admin: &Client, ns: &str, name: &str) -> DynamicObject {
    let api: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ns, &chaos_resource(ChaosKind::PodChaos));
    eventually(
        &format!("the PodChaos {name}"),
        Duration::from_secs(30),
        || async { api.get_opt(name).await.unwrap() },
    )
    .await
}

fn duration_of(object: &DynamicObject) -> Option<String> {
    object.data["spec"]["duration"].as_str().map(str::to_string)
}

fn with_duration(mut p: ExperimentProposal, duration: Option<&str>) -> ExperimentProposal {
    let mut spec = ChaosSpec::try_from(p.spec.experiment.clone()).unwrap();
    *spec.duration_mut() = duration.map(str::to_string);
    p.spec.experiment = spec.into();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_created_experiment_has_a_duration_within_the_ceiling() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "deadman-duration").await;
    deployment(&admin, &ns, "web", 3).await;
    let operator = start_operator(&ns, "deadman-a").await;
    // A hand-written proposal without a duration, and one far over the ceiling (5 min).
    for (name, duration) in [("no-duration", None), ("two-hours", Some("2h"))] {
        create_proposal(&admin, &with_duration(proposal(name, &ns, "web"), duration)).await;
        approve(&ns, name).await;
    }
    let open_ended = created_experiment(&admin, &ns, "no-duration").await;
    assert_eq!(duration_of(&open_ended).as_deref(), Some("1m"));
    let capped = created_experiment(&admin, &ns, "two-hours").await;
    assert_eq!(duration_of(&capped).as_deref(), Some("5m"));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_hands_over_without_recreating_or_extending_the_run() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "deadman-lease").await;
    deployment(&admin, &ns, "web", 3).await;
    let first = start_operator(&ns, "deadman-first").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    approve(&ns, "kill-web").await;
    let proposals: Api<ExperimentProposal> = Api::namespaced(admin.clone(), &ns);
    let started = eventually("the run", Duration::from_secs(30), || async {
        let p = proposals.get("kill-web").await.unwrap();
        p.status
            .filter(|s| s.phase == Some(RunPhase::Running))
            .and_then(|s| s.started_at)
    })
    .await;
    let before = created_experiment(&admin, &ns, "kill-web").await;
    assert_eq!(duration_of(&before).as_deref(), Some("5m"));

    // The leader dies without releasing its Lease; the Lease lapses; another replica takes over.
    first.task.abort();
    let leases: Api<Lease> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let second = start_operator(&ns, "deadman-second").await;
    eventually(
        "the second replica leading",
        Duration::from_secs(20),
        || async {
            let lease = leases.get(&lease_name(&ns)).await.unwrap();
            (lease.spec.and_then(|s| s.holder_identity).as_deref() == Some("deadman-second"))
                .then_some(())
        },
    )
    .await;
    // It has looked at the proposal since (winning the election reconciles every object)...
    eventually(
        "the new leader's reconciles",
        Duration::from_secs(20),
        || async {
            let metrics = metrics_text(second.http_addr).await;
            metrics
                .lines()
                .any(|l| {
                    l.starts_with("smart_chaos_reconcile_runs_total{controller=\"proposals\"}")
                        && !l.ends_with(" 0")
                })
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // ...and the experiment is the very same object, untouched: same uid, creation time and
    // resourceVersion, so its duration still counts from the original start.
    let after = created_experiment(&admin, &ns, "kill-web").await;
    assert_eq!(after.metadata.uid, before.metadata.uid, "recreated");
    assert_eq!(
        after.metadata.creation_timestamp,
        before.metadata.creation_timestamp
    );
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the new leader changed the running experiment"
    );
    assert_eq!(duration_of(&after).as_deref(), Some("5m"));
    let status = proposals.get("kill-web").await.unwrap().status.unwrap();
    assert_eq!(status.phase, Some(RunPhase::Running));
    assert_eq!(status.started_at, Some(started), "the run's start moved");
    second.stop().await;
}
