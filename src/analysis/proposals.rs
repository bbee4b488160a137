//! From a result to objects: `ExperimentProposal` drafts (Pending) and plain Chaos Mesh manifests.
//! Pure and deterministic: the names come from the result, nothing is timestamped.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::naming::{dns_fragment, is_dns1123_label};
use super::result::{AnalysisResult, PlannedExperiment};
use crate::api::{
    ANALYSIS_LABEL, Approval, ExperimentProposal, ExperimentProposalSpec, ExperimentTemplate,
    NEIGHBOURHOOD_ANNOTATION, PROPOSAL_LABEL,
};
use crate::chaosmesh::ChaosManifest;

/// Label naming the tool that created an object.
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const MANAGED_BY: &str = "smart-chaos";

/// A label value for `name`: itself when valid, else a DNS-safe fragment of it.
fn label_value(name: &str) -> String {
    if is_dns1123_label(name) {
        name.to_string()
    } else {
        dns_fragment(name, 63)
    }
}

fn labels(analysis_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANALYSIS_LABEL.to_string(), label_value(analysis_name)),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
    ])
}

/// The proposal draft for one planned experiment, in the target's namespace.
pub fn proposal(planned: &PlannedExperiment, analysis_name: &str) -> ExperimentProposal {
    let mut proposal = ExperimentProposal::new(
        &planned.name,
        ExperimentProposalSpec {
            analysis_ref: analysis_name.to_string(),
            target: planned.target.as_str().to_string(),
            hypothesis: planned.hypothesis.clone(),
            steady_state: planned.steady_state.clone(),
            blast_radius: planned.blast_radius.clone(),
            experiment: ExperimentTemplate::from(planned.spec.clone()),
            approval: Approval::default(),
        },
    );
    proposal.metadata.namespace = Some(planned.namespace.clone());
    proposal.metadata.labels = Some(labels(analysis_name));
    proposal.metadata.annotations = planned
        .neighbourhood
        .as_ref()
        .map(|hash| BTreeMap::from([(NEIGHBOURHOOD_ANNOTATION.to_string(), hash.clone())]));
    proposal
}

/// Proposal drafts for every planned experiment, in the result's order.
pub fn build_proposals(result: &AnalysisResult, analysis_name: &str) -> Vec<ExperimentProposal> {
    result
        .planned
        .iter()
        .map(|planned| proposal(planned, analysis_name))
        .collect()
}

/// The plain Chaos Mesh object for one planned experiment (what an approval creates).
pub fn chaos_manifest(planned: &PlannedExperiment, analysis_name: &str) -> ChaosManifest {
    let mut labels = labels(analysis_name);
    labels.insert(PROPOSAL_LABEL.to_string(), planned.name.clone());
    planned.spec.to_manifest(ObjectMeta {
        name: Some(planned.name.clone()),
        namespace: Some(planned.namespace.clone()),
        labels: Some(labels),
        ..ObjectMeta::default()
    })
}

/// Chaos Mesh objects for every planned experiment, in the result's order.
pub fn build_chaos_manifests(result: &AnalysisResult, analysis_name: &str) -> Vec<ChaosManifest> {
    result
        .planned
        .iter()
        .map(|planned| chaos_manifest(planned, analysis_name))
        .collect()
}
