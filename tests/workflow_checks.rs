//! Checks Chaos Mesh holds, on the real kube-apiserver with the official Chaos Mesh CRDs: an
//! approved proposal whose Http check is held by Chaos Mesh runs as a `Workflow` (the fault and a
//! StatusCheck node that aborts it, in parallel), exactly as built, admitted by the API server
//! with nothing pruned, owned by the proposal. A breach pauses the chaos objects the Workflow made;
//! a halt refuses a new Workflow from the operator and pauses a running one.
//!
//! No Chaos Mesh controller runs on the plain test server, so the chaos object a Workflow's fault
//! node would create is created by the test as Chaos Mesh does (`chaos-mesh.org/workflow`
//! label, owned by nothing here). Garbage collection needs the fuller cluster: the last test is
//! meant for `scripts/with-cluster.sh cargo test --test workflow_checks -- --ignored`.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
#[path = "support/status_server.rs"]
mod status_server;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use operator_support::{
    TEST_MANAGER, admin_with_operator_manifests, analysis, create_proposal, deployment, eventually,
    proposal, start_operator_adjusted,
};
use smart_chaos::api::{
    ApprovalState, ChaosAnalysis, ChaosHalt, ChaosHaltSpec, CheckHolder, CheckKind,
    ExperimentProposal, HALT_NAME, PROPOSAL_LABEL, RunPhase, SteadyStateCheck, Verdict,
};
use smart_chaos::chaosmesh::workflow::{
    HeldHttpCheck, ProbeTiming, WORKFLOW_LABEL, WorkflowSpec, workflow_spec,
};
use smart_chaos::chaosmesh::{ChaosKind, ChaosSpec, PAUSE_ANNOTATION};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::proposals::chaos_resource;
use smart_chaos::controller::workflow_run::workflow_resource;
use status_server::StatusServer;
use support::User;

/// The proposal's name, and so the Workflow's.
const NAME: &str = "kill-web";

/// The ChaosHalt is a cluster singleton: the tests that set it take turns.
static HALT_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running proposal whose Http check Chaos Mesh holds.
struct Run {
    admin: Client,
    ns: String,
    server: StatusServer,
    operator: operator_support::Running,
}

/// A pod-kill of `web` with two checks: available replicas (the operator's) and an Http GET of
/// the test's server, which Chaos Mesh is asked to hold.
fn held_proposal(ns: &str, url: &str) -> ExperimentProposal {
    let mut p = proposal(NAME, ns, "web");
    p.spec.steady_state.push(SteadyStateCheck {
        name: "front".into(),
        kind: CheckKind::Http,
        subject: None,
        url: Some(url.into()),
        query: None,
        min_value: 1,
        max_value: None,
    });
    p.spec.experiment.checks_held_by = CheckHolder::ChaosMesh;
    p
}

async fn approve(ns: &str, name: &str) -> Result<ExperimentProposal, String> {
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
    .map_err(|e| e.to_string())
}

fn workflows(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &workflow_resource())
}

fn pod_chaos(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &chaos_resource(ChaosKind::PodChaos))
}

async fn proposal_now(admin: &Client, ns: &str) -> ExperimentProposal {
    Api::<ExperimentProposal>::namespaced(admin.clone(), ns)
        .get(NAME)
        .await
        .expect("reading the proposal")
}

fn paused(object: &DynamicObject) -> bool {
    object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSE_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Starts a run: the proposal created, the operator (allowed to probe loopback) running, the
/// proposal approved, and the Workflow there with the proposal Running.
async fn start_run(prefix: &str) -> Run {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, prefix).await;
    deployment(&admin, &ns, "web", 3).await;
    let server = StatusServer::start(200).await;
    create_proposal(&admin, &held_proposal(&ns, &server.url("/healthz"))).await;
    let client = support::server().client(User::Operator).await;
    let operator = start_operator_adjusted(client, &ns, prefix, Duration::from_secs(1), |s| {
        s.check_targets.allow_loopback = true;
    })
    .await;
    approve(&ns, NAME).await.expect("approving");
    eventually("the run started", Duration::from_secs(60), || async {
        let p = proposal_now(&admin, &ns).await;
        (p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Running)).then_some(())
    })
    .await;
    Run {
        admin,
        ns,
        server,
        operator,
    }
}

