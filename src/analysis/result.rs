//! The result of an analysis: every stage's grounded output, the experiments that passed the
//! guardrails, what was dropped or adjusted and why, and notes about engines that failed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::AnalysisConfig;
use super::model::{
    BlastRadiusOutput, CriticalPath, DependenciesOutput, DependencyCycle, DiscoveryOutput,
    ExperimentsOutput, Finding, HypothesesOutput, Hypothesis, RumsfeldItem, RumsfeldOutput,
    SteadyState, SteadyStateOutput, TestCase,
};
use super::score::{ResilienceScore, ScoreInput, SuppressedFinding, VerifiedHypothesis};
use super::stages::StageId;
use crate::api::{
    AnalysisSummary, BlastRadius, Knowledge, ProposalHypothesis, RumsfeldCounts, SteadyStateCheck,
};
use crate::chaosmesh::{ChaosKind, ChaosSpec};
use crate::remediate::RemediationSummary;
use crate::servicemap::{NodeId, ServiceMap};

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
    /// Hash of the map around the target (see `analysis::memory::neighbourhood_hash`): a
    /// decision on this experiment holds while it is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbourhood: Option<String>,
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
    /// What earlier verdicts and decisions changed (see `analysis::memory`).
    #[serde(default, skip_serializing_if = "Knowledge::is_empty")]
    pub knowledge: Knowledge,
    /// Patches and new objects that fix findings (the CLI writes them to `remediations/`).
    #[serde(default)]
    pub remediations: Vec<RemediationSummary>,
    /// The resilience score (offline: no verdicts, nothing suppressed).
    #[serde(default)]
    pub score: ResilienceScore,
    /// The calls the team's architecture declares, with where each is written: what the chat
    /// assistant answers from and cites when asked about the architecture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architecture: Vec<ArchitectureCall>,
}

/// A call the team's architecture declares, as the map holds it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ArchitectureCall {
    /// Stable id (`a-<from>-<hash8>`).
    pub id: String,
    pub from: NodeId,
    pub to: NodeId,
    /// Where it is written: `file:line`, `configmap NS/NAME key K:line`, or "read by model M
    /// from image I".
    pub origins: Vec<String>,
    /// Whether the cluster's configuration or traffic shows the call too.
    pub in_cluster: bool,
}

/// One item of a result that has an id, for lookups and search (the chat assistant's index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResultItem<'r> {
    Finding(&'r Finding),
    CriticalPath(&'r CriticalPath),
    Cycle(&'r DependencyCycle),
    SteadyState(&'r SteadyState),
    Hypothesis(&'r Hypothesis),
    Experiment(&'r PlannedExperiment),
    TestCase(&'r TestCase),
    Rumsfeld(&'r RumsfeldItem),
    Architecture(&'r ArchitectureCall),
}

impl<'r> ResultItem<'r> {
    /// The item's id.
    pub fn id(&self) -> &'r str {
        match *self {
            ResultItem::Finding(f) => &f.id,
            ResultItem::CriticalPath(p) => &p.id,
            ResultItem::Cycle(c) => &c.id,
            ResultItem::SteadyState(s) => &s.id,
            ResultItem::Hypothesis(h) => &h.id,
            ResultItem::Experiment(e) => &e.name,
            ResultItem::TestCase(t) => &t.id,
            ResultItem::Rumsfeld(r) => &r.id,
            ResultItem::Architecture(a) => &a.id,
        }
    }

    /// One line describing the item.
    pub fn text(&self) -> String {
        let ids = |nodes: &[NodeId]| {
            nodes
                .iter()
                .map(NodeId::as_str)
                .collect::<Vec<_>>()
                .join(" → ")
        };
        match self {
            ResultItem::Finding(f) => format!(
                "{} finding about {}: {}",
                f.severity.as_str(),
                f.subject,
                f.message
            ),
            ResultItem::CriticalPath(p) => format!("critical path {}: {}", ids(&p.nodes), p.reason),
            ResultItem::Cycle(c) => format!("cycle {}", ids(&c.nodes)),
            ResultItem::SteadyState(s) => format!(
                "steady state {} of {}: {}",
                s.name, s.subject, s.description
            ),
            ResultItem::Hypothesis(h) => format!("hypothesis about {}: {}", h.target, h.statement),
            ResultItem::Experiment(e) => {
                format!("experiment {} on {}: {}", e.kind, e.target, e.title)
            }
            ResultItem::TestCase(t) => format!("test case for {}: {}", t.experiment_id, t.title),
            ResultItem::Rumsfeld(r) => format!("{} ({})", r.statement, ids(&r.subjects)),
            ResultItem::Architecture(a) => format!(
                "the architecture ({}) declares {} → {}{}",
                a.origins.join("; "),
                a.from,
                a.to,
                if a.in_cluster {
                    ""
                } else {
                    "; nothing in the cluster shows this call"
                }
            ),
        }
    }
}

impl AnalysisResult {
    /// Scores the result again with the verdicts of experiments that ran and the findings the
    /// team suppressed.
    pub fn rescore(
        &mut self,
        map: &ServiceMap,
        verified: &[VerifiedHypothesis],
        suppressed: &[SuppressedFinding],
    ) {
        self.score = super::score::score(ScoreInput {
            map,
            findings: &self.dependencies.findings,
            critical_paths: &self.dependencies.critical_paths,
            planned: &self.planned,
            verified,
            suppressed,
            remediations: &self.remediations,
        });
    }

    /// Whether some engine failed (the operator's `Degraded` condition).
    pub fn degraded(&self) -> bool {
        !self.notes.is_empty()
    }

    /// Every item with an id, stage by stage.
    pub fn items(&self) -> impl Iterator<Item = ResultItem<'_>> {
        let dependencies = &self.dependencies;
        dependencies
            .findings
            .iter()
            .map(ResultItem::Finding)
            .chain(
                dependencies
                    .critical_paths
                    .iter()
                    .map(ResultItem::CriticalPath),
            )
            .chain(dependencies.cycles.iter().map(ResultItem::Cycle))
            .chain(
                self.steady_state
                    .steady_states
                    .iter()
                    .map(ResultItem::SteadyState),
            )
            .chain(
                self.hypotheses
                    .hypotheses
                    .iter()
                    .map(ResultItem::Hypothesis),
            )
            .chain(self.planned.iter().map(ResultItem::Experiment))
            .chain(self.experiments.test_cases.iter().map(ResultItem::TestCase))
            .chain(
                self.rumsfeld
                    .quadrants()
                    .into_iter()
                    .flat_map(|(_, items)| items.iter().map(ResultItem::Rumsfeld)),
            )
            .chain(self.architecture.iter().map(ResultItem::Architecture))
    }

    /// The item with this id.
    pub fn find(&self, id: &str) -> Option<ResultItem<'_>> {
        self.items().find(|item| item.id() == id)
    }

    /// Items whose id or text contains every word of `query` (case-insensitive), in stage order.
    pub fn search(&self, query: &str) -> Vec<ResultItem<'_>> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Vec::new();
        }
        self.items()
            .filter(|item| {
                let haystack = format!("{} {}", item.id(), item.text()).to_lowercase();
                words.iter().all(|word| haystack.contains(word.as_str()))
            })
            .collect()
    }
}
