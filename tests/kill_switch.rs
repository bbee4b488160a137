//! The kill switch on the real kube-apiserver: a `ChaosHalt` pauses every running experiment
//! created from a proposal (by the operator, or by `smart-chaos halt` with the caller's rights
//! while the operator is down), the shipped halt admission policy refuses new Chaos Mesh objects
//! and approvals while it is set, and `resume` brings approvals back without restarting anything.
//!
//! The ChaosHalt is a cluster singleton, so the tests here take turns, and each halts only its own
//! namespace (`spec.namespaces`), leaving other test binaries on the shared server alone.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use operator_support::{
    TEST_MANAGER, admin_with_operator_manifests, create_proposal, deployment, eventually,
    metrics_text, proposal, start_operator,
};
use smart_chaos::api::{
    ChaosHalt, ChaosHaltSpec, ExperimentProposal, HALT_NAME, PROPOSAL_LABEL, RunEventKind,
    RunPhase, Verdict,
};
use smart_chaos::chaosmesh::{
    ChaosKind, ChaosSpec, PAUSE_ANNOTATION, PodChaosAction, PodChaosSpec, PodSelector, SelectorMode,
};
use smart_chaos::cli::approve::{DecideError, Decision, ProposalRef, decide};
use smart_chaos::controller::proposals::chaos_resource;
use support::User;

/// The experiments running when the halt comes.
const RUNNING: usize = 20;
/// How fast every one of them must be paused.
const PAUSE_BUDGET: Duration = Duration::from_secs(2);

/// The singleton is shared: one test at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The shipped manifests, plus the approvers bound to the shipped halter ClusterRole.
async fn setup() -> Client {
    let admin = admin_with_operator_manifests().await;
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
    admin
}

/// Runs the smart-chaos binary as `user`, through that user's kubeconfig.
fn cli(user: User, args: &[&str]) -> (bool, String, String) {
    let kubeconfig = support::server().kubeconfig_path(user);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
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

fn pod_chaos_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &chaos_resource(ChaosKind::PodChaos))
}

/// (labelled experiments, of which paused) in `ns`.
async fn paused_count(admin: &Client, ns: &str) -> (usize, usize) {
    let items = pod_chaos_api(admin, ns)
        .list(&ListParams::default().labels(PROPOSAL_LABEL))
        .await
        .expect("listing PodChaos")
        .items;
    let paused = items
        .iter()
        .filter(|o| {
            o.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(PAUSE_ANNOTATION))
                .map(String::as_str)
                == Some("true")
        })
        .count();
    (items.len(), paused)
}

/// Watches the experiments in `ns` and reports the moment the last of them is seen paused: a
/// watch sees each change as the API server commits it, where polling would add its own delay.
/// Returns once the watch has its initial list.
async fn when_all_paused(admin: &Client, ns: &str) -> tokio::task::JoinHandle<Instant> {
    use futures::TryStreamExt;
    use kube::runtime::watcher;
    let api = pod_chaos_api(admin, ns);
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let config = watcher::Config::default().labels(PROPOSAL_LABEL);
        let mut events = std::pin::pin!(watcher(api, config));
        let mut synced = Some(synced_tx);
        let mut paused = std::collections::BTreeSet::new();
        while let Some(event) = events.try_next().await.expect("watching PodChaos") {
            let object = match event {
                watcher::Event::InitDone => {
                    if let Some(tx) = synced.take() {
                        let _ = tx.send(());
                    }
                    continue;
                }
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => o,
                watcher::Event::Init | watcher::Event::Delete(_) => continue,
            };
            let is_paused = object
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(PAUSE_ANNOTATION))
                .is_some_and(|v| v == "true");
            if is_paused {
                paused.insert(object.metadata.name.clone().unwrap_or_default());
            }
            if paused.len() == RUNNING {
                return Instant::now();
            }
        }
        panic!("the watch on PodChaos ended");
    });
    synced_rx.await.expect("the watch's initial list");
    task
}

async fn elapsed_until(task: tokio::task::JoinHandle<Instant>, since: Instant) -> Duration {
    let done = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("every experiment paused within 20 s")
        .expect("the watch task");
    done.duration_since(since)
}