/// What Chaos Mesh's workflow controller does for the fault node: a PodChaos named after the
/// node, labelled with the Workflow (`v1alpha1.LabelWorkflow`).
async fn create_fault_object(admin: &Client, ns: &str) -> String {
    let p = proposal(NAME, ns, "web");
    let spec = ChaosSpec::try_from(p.spec.experiment).unwrap();
    let name = "fault-x7k2p-abcde".to_string();
    let manifest = spec.to_manifest(ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(ns.into()),
        labels: Some(BTreeMap::from([
            (WORKFLOW_LABEL.to_string(), NAME.to_string()),
            (
                "chaos-mesh.org/controlled-by".to_string(),
                "fault-x7k2p".to_string(),
            ),
        ])),
        ..ObjectMeta::default()
    });
    let object: DynamicObject =
        serde_json::from_value(serde_json::to_value(manifest).unwrap()).unwrap();
    pod_chaos(admin, ns)
        .create(&PostParams::default(), &object)
        .await
        .expect("creating the fault node's PodChaos as Chaos Mesh would");
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_proposal_with_a_check_chaos_mesh_holds_runs_as_exactly_the_expected_workflow()
{
    let run = start_run("wf-create").await;
    let (admin, ns) = (&run.admin, run.ns.as_str());
    let stored = workflows(admin, ns)
        .get_opt(NAME)
        .await
        .unwrap()
        .expect("the Workflow, created by the operator after approval");
    // A Workflow instead of a bare PodChaos, never both.
    assert!(pod_chaos(admin, ns).get_opt(NAME).await.unwrap().is_none());

    // Exactly what the pure builder makes of the approved proposal, bounded by the dead man's
    // switch (10m asked, the operator's ceiling 5m), probing every second (the tests' interval):
    // and what the API server stored is all of it (the CRD's schema pruned nothing).
    let fault = ChaosSpec::try_from(proposal(NAME, ns, "web").spec.experiment).unwrap();
    let mut bounded = fault.clone();
    *bounded.duration_mut() = Some("5m".into());
    let expected = workflow_spec(
        &bounded,
        &[HeldHttpCheck {
            url: run.server.url("/healthz"),
        }],
        "5m",
        ProbeTiming {
            interval_seconds: 1,
            ..ProbeTiming::default()
        },
    )
    .unwrap();
    let spec: WorkflowSpec = serde_json::from_value(stored.data["spec"].clone()).unwrap();
    assert_eq!(spec, expected);
    // The parts that matter, spelled out.
    let json = &stored.data["spec"];
    assert_eq!(json["entry"], "entry");
    assert_eq!(json["templates"][0]["templateType"], "Parallel");
    assert_eq!(
        json["templates"][0]["children"],
        serde_json::json!(["fault", "check-0"])
    );
    assert_eq!(json["templates"][1]["templateType"], "PodChaos");
    assert_eq!(json["templates"][1]["podChaos"]["action"], "pod-kill");
    assert_eq!(json["templates"][1]["deadline"], "5m");
    assert_eq!(json["templates"][2]["templateType"], "StatusCheck");
    assert_eq!(json["templates"][2]["abortWithStatusCheck"], true);
    assert_eq!(
        json["templates"][2]["statusCheck"]["http"]["url"],
        run.server.url("/healthz")
    );
    assert_eq!(json["templates"][2]["statusCheck"]["failureThreshold"], 1);

    // Owned by the proposal (controller, blocking its deletion) and labelled back to it.
    let p = proposal_now(admin, ns).await;
    let owner = &stored.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(Some(&owner.uid), p.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(owner.block_owner_deletion, Some(true));
    assert_eq!(
        stored.metadata.labels.as_ref().unwrap()[PROPOSAL_LABEL],
        NAME
    );

    // The proposal says who holds which check.
    let status = p.status.unwrap();
    let held: Vec<(&str, CheckHolder)> = status
        .held_by
        .iter()
        .map(|h| (h.check.as_str(), h.held_by))
        .collect();
    assert_eq!(
        held,
        vec![
            ("web-available", CheckHolder::Operator),
            ("front", CheckHolder::ChaosMesh)
        ]
    );
    assert_eq!(
        status.checks_held_by.as_deref(),
        Some("ChaosMesh 1, Operator 1")
    );

    // The same object passes the CRD's schema with unknown fields as errors.
    let mut strict = PatchParams::apply(TEST_MANAGER).force().validation_strict();
    strict.dry_run = true;
    let mut copy = stored.clone();
    copy.metadata.managed_fields = None;
    copy.metadata.resource_version = None;
    copy.data.as_object_mut().unwrap().remove("status");
    workflows(admin, ns)
        .patch(NAME, &strict, &Patch::Apply(&copy))
        .await
        .expect("the Workflow passes the Chaos Mesh CRD's schema, strictly");
    run.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_pauses_the_chaos_objects_the_workflow_made_and_refutes() {
    let run = start_run("wf-breach").await;
    let (admin, ns) = (&run.admin, run.ns.as_str());
    let fault = create_fault_object(admin, ns).await;
    run.server.answer(500);
    let paused_proposal = eventually("the run paused", Duration::from_secs(30), || async {
        let p = proposal_now(admin, ns).await;
        (p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Paused)).then_some(p)
    })
    .await;
    let status = paused_proposal.status.unwrap();
    assert_eq!(status.verdict, Some(Verdict::Refuted));
    assert!(
        status.message.as_deref().unwrap().contains("answered 500"),
        "{:?}",
        status.message
    );
    // What Chaos Mesh honours: the pause on the chaos object the fault node made.
    let object = pod_chaos(admin, ns).get(&fault).await.unwrap();
    assert!(paused(&object), "{:?}", object.metadata.annotations);
    let workflow = workflows(admin, ns).get(NAME).await.unwrap();
    assert!(paused(&workflow));
    run.operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_pauses_a_running_workflow_and_refuses_a_new_one_from_the_operator() {
    let _turn = HALT_TURN.lock().await;
    let run = start_run("wf-halt").await;
    let (admin, ns) = (&run.admin, run.ns.as_str());
    let fault = create_fault_object(admin, ns).await;

    let reason = "workflow game day stopped";
    let halt = ChaosHalt::new(
        HALT_NAME,
        ChaosHaltSpec {
            halted: true,
            reason: Some(reason.into()),
            namespaces: vec![ns.to_string()],
            changed_by: Some("test".into()),
        },
    );
    Api::<ChaosHalt>::all(admin.clone())
        .patch(
            HALT_NAME,
            &PatchParams::apply("gitops").force(),
            &Patch::Apply(&halt),
        )
        .await
        .expect("setting the halt");

    // Paused: the Workflow marked, its chaos object paused, the proposal held by the halt.
    eventually(
        "the fault node's PodChaos paused",
        Duration::from_secs(10),
        || async { paused(&pod_chaos(admin, ns).get(&fault).await.unwrap()).then_some(()) },
    )
    .await;
    assert!(paused(&workflows(admin, ns).get(NAME).await.unwrap()));
    let held = eventually(
        "the proposal Paused by the halt",
        Duration::from_secs(10),
        || async {
            let p = proposal_now(admin, ns).await;
            let status = p.status?;
            (status.phase == Some(RunPhase::Paused)).then_some(status)
        },
    )
    .await;
    assert_eq!(held.verdict, Some(Verdict::Inconclusive));
    assert!(held.message.as_deref().unwrap().contains(reason));

    // Refused by the API server while halted: a new Workflow from the operator, and taking the
    // pause off the running one.
    let operator = support::server().client(User::Operator).await;
    let mut fresh = workflows(admin, ns).get(NAME).await.unwrap();
    fresh.metadata = ObjectMeta {
        name: Some("late-workflow".into()),
        namespace: Some(ns.into()),
        ..ObjectMeta::default()
    };
    fresh.data.as_object_mut().unwrap().remove("status");
    let refusal = eventually(
        "the halt policy refusing a Workflow",
        Duration::from_secs(10),
        || async {
            let params = PostParams {
                dry_run: true,
                field_manager: None,
            };
            match workflows(&operator, ns).create(&params, &fresh).await {
                Err(kube::Error::Api(status)) => Some(status.message),
                _ => None,
            }
        },
    )
    .await;
    assert!(
        refusal.contains("chaos is halted") && refusal.contains(reason),
        "{refusal}"
    );
    let unpause = serde_json::json!({"metadata": {"annotations": {PAUSE_ANNOTATION: null}}});
    match workflows(admin, ns)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&unpause))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert!(
                status.message.contains("chaos is halted"),
                "{}",
                status.message
            )
        }
        other => panic!("un-pausing a Workflow while halted was not refused: {other:?}"),
    }

    resume(admin).await;
    run.operator.stop().await;
}

