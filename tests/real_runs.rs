//! Real runs on the fuller test cluster (scripts/with-cluster.sh): kube-controller-manager and
//! kube-scheduler run Online Boutique's Deployments as pods on KWOK nodes, the real Chaos Mesh
//! controller manager injects what the operator creates, and nothing here writes a status by hand.
//! The operator runs in-process as its service account; a person approves with their own token.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::{Client, ResourceExt};
use operator_support::{admin_with_operator_manifests, eventually, start_operator};
use smart_chaos::api::{
    Approval, ApprovalState, BlastRadius, CheckKind, ExperimentProposal, ExperimentProposalSpec,
    ProposalHypothesis, RunEventKind, RunPhase, SteadyStateCheck, Verdict,
};
use smart_chaos::chaosmesh::status::Injection;
use smart_chaos::chaosmesh::{
    ChaosKind, ChaosSpec, DelaySpec, NetworkChaosAction, NetworkChaosSpec, PAUSE_ANNOTATION,
    PodChaosAction, PodChaosSpec, PodSelector, SelectorMode,
};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::injection::chaos_status;
use smart_chaos::controller::proposals::chaos_resource;
use support::User;

/// Set by scripts/with-cluster.sh beside SMART_CHAOS_TEST_APISERVER.
const CLUSTER_ENV: &str = "SMART_CHAOS_TEST_CLUSTER";

/// Online Boutique's Deployments with replica counts a production install would run: the
/// stateless services spread over two or three pods, the single Redis cart cache and the load
/// generator alone.
const BOUTIQUE_REPLICAS: &[(&str, i64)] = &[
    ("frontend", 3),
    ("cartservice", 2),
    ("checkoutservice", 2),
    ("currencyservice", 2),
    ("productcatalogservice", 2),
    ("recommendationservice", 2),
    ("shippingservice", 2),
    ("paymentservice", 2),
    ("emailservice", 2),
    ("adservice", 2),
    ("redis-cart", 1),
    ("loadgenerator", 1),
];

/// How long KWOK keeps a started pod not-ready (its pod-ready stage's per-pod delay): long
/// enough for the operator to see a recreated pod unavailable, short enough for fast tests.
const READY_DELAY: &str = "3s";

/// An admin client on the fuller cluster, with our CRDs and policies installed; fails loudly on
/// the plain API server, where no pod would ever run.
async fn cluster_admin() -> Client {
    assert!(
        std::env::var_os(CLUSTER_ENV).is_some(),
        "{CLUSTER_ENV} is not set: these tests need the fuller cluster, run them with scripts/with-cluster.sh"
    );
    admin_with_operator_manifests().await
}

/// Deploys Online Boutique from the corpus into `ns` with [`BOUTIQUE_REPLICAS`] and waits until
/// every Deployment has all its replicas available (real pods on KWOK nodes).
async fn deploy_boutique(admin: &Client, ns: &str) {
    let mut docs =
        support::manifests_in_namespace(&support::shared_dir().join("corpus/online-boutique"), ns);
    let replicas: BTreeMap<&str, i64> = BOUTIQUE_REPLICAS.iter().copied().collect();
    for doc in docs
        .iter_mut()
        .filter(|d| d["kind"].as_str() == Some("Deployment"))
    {
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        let count = *replicas
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no replica count for Deployment {name}"));
        doc["spec"]["replicas"] = count.into();
        let template = doc["spec"]["template"]["metadata"]
            .as_mapping_mut()
            .expect("a pod template with metadata");
        let annotations = template
            .entry("annotations".into())
            .or_insert_with(|| serde_yaml::Mapping::new().into());
        annotations
            .as_mapping_mut()
            .expect("annotations are a map")
            .insert(
                "pod-ready.stage.kwok.x-k8s.io/delay".into(),
                READY_DELAY.into(),
            );
    }
    support::apply_manifests(admin, &docs).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    eventually(
        "every Online Boutique Deployment fully available",
        Duration::from_secs(120),
        || async {
            let list = deployments.list(&ListParams::default()).await.unwrap();
            let ready = list.items.len() == BOUTIQUE_REPLICAS.len()
                && list.items.iter().all(|d| {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    d.status.as_ref().and_then(|s| s.available_replicas) == Some(want)
                });
            ready.then_some(())
        },
    )
    .await;
}

