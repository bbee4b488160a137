//! The demo shop: every patchable finding gets a patch, the patches applied to the manifests in
//! memory remove their findings, and the score rises.

use std::path::Path;

use super::manifests::apply_plan;
use super::*;
use crate::analysis::{AnalysisConfig, AnalysisResult, analyze_builtin};
use crate::servicemap::{self, ServiceMap};
use crate::snapshot::{ReadOptions, read_str};

/// The demo shop's manifests, read at compile time (this module does no I/O, tests included).
fn demo_text() -> String {
    [
        include_str!("../../examples/demo-app/data.yaml"),
        include_str!("../../examples/demo-app/services.yaml"),
        include_str!("../../examples/demo-app/storefront.yaml"),
    ]
    .iter()
    .map(|text| format!("---\n{text}\n"))
    .collect()
}

fn analyse(text: &str) -> (ServiceMap, AnalysisResult) {
    let outcome = read_str(text, Path::new("demo.yaml"), &ReadOptions::default()).unwrap();
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    let map = servicemap::build(&outcome.snapshot);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    (map, result)
}

#[test]
fn demo_patches_remove_their_findings_and_the_score_rises() {
    let text = demo_text();
    let (map, before) = analyse(&text);
    let plan = plan(&map, &before.dependencies.findings);
    assert!(!plan.remediations.is_empty());
    // Each finding is either remediated or says why not, never both, never neither.
    assert_eq!(
        plan.remediations.len() + plan.not_patchable.len(),
        before.dependencies.findings.len()
    );
    assert_eq!(before.remediations, plan.summaries());

    let patched = apply_plan(&text, "default", &plan).unwrap();
    let (_, after) = analyse(&patched);
    for remediation in &plan.remediations {
        assert!(
            after
                .dependencies
                .findings
                .iter()
                .all(|f| f.id != remediation.finding_id),
            "{} is still reported after {}",
            remediation.finding_id,
            remediation.description
        );
    }
    // Both scores with every loss (`cargo test --lib remediate -- --nocapture`).
    println!(
        "before:\n{}\nafter {} remediations:\n{}",
        crate::report::score::text(&before.score, usize::MAX),
        plan.remediations.len(),
        crate::report::score::text(&after.score, usize::MAX)
    );
    assert!(
        after.score.score > before.score.score,
        "before {} after {}",
        before.score.score,
        after.score.score
    );
}

#[test]
fn patch_documents_carry_only_what_changes() {
    let text = demo_text();
    let (map, result) = analyse(&text);
    let plan = plan(&map, &result.dependencies.findings);
    let single = plan
        .remediations
        .iter()
        .find(|r| r.finding_kind == FindingKind::SingleReplica)
        .expect("the demo has a single-replica workload");
    let document = single.patch.as_ref().unwrap().document();
    assert_eq!(document.spec.replicas, Some(2));
    let pod = document.spec.template.unwrap().spec.unwrap();
    // Containers named by their merge key only; the zone spread added.
    assert!(
        pod.containers
            .iter()
            .all(|c| c.image.is_none() && c.readiness_probe.is_none())
    );
    assert_eq!(
        pod.topology_spread_constraints.unwrap()[0].topology_key,
        "topology.kubernetes.io/zone"
    );
    assert!(matches!(
        single.new_objects.as_slice(),
        [NewObject::PodDisruptionBudget(_)]
    ));
    let files = plan.files().unwrap();
    assert!(files.iter().all(|(path, yaml)| {
        path.starts_with("remediations/")
            && path.ends_with(".yaml")
            && !yaml.contains("selector: {}")
    }));
}