/// Lifts the halt for whoever comes next.
async fn resume(admin: &Client) {
    let resumed = ChaosHalt::new(
        HALT_NAME,
        ChaosHaltSpec {
            halted: false,
            reason: None,
            namespaces: vec![],
            changed_by: Some("test".into()),
        },
    );
    Api::<ChaosHalt>::all(admin.clone())
        .patch(
            HALT_NAME,
            &PatchParams::apply("gitops").force(),
            &Patch::Apply(&resumed),
        )
        .await
        .expect("resuming");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_chaos_halt_pauses_a_workflows_chaos_with_the_callers_rights_and_no_operator() {
    let _turn = HALT_TURN.lock().await;
    let run = start_run("wf-cli-halt").await;
    let (admin, ns) = (&run.admin, run.ns.as_str());
    let fault = create_fault_object(admin, ns).await;
    // The operator is down from here.
    run.operator.stop().await;
    // The approvers may halt (the shipped smart-chaos-halter ClusterRole).
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some("test-smart-chaos-halter".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "smart-chaos-halter".into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Group".into(),
            name: "smartchaos:approvers".into(),
            namespace: None,
        }]),
    };
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(
            "test-smart-chaos-halter",
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await
        .expect("binding the approvers to the halter role");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args([
            "halt",
            "--reason",
            "cli halt",
            "--namespace",
            ns,
            "--kubeconfig",
        ])
        .arg(support::server().kubeconfig_path(User::Approver))
        .env_remove("KUBECONFIG")
        .output()
        .expect("running smart-chaos halt");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Done by the time the command returns: nothing else runs that could have done it.
    assert!(paused(&pod_chaos(admin, ns).get(&fault).await.unwrap()));
    assert!(paused(&workflows(admin, ns).get(NAME).await.unwrap()));
    assert!(stdout.contains("1 experiments paused now"), "{stdout}");
    resume(admin).await;
}