/// The pods of Deployment `app` (label `app=<app>`), by UID.
async fn pods_of(admin: &Client, ns: &str, app: &str) -> BTreeMap<String, Pod> {
    Api::<Pod>::namespaced(admin.clone(), ns)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| (p.uid().unwrap(), p))
        .collect()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A pod-kill (or network) proposal against Deployment `app`, with one AvailableReplicas check.
fn proposal(
    name: &str,
    ns: &str,
    app: &str,
    spec: ChaosSpec,
    min_available: i64,
) -> ExperimentProposal {
    let mut p = ExperimentProposal::new(
        name,
        ExperimentProposalSpec {
            analysis_ref: "boutique".into(),
            target: format!("{ns}/Deployment/{app}"),
            hypothesis: ProposalHypothesis {
                id: format!("h-{name}"),
                statement: format!(
                    "If the fault hits {app}, it keeps at least {min_available} available replicas"
                ),
            },
            steady_state: vec![SteadyStateCheck {
                name: format!("{app}-available"),
                kind: CheckKind::AvailableReplicas,
                subject: Some(format!("{ns}/Deployment/{app}")),
                url: None,
                query: None,
                min_value: min_available,
                max_value: None,
            }],
            blast_radius: BlastRadius {
                affected_workloads: vec![format!("{ns}/Deployment/{app}")],
                affected_entry_points: vec![],
                pod_share_percent: 100,
            },
            experiment: spec.into(),
            approval: Approval::default(),
        },
    );
    p.metadata.namespace = Some(ns.into());
    p
}

fn pod_kill(ns: &str, app: &str, duration: &str) -> ChaosSpec {
    ChaosSpec::PodChaos(PodChaosSpec {
        action: PodChaosAction::PodKill,
        selector: selector(ns, app),
        mode: SelectorMode::One,
        value: None,
        duration: Some(duration.into()),
        container_names: vec![],
    })
}

fn selector(ns: &str, app: &str) -> PodSelector {
    PodSelector {
        namespaces: vec![ns.into()],
        label_selectors: BTreeMap::from([("app".into(), app.into())]),
    }
}

/// Creates `proposal` as admin and approves it as the approver, with the approver's own token.
async fn create_and_approve(admin: &Client, proposal: &ExperimentProposal) {
    let ns = proposal.namespace().unwrap();
    Api::<ExperimentProposal>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), proposal)
        .await
        .expect("creating the proposal");
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns,
            name: proposal.name_any(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving as the approver");
}

/// Waits until the proposal's run reaches `phase`, and returns the proposal.
async fn wait_phase(admin: &Client, ns: &str, name: &str, phase: RunPhase) -> ExperimentProposal {
    let api: Api<ExperimentProposal> = Api::namespaced(admin.clone(), ns);
    eventually(
        &format!("{name} in phase {phase:?}"),
        Duration::from_secs(90),
        || async {
            let p = api.get(name).await.unwrap();
            let at = p.status.as_ref().and_then(|s| s.phase);
            // A run that ended otherwise will never get there: say how it ended.
            if let Some(other) = at.filter(|at| {
                *at != phase && *at != RunPhase::Running && *at != RunPhase::NotStarted
            }) {
                panic!(
                    "{name} ended {other:?} instead of {phase:?}: {:?}",
                    p.status
                );
            }
            (at == Some(phase)).then_some(p)
        },
    )
    .await
}

async fn chaos_object(admin: &Client, ns: &str, kind: ChaosKind, name: &str) -> DynamicObject {
    Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &chaos_resource(kind))
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("reading {kind}/{name}: {e}"))
}

fn kinds(p: &ExperimentProposal) -> Vec<RunEventKind> {
    p.status
        .as_ref()
        .unwrap()
        .timeline
        .iter()
        .map(|e| e.kind)
        .collect()
}

/// Asserts that `wanted` appear in `timeline` in this order (other entries may sit between).
fn assert_in_order(timeline: &[RunEventKind], wanted: &[RunEventKind]) {
    let mut rest = timeline.iter();
    for want in wanted {
        assert!(
            rest.any(|k| k == want),
            "{want:?} missing or out of order in {timeline:?} (wanted {wanted:?})"
        );
    }
}

/// The runs themselves, against the fuller cluster of `scripts/with-cluster.sh`
/// (`scripts/with-cluster.sh cargo test --test real_runs`).
mod fuller_cluster {
    use super::*;

