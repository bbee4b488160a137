//! The feedback loop on the real kube-apiserver, with the operator running as its service
//! account: an analysis, a Held verdict (written to the proposal's status as the run loop writes
//! it), re-analysis, a Rejected proposal, re-analysis, a suppressed finding, re-analysis. The
//! verified hypothesis is marked and not proposed again, the rejected proposal does not come
//! back, the suppressed finding is shown as suppressed; a change of the target's replicas brings
//! the Held experiment back for re-verification.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

#[path = "support/browser.rs"]
mod browser;
mod operator_support;
mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use operator_support::{admin_with_operator_manifests, analysis, eventually, start_operator};
use smart_chaos::api::{
    ANALYSIS_LABEL, AnalysisPhase, ApprovalState, ChaosAnalysis, ChaosAnalysisStatus, CheckSample,
    ExperimentProposal, ExperimentProposalStatus, NEIGHBOURHOOD_ANNOTATION, RevisitReason,
    RunEvent, RunEventKind, RunPhase, SuppressionSource, Verdict,
};
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use support::User;

const ANALYSIS: &str = "shop";

async fn proposals(admin: &Client, ns: &str) -> Vec<ExperimentProposal> {
    Api::<ExperimentProposal>::namespaced(admin.clone(), ns)
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}={ANALYSIS}")))
        .await
        .unwrap()
        .items
}

/// The analysis' status once `ready` accepts it.
async fn status_when(
    api: &Api<ChaosAnalysis>,
    what: &str,
    ready: impl Fn(&ChaosAnalysisStatus) -> bool,
) -> ChaosAnalysisStatus {
    eventually(what, Duration::from_secs(60), || {
        let api = api.clone();
        let ready = &ready;
        async move {
            let status = api.get(ANALYSIS).await.ok()?.status?;
            (status.phase == Some(AnalysisPhase::Ready) && ready(&status)).then_some(status)
        }
    })
    .await
}

fn same_experiment(a: &ExperimentProposal, b: &ExperimentProposal) -> bool {
    a.spec.target == b.spec.target
        && a.spec.experiment.kind == b.spec.experiment.kind
        && a.spec.hypothesis.id == b.spec.hypothesis.id
}

fn name(p: &ExperimentProposal) -> String {
    p.metadata.name.clone().unwrap()
}

async fn decide_as_approver(ns: &str, proposal: &str, state: ApprovalState, reason: &str) {
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.into(),
            name: proposal.into(),
        },
        &Decision {
            state,
            reason: Some(reason.into()),
        },
    )
    .await
    .expect("deciding as the approver");
}

/// The status the run loop writes when a run completes with its steady state held.
fn held_run(proposal: &ExperimentProposal) -> ExperimentProposalStatus {
    let now = Time(jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap());
    let event = |kind, message: &str, samples: Vec<CheckSample>| RunEvent {
        time: now.clone(),
        kind,
        message: Some(message.into()),
        samples,
    };
    let steady: Vec<CheckSample> = proposal
        .spec
        .steady_state
        .iter()
        .map(|c| CheckSample {
            check: c.name.clone(),
            value: Some(c.min_value),
            steady: true,
        })
        .collect();
    ExperimentProposalStatus {
        phase: Some(RunPhase::Completed),
        observed_generation: proposal.metadata.generation,
        chaos_resource: Some(name(proposal)),
        started_at: Some(now.clone()),
        finished_at: Some(now.clone()),
        verdict: Some(Verdict::Held),
        message: Some("every check held for the experiment's duration".into()),
        conditions: Vec::new(),
        timeline: vec![
            event(RunEventKind::Approved, "approver", Vec::new()),
            event(RunEventKind::Created, "PodChaos created", Vec::new()),
            event(RunEventKind::Injected, "Chaos Mesh injected", Vec::new()),
            event(RunEventKind::Sampled, "checks sampled", steady),
            event(RunEventKind::Completed, "ran its duration", Vec::new()),
            event(RunEventKind::Verdict, "Held", Vec::new()),
        ],
        ..ExperimentProposalStatus::default()
    }
}

