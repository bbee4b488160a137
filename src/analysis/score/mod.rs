//! The resilience score, 0 to 100, per analysis and per workload: 100 minus the points lost, and
//! every point lost names its cause and the change that would win it back.
//! The formula is documented in `docs/resilience-score.md`; keep the two in step.
//!
//! - Open findings by severity lose up to [`FINDINGS_MAX`] points (critical 12, high 6, medium 3,
//!   low 1, info 0; scaled down together when their sum passes the cap). Suppressed findings are
//!   excluded and listed.
//! - Coverage loses up to [`PATHS_MAX`] points for critical paths with no experiment that ran on
//!   one of their workloads, and up to [`SPOF_MAX`] for single points of failure no experiment
//!   ran against; each uncovered item loses an equal share.
//! - Each Refuted hypothesis loses [`REFUTED_EACH`] points, at most [`REFUTED_MAX`]; a Held (or
//!   Refuted) verdict covers its target, which wins the coverage points back.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{CriticalPath, Finding, FindingKind, Severity};
use super::result::PlannedExperiment;
use crate::api::Verdict;
use crate::remediate::{RemediationSummary, manual_fix};
use crate::servicemap::{NodeId, ServiceMap};

/// Points open findings can lose together.
pub const FINDINGS_MAX: f64 = 50.0;
/// Points uncovered critical paths can lose together.
pub const PATHS_MAX: f64 = 15.0;
/// Points untested single points of failure can lose together.
pub const SPOF_MAX: f64 = 15.0;
/// Points one Refuted hypothesis loses.
pub const REFUTED_EACH: f64 = 10.0;
/// Points Refuted hypotheses can lose together.
pub const REFUTED_MAX: f64 = 20.0;

/// Points a finding of `severity` loses before the cap.
pub fn severity_weight(severity: Severity) -> f64 {
    match severity {
        Severity::Critical => 12.0,
        Severity::High => 6.0,
        Severity::Medium => 3.0,
        Severity::Low => 1.0,
        Severity::Info => 0.0,
    }
}

/// A hypothesis an experiment verified: its target and the verdict.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedHypothesis {
    pub hypothesis_id: String,
    /// The workload the experiment targeted.
    pub target: NodeId,
    /// Held or Refuted (Inconclusive verdicts count as no run).
    pub verdict: Verdict,
    /// The proposal that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
}

/// A finding the team judged irrelevant: excluded from the score, listed with its reason.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SuppressedFinding {
    pub finding_id: String,
    pub reason: String,
}

/// What the score is computed from.
#[derive(Clone, Copy, Debug)]
pub struct ScoreInput<'a> {
    pub map: &'a ServiceMap,
    pub findings: &'a [Finding],
    pub critical_paths: &'a [CriticalPath],
    /// Experiments proposed, to name the one that would cover a path.
    pub planned: &'a [PlannedExperiment],
    /// Verdicts of experiments that ran (empty offline).
    pub verified: &'a [VerifiedHypothesis],
    pub suppressed: &'a [SuppressedFinding],
    /// The remediations, to name the patch that wins a finding's points back.
    pub remediations: &'a [RemediationSummary],
}

/// What lost the points.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum LossCause {
    /// An open finding.
    Finding,
    /// A critical path no experiment ran on.
    UncoveredCriticalPath,
    /// A single point of failure no experiment ran against.
    UntestedSinglePointOfFailure,
    /// An experiment refuted its hypothesis.
    RefutedHypothesis,
}

/// Points lost to one cause, and how to win them back.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LostPoints {
    pub cause: LossCause,
    /// The finding, critical path or hypothesis id (or the node, for a single point of failure).
    pub item: String,
    /// The node it is about.
    pub subject: NodeId,
    /// Points lost, to two decimals.
    pub points: f64,
    /// Why, in one line.
    pub reason: String,
    /// The change that wins the points back.
    pub win_back: String,
}

