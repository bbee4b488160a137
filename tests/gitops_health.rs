//! What GitOps tools make of our objects, read from the real kube-apiserver in every phase the
//! operator writes: kstatus (sigs.k8s.io/cli-utils, what Flux's health checks use) and the Argo
//! CD Lua health checks shipped in the chart (run by gopher-lua, the interpreter Argo CD embeds),
//! both through `tests/kstatus` (built by scripts/build-kstatus.sh).
//!
//! - a Ready analysis: kstatus Current, Argo CD Healthy;
//! - an analysis whose stages are running (a model endpoint that never answers keeps them busy):
//!   InProgress, Progressing;
//! - an invalid spec: Failed, Degraded;
//! - a Pending proposal: Current (nothing to wait for), Argo CD Suspended (waits for a person).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod operator_support;
mod support;

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_llm::{FakeLlmServer, Step, WireFormat};
use kube::api::{Api, ListParams, PostParams};
use operator_support::{admin_with_operator_manifests, analysis, eventually, start_operator};
use serde::Deserialize;
use smart_chaos::api::{ANALYSIS_LABEL, AnalysisPhase, ChaosAnalysis, ExperimentProposal};

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    kind: String,
    name: String,
    kstatus: String,
    kstatus_message: String,
    argo: String,
    argo_message: String,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn health_checks() -> PathBuf {
    repo_root().join("charts/smart-chaos/files/health")
}

fn kstatus_health() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/build-kstatus.sh"))
        .output()
        .expect("running scripts/build-kstatus.sh (needs bash and Go)");
    assert!(
        out.status.success(),
        "building tests/kstatus failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

/// Runs kstatus and the Argo CD checks over `objects`, as JSON read from the API server.
fn verdicts(objects: &[serde_json::Value]) -> Vec<Verdict> {
    let mut child = Command::new(kstatus_health())
        .arg("-lua-dir")
        .arg(health_checks())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(objects).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kstatus-health failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn has_condition(object: &ChaosAnalysis, kind: &str, status: &str) -> bool {
    object.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == kind && c.status == status)
    })
}

async fn read_when(
    api: &Api<ChaosAnalysis>,
    name: &str,
    what: &str,
    wanted: impl Fn(&ChaosAnalysis) -> bool,
) -> serde_json::Value {
    let object = eventually(what, Duration::from_secs(60), || {
        let api = api.clone();
        let name = name.to_string();
        let wanted = &wanted;
        async move { api.get(&name).await.ok().filter(|o| wanted(o)) }
    })
    .await;
    serde_json::to_value(&object).unwrap()
}

#[tokio::test]
async fn kstatus_and_argo_cd_read_every_phase_correctly() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "gitops").await;
    let app = support::manifests_in_namespace(&support::examples_dir().join("demo-app"), &ns);
    support::apply_manifests(&admin, &app).await;
    // A model endpoint that never answers: the stages wait on it (then fall back to the built-in
    // results), which keeps one analysis visibly in progress.
    let model = FakeLlmServer::start(
        WireFormat::OpenAiChat,
        vec![Step::Hang(Duration::from_secs(30)); 64],
    )
    .await
    .unwrap();
    let operator = start_operator(&ns, "gitops").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    for (name, spec) in [
        ("ready", serde_json::json!({"scope": {"namespaces": [ns]}})),
        (
            "invalid",
            serde_json::json!({"scope": {"namespaces": ["no-such-namespace-gitops"]}}),
        ),
        (
            "running",
            serde_json::json!({"scope": {"namespaces": [ns]},
                "provider": {"name": "openai", "model": "m", "endpoint": model.url()}}),
        ),
    ] {
        api.create(&PostParams::default(), &analysis(&ns, name, spec))
            .await
            .unwrap();
    }

    let running = read_when(&api, "running", "the stages to be running", |o| {
        has_condition(o, "Reconciling", "True")
    })
    .await;
    let ready = read_when(&api, "ready", "a Ready analysis", |o| {
        o.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Ready)
    })
    .await;
    let invalid = read_when(&api, "invalid", "a Failed analysis", |o| {
        o.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Failed)
    })
    .await;
    let proposal = Api::<ExperimentProposal>::namespaced(admin.clone(), &ns)
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}=ready")))
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("the Ready analysis proposes experiments");
    // The same analysis once its stages have given up on the model: Ready again.
    let recovered = read_when(&api, "running", "the running analysis to finish", |o| {
        o.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Ready)
    })
    .await;
    operator.stop().await;

    let objects = [
        ready,
        running,
        invalid,
        serde_json::to_value(&proposal).unwrap(),
        recovered,
    ];
    let verdicts = verdicts(&objects);
    for v in &verdicts {
        println!(
            "{} {}: kstatus {} ({}); Argo CD {} ({})",
            v.kind, v.name, v.kstatus, v.kstatus_message, v.argo, v.argo_message
        );
    }
    let seen: Vec<(&str, &str, &str)> = verdicts
        .iter()
        .map(|v| (v.name.as_str(), v.kstatus.as_str(), v.argo.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("ready", "Current", "Healthy"),
            ("running", "InProgress", "Progressing"),
            ("invalid", "Failed", "Degraded"),
            (proposal_name(&objects[3]), "Current", "Suspended"),
            ("running", "Current", "Healthy"),
        ]
    );
    assert!(
        verdicts[2]
            .argo_message
            .contains("no-such-namespace-gitops"),
        "the Degraded message says what to fix: {}",
        verdicts[2].argo_message
    );
    assert!(
        verdicts[4].argo_message.contains("built-in results stand"),
        "a model that failed is named in the Healthy message: {}",
        verdicts[4].argo_message
    );
}

fn proposal_name(object: &serde_json::Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

/// The chart's docs carry the Argo CD snippet with each health check verbatim.
#[test]
fn the_chart_docs_carry_the_argo_cd_health_checks() {
    let docs = std::fs::read_to_string(repo_root().join("charts/smart-chaos/README.md")).unwrap();
    for (file, key) in [
        (
            "chaosanalysis.lua",
            "resource.customizations.health.chaos.smartchaos.io_ChaosAnalysis: |",
        ),
        (
            "experimentproposal.lua",
            "resource.customizations.health.chaos.smartchaos.io_ExperimentProposal: |",
        ),
    ] {
        assert!(docs.contains(key), "{key} missing from the chart's README");
        let script = std::fs::read_to_string(health_checks().join(file)).unwrap();
        let indented: String = script
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_string()
                } else {
                    format!("    {l}\n")
                }
            })
            .collect();
        assert!(
            docs.contains(&indented),
            "the README's copy of {file} differs from the file"
        );
    }
}