/// A PodChaos against `app=web` in `ns`, as a proposal would make it.
fn pod_kill(ns: &str, name: &str, proposal: &str) -> DynamicObject {
    let spec = ChaosSpec::PodChaos(PodChaosSpec {
        action: PodChaosAction::PodKill,
        selector: PodSelector {
            namespaces: vec![ns.into()],
            label_selectors: BTreeMap::from([("app".into(), "web".into())]),
        },
        mode: SelectorMode::One,
        value: None,
        duration: Some("10m".into()),
        container_names: vec![],
    });
    let manifest = spec.to_manifest(ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(BTreeMap::from([(PROPOSAL_LABEL.into(), proposal.into())])),
        ..ObjectMeta::default()
    });
    serde_json::from_value(serde_json::to_value(manifest).unwrap()).unwrap()
}

/// The API server's answer to creating a PodChaos as `user` (a dry run, so nothing is left over).
async fn create_chaos_as(user: User, ns: &str, name: &str) -> Result<(), String> {
    let client = support::server().client(user).await;
    let params = PostParams {
        dry_run: true,
        field_manager: None,
    };
    match pod_chaos_api(&client, ns)
        .create(&params, &pod_kill(ns, name, name))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(other) => panic!("creating a PodChaos: {other}"),
    }
}

/// Waits until the halt policy refuses a new PodChaos from the operator (the API server reloads
/// a policy's parameter asynchronously); returns the refusal.
async fn operator_creation_refused(ns: &str) -> String {
    eventually(
        "the halt policy refusing a new PodChaos",
        Duration::from_secs(10),
        || async {
            create_chaos_as(User::Operator, ns, "late-chaos")
                .await
                .err()
        },
    )
    .await
}

/// Approves `name` as the approver.
async fn approve(ns: &str, name: &str) -> Result<ExperimentProposal, DecideError> {
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.into(),
            name: name.into(),
        },
        &Decision {
            state: smart_chaos::api::ApprovalState::Approved,
            reason: Some("game day".into()),
        },
    )
    .await
}

fn assert_halted_refusal(message: &str, reason: &str) {
    assert!(
        message.contains("chaos is halted") && message.contains(reason),
        "not the halt policy's refusal: {message}"
    );
}

async fn set_halt_as_gitops(admin: &Client, spec: ChaosHaltSpec) {
    let halt = ChaosHalt::new(HALT_NAME, spec);
    Api::<ChaosHalt>::all(admin.clone())
        .patch(
            HALT_NAME,
            &PatchParams::apply("gitops").force(),
            &Patch::Apply(&halt),
        )
        .await
        .expect("applying the ChaosHalt as GitOps would");
}