/// The proposal's analysis, made its controller owner as the operator does for the proposals it
/// writes: the chain Workflow → proposal → analysis.
async fn owned_by_an_analysis(admin: &Client, ns: &str) -> ChaosAnalysis {
    let a = analysis(
        ns,
        "shop",
        serde_json::json!({"scope": {"namespaces": [ns]}}),
    );
    Api::<ChaosAnalysis>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &a)
        .await
        .expect("creating the analysis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_hangs_off_its_analysis_through_the_proposal() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "wf-owner").await;
    let analysis = owned_by_an_analysis(&admin, &ns).await;
    deployment(&admin, &ns, "web", 3).await;
    let server = StatusServer::start(200).await;
    let mut p = held_proposal(&ns, &server.url("/"));
    p.metadata.owner_references = Some(vec![
        kube::Resource::controller_owner_ref(&analysis, &()).unwrap(),
    ]);
    let created = create_proposal(&admin, &p).await;
    let client = support::server().client(User::Operator).await;
    let operator = start_operator_adjusted(client, &ns, "wf-owner", Duration::from_secs(60), |s| {
        s.check_targets.allow_loopback = true;
    })
    .await;
    approve(&ns, NAME).await.expect("approving");
    let workflow = eventually("the Workflow", Duration::from_secs(60), || async {
        workflows(&admin, &ns).get_opt(NAME).await.unwrap()
    })
    .await;
    let owner = &workflow.metadata.owner_references.unwrap()[0];
    assert_eq!(Some(&owner.uid), created.metadata.uid.as_ref());
    let proposal_owner = &created.metadata.owner_references.unwrap()[0];
    assert_eq!(Some(&proposal_owner.uid), analysis.metadata.uid.as_ref());
    assert_eq!(proposal_owner.kind, "ChaosAnalysis");
    operator.stop().await;
}

/// Real garbage collection, on the fuller cluster only (the plain server runs no
/// kube-controller-manager): `scripts/with-cluster.sh cargo test --test workflow_checks -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the garbage collector of scripts/with-cluster.sh"]
async fn deleting_the_analysis_deletes_the_workflow_by_garbage_collection() {
    assert!(
        std::env::var_os("SMART_CHAOS_TEST_CLUSTER").is_some(),
        "run with scripts/with-cluster.sh: garbage collection needs kube-controller-manager"
    );
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "wf-gc").await;
    let analysis = owned_by_an_analysis(&admin, &ns).await;
    // The pre-check needs its target: here real pods on KWOK nodes make it available.
    deployment(&admin, &ns, "web", 3).await;
    let server = StatusServer::start(200).await;
    let mut p = held_proposal(&ns, &server.url("/"));
    p.metadata.owner_references = Some(vec![
        kube::Resource::controller_owner_ref(&analysis, &()).unwrap(),
    ]);
    create_proposal(&admin, &p).await;
    let client = support::server().client(User::Operator).await;
    let operator = start_operator_adjusted(client, &ns, "wf-gc", Duration::from_secs(60), |s| {
        s.check_targets.allow_loopback = true;
    })
    .await;
    approve(&ns, NAME).await.expect("approving");
    eventually("the Workflow", Duration::from_secs(60), || async {
        workflows(&admin, &ns).get_opt(NAME).await.unwrap()
    })
    .await;
    // The garbage collector's work alone from here.
    operator.stop().await;
    Api::<ChaosAnalysis>::namespaced(admin.clone(), &ns)
        .delete("shop", &DeleteParams::background())
        .await
        .expect("deleting the analysis");
    eventually(
        "the Workflow collected",
        Duration::from_secs(60),
        || async {
            workflows(&admin, &ns)
                .get_opt(NAME)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}
