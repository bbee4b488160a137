//! Approval that the API server enforces: the shipped admission policy and RBAC on the real
//! kube-apiserver, exercised with each test user's own token, and `smart-chaos approve|reject`
//! run as a separate process from each user's kubeconfig.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::Subject;
use kube::api::{Api, Patch, PatchParams, PostParams};
use operator_support::{
    admin_with_operator_manifests, bind_in_namespace, create_proposal, decided, eventually,
    proposal,
};
use serde_json::json;
use smart_chaos::api::{ApprovalState, ExperimentProposal};
use smart_chaos::chaosmesh::SelectorMode;
use support::User;

const OPERATOR_USER: &str = "system:serviceaccount:smart-chaos-system:smart-chaos";

/// Runs the smart-chaos binary as `user` (through that user's kubeconfig, as a person would).
fn cli(user: User, args: &[&str]) -> (bool, String, String) {
    let kubeconfig = support::server().kubeconfig_path(user);
    let out = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .expect("running smart-chaos");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn stored(ns: &str, name: &str) -> ExperimentProposal {
    let admin = support::server().client(User::Admin).await;
    Api::<ExperimentProposal>::namespaced(admin, ns)
        .get(name)
        .await
        .expect("reading the proposal")
}

/// A merge patch of the approval as `user`; returns the API server's refusal, if any.
async fn patch_approval_as(
    user: User,
    ns: &str,
    name: &str,
    state: ApprovalState,
    approved_by: &str,
) -> Result<ExperimentProposal, kube::core::Status> {
    let client = support::server().client(user).await;
    let api: Api<ExperimentProposal> = Api::namespaced(client, ns);
    let body = json!({ "spec": { "approval": decided(state, approved_by) } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) => *status,
            other => panic!("unexpected error: {other}"),
        })
}

#[tokio::test]
async fn viewer_cannot_approve() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "approve-viewer").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let start = Instant::now();
    let (ok, _, stderr) = cli(User::Viewer, &["approve", &format!("{ns}/kill-web")]);
    eprintln!("viewer approve refused in {:?}", start.elapsed());
    assert!(!ok, "the viewer's approval was accepted");
    assert!(stderr.contains("refused by the API server"), "{stderr}");
    assert!(stderr.contains("User \"viewer\" cannot patch"), "{stderr}");
    assert_eq!(
        stored(&ns, "kill-web").await.spec.approval.state,
        ApprovalState::Pending
    );
}

#[tokio::test]
async fn editing_rights_without_the_approve_verb_are_refused_by_the_policy() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "approve-editor").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    // A role with update and patch but not `approve`, in this namespace only.
    let role = k8s_openapi::api::rbac::v1::ClusterRole {
        metadata: kube::api::ObjectMeta {
            name: Some("test-proposal-editor".into()),
            ..Default::default()
        },
        rules: Some(vec![k8s_openapi::api::rbac::v1::PolicyRule {
            api_groups: Some(vec!["chaos.smartchaos.io".into()]),
            resources: Some(vec!["experimentproposals".into()]),
            verbs: vec!["get".into(), "update".into(), "patch".into()],
            ..Default::default()
        }]),
        aggregation_rule: None,
    };
    Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(admin.clone())
        .patch(
            "test-proposal-editor",
            &PatchParams::apply("smart-chaos-tests").force(),
            &Patch::Apply(&role),
        )
        .await
        .expect("editor role");
    bind_in_namespace(
        &admin,
        &ns,
        "viewers-edit",
        Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Group".into(),
            name: "smartchaos:viewers".into(),
            namespace: None,
        },
        "test-proposal-editor",
    )
    .await;
    // RBAC takes a moment to see the new binding; the refusal must then come from the policy.
    let message = eventually("the policy's refusal", Duration::from_secs(10), || async {
        match patch_approval_as(
            User::Viewer,
            &ns,
            "kill-web",
            ApprovalState::Approved,
            "viewer",
        )
        .await
        {
            Err(status) if status.message.contains("ValidatingAdmissionPolicy") => Some(status),
            Err(_) => None,
            Ok(_) => panic!("a user without the approve verb approved"),
        }
    })
    .await;
    assert_eq!(message.code, 403);
    assert!(
        message.message.contains("needs the RBAC verb \"approve\""),
        "{}",
        message.message
    );
    assert!(
        message.message.contains("smart-chaos-approver"),
        "{}",
        message.message
    );
}

#[tokio::test]
async fn approver_approves_and_is_recorded_as_approved_by() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "approve-ok").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let start = Instant::now();
    let (ok, stdout, stderr) = cli(
        User::Approver,
        &["approve", &format!("{ns}/kill-web"), "--reason", "game day"],
    );
    eprintln!("approver approve (CLI process) took {:?}", start.elapsed());
    assert!(ok, "approve failed: {stderr}");
    assert!(stdout.contains("approved by approver"), "{stdout}");
    let p = stored(&ns, "kill-web").await;
    assert_eq!(p.spec.approval.state, ApprovalState::Approved);
    assert_eq!(p.spec.approval.approved_by.as_deref(), Some("approver"));
    assert_eq!(p.spec.approval.reason.as_deref(), Some("game day"));
    let decided_at = p.spec.approval.decided_at.expect("decidedAt").0;
    let age = jiff::Timestamp::now().duration_since(decided_at);
    assert!(age.as_secs() < 60, "decidedAt is not now: {decided_at}");

    // A decision is final: the CLI says so, and the API server refuses a raw change too.
    let (ok, _, stderr) = cli(User::Approver, &["reject", &format!("{ns}/kill-web")]);
    assert!(!ok);
    assert!(stderr.contains("already Approved by approver"), "{stderr}");
    let refusal = patch_approval_as(
        User::Approver,
        &ns,
        "kill-web",
        ApprovalState::Rejected,
        "approver",
    )
    .await
    .expect_err("changing a decision");
    assert!(
        refusal.message.contains("cannot change its decision"),
        "{}",
        refusal.message
    );
}