// The operator runs on a multi-threaded runtime, as `smart-chaos operator` does; on the test's
// default single thread its pausing would wait behind the test's own polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_pauses_twenty_runs_within_two_seconds_and_the_api_server_refuses_new_chaos() {
    let _turn = TURN.lock().await;
    let admin = setup().await;
    let ns = support::test_namespace(&admin, "halt-op").await;
    deployment(&admin, &ns, "web", 3).await;
    let operator = start_operator(&ns, "halt-op-a").await;

    // 20 approved proposals, each running its PodChaos through the operator.
    for i in 0..RUNNING {
        create_proposal(&admin, &proposal(&format!("kill-web-{i}"), &ns, "web")).await;
        approve(&ns, &format!("kill-web-{i}"))
            .await
            .expect("approving before the halt");
    }
    create_proposal(&admin, &proposal("after-halt", &ns, "web")).await;
    let proposals: Api<ExperimentProposal> = Api::namespaced(admin.clone(), &ns);
    eventually(
        "20 running experiments",
        Duration::from_secs(60),
        || async {
            let running = proposals
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Running))
                .count();
            (running == RUNNING && paused_count(&admin, &ns).await == (RUNNING, 0)).then_some(())
        },
    )
    .await;

    // GitOps sets the halt; the operator pauses every run.
    let reason = "game day aborted: checkout errors";
    let all_paused = when_all_paused(&admin, &ns).await;
    let halted_at = Instant::now();
    set_halt_as_gitops(
        &admin,
        ChaosHaltSpec {
            halted: true,
            reason: Some(reason.into()),
            namespaces: vec![ns.clone()],
            changed_by: Some("flux".into()),
        },
    )
    .await;
    let took = elapsed_until(all_paused, halted_at).await;
    eprintln!("operator paused {RUNNING} running experiments {took:?} after the halt was set");
    assert!(took < PAUSE_BUDGET, "pausing took {took:?}");

    // Each proposal says so: Paused, Inconclusive, a Paused timeline entry with the reason.
    eventually(
        "every proposal Paused by the halt",
        Duration::from_secs(10),
        || async {
            let list = proposals.list(&ListParams::default()).await.unwrap().items;
            let held = list
                .iter()
                .filter(|p| {
                    let Some(status) = p.status.as_ref() else {
                        return false;
                    };
                    status.phase == Some(RunPhase::Paused)
                        && status.verdict == Some(Verdict::Inconclusive)
                        && status.timeline.iter().any(|e| {
                            e.kind == RunEventKind::Paused
                                && e.message.as_deref().is_some_and(|m| m.contains(reason))
                        })
                })
                .count();
            (held == RUNNING).then_some(())
        },
    )
    .await;

    // The halt's status, its Event and the metrics record it.
    let halts: Api<ChaosHalt> = Api::all(admin.clone());
    let status = eventually("the halt's status", Duration::from_secs(10), || async {
        halts
            .get(HALT_NAME)
            .await
            .unwrap()
            .status
            .filter(|s| s.halted && s.paused_experiments == RUNNING as i32)
    })
    .await;
    let last = status.history.last().expect("a recorded transition");
    assert!(last.halted);
    assert_eq!(last.reason.as_deref(), Some(reason));
    assert_eq!(last.changed_by.as_deref(), Some("flux"));
    let events: Api<Event> = Api::all(admin.clone());
    let halted_event = eventually("a Halted event", Duration::from_secs(10), || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Halted")
                    && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("ChaosHalt")
                    && e.note.as_deref().is_some_and(|n| n.contains(reason))
            })
    })
    .await;
    assert_eq!(halted_event.type_.as_deref(), Some("Warning"));
    let metrics = metrics_text(operator.http_addr).await;
    assert!(metrics.contains("smart_chaos_halted 1"), "{metrics}");
    assert!(
        metrics.contains("smart_chaos_halt_transitions_total{to=\"halted\"} 1"),
        "{metrics}"
    );

    // The API server refuses new chaos from the operator and approvals, with the operator running.
    assert_halted_refusal(&operator_creation_refused(&ns).await, reason);
    match approve(&ns, "after-halt").await {
        Err(DecideError::Refused(message)) => assert_halted_refusal(&message, reason),
        other => panic!("an approval while halted was not refused: {other:?}"),
    }
    // Nobody takes a pause off while halted, admin included.
    let unpause = serde_json::json!({"metadata": {"annotations": {PAUSE_ANNOTATION: "false"}}});
    match pod_chaos_api(&admin, &ns)
        .patch(
            "kill-web-0",
            &PatchParams::default(),
            &Patch::Merge(&unpause),
        )
        .await
    {
        Err(kube::Error::Api(status)) => assert_halted_refusal(&status.message, reason),
        other => panic!("un-pausing while halted was not refused: {other:?}"),
    }

    // And with the operator stopped.
    operator.stop().await;
    assert_halted_refusal(&operator_creation_refused(&ns).await, reason);
    match approve(&ns, "after-halt").await {
        Err(DecideError::Refused(message)) => assert_halted_refusal(&message, reason),
        other => panic!("an approval while halted was not refused: {other:?}"),
    }

    // Resume (as a person, from the CLI), with an operator running again: approvals are accepted,
    // nothing paused restarts.
    let operator = start_operator(&ns, "halt-op-b").await;
    let (ok, stdout, stderr) = cli(User::Approver, &["resume"]);
    assert!(ok, "resume failed: {stdout}{stderr}");
    assert!(
        stdout.contains("paused experiments stay paused"),
        "{stdout}"
    );
    eventually(
        "an approval after the resume",
        Duration::from_secs(10),
        || async { approve(&ns, "after-halt").await.ok() },
    )
    .await;
    eventually(
        "the new approval's experiment",
        Duration::from_secs(20),
        || async {
            pod_chaos_api(&admin, &ns)
                .get_opt("after-halt")
                .await
                .unwrap()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(paused_count(&admin, &ns).await, (RUNNING + 1, RUNNING));
    let still_paused = proposals
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Paused))
        .count();
    assert_eq!(still_paused, RUNNING);
    let resumed = eventually("the resume in status", Duration::from_secs(10), || async {
        halts
            .get(HALT_NAME)
            .await
            .unwrap()
            .status
            .filter(|s| !s.halted)
    })
    .await;
    assert_eq!(resumed.history.last().map(|t| t.halted), Some(false));
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_halt_pauses_with_the_callers_rights_while_the_operator_is_down() {
    let _turn = TURN.lock().await;
    let admin = setup().await;
    let ns = support::test_namespace(&admin, "halt-cli").await;
    // Experiments an operator (now down) created from proposals, still running.
    let chaos = pod_chaos_api(&admin, &ns);
    for i in 0..RUNNING {
        let name = format!("kill-web-{i}");
        chaos
            .create(&PostParams::default(), &pod_kill(&ns, &name, &name))
            .await
            .expect("creating a running PodChaos");
    }
    create_proposal(&admin, &proposal("during-halt", &ns, "web")).await;
    assert_eq!(paused_count(&admin, &ns).await, (RUNNING, 0));

    let reason = "incident 4711";
    let all_paused = when_all_paused(&admin, &ns).await;
    let started = Instant::now();
    let (ok, stdout, stderr) = cli(
        User::Approver,
        &["halt", "--reason", reason, "--namespace", &ns],
    );
    let took = elapsed_until(all_paused, started).await;
    assert!(ok, "halt failed: {stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{RUNNING} experiments paused now")),
        "{stdout}"
    );
    eprintln!(
        "`smart-chaos halt` (process start included) paused {RUNNING} experiments in {took:?}, no operator running"
    );
    assert!(took < PAUSE_BUDGET, "pausing took {took:?}");
    let halt = Api::<ChaosHalt>::all(admin.clone())
        .get(HALT_NAME)
        .await
        .unwrap();
    assert!(halt.spec.halted);
    assert_eq!(halt.spec.changed_by.as_deref(), Some("approver"));

    // Refused by the API server with no operator anywhere.
    assert_halted_refusal(&operator_creation_refused(&ns).await, reason);
    match approve(&ns, "during-halt").await {
        Err(DecideError::Refused(message)) => assert_halted_refusal(&message, reason),
        other => panic!("an approval while halted was not refused: {other:?}"),
    }
    // A halt without a reason is refused before anything is written.
    let (ok, _, stderr) = cli(User::Approver, &["halt", "--reason", " "]);
    assert!(!ok && stderr.contains("needs a reason"), "{stderr}");

    // Resume restores approvals; the paused experiments stay paused.
    let (ok, stdout, stderr) = cli(User::Approver, &["resume"]);
    assert!(ok, "resume failed: {stdout}{stderr}");
    eventually(
        "an approval after the resume",
        Duration::from_secs(10),
        || async { approve(&ns, "during-halt").await.ok() },
    )
    .await;
    assert!(
        create_chaos_as(User::Operator, &ns, "after-resume")
            .await
            .is_ok()
    );
    assert_eq!(paused_count(&admin, &ns).await, (RUNNING, RUNNING));
}

#[tokio::test]
async fn a_halt_elsewhere_leaves_this_namespace_alone() {
    let _turn = TURN.lock().await;
    let admin = setup().await;
    let ns = support::test_namespace(&admin, "halt-other").await;
    let elsewhere = support::test_namespace(&admin, "halt-elsewhere").await;
    set_halt_as_gitops(
        &admin,
        ChaosHaltSpec {
            halted: true,
            reason: Some("only elsewhere".into()),
            namespaces: vec![elsewhere.clone()],
            changed_by: None,
        },
    )
    .await;
    // The policy sees the halt (elsewhere refused) and still admits this namespace.
    operator_creation_refused(&elsewhere).await;
    assert!(
        create_chaos_as(User::Operator, &ns, "still-fine")
            .await
            .is_ok()
    );
    set_halt_as_gitops(
        &admin,
        ChaosHaltSpec {
            halted: false,
            ..ChaosHaltSpec::default()
        },
    )
    .await;
}