/// Coverage counts behind the score.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScoreCoverage {
    pub critical_paths: u32,
    pub covered_critical_paths: u32,
    pub single_points_of_failure: u32,
    pub tested_single_points_of_failure: u32,
    pub held: u32,
    pub refuted: u32,
}

/// The score of one workload.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceScore {
    pub node: NodeId,
    /// 0 to 100.
    pub score: u32,
    /// Points lost, largest first.
    pub lost: Vec<LostPoints>,
}

/// The resilience score of an analysis.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResilienceScore {
    /// 0 to 100.
    pub score: u32,
    /// Points lost, largest first; they add up to 100 minus the score (before rounding).
    pub lost: Vec<LostPoints>,
    pub coverage: ScoreCoverage,
    /// Per workload, lowest score first.
    pub services: Vec<ServiceScore>,
    /// Findings excluded from the score, with their reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<SuppressedFinding>,
}

fn is_single_point_of_failure(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::SingleReplica | FindingKind::DataStoreWithoutReplicas
    )
}

fn round2(points: f64) -> f64 {
    (points * 100.0).round() / 100.0
}

fn to_score(lost: &[LostPoints]) -> u32 {
    let total: f64 = lost.iter().map(|l| l.points).sum();
    (100.0 - total).round().clamp(0.0, 100.0) as u32
}

/// Equal shares of `max` for `uncovered` of `total` items.
fn share(max: f64, total: usize) -> f64 {
    if total == 0 { 0.0 } else { max / total as f64 }
}

struct Scorer<'a> {
    input: ScoreInput<'a>,
    open: Vec<&'a Finding>,
    tested: BTreeSet<&'a NodeId>,
    /// The first remediation of each finding. A search of the list per finding was quadratic:
    /// 4 of the 10 s of a 50,000-object offline analysis.
    remediation_of: BTreeMap<&'a str, &'a RemediationSummary>,
    /// Open findings, critical paths and verified hypotheses by the node they concern, in their
    /// input order: each service's score reads its own instead of filtering every list (another
    /// 3 s of that analysis).
    findings_of: BTreeMap<&'a NodeId, Vec<&'a Finding>>,
    paths_of: BTreeMap<&'a NodeId, Vec<&'a CriticalPath>>,
    verified_of: BTreeMap<&'a NodeId, Vec<&'a VerifiedHypothesis>>,
}

/// The nodes a score covers.
#[derive(Clone, Copy)]
enum Scope<'n> {
    Everything,
    Node(&'n NodeId),
}

impl<'a> Scorer<'a> {
    fn new(input: ScoreInput<'a>) -> Self {
        let suppressed: BTreeSet<&str> = input
            .suppressed
            .iter()
            .map(|s| s.finding_id.as_str())
            .collect();
        let open: Vec<&Finding> = input
            .findings
            .iter()
            .filter(|f| !suppressed.contains(f.id.as_str()))
            .collect();
        let tested = input
            .verified
            .iter()
            .filter(|v| matches!(v.verdict, Verdict::Held | Verdict::Refuted))
            .map(|v| &v.target)
            .collect();
        let mut remediation_of = BTreeMap::new();
        for remediation in input.remediations {
            remediation_of
                .entry(remediation.finding_id.as_str())
                .or_insert(remediation);
        }
        let mut findings_of: BTreeMap<&NodeId, Vec<&Finding>> = BTreeMap::new();
        for finding in &open {
            findings_of
                .entry(&finding.subject)
                .or_default()
                .push(*finding);
        }
        let mut paths_of: BTreeMap<&NodeId, Vec<&CriticalPath>> = BTreeMap::new();
        for path in input.critical_paths {
            let nodes: BTreeSet<&NodeId> = path.nodes.iter().collect();
            for node in nodes {
                paths_of.entry(node).or_default().push(path);
            }
        }
        let mut verified_of: BTreeMap<&NodeId, Vec<&VerifiedHypothesis>> = BTreeMap::new();
        for verified in input.verified {
            verified_of
                .entry(&verified.target)
                .or_default()
                .push(verified);
        }
        Scorer {
            input,
            open,
            tested,
            remediation_of,
            findings_of,
            paths_of,
            verified_of,
        }
    }