#[tokio::test]
async fn approved_by_must_be_the_requesting_user() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "approve-other").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let start = Instant::now();
    let refusal = patch_approval_as(
        User::Approver,
        &ns,
        "kill-web",
        ApprovalState::Approved,
        "alice",
    )
    .await
    .expect_err("approving in someone else's name");
    eprintln!("approvedBy-mismatch refusal took {:?}", start.elapsed());
    assert_eq!(refusal.code, 403);
    assert!(
        refusal
            .message
            .contains("approvedBy must be the requesting user approver, not alice"),
        "{}",
        refusal.message
    );
    assert_eq!(
        stored(&ns, "kill-web").await.spec.approval.state,
        ApprovalState::Pending
    );
}

#[tokio::test]
async fn the_operator_can_never_approve() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "approve-operator").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    // With its shipped rights (it may patch proposals, not approve them).
    let start = Instant::now();
    let refusal = patch_approval_as(
        User::Operator,
        &ns,
        "kill-web",
        ApprovalState::Approved,
        OPERATOR_USER,
    )
    .await
    .expect_err("the operator approved");
    eprintln!("operator approve refused in {:?}", start.elapsed());
    assert_eq!(refusal.code, 403);
    assert!(
        refusal.message.contains("may never decide"),
        "{}",
        refusal.message
    );

    // Even when someone grants it the approve verb in this namespace.
    bind_in_namespace(
        &admin,
        &ns,
        "operator-approves",
        Subject {
            api_group: None,
            kind: "ServiceAccount".into(),
            name: "smart-chaos".into(),
            namespace: Some("smart-chaos-system".into()),
        },
        "smart-chaos-approver",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refusal = patch_approval_as(
        User::Operator,
        &ns,
        "kill-web",
        ApprovalState::Approved,
        OPERATOR_USER,
    )
    .await
    .expect_err("the operator approved with the approve verb");
    assert!(
        refusal.message.contains("may never decide"),
        "{}",
        refusal.message
    );
    // Nor may it create a proposal that is already approved, or rejected.
    let mut pre_approved = proposal("pre-approved", &ns, "web");
    pre_approved.spec.approval = decided(ApprovalState::Rejected, OPERATOR_USER);
    let operator = support::server().client(User::Operator).await;
    let err = Api::<ExperimentProposal>::namespaced(operator, &ns)
        .create(&PostParams::default(), &pre_approved)
        .await
        .expect_err("the operator created a decided proposal");
    assert!(err.to_string().contains("may never decide"), "{err}");
    assert_eq!(
        stored(&ns, "kill-web").await.spec.approval.state,
        ApprovalState::Pending
    );
}

#[tokio::test]
async fn an_approved_experiment_is_immutable() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "approve-immutable").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let (ok, _, stderr) = cli(User::Approver, &["approve", &format!("{ns}/kill-web")]);
    assert!(ok, "{stderr}");
    let mut p = stored(&ns, "kill-web").await;
    let pod = p.spec.experiment.pod_chaos.as_mut().expect("a PodChaos");
    pod.mode = SelectorMode::All;
    let approver = support::server().client(User::Approver).await;
    let start = Instant::now();
    let err = Api::<ExperimentProposal>::namespaced(approver, &ns)
        .replace("kill-web", &PostParams::default(), &p)
        .await
        .expect_err("an approved experiment was changed");
    eprintln!("immutable-experiment refusal took {:?}", start.elapsed());
    assert!(
        err.to_string()
            .contains("the experiment of an Approved proposal is immutable"),
        "{err}"
    );
    let after = stored(&ns, "kill-web").await;
    assert_eq!(
        after.spec.experiment.pod_chaos.map(|s| s.mode),
        Some(SelectorMode::One)
    );
}

#[tokio::test]
async fn reject_records_the_user_and_a_missing_proposal_is_named() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "reject").await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let (ok, stdout, stderr) = cli(
        User::Approver,
        &[
            "reject",
            "kill-web",
            "-n",
            &ns,
            "--reason",
            "not during sales",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("rejected by approver"), "{stdout}");
    let p = stored(&ns, "kill-web").await;
    assert_eq!(p.spec.approval.state, ApprovalState::Rejected);
    assert_eq!(p.spec.approval.approved_by.as_deref(), Some("approver"));
    let (ok, _, stderr) = cli(User::Approver, &["approve", &format!("{ns}/nope")]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("ExperimentProposal {ns}/nope not found")),
        "{stderr}"
    );
}
