//! The operator's estimate on the real kube-apiserver: written to status before the first model
//! call (the fake model server holds its first answer back while the test reads the status),
//! and a run whose estimate is over `spec.provider.budgets` refused with an actionable condition
//! before any call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

#[path = "support/fake_llm.rs"]
mod fake_llm;
mod operator_support;
mod support;

use std::time::Duration;

use fake_llm::{FakeLlmServer, Step, WireFormat};
use kube::api::{Api, PostParams};
use operator_support::{admin_with_operator_manifests, analysis, eventually, start_operator};
use smart_chaos::api::{AnalysisPhase, ChaosAnalysis, ChaosAnalysisStatus};

const STAGES: [&str; 7] = [
    "discovery",
    "dependencies",
    "steadyState",
    "hypotheses",
    "experiments",
    "blastRadius",
    "rumsfeld",
];

async fn status_when<F>(
    api: &Api<ChaosAnalysis>,
    name: &str,
    what: &str,
    done: F,
) -> ChaosAnalysisStatus
where
    F: Fn(&ChaosAnalysisStatus) -> bool,
{
    eventually(what, Duration::from_secs(60), || {
        let api = api.clone();
        let name = name.to_string();
        let done = &done;
        async move {
            let status = api.get(&name).await.ok()?.status?;
            done(&status).then_some(status)
        }
    })
    .await
}

#[tokio::test]
async fn the_estimate_is_in_status_before_the_first_call_and_a_run_over_budget_never_starts() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "op-estimate").await;
    operator_support::deployment(&admin, &ns, "web", 3).await;
    operator_support::deployment(&admin, &ns, "api", 2).await;

    let server = FakeLlmServer::start(WireFormat::OpenAiChat, vec![])
        .await
        .unwrap();
    // The first call waits, so the test can look at the status while it is in flight.
    server.push([Step::Hang(Duration::from_millis(1500))]);
    for stage in STAGES {
        server.always_for(stage, Step::answer("{}"));
    }
    let provider = |budgets: serde_json::Value| {
        serde_json::json!({"name": "openai", "model": "gpt-4.1", "endpoint": server.url(),
                           "budgets": budgets})
    };

    let operator = start_operator(&ns, "e2e-estimate").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);

    // Over budget: refused before any call, with what to raise the budget to.
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "tight",
            serde_json::json!({"scope": {"namespaces": [ns]},
                               "provider": provider(serde_json::json!({"maxTokens": 500}))}),
        ),
    )
    .await
    .unwrap();
    let refused = status_when(&api, "tight", "the tight analysis to fail", |s| {
        s.phase == Some(AnalysisPhase::Failed)
    })
    .await;
    let ready = refused
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "OverBudget", "{ready:?}");
    assert!(
        ready.message.contains("maxTokens 500")
            && ready.message.contains("Raise maxTokens to at least"),
        "{}",
        ready.message
    );
    let estimate = refused.estimate.clone().unwrap();
    assert!(
        estimate.input_tokens + estimate.output_tokens > 500,
        "{estimate:?}"
    );
    assert!(
        refused
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );
    assert_eq!(server.request_count(), 0, "no model call for a refused run");

    // Within budget: the estimate is in status while the first call is still in flight.
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "roomy",
            serde_json::json!({"scope": {"namespaces": [ns]},
                               "provider": provider(serde_json::json!({"maxTokens": 500000}))}),
        ),
    )
    .await
    .unwrap();
    eventually("the first model call", Duration::from_secs(60), || {
        let count = server.request_count();
        async move { (count >= 1).then_some(()) }
    })
    .await;
    let in_flight = api.get("roomy").await.unwrap().status.unwrap();
    assert!(in_flight.usage.is_none(), "no run has finished yet");
    let early = in_flight
        .estimate
        .expect("the estimate before the first answer");
    assert!(
        early.input_tokens > 0 && early.output_tokens > 0,
        "{early:?}"
    );
    let done = status_when(&api, "roomy", "the roomy analysis to be Ready", |s| {
        s.phase == Some(AnalysisPhase::Ready)
    })
    .await;
    operator.stop().await;
    assert_eq!(done.estimate, Some(early));
    assert!(done.usage.unwrap().input_tokens > 0);
    assert!(server.request_count() >= STAGES.len());
}
