//! The result of an analysis: every stage's grounded output, the experiments that passed the
//! guardrails, what was dropped or adjusted and why, and notes about engines that failed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::AnalysisConfig;
use super::model::{
    BlastRadiusOutput, DependenciesOutput, DiscoveryOutput, ExperimentsOutput, HypothesesOutput,
    RumsfeldOutput, SteadyStateOutput,
};
use super::stages::StageId;
use crate::api::{
    AnalysisSummary, BlastRadius, ProposalHypothesis, RumsfeldCounts, SteadyStateCheck,
};
use crate::chaosmesh::{ChaosKind, ChaosSpec};
use crate::servicemap::NodeId;

/// An item grounding or the guardrails removed.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct DroppedItem {
    /// The stage whose output held it.
    pub stage: StageId,
    /// Its id (or a description when it had none).
    pub item: String,
    /// Why, in a sentence a reviewer understands.
    pub reason: String,
}

/// An item grounding or the guardrails kept after changing it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct AdjustedItem {
    /// The stage whose output held it.
    pub stage: StageId,
    /// Its id.
    pub item: String,
    /// The field changed.
    pub field: String,
    /// What changed and why.
    pub reason: String,
}

/// A stage whose engine failed, so the built-in result stands. The operator turns these into the
/// `Degraded` condition.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct StageNote {
    pub stage: StageId,
    /// The engine that failed.
    pub engine: String,
    /// What happened.
    pub message: String,
}

/// What grounding and the guardrails did, collected while the pipeline runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroundingLog {
    pub dropped: Vec<DroppedItem>,
    pub adjusted: Vec<AdjustedItem>,
    /// Warnings per experiment id (after renaming), e.g. a single-replica target.
    pub warnings: BTreeMap<String, Vec<String>>,
}

impl GroundingLog {
    /// Records a dropped item.
    pub fn drop_item(&mut self, stage: StageId, item: &str, reason: impl Into<String>) {
        self.dropped.push(DroppedItem {
            stage,
            item: item.to_string(),
            reason: reason.into(),
        });
    }

    /// Records an adjusted item.
    pub fn adjust(&mut self, stage: StageId, item: &str, field: &str, reason: impl Into<String>) {
        self.adjusted.push(AdjustedItem {
            stage,
            item: item.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        });
    }
}

/// One experiment that passed the guardrails, with everything a proposal needs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedExperiment {
    /// Deterministic object name (`<short-kind>-<target>-<hash8>`), also the experiment's id.
    pub name: String,
    /// Namespace of the target (where the proposal and the Chaos Mesh object live).
    pub namespace: String,
    /// Short title.
    pub title: String,
    /// The Chaos Mesh kind.
    pub kind: ChaosKind,
    /// The target workload.
    pub target: NodeId,
    /// The dependency disturbed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<NodeId>,
    /// The hypothesis tested.
    pub hypothesis: ProposalHypothesis,
    /// The spec, after the guardrails.
    pub spec: ChaosSpec,
    /// Steady-state checks watched while it runs (at least one).
    pub steady_state: Vec<SteadyStateCheck>,
    /// Who is affected, computed from the map.
    pub blast_radius: BlastRadius,
    /// 0 to 100.
    pub risk_score: u32,
    /// Things a reviewer should know before approving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Everything an analysis produced. Serialised as `analysis.json`; no timestamps, sorted, so
/// identical input gives identical bytes.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisResult {
    /// SHA-256 of the map's JSON form.
    pub map_hash: String,
    /// The engine asked first (the built-in rules stand in where it failed; see notes).
    pub engine: String,
    /// The limits applied.
    pub config: AnalysisConfig,
    /// Counts, as the ChaosAnalysis status shows them.
    pub summary: AnalysisSummary,
    /// Counts of the Rumsfeld matrix.
    pub rumsfeld_counts: RumsfeldCounts,
    /// Stage 1.
    pub discovery: DiscoveryOutput,
    /// Stage 2.
    pub dependencies: DependenciesOutput,
    /// Stage 3.
    pub steady_state: SteadyStateOutput,
    /// Stage 4.
    pub hypotheses: HypothesesOutput,
    /// Stage 5, after the guardrails (ids are the final names).
    pub experiments: ExperimentsOutput,
    /// Stage 6.
    pub blast_radius: BlastRadiusOutput,
    /// Stage 7.
    pub rumsfeld: RumsfeldOutput,
    /// The experiments to propose, highest risk first.
    pub planned: Vec<PlannedExperiment>,
    /// What grounding and the guardrails removed.
    pub dropped: Vec<DroppedItem>,
    /// What grounding and the guardrails changed.
    pub adjusted: Vec<AdjustedItem>,
    /// Stages where the engine failed and the built-in result stands.
    pub notes: Vec<StageNote>,
}

impl AnalysisResult {
    /// Whether some engine failed (the operator's `Degraded` condition).
    pub fn degraded(&self) -> bool {
        !self.notes.is_empty()
    }
}