    fn finding_win_back(&self, finding: &Finding) -> String {
        match self.remediation_of.get(finding.id.as_str()) {
            Some(r) => format!("apply {}: {}", r.files.join(", "), r.description),
            None => manual_fix(finding.kind).to_string(),
        }
    }

    fn experiment_on(&self, nodes: &[NodeId]) -> String {
        match self
            .input
            .planned
            .iter()
            .find(|e| nodes.contains(&e.target))
        {
            Some(e) => format!("approve and run proposal {} ({})", e.name, e.title),
            None => "run an approved experiment against one of its workloads".to_string(),
        }
    }

    /// The points lost by `findings` (already filtered to one scope).
    fn findings_lost(&self, findings: &[&Finding]) -> Vec<LostPoints> {
        let raw: f64 = findings.iter().map(|f| severity_weight(f.severity)).sum();
        let scale = if raw > FINDINGS_MAX {
            FINDINGS_MAX / raw
        } else {
            1.0
        };
        findings
            .iter()
            .filter(|f| severity_weight(f.severity) > 0.0)
            .map(|f| LostPoints {
                cause: LossCause::Finding,
                item: f.id.clone(),
                subject: f.subject.clone(),
                points: round2(severity_weight(f.severity) * scale),
                reason: format!("{} finding: {}", f.severity.as_str(), f.message),
                win_back: self.finding_win_back(f),
            })
            .collect()
    }

    fn paths_lost(&self, paths: &[&CriticalPath]) -> Vec<LostPoints> {
        let each = share(PATHS_MAX, paths.len());
        paths
            .iter()
            .filter(|p| !p.nodes.iter().any(|n| self.tested.contains(n)))
            .filter_map(|p| {
                Some(LostPoints {
                    cause: LossCause::UncoveredCriticalPath,
                    item: p.id.clone(),
                    subject: p.nodes.first()?.clone(),
                    points: round2(each),
                    reason: format!(
                        "no experiment ran on the critical path {}",
                        p.nodes
                            .iter()
                            .map(NodeId::as_str)
                            .collect::<Vec<_>>()
                            .join(" → ")
                    ),
                    win_back: self.experiment_on(&p.nodes),
                })
            })
            .collect()
    }

    fn spofs_lost(&self, spofs: &[&NodeId]) -> Vec<LostPoints> {
        let each = share(SPOF_MAX, spofs.len());
        spofs
            .iter()
            .filter(|n| !self.tested.contains(**n))
            .map(|node| LostPoints {
                cause: LossCause::UntestedSinglePointOfFailure,
                item: node.as_str().to_string(),
                subject: (*node).clone(),
                points: round2(each),
                reason: format!("no experiment ran against the single point of failure {node}"),
                win_back: format!(
                    "{}, or remove the single point of failure (its finding's remediation)",
                    self.experiment_on(std::slice::from_ref(*node))
                ),
            })
            .collect()
    }

    fn refuted_lost(&self, verified: &[&VerifiedHypothesis]) -> Vec<LostPoints> {
        let refuted: Vec<&&VerifiedHypothesis> = verified
            .iter()
            .filter(|v| v.verdict == Verdict::Refuted)
            .collect();
        let raw = REFUTED_EACH * refuted.len() as f64;
        let each = if raw > REFUTED_MAX {
            REFUTED_MAX / refuted.len() as f64
        } else {
            REFUTED_EACH
        };
        refuted
            .iter()
            .map(|v| LostPoints {
                cause: LossCause::RefutedHypothesis,
                item: v.hypothesis_id.clone(),
                subject: v.target.clone(),
                points: round2(each),
                reason: format!(
                    "an experiment{} refuted hypothesis {} about {}",
                    v.proposal
                        .as_deref()
                        .map(|p| format!(" (proposal {p})"))
                        .unwrap_or_default(),
                    v.hypothesis_id,
                    v.target
                ),
                win_back: format!(
                    "fix the weakness it showed in {} (see its findings' remediations) and run the experiment again until it holds",
                    v.target
                ),
            })
            .collect()
    }