    #[tokio::test]
    async fn killing_the_only_redis_cart_pod_breaks_availability_and_the_pause_is_chaos_meshs() {
        let admin = cluster_admin().await;
        let ns = support::test_namespace(&admin, "real-refuted").await;
        deploy_boutique(&admin, &ns).await;
        let before = pods_of(&admin, &ns, "redis-cart").await;
        assert_eq!(before.len(), 1, "redis-cart runs one pod");
        let (old_uid, old_pod) = before.into_iter().next().unwrap();
        assert!(
            old_pod
                .spec
                .as_ref()
                .unwrap()
                .node_name
                .as_deref()
                .unwrap()
                .starts_with("kwok-"),
            "scheduled onto a KWOK node"
        );

        let operator = start_operator(&ns, "real-refuted").await;
        let kill = proposal(
            "kill-redis-cart",
            &ns,
            "redis-cart",
            pod_kill(&ns, "redis-cart", "60s"),
            1,
        );
        create_and_approve(&admin, &kill).await;

        let paused = wait_phase(&admin, &ns, "kill-redis-cart", RunPhase::Paused).await;
        let status = paused.status.clone().unwrap();
        assert_eq!(status.verdict, Some(Verdict::Refuted), "{status:?}");
        assert!(
            status
                .message
                .as_deref()
                .unwrap()
                .contains("redis-cart-available broke"),
            "{status:?}"
        );

        // Chaos Mesh deleted the pod; the ReplicaSet controller made a new one, the scheduler put it
        // on a KWOK node, and KWOK made it ready after the delay: availability comes back by itself.
        let replacement = eventually(
            "a ready replacement redis-cart pod",
            Duration::from_secs(60),
            || {
                let admin = admin.clone();
                let ns = ns.clone();
                let old_uid = old_uid.clone();
                async move {
                    let pods = pods_of(&admin, &ns, "redis-cart").await;
                    (!pods.contains_key(&old_uid) && pods.len() == 1 && pods.values().all(is_ready))
                        .then(|| pods.into_values().next().unwrap())
                }
            },
        )
        .await;
        let owner = &replacement.owner_references()[0];
        assert_eq!(
            owner.kind, "ReplicaSet",
            "recreated by the ReplicaSet controller"
        );
        assert!(
            replacement
                .spec
                .as_ref()
                .unwrap()
                .node_name
                .as_deref()
                .unwrap()
                .starts_with("kwok-"),
            "the replacement is scheduled onto a KWOK node"
        );

        // The operator paused the PodChaos, and Chaos Mesh records the pause (and the kill) itself.
        let chaos = chaos_object(&admin, &ns, ChaosKind::PodChaos, "kill-redis-cart").await;
        assert_eq!(
            chaos
                .annotations()
                .get(PAUSE_ANNOTATION)
                .map(String::as_str),
            Some("true")
        );
        let recorded = eventually(
            "Chaos Mesh's Paused condition",
            Duration::from_secs(30),
            || {
                let admin = admin.clone();
                let ns = ns.clone();
                async move {
                    let object =
                        chaos_object(&admin, &ns, ChaosKind::PodChaos, "kill-redis-cart").await;
                    let status = chaos_status(&object).expect("a Chaos Mesh status");
                    status.paused().then_some(status)
                }
            },
        )
        .await;
        assert_eq!(
            recorded.injection(),
            Injection::Injected {
                targets: vec![format!("{ns}/{}", old_pod.name_any())]
            },
            "Chaos Mesh records the pod it killed"
        );

        // The timeline tells the whole run, ending with Chaos Mesh's own confirmation of the pause.
        let api: Api<ExperimentProposal> = Api::namespaced(admin.clone(), &ns);
        let done = eventually(
            "the pause confirmation in the timeline",
            Duration::from_secs(30),
            || async {
                let p = api.get("kill-redis-cart").await.unwrap();
                (kinds(&p)
                    .iter()
                    .filter(|k| **k == RunEventKind::Paused)
                    .count()
                    == 2)
                    .then_some(p)
            },
        )
        .await;
        let timeline = &done.status.as_ref().unwrap().timeline;
        let order = kinds(&done);
        assert_in_order(
            &order,
            &[
                RunEventKind::Approved,
                RunEventKind::PreChecked,
                RunEventKind::Created,
                RunEventKind::Paused,
                RunEventKind::Verdict,
                RunEventKind::Paused,
            ],
        );
        assert!(order.contains(&RunEventKind::Injected), "{order:?}");
        let approved = &timeline[0];
        assert!(
            approved.message.as_deref().unwrap().contains("approver"),
            "{approved:?}"
        );
        let prechecked = timeline
            .iter()
            .find(|e| e.kind == RunEventKind::PreChecked)
            .unwrap();
        assert_eq!(prechecked.samples[0].value, Some(1));
        assert!(prechecked.samples[0].steady);
        let breach = timeline
            .iter()
            .find(|e| e.kind == RunEventKind::Paused)
            .unwrap();
        assert!(
            !breach.samples[0].steady,
            "the pause carries the broken sample: {breach:?}"
        );
        let verdict = timeline
            .iter()
            .find(|e| e.kind == RunEventKind::Verdict)
            .unwrap();
        assert!(verdict.message.as_deref().unwrap().starts_with("Refuted"));
        assert!(
            timeline
                .last()
                .unwrap()
                .message
                .as_deref()
                .unwrap()
                .contains("Chaos Mesh records"),
            "{timeline:?}"
        );
        operator.stop().await;
    }