/// Writes `status` to the proposal's status subresource until it stays (the operator's run loop
/// may be writing its own pre-check status at the same time).
async fn record_verdict(admin: &Client, ns: &str, proposal: &ExperimentProposal) {
    let api: Api<ExperimentProposal> = Api::namespaced(admin.clone(), ns);
    let status = held_run(proposal);
    let body = serde_json::json!({ "status": status });
    eventually(
        "the Held verdict to stay in status",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let body = body.clone();
            let proposal = name(proposal);
            async move {
                api.patch_status(&proposal, &PatchParams::default(), &Patch::Merge(&body))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let stored = api.get(&proposal).await.ok()?.status?;
                (stored.verdict == Some(Verdict::Held) && stored.phase == Some(RunPhase::Completed))
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn verdicts_decisions_and_suppressions_shape_the_next_plan() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "loop").await;
    let docs =
        support::manifests_in_namespace(&support::shared_dir().join("corpus/online-boutique"), &ns);
    support::apply_manifests(&admin, &docs).await;
    let operator = start_operator(&ns, "loop-a").await;
    let analyses: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    analyses
        .create(
            &PostParams::default(),
            &analysis(
                &ns,
                ANALYSIS,
                serde_json::json!({"scope": {"namespaces": [ns]}}),
            ),
        )
        .await
        .unwrap();

    // 1. The first plan.
    let first = status_when(&analyses, "the first analysis", |s| s.recall_hash.is_some()).await;
    assert!(
        first.knowledge.is_none(),
        "nothing is known yet: {:?}",
        first.knowledge
    );
    let planned = proposals(&admin, &ns).await;
    assert!(
        planned.len() >= 2,
        "at least two proposals: {}",
        planned.len()
    );
    assert!(
        planned
            .iter()
            .all(|p| p.annotations().contains_key(NEIGHBOURHOOD_ANNOTATION)),
        "every proposal records its target's neighbourhood"
    );
    let held = planned
        .iter()
        .find(|p| p.spec.target.contains("/Deployment/"))
        .expect("a proposal on a Deployment")
        .clone();
    let rejected = planned
        .iter()
        .find(|p| p.spec.target != held.spec.target)
        .expect("a proposal on another target")
        .clone();

    // 2. A Held verdict: the next plan knows it and does not propose it again.
    decide_as_approver(&ns, &name(&held), ApprovalState::Approved, "game day").await;
    record_verdict(&admin, &ns, &held).await;
    let second = status_when(&analyses, "the verified hypothesis in status", |s| {
        s.knowledge
            .as_ref()
            .is_some_and(|k| k.verified.iter().any(|v| v.proposal == name(&held)))
    })
    .await;
    let verified = &second.knowledge.as_ref().unwrap().verified[0];
    assert_eq!(verified.hypothesis, held.spec.hypothesis.id);
    assert!(verified.verified_at.is_some(), "verified on a date");
    assert!(
        second.rumsfeld.as_ref().unwrap().known_knowns
            > first.rumsfeld.as_ref().unwrap().known_knowns,
        "the verified hypothesis is a known known"
    );
    let after_held = proposals(&admin, &ns).await;
    assert_eq!(
        after_held
            .iter()
            .filter(|p| same_experiment(p, &held))
            .map(name)
            .collect::<Vec<_>>(),
        vec![name(&held)],
        "the verified experiment is not proposed again"
    );

    // 3. A Rejected proposal, with its reason: it does not come back.
    let reason = "payments freeze this quarter";
    decide_as_approver(&ns, &name(&rejected), ApprovalState::Rejected, reason).await;
    let third = status_when(&analyses, "the rejection remembered in status", |s| {
        s.knowledge
            .as_ref()
            .is_some_and(|k| k.rejected.iter().any(|r| r.proposal == name(&rejected)))
    })
    .await;
    let knowledge = third.knowledge.as_ref().unwrap();
    let remembered = knowledge
        .rejected
        .iter()
        .find(|r| r.proposal == name(&rejected))
        .unwrap();
    assert_eq!(remembered.reason.as_deref(), Some(reason));
    assert_eq!(remembered.rejected_by.as_deref(), Some("approver"));
    assert!(
        knowledge.verified.iter().any(|v| v.proposal == name(&held)),
        "the verified hypothesis is still known"
    );
    let after_reject = proposals(&admin, &ns).await;
    assert_eq!(
        after_reject
            .iter()
            .filter(|p| same_experiment(p, &rejected))
            .map(name)
            .collect::<Vec<_>>(),
        vec![name(&rejected)],
        "the rejected experiment is not proposed again"
    );

    // 4. Suppressed findings, by the spec and by the annotation: shown as suppressed.
    let by_spec = third.findings[0].clone();
    let by_annotation = third.findings[1].clone();
    let annotation = serde_json::json!({ by_annotation.id.clone(): "owned by the platform team" });
    let patch = serde_json::json!({
        "metadata": {"annotations": {"chaos.smartchaos.io/suppress": annotation.to_string()}},
        "spec": {"suppressions": [{"finding": by_spec.id, "reason": "accepted risk"}]},
    });
    let updated = analyses
        .patch(ANALYSIS, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let generation = updated.metadata.generation;
    let fourth = status_when(&analyses, "the suppressions in status", |s| {
        s.observed_generation == generation
            && s.knowledge
                .as_ref()
                .is_some_and(|k| k.suppressed.iter().filter(|x| x.matched).count() == 2)
    })
    .await;
    let knowledge = fourth.knowledge.as_ref().unwrap();
    let spec_entry = knowledge
        .suppressed
        .iter()
        .find(|s| s.finding == by_spec.id)
        .unwrap();
    assert_eq!(spec_entry.source, SuppressionSource::Spec);
    assert_eq!(spec_entry.reason, "accepted risk");
    assert_eq!(
        spec_entry.message.as_deref(),
        Some(by_spec.message.as_str())
    );
    let annotation_entry = knowledge
        .suppressed
        .iter()
        .find(|s| s.finding == by_annotation.id)
        .unwrap();
    assert_eq!(annotation_entry.source, SuppressionSource::Annotation);
    assert!(
        fourth
            .findings
            .iter()
            .all(|f| f.id != by_spec.id && f.id != by_annotation.id),
        "suppressed findings are not open findings"
    );
    assert!(knowledge.verified.iter().any(|v| v.proposal == name(&held)));
    assert!(
        knowledge
            .rejected
            .iter()
            .any(|r| r.proposal == name(&rejected))
    );

    // The report rebuilt from the cluster shows the verdict, the timeline, the rejection and the
    // suppressions, as Chromium renders it.
    check_rebuilt_report(&ns, &name(&held), &name(&rejected), &by_spec.id, reason);

    // 5. The target's replicas change: the Held experiment comes back for re-verification.
    let (target_ns, target_name) = {
        let mut parts = held.spec.target.split('/');
        let ns = parts.next().unwrap().to_string();
        let _kind = parts.next();
        (ns, parts.next().unwrap().to_string())
    };
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &target_ns);
    let replicas = deployments
        .get(&target_name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    deployments
        .patch(
            &target_name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas + 2}})),
        )
        .await
        .unwrap();
    let fifth = status_when(&analyses, "the Held experiment revisited", |s| {
        s.knowledge.as_ref().is_some_and(|k| {
            k.revisited
                .iter()
                .any(|r| r.previous_proposal == name(&held))
        })
    })
    .await;
    let knowledge = fifth.knowledge.as_ref().unwrap();
    let revisit = knowledge
        .revisited
        .iter()
        .find(|r| r.previous_proposal == name(&held))
        .unwrap();
    assert_eq!(revisit.reason, RevisitReason::NeighbourhoodChanged);
    assert!(knowledge.verified.iter().all(|v| v.proposal != name(&held)));
    assert!(
        knowledge
            .rejected
            .iter()
            .any(|r| r.proposal == name(&rejected)),
        "another target's rejection still stands"
    );
    let again = eventually(
        "a new Pending proposal for the re-verification",
        Duration::from_secs(30),
        || {
            let admin = admin.clone();
            let ns = ns.clone();
            let wanted = revisit.proposal.clone();
            async move {
                proposals(&admin, &ns)
                    .await
                    .into_iter()
                    .find(|p| name(p) == wanted)
            }
        },
    )
    .await;
    assert_ne!(name(&again), name(&held));
    assert!(same_experiment(&again, &held));
    assert_eq!(again.spec.approval.state, ApprovalState::Pending);
    let kept = Api::<ExperimentProposal>::namespaced(admin.clone(), &ns)
        .get(&name(&held))
        .await
        .unwrap();
    assert_eq!(
        kept.status.and_then(|s| s.verdict),
        Some(Verdict::Held),
        "the verified run's record is kept"
    );

    operator.stop().await;
}

