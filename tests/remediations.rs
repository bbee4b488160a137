//! Issue #15's must-show for remediations, on the real kube-apiserver: for every corpus app and
//! the demo app, every remediation patch applies to its object with a server-side dry run and
//! strict field validation, every new object (PodDisruptionBudget, HorizontalPodAutoscaler) is
//! accepted the same way, and the object the API server would store passes the finding's own
//! rule: analysing the manifests with it in place no longer reports the finding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams};
use smart_chaos::analysis::{AnalysisConfig, AnalysisResult, analyze_builtin};
use smart_chaos::remediate::{self, NewObject, PatchedKind};
use smart_chaos::servicemap::{self, ServiceMap};
use smart_chaos::snapshot::{ReadOptions, read_str};

fn analyse(docs: &[serde_yaml::Value]) -> (ServiceMap, AnalysisResult) {
    let mut text = String::new();
    for doc in docs {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(doc).unwrap());
    }
    let outcome = read_str(&text, Path::new("app.yaml"), &ReadOptions::default()).unwrap();
    let map = servicemap::build(&outcome.snapshot);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    (map, result)
}

fn is_object(doc: &serde_yaml::Value, kind: &str, name: &str) -> bool {
    doc["kind"].as_str() == Some(kind) && doc["metadata"]["name"].as_str() == Some(name)
}

/// A strategic-merge patch as a strict server-side dry run.
fn strict_patch_dry_run() -> PatchParams {
    PatchParams {
        dry_run: true,
        ..PatchParams::default()
    }
    .validation_strict()
}

async fn check_app(dir: PathBuf, label: &str) {
    let client = support::admin().await;
    let namespace = support::test_namespace(&client, &format!("remedy-{label}")).await;
    let docs = support::manifests_in_namespace(&dir, &namespace);
    support::apply_manifests(&client, &docs).await;
    let (map, before) = analyse(&docs);
    let plan = remediate::plan(&map, &before.dependencies.findings);
    assert!(
        !plan.remediations.is_empty(),
        "{label}: no remediation for {} findings",
        before.dependencies.findings.len()
    );
    let (mut patches, mut objects) = (0, 0);
    for remediation in &plan.remediations {
        let mut patched_docs = docs.clone();
        if let Some(patch) = &remediation.patch {
            let params = strict_patch_dry_run();
            let document = patch.document();
            let name = patch.target.name.as_str();
            let stored = match patch.target.kind {
                PatchedKind::Deployment => serde_yaml::to_value(
                    Api::<Deployment>::namespaced(client.clone(), &namespace)
                        .patch(name, &params, &Patch::Strategic(&document))
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{label}: {} refused: {e}", remediation.finding_id)
                        }),
                ),
                PatchedKind::StatefulSet => serde_yaml::to_value(
                    Api::<StatefulSet>::namespaced(client.clone(), &namespace)
                        .patch(name, &params, &Patch::Strategic(&document))
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{label}: {} refused: {e}", remediation.finding_id)
                        }),
                ),
                PatchedKind::DaemonSet => serde_yaml::to_value(
                    Api::<DaemonSet>::namespaced(client.clone(), &namespace)
                        .patch(name, &params, &Patch::Strategic(&document))
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{label}: {} refused: {e}", remediation.finding_id)
                        }),
                ),
            }
            .unwrap();
            let slot = patched_docs
                .iter_mut()
                .find(|d| is_object(d, patch.target.kind.as_str(), name))
                .unwrap_or_else(|| panic!("{label}: no manifest for {name}"));
            *slot = stored;
            patches += 1;
        }
        for object in &remediation.new_objects {
            let stored = match object {
                NewObject::PodDisruptionBudget(pdb) => {
                    let api = Api::<PodDisruptionBudget>::namespaced(client.clone(), &namespace);
                    let name = pdb.metadata.name.clone().unwrap();
                    serde_yaml::to_value(
                        support::dry_run_strict(&api, &name, pdb)
                            .await
                            .unwrap_or_else(|e| {
                                panic!("{label}: {} refused: {e}", remediation.finding_id)
                            }),
                    )
                }
                NewObject::HorizontalPodAutoscaler(hpa) => {
                    let api =
                        Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &namespace);
                    let name = hpa.metadata.name.clone().unwrap();
                    serde_yaml::to_value(
                        support::dry_run_strict(&api, &name, hpa)
                            .await
                            .unwrap_or_else(|e| {
                                panic!("{label}: {} refused: {e}", remediation.finding_id)
                            }),
                    )
                }
            }
            .unwrap();
            patched_docs.push(stored);
            objects += 1;
        }
        let (_, after) = analyse(&patched_docs);
        assert!(
            after
                .dependencies
                .findings
                .iter()
                .all(|f| f.id != remediation.finding_id),
            "{label}: {} is still reported with the stored objects of {}",
            remediation.finding_id,
            remediation.description
        );
    }
    println!(
        "{label}: {} findings, {} remediations ({patches} patches, {objects} new objects) accepted by a strict dry run and passing their rule; {} findings need other changes",
        before.dependencies.findings.len(),
        plan.remediations.len(),
        plan.not_patchable.len()
    );
}

#[tokio::test]
async fn demo_app_remediations_apply_and_pass_their_rule() {
    check_app(support::examples_dir().join("demo-app"), "demo").await;
}

#[tokio::test]
async fn online_boutique_remediations_apply_and_pass_their_rule() {
    check_app(
        support::shared_dir().join("corpus/online-boutique"),
        "boutique",
    )
    .await;
}

#[tokio::test]
async fn sock_shop_remediations_apply_and_pass_their_rule() {
    check_app(support::shared_dir().join("corpus/sock-shop"), "sockshop").await;
}

#[tokio::test]
async fn bookinfo_remediations_apply_and_pass_their_rule() {
    check_app(support::shared_dir().join("corpus/bookinfo"), "bookinfo").await;
}