    #[tokio::test]
    async fn killing_one_of_three_frontend_pods_holds() {
        let admin = cluster_admin().await;
        let ns = support::test_namespace(&admin, "real-held").await;
        deploy_boutique(&admin, &ns).await;
        let before: BTreeSet<String> = pods_of(&admin, &ns, "frontend").await.into_keys().collect();
        assert_eq!(before.len(), 3);

        let operator = start_operator(&ns, "real-held").await;
        let kill = proposal(
            "kill-frontend",
            &ns,
            "frontend",
            pod_kill(&ns, "frontend", "8s"),
            2,
        );
        create_and_approve(&admin, &kill).await;

        let done = wait_phase(&admin, &ns, "kill-frontend", RunPhase::Completed).await;
        let status = done.status.clone().unwrap();
        assert_eq!(status.verdict, Some(Verdict::Held), "{status:?}");
        assert_in_order(
            &kinds(&done),
            &[
                RunEventKind::Approved,
                RunEventKind::PreChecked,
                RunEventKind::Created,
                RunEventKind::Injected,
                RunEventKind::Sampled,
                RunEventKind::Completed,
                RunEventKind::Verdict,
            ],
        );
        assert!(
            status
                .timeline
                .iter()
                .filter(|e| e.kind == RunEventKind::Sampled)
                .all(|e| e
                    .samples
                    .iter()
                    .all(|s| s.steady && s.value.is_some_and(|v| v >= 2))),
            "every sample held: {:?}",
            status.timeline
        );

        // Exactly one pod was killed, and the ReplicaSet controller replaced it.
        let after = eventually(
            "three ready frontend pods again",
            Duration::from_secs(60),
            || {
                let admin = admin.clone();
                let ns = ns.clone();
                async move {
                    let pods = pods_of(&admin, &ns, "frontend").await;
                    (pods.len() == 3 && pods.values().all(is_ready)).then_some(pods)
                }
            },
        )
        .await;
        let kept: BTreeSet<String> = after.into_keys().collect();
        assert_eq!(
            before.difference(&kept).count(),
            1,
            "mode one kills one pod"
        );
        let chaos = chaos_object(&admin, &ns, ChaosKind::PodChaos, "kill-frontend").await;
        assert!(matches!(
            chaos_status(&chaos).unwrap().injection(),
            Injection::Injected { targets } if targets.len() == 1
        ));
        operator.stop().await;
    }