    /// Points lost within `scope`.
    fn lost(&self, scope: Scope<'_>) -> Vec<LostPoints> {
        let (findings, paths, verified): (
            Vec<&Finding>,
            Vec<&CriticalPath>,
            Vec<&VerifiedHypothesis>,
        ) = match scope {
            Scope::Everything => (
                self.open.clone(),
                self.input.critical_paths.iter().collect(),
                self.input.verified.iter().collect(),
            ),
            Scope::Node(node) => (
                self.findings_of.get(node).cloned().unwrap_or_default(),
                self.paths_of.get(node).cloned().unwrap_or_default(),
                self.verified_of.get(node).cloned().unwrap_or_default(),
            ),
        };
        let spofs = self.spofs(scope);
        let mut lost = self.findings_lost(&findings);
        lost.extend(self.paths_lost(&paths));
        lost.extend(self.spofs_lost(&spofs));
        lost.extend(self.refuted_lost(&verified));
        lost.sort_by(|a, b| {
            b.points
                .total_cmp(&a.points)
                .then_with(|| a.cause.cmp(&b.cause))
                .then_with(|| a.item.cmp(&b.item))
        });
        lost
    }

    fn spofs(&self, scope: Scope<'_>) -> Vec<&'a NodeId> {
        let findings: &[&'a Finding] = match scope {
            Scope::Everything => &self.open,
            Scope::Node(node) => self.findings_of.get(node).map_or(&[], Vec::as_slice),
        };
        let spofs: BTreeSet<&NodeId> = findings
            .iter()
            .filter(|f| is_single_point_of_failure(f.kind))
            .map(|f| &f.subject)
            .collect();
        spofs.into_iter().collect()
    }
}

/// Scores an analysis and each of its workloads.
pub fn score(input: ScoreInput<'_>) -> ResilienceScore {
    let scorer = Scorer::new(input);
    let lost = scorer.lost(Scope::Everything);
    let spofs = scorer.spofs(Scope::Everything);
    let coverage = ScoreCoverage {
        critical_paths: input.critical_paths.len() as u32,
        covered_critical_paths: input
            .critical_paths
            .iter()
            .filter(|p| p.nodes.iter().any(|n| scorer.tested.contains(n)))
            .count() as u32,
        single_points_of_failure: spofs.len() as u32,
        tested_single_points_of_failure: spofs
            .iter()
            .filter(|n| scorer.tested.contains(**n))
            .count() as u32,
        held: input
            .verified
            .iter()
            .filter(|v| v.verdict == Verdict::Held)
            .count() as u32,
        refuted: input
            .verified
            .iter()
            .filter(|v| v.verdict == Verdict::Refuted)
            .count() as u32,
    };
    let mut services: Vec<ServiceScore> = input
        .map
        .nodes
        .iter()
        .filter(|n| n.workload.is_some() && !n.load_generator)
        .map(|n| {
            let lost = scorer.lost(Scope::Node(&n.id));
            ServiceScore {
                node: n.id.clone(),
                score: to_score(&lost),
                lost,
            }
        })
        .collect();
    services.sort_by(|a, b| a.score.cmp(&b.score).then_with(|| a.node.cmp(&b.node)));
    let known: BTreeSet<&str> = input.findings.iter().map(|f| f.id.as_str()).collect();
    ResilienceScore {
        score: to_score(&lost),
        lost,
        coverage,
        services,
        suppressed: input
            .suppressed
            .iter()
            .filter(|s| known.contains(s.finding_id.as_str()))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests;