/// Runs `smart-chaos report -n NS` as the admin user and reads the rebuilt report.html in
/// headless Chromium.
fn check_rebuilt_report(ns: &str, held: &str, rejected: &str, suppressed: &str, reason: &str) {
    let out = std::env::temp_dir().join(format!("smart-chaos-report-{ns}"));
    let _ = std::fs::remove_dir_all(&out);
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["report", "-n", ns, "--out"])
        .arg(&out)
        .env("KUBECONFIG", support::server().kubeconfig_path(User::Admin))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = out.join(ANALYSIS);
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for expected in [
        "### Verified (not proposed again)",
        &format!("### Run of {held}"),
        "verdict Held",
        "| Verdict |",
        reason,
        "### Suppressed findings",
        suppressed,
        "## Resilience score: ",
    ] {
        assert!(markdown.contains(expected), "report.md lacks {expected:?}");
    }
    assert!(
        !dir.join("proposals").exists(),
        "proposals stay in the cluster"
    );

    let browser = browser::chromium();
    let url = format!("file://{}", dir.join("report.html").display());
    let dom = browser::headless(&browser, &out.join("profile"), (1400, 1000))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(dom.contains("<svg id=\"service-map\""), "no map picture");
    assert!(
        dom.contains("<section id=\"knowledge\">"),
        "no knowledge section"
    );
    assert!(
        dom.contains(&format!("<h3 id=\"run-{held}\">")),
        "no run of {held}"
    );
    assert!(dom.contains("verdict <b>Held</b>"), "no verdict");
    assert!(dom.contains("<table class=\"timeline\">"), "no timeline");
    assert!(dom.contains("<section id=\"score\">"), "no score");
    assert!(
        dom.contains(rejected),
        "the rejected proposal is not listed"
    );
    assert!(
        dom.contains("<tr class=\"suppressed\">"),
        "no suppressed finding"
    );
    println!(
        "rebuilt report: report.md {} bytes, rendered DOM {} bytes",
        markdown.len(),
        dom.len()
    );
}