    #[tokio::test]
    async fn a_network_delay_without_chaos_daemon_is_injection_failed_in_chaos_meshs_words() {
        let admin = cluster_admin().await;
        let ns = support::test_namespace(&admin, "real-netfail").await;
        deploy_boutique(&admin, &ns).await;
        let operator = start_operator(&ns, "real-netfail").await;
        let delay = ChaosSpec::NetworkChaos(NetworkChaosSpec {
            action: NetworkChaosAction::Delay,
            selector: selector(&ns, "productcatalogservice"),
            mode: SelectorMode::One,
            value: None,
            direction: None,
            target: None,
            external_targets: vec![],
            delay: Some(DelaySpec {
                latency: "200ms".into(),
                jitter: None,
                correlation: None,
            }),
            loss: None,
            duration: Some("60s".into()),
        });
        let slow = proposal("slow-catalog", &ns, "productcatalogservice", delay, 1);
        create_and_approve(&admin, &slow).await;

        let failed = wait_phase(&admin, &ns, "slow-catalog", RunPhase::InjectionFailed).await;
        let status = failed.status.clone().unwrap();
        assert_eq!(status.verdict, None, "no verdict is claimed: {status:?}");
        let chaos = chaos_object(&admin, &ns, ChaosKind::NetworkChaos, "slow-catalog").await;
        let Injection::Failed { message } = chaos_status(&chaos).unwrap().injection() else {
            panic!("Chaos Mesh records no failure: {:?}", chaos.data["status"]);
        };
        let reason = message
            .split_once(": ")
            .map_or(message.as_str(), |(_, r)| r);
        assert!(
            status.message.as_deref().unwrap().contains(reason),
            "the proposal carries Chaos Mesh's reason {reason:?}: {status:?}"
        );
        let last = status.timeline.last().unwrap();
        assert_eq!(last.kind, RunEventKind::InjectionFailed);
        assert!(last.message.as_deref().unwrap().contains(reason));
        assert!(!kinds(&failed).contains(&RunEventKind::Verdict));
        eprintln!("Chaos Mesh's reason: {message}");
        operator.stop().await;
    }

    #[tokio::test]
    async fn deleting_an_analysis_removes_its_proposals_and_chaos_objects_by_garbage_collection() {
        let admin = cluster_admin().await;
        let ns = support::test_namespace(&admin, "real-gc").await;
        deploy_boutique(&admin, &ns).await;
        let analyses: Api<smart_chaos::api::ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
        let analysis = analyses
            .create(
                &PostParams::default(),
                &operator_support::analysis(
                    &ns,
                    "boutique",
                    serde_json::json!({ "scope": { "namespaces": [ns] } }),
                ),
            )
            .await
            .expect("creating the analysis");

        // A proposal owned by the analysis, as the operator's own are; approved, so that the operator
        // creates its PodChaos (owned by the proposal).
        let mut kill = proposal(
            "kill-cart",
            &ns,
            "cartservice",
            pod_kill(&ns, "cartservice", "10m"),
            1,
        );
        kill.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "chaos.smartchaos.io/v1alpha1".into(),
            kind: "ChaosAnalysis".into(),
            name: "boutique".into(),
            uid: analysis.uid().unwrap(),
            controller: Some(false),
            block_owner_deletion: Some(true),
        }]);
        let operator = start_operator(&ns, "real-gc").await;
        create_and_approve(&admin, &kill).await;
        wait_phase(&admin, &ns, "kill-cart", RunPhase::Running).await;
        chaos_object(&admin, &ns, ChaosKind::PodChaos, "kill-cart").await;
        let proposals: Api<ExperimentProposal> = Api::namespaced(admin.clone(), &ns);
        let generated = eventually(
            "the operator's own proposals",
            Duration::from_secs(60),
            || async {
                let items = proposals.list(&ListParams::default()).await.unwrap().items;
                (items.len() > 1).then_some(items.len())
            },
        )
        .await;
        eprintln!("{generated} proposals before the analysis is deleted");
        // Stop the operator first: what follows is the garbage collector's work alone.
        operator.stop().await;

        analyses
            .delete("boutique", &DeleteParams::foreground())
            .await
            .expect("deleting the analysis");
        let podchaos: Api<DynamicObject> =
            Api::namespaced_with(admin.clone(), &ns, &chaos_resource(ChaosKind::PodChaos));
        eventually(
            "the analysis, its proposals and their PodChaos gone",
            Duration::from_secs(60),
            || async {
                let left = proposals
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .len()
                    + podchaos
                        .list(&ListParams::default())
                        .await
                        .unwrap()
                        .items
                        .len()
                    + usize::from(analyses.get_opt("boutique").await.unwrap().is_some());
                (left == 0).then_some(())
            },
        )
        .await;
        // Pods are not the analysis' to remove: the application keeps running.
        assert_eq!(pods_of(&admin, &ns, "cartservice").await.len(), 2);
    }
}

#[test]
fn the_replica_counts_cover_every_boutique_deployment() {
    let docs = support::manifests_in_namespace(
        &support::shared_dir().join("corpus/online-boutique"),
        "boutique",
    );
    let deployments: BTreeSet<&str> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some("Deployment"))
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    let counted: BTreeSet<&str> = BOUTIQUE_REPLICAS.iter().map(|(n, _)| *n).collect();
    assert_eq!(deployments, counted);
}
