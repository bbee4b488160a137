//! Verdicts as knowledge, decisions remembered: what earlier runs showed and what people decided
//! changes a fresh result. A Held experiment is a known known and is not proposed again; a
//! Refuted one is a finding; a Rejected one is not proposed again; suppressed findings are listed
//! as suppressed. Each of these holds while the *neighbourhood* of the target (the node itself,
//! with replicas and pod template, and who it calls and who calls it) hashes the same as when the
//! proposal was last written; a Held verdict also expires after `reverifyAfter`.
//!
//! Pure: the controller or the CLI gathers a [`Recall`]; this module compares it with the result
//! and the map and writes [`Knowledge`] into the result.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use super::index::MapIndex;
use super::model::{Finding, FindingKind, Grounds, RumsfeldItem, Severity};
use super::naming::{experiment_name, hash8, item_id};
use super::result::AnalysisResult;
use crate::api::{
    ApprovalState, ExperimentProposal, Knowledge, NEIGHBOURHOOD_ANNOTATION, RefutedHypothesis,
    RememberedRejection, RevisitReason, Revisited, RunEvent, RunPhase, RunReport, SteadyStateCheck,
    SuppressedFinding, Suppression, SuppressionSource, Verdict, VerifiedHypothesis,
};
use crate::chaosmesh::ChaosKind;
use crate::hashing::sha256_hex;
use crate::servicemap::{Node, NodeId, ServiceMap};

/// An experiment proposed before, with the decision on it and the outcome of its run.
#[derive(Clone, Debug, PartialEq)]
pub struct PastProposal {
    /// The proposal's name.
    pub name: String,
    /// Its target.
    pub target: NodeId,
    /// Its experiment's kind.
    pub kind: ChaosKind,
    /// The hypothesis' id and statement.
    pub hypothesis_id: String,
    pub statement: String,
    /// The checks that were watched.
    pub steady_state: Vec<SteadyStateCheck>,
    /// Whether an entry point's traffic reaches the target.
    pub reaches_entry_points: bool,
    /// The target's neighbourhood hash when the proposal was last written, if recorded.
    pub neighbourhood: Option<String>,
    /// Pending, Approved or Rejected.
    pub decision: ApprovalState,
    /// Who decided, and why.
    pub decided_by: Option<String>,
    pub decided_at: Option<Time>,
    pub reason: Option<String>,
    /// The verdict of its run, when one was recorded.
    pub verdict: Option<Verdict>,
    /// When the run ended (or the verdict's timeline entry).
    pub verdict_at: Option<Time>,
    /// Where its run is, and the run's last message.
    pub phase: Option<RunPhase>,
    pub message: Option<String>,
    /// The run's timeline: the evidence of the verdict.
    pub timeline: Vec<RunEvent>,
    /// Who held each check: the operator, or Chaos Mesh in a Workflow.
    pub held_by: Vec<crate::api::CheckHolding>,
}

impl PastProposal {
    /// What a proposal object says about its past.
    pub fn from_proposal(proposal: &ExperimentProposal) -> PastProposal {
        let status = proposal.status.clone().unwrap_or_default();
        let verdict_entry = status
            .timeline
            .iter()
            .rev()
            .find(|e| e.kind == crate::api::RunEventKind::Verdict)
            .map(|e| e.time.clone());
        PastProposal {
            name: proposal.metadata.name.clone().unwrap_or_default(),
            target: NodeId(proposal.spec.target.clone()),
            kind: proposal.spec.experiment.kind,
            hypothesis_id: proposal.spec.hypothesis.id.clone(),
            statement: proposal.spec.hypothesis.statement.clone(),
            steady_state: proposal.spec.steady_state.clone(),
            reaches_entry_points: !proposal.spec.blast_radius.affected_entry_points.is_empty(),
            neighbourhood: proposal
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(NEIGHBOURHOOD_ANNOTATION).cloned()),
            decision: proposal.spec.approval.state,
            decided_by: proposal.spec.approval.approved_by.clone(),
            decided_at: proposal.spec.approval.decided_at.clone(),
            reason: proposal.spec.approval.reason.clone(),
            verdict: status.verdict,
            verdict_at: verdict_entry.or(status.finished_at),
            phase: status.phase,
            message: status.message,
            timeline: status.timeline,
            held_by: status.held_by,
        }
    }

    /// What was decided or shown, if anything that changes the next plan.
    fn outcome(&self) -> Option<Outcome> {
        match (self.decision, self.verdict) {
            (ApprovalState::Rejected, _) => Some(Outcome::Rejected),
            (ApprovalState::Approved, Some(Verdict::Held)) => Some(Outcome::Held),
            (ApprovalState::Approved, Some(Verdict::Refuted)) => Some(Outcome::Refuted),
            _ => None,
        }
    }

    /// When the outcome was settled: the verdict's time, else the decision's.
    fn settled_at(&self) -> Option<Timestamp> {
        self.verdict_at
            .as_ref()
            .or(self.decided_at.as_ref())
            .map(|t| t.0)
    }

    /// Same target, same fault, same hypothesis.
    fn key(&self) -> (&str, ChaosKind, &str) {
        (self.target.as_str(), self.kind, &self.hypothesis_id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Rejected,
    Held,
    Refuted,
}

/// What we already know when an analysis runs: the proposals it made before and the findings
/// people suppressed.
#[derive(Clone, Debug, Default)]
pub struct Recall {
    pub past: Vec<PastProposal>,
    /// Suppressions, first source first: where two name one finding, the first wins.
    pub suppressions: Vec<(Suppression, SuppressionSource)>,
    /// A Held verdict older than this (milliseconds) is verified again.
    pub reverify_after_ms: Option<u64>,
    /// The time the analysis runs at.
    pub now: Option<Timestamp>,
}

/// The hash of what around `target` a verdict or a decision depends on: the node (replicas, pod
/// template's containers, probes, labels, PDB, autoscaler), its callers and what it calls.
/// `None` when the map has no such node.
pub fn neighbourhood_hash(index: &MapIndex<'_>, target: &NodeId) -> Option<String> {
    #[derive(Serialize)]
    struct Neighbourhood<'m> {
        node: &'m Node,
        callers: BTreeSet<&'m str>,
        callees: BTreeSet<&'m str>,
    }
    let i = index.get(target.as_str())?;
    let ids = |nodes: &[usize]| -> BTreeSet<&str> {
        nodes.iter().map(|&n| index.node(n).id.as_str()).collect()
    };
    let neighbourhood = Neighbourhood {
        node: index.node(i),
        callers: ids(index.callers(i)),
        callees: ids(index.successors(i)),
    };
    let bytes = serde_json::to_vec(&neighbourhood).ok()?;
    let mut hex = sha256_hex(&bytes);
    hex.truncate(16);
    Some(hex)
}

/// The day of `time`, `YYYY-MM-DD`.
pub fn day(time: &Time) -> String {
    let text = time.0.to_string();
    text.split('T').next().unwrap_or(&text).to_string()
}

/// How a past decision stands against today's map.
struct Standing<'p> {
    past: &'p PastProposal,
    outcome: Outcome,
    /// `Some(reason)` when it no longer holds and the experiment may be proposed again.
    revisit: Option<RevisitReason>,
}

/// Applies what `recall` holds to `result` (computed from `map`) and records it in
/// `result.knowledge`.
pub fn remember(result: &mut AnalysisResult, map: &ServiceMap, recall: &Recall) {
    let index = MapIndex::new(map);
    let mut knowledge = Knowledge::default();

    // The latest settled outcome per (target, fault, hypothesis).
    let mut latest: BTreeMap<(&str, ChaosKind, &str), (&PastProposal, Outcome)> = BTreeMap::new();
    for past in &recall.past {
        let Some(outcome) = past.outcome() else {
            continue;
        };
        let newer = latest.get(&past.key()).is_none_or(|(seen, _)| {
            (past.settled_at(), &past.name) > (seen.settled_at(), &seen.name)
        });
        if newer {
            latest.insert(past.key(), (past, outcome));
        }
    }
    let mut standings = Vec::new();
    for (past, outcome) in latest.into_values() {
        // A target gone from the map has nothing left to remember.
        let Some(now_hash) = neighbourhood_hash(&index, &past.target) else {
            continue;
        };
        let changed = past.neighbourhood.as_ref().is_some_and(|h| *h != now_hash);
        let expired = outcome == Outcome::Held
            && match (recall.reverify_after_ms, past.settled_at(), recall.now) {
                (Some(ms), Some(at), Some(now)) => {
                    let due = at
                        .as_millisecond()
                        .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
                    now.as_millisecond() >= due
                }
                _ => false,
            };
        let revisit = if changed {
            Some(RevisitReason::NeighbourhoodChanged)
        } else if expired {
            Some(RevisitReason::VerdictExpired)
        } else {
            None
        };
        standings.push(Standing {
            past,
            outcome,
            revisit,
        });
    }

    for standing in &standings {
        let past = standing.past;
        match (standing.outcome, standing.revisit) {
            (Outcome::Held, None) => knowledge.verified.push(VerifiedHypothesis {
                hypothesis: past.hypothesis_id.clone(),
                statement: past.statement.clone(),
                target: past.target.to_string(),
                kind: past.kind,
                proposal: past.name.clone(),
                verified_at: past.verdict_at.clone(),
            }),
            (Outcome::Rejected, None) => knowledge.rejected.push(RememberedRejection {
                proposal: past.name.clone(),
                target: past.target.to_string(),
                kind: past.kind,
                rejected_by: past.decided_by.clone(),
                reason: past.reason.clone(),
            }),
            (Outcome::Refuted, _) => {
                let finding = refuted_finding(&index, past);
                knowledge.refuted.push(RefutedHypothesis {
                    finding: finding.id.clone(),
                    hypothesis: past.hypothesis_id.clone(),
                    target: past.target.to_string(),
                    proposal: past.name.clone(),
                    severity: finding.severity.as_str().to_string(),
                    broken_checks: broken_checks(past),
                    refuted_at: past.verdict_at.clone(),
                });
                if !result
                    .dependencies
                    .findings
                    .iter()
                    .any(|f| f.id == finding.id)
                {
                    result.dependencies.findings.push(finding);
                }
            }
            _ => {}
        }
    }

    knowledge.runs = recall
        .past
        .iter()
        .filter(|p| p.decision == ApprovalState::Approved)
        .map(|p| RunReport {
            proposal: p.name.clone(),
            target: p.target.to_string(),
            kind: p.kind,
            hypothesis: p.statement.clone(),
            approved_by: p.decided_by.clone(),
            approved_at: p.decided_at.clone(),
            phase: p.phase,
            verdict: p.verdict,
            message: p.message.clone(),
            timeline: p.timeline.clone(),
            held_by: p.held_by.clone(),
        })
        .collect();
    knowledge.runs.sort_by(|a, b| a.proposal.cmp(&b.proposal));

    replan(result, &index, &standings, &recall.past, &mut knowledge);
    learn_rumsfeld(result, &knowledge);
    suppress(result, &recall.suppressions, &mut knowledge);

    result.summary.findings = result.dependencies.findings.len() as i64;
    result.summary.proposals = result.planned.len() as i64;
    result.knowledge = knowledge;
}

/// Drops the experiments a standing decision covers, renames the ones proposed again so that a
/// new proposal is made beside the decided one, and records both.
fn replan(
    result: &mut AnalysisResult,
    index: &MapIndex<'_>,
    standings: &[Standing<'_>],
    past: &[PastProposal],
    knowledge: &mut Knowledge,
) {
    let decided_names: BTreeSet<&str> = past
        .iter()
        .filter(|p| p.decision != ApprovalState::Pending)
        .map(|p| p.name.as_str())
        .collect();
    let covers = |standing: &Standing<'_>, name: &str, key: (&str, ChaosKind, &str)| {
        standing.past.name == name || standing.past.key() == key
    };
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for planned in &result.planned {
        let key = (
            planned.target.as_str(),
            planned.kind,
            planned.hypothesis.id.as_str(),
        );
        let Some(standing) = standings.iter().find(|s| covers(s, &planned.name, key)) else {
            continue;
        };
        match standing.revisit {
            None => {
                dropped.insert(planned.name.clone());
            }
            Some(reason) => {
                let mut name = planned.name.clone();
                if decided_names.contains(name.as_str()) {
                    let target_name = index
                        .node_by_id(planned.target.as_str())
                        .map(|n| n.name.clone())
                        .unwrap_or_default();
                    let now_hash = neighbourhood_hash(index, &planned.target).unwrap_or_default();
                    name = experiment_name(
                        planned.kind,
                        &target_name,
                        &hash8(&[&planned.name, &now_hash]),
                    );
                    renamed.insert(planned.name.clone(), name.clone());
                }
                knowledge.revisited.push(Revisited {
                    previous_proposal: standing.past.name.clone(),
                    proposal: name,
                    target: planned.target.to_string(),
                    reason,
                });
            }
        }
    }
    result.planned.retain(|p| !dropped.contains(&p.name));
    result
        .experiments
        .experiments
        .retain(|e| !dropped.contains(&e.id));
    result
        .blast_radius
        .experiments
        .retain(|b| !dropped.contains(&b.experiment_id));
    for (old, new) in &renamed {
        for planned in result.planned.iter_mut().filter(|p| &p.name == old) {
            planned.name = new.clone();
        }
        for design in result
            .experiments
            .experiments
            .iter_mut()
            .filter(|e| &e.id == old)
        {
            design.id = new.clone();
        }
        for blast in result
            .blast_radius
            .experiments
            .iter_mut()
            .filter(|b| &b.experiment_id == old)
        {
            blast.experiment_id = new.clone();
        }
    }
}

/// Verified and refuted hypotheses are known knowns; a verified one is no longer an untested
/// question.
fn learn_rumsfeld(result: &mut AnalysisResult, knowledge: &Knowledge) {
    let rumsfeld = &mut result.rumsfeld;
    let verified: BTreeSet<&str> = knowledge
        .verified
        .iter()
        .map(|v| v.hypothesis.as_str())
        .collect();
    for item in &mut rumsfeld.known_unknowns {
        if let Grounds::Hypotheses { hypothesis_ids } = &mut item.grounds {
            hypothesis_ids.retain(|id| !verified.contains(id.as_str()));
        }
    }
    rumsfeld.known_unknowns.retain(
        |item| !matches!(&item.grounds, Grounds::Hypotheses { hypothesis_ids } if hypothesis_ids.is_empty()),
    );
    for v in &knowledge.verified {
        let when = v.verified_at.as_ref().map(day).unwrap_or_default();
        rumsfeld.known_knowns.push(RumsfeldItem {
            id: item_id("verified", &v.hypothesis, &[&v.proposal]),
            statement: format!(
                "Verified on {when} by proposal {}: {}",
                v.proposal, v.statement
            ),
            subjects: vec![NodeId(v.target.clone())],
            grounds: Grounds::Hypotheses {
                hypothesis_ids: vec![v.hypothesis.clone()],
            },
        });
    }
    for r in &knowledge.refuted {
        let when = r.refuted_at.as_ref().map(day).unwrap_or_default();
        rumsfeld.known_knowns.push(RumsfeldItem {
            id: item_id("refuted", &r.hypothesis, &[&r.proposal]),
            statement: format!(
                "Refuted on {when} by proposal {}: hypothesis {} does not hold",
                r.proposal, r.hypothesis
            ),
            subjects: vec![NodeId(r.target.clone())],
            grounds: Grounds::Findings {
                finding_ids: vec![r.finding.clone()],
            },
        });
    }
    result.rumsfeld_counts.known_knowns = rumsfeld.known_knowns.len() as i64;
    result.rumsfeld_counts.known_unknowns = rumsfeld.known_unknowns.len() as i64;
}

/// Moves suppressed findings out of the open ones into `knowledge.suppressed`; a suppression
/// that matches nothing is listed too.
fn suppress(
    result: &mut AnalysisResult,
    suppressions: &[(Suppression, SuppressionSource)],
    knowledge: &mut Knowledge,
) {
    let mut seen = BTreeSet::new();
    for (suppression, source) in suppressions {
        if !seen.insert(suppression.finding.as_str()) {
            continue;
        }
        let found = result
            .dependencies
            .findings
            .iter()
            .position(|f| f.id == suppression.finding);
        let finding = found.map(|i| result.dependencies.findings.remove(i));
        knowledge.suppressed.push(SuppressedFinding {
            finding: suppression.finding.clone(),
            reason: suppression.reason.clone(),
            source: *source,
            matched: finding.is_some(),
            severity: finding.as_ref().map(|f| f.severity.as_str().to_string()),
            subject: finding.as_ref().map(|f| f.subject.to_string()),
            message: finding.map(|f| f.message),
        });
    }
}

/// The worst value each broken check showed during the run, by check name.
fn worst_broken(past: &PastProposal) -> BTreeMap<&str, Option<i64>> {
    let mut worst: BTreeMap<&str, Option<i64>> = BTreeMap::new();
    for sample in past.timeline.iter().flat_map(|e| &e.samples) {
        if sample.steady {
            continue;
        }
        let entry = worst.entry(sample.check.as_str()).or_insert(sample.value);
        if let (Some(seen), Some(value)) = (*entry, sample.value) {
            *entry = Some(seen.min(value));
        } else if entry.is_none() {
            *entry = sample.value;
        }
    }
    worst
}

/// The broken checks as a person reads them: `name: 0 (steady ≥ 2)`.
fn broken_checks(past: &PastProposal) -> Vec<String> {
    worst_broken(past)
        .into_iter()
        .map(|(check, value)| {
            let floor = past
                .steady_state
                .iter()
                .find(|c| c.name == check)
                .map(|c| format!(" (steady ≥ {})", c.min_value))
                .unwrap_or_default();
            match value {
                Some(v) => format!("{check}: {v}{floor}"),
                None => format!("{check}: no answer{floor}"),
            }
        })
        .collect()
}

/// The severity of what a refuting run showed: a check that fell to zero is an outage; traffic
/// from an entry point raises it one step. Without recorded samples, medium.
fn observed_severity(past: &PastProposal) -> Severity {
    let worst = worst_broken(past);
    if worst.is_empty() {
        return Severity::Medium;
    }
    let outage = worst.values().any(|v| v.is_some_and(|v| v <= 0));
    match (outage, past.reaches_entry_points) {
        (true, true) => Severity::Critical,
        (true, false) | (false, true) => Severity::High,
        (false, false) => Severity::Medium,
    }
}

/// The finding a refuted hypothesis becomes. Its id is stable per proposal, so remediations and
/// suppressions can name it.
fn refuted_finding(index: &MapIndex<'_>, past: &PastProposal) -> Finding {
    let target_name = index
        .node_by_id(past.target.as_str())
        .map(|n| n.name.clone())
        .unwrap_or_default();
    let when = past.verdict_at.as_ref().map(day).unwrap_or_default();
    let broken = broken_checks(past);
    let mut message = format!(
        "Refuted on {when} by proposal {}: {}",
        past.name, past.statement
    );
    if !broken.is_empty() {
        message.push_str(&format!("; broke: {}", broken.join(", ")));
    }
    Finding {
        id: item_id(
            FindingKind::RefutedHypothesis.slug(),
            &target_name,
            &[&past.name],
        ),
        kind: FindingKind::RefutedHypothesis,
        severity: observed_severity(past),
        subject: past.target.clone(),
        message,
        related: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::proposals::proposal;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};
    use crate::api::{Approval, CheckSample, ExperimentProposalStatus, RunEventKind};

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap())
    }

    fn fresh(map: &ServiceMap) -> AnalysisResult {
        analyze_builtin(map, &AnalysisConfig::default()).unwrap()
    }

    /// The past of `result.planned[i]` after a decision (and a verdict, for Approved).
    fn decided(
        result: &AnalysisResult,
        i: usize,
        state: ApprovalState,
        verdict: Option<Verdict>,
        samples: Vec<CheckSample>,
    ) -> PastProposal {
        let mut p = proposal(&result.planned[i], "shop");
        p.spec.approval = Approval {
            state,
            approved_by: Some("alice".into()),
            decided_at: Some(at(1_700_000_000)),
            reason: Some("not during the sale".into()),
        };
        p.status = verdict.map(|verdict| ExperimentProposalStatus {
            phase: Some(RunPhase::Completed),
            verdict: Some(verdict),
            timeline: vec![
                RunEvent {
                    time: at(1_700_000_100),
                    kind: RunEventKind::Sampled,
                    message: None,
                    samples,
                },
                RunEvent {
                    time: at(1_700_000_200),
                    kind: RunEventKind::Verdict,
                    message: None,
                    samples: Vec::new(),
                },
            ],
            ..ExperimentProposalStatus::default()
        });
        PastProposal::from_proposal(&p)
    }

    fn recall(past: Vec<PastProposal>) -> Recall {
        Recall {
            past,
            ..Recall::default()
        }
    }

    fn with_replicas(map: &ServiceMap, target: &NodeId, replicas: i32) -> ServiceMap {
        let mut map = map.clone();
        for node in map.nodes.iter_mut().filter(|n| &n.id == target) {
            if let Some(w) = node.workload.as_mut() {
                w.replicas = Some(replicas);
            }
        }
        map
    }

    #[test]
    fn a_held_experiment_is_a_known_known_and_is_not_proposed_again() {
        let map = fixtures::boutique();
        let first = fresh(&map);
        let held = decided(
            &first,
            0,
            ApprovalState::Approved,
            Some(Verdict::Held),
            vec![],
        );
        let mut second = fresh(&map);
        remember(&mut second, &map, &recall(vec![held.clone()]));
        assert!(second.planned.iter().all(|p| p.name != held.name));
        assert_eq!(second.planned.len(), first.planned.len() - 1);
        assert_eq!(second.summary.proposals, second.planned.len() as i64);
        assert!(
            second
                .experiments
                .experiments
                .iter()
                .all(|e| e.id != held.name)
        );
        assert_eq!(second.knowledge.verified.len(), 1);
        assert_eq!(second.knowledge.verified[0].proposal, held.name);
        let run = &second.knowledge.runs[0];
        assert_eq!(run.proposal, held.name);
        assert_eq!(run.approved_by.as_deref(), Some("alice"));
        assert_eq!(run.verdict, Some(Verdict::Held));
        assert_eq!(run.timeline.len(), 2);
        assert!(
            second.knowledge.bounded(20).runs.is_empty(),
            "status keeps no timelines"
        );
        let known = second
            .rumsfeld
            .known_knowns
            .iter()
            .find(|k| {
                k.statement
                    .starts_with("Verified on 2023-11-14 by proposal")
            })
            .expect("a known known for the verified hypothesis");
        assert!(known.statement.contains(&held.name));
        assert!(second.rumsfeld.known_unknowns.iter().all(|item| !matches!(
            &item.grounds,
            Grounds::Hypotheses { hypothesis_ids } if hypothesis_ids.contains(&held.hypothesis_id)
        )));
    }

    #[test]
    fn fewer_replicas_bring_a_held_experiment_back_under_a_new_name() {
        let map = fixtures::boutique();
        let first = fresh(&map);
        let index = MapIndex::new(&map);
        let replicas = |p: &super::super::result::PlannedExperiment| {
            index
                .node_by_id(p.target.as_str())
                .and_then(|n| n.workload.as_ref())
                .and_then(|w| w.replicas)
                .unwrap_or(0)
        };
        let i = first
            .planned
            .iter()
            .position(|p| replicas(p) >= 2)
            .expect("an experiment on a replicated workload");
        let held = decided(
            &first,
            i,
            ApprovalState::Approved,
            Some(Verdict::Held),
            vec![],
        );
        let changed = with_replicas(&map, &held.target, replicas(&first.planned[i]) - 1);
        let mut second = fresh(&changed);
        remember(&mut second, &changed, &recall(vec![held.clone()]));
        assert!(second.knowledge.verified.is_empty());
        assert_eq!(second.knowledge.revisited.len(), 1);
        let revisited = &second.knowledge.revisited[0];
        assert_eq!(revisited.reason, RevisitReason::NeighbourhoodChanged);
        assert_eq!(revisited.previous_proposal, held.name);
        assert_ne!(
            revisited.proposal, held.name,
            "a decided name is never reused"
        );
        assert!(second.planned.iter().any(|p| p.name == revisited.proposal));
    }

    #[test]
    fn an_old_verdict_is_verified_again() {
        let map = fixtures::boutique();
        let first = fresh(&map);
        let held = decided(
            &first,
            0,
            ApprovalState::Approved,
            Some(Verdict::Held),
            vec![],
        );
        let mut second = fresh(&map);
        let recall = Recall {
            past: vec![held.clone()],
            reverify_after_ms: Some(3_600_000),
            now: Some(Timestamp::from_second(1_700_000_200 + 3_601).unwrap()),
            ..Recall::default()
        };
        remember(&mut second, &map, &recall);
        assert_eq!(
            second.knowledge.revisited[0].reason,
            RevisitReason::VerdictExpired
        );
        // Within the limit it still stands.
        let mut third = fresh(&map);
        let recall = Recall {
            now: Some(Timestamp::from_second(1_700_000_200 + 3_599).unwrap()),
            ..recall
        };
        remember(&mut third, &map, &recall);
        assert_eq!(third.knowledge.verified.len(), 1);
    }

    #[test]
    fn a_rejected_proposal_stays_rejected_while_its_neighbourhood_is_unchanged() {
        let map = fixtures::boutique();
        let first = fresh(&map);
        let rejected = decided(&first, 1, ApprovalState::Rejected, None, vec![]);
        let mut second = fresh(&map);
        remember(&mut second, &map, &recall(vec![rejected.clone()]));
        assert!(second.planned.iter().all(|p| p.name != rejected.name));
        let remembered = &second.knowledge.rejected[0];
        assert_eq!(remembered.reason.as_deref(), Some("not during the sale"));
        assert_eq!(remembered.rejected_by.as_deref(), Some("alice"));

        let changed = with_replicas(&map, &rejected.target, 5);
        let mut third = fresh(&changed);
        remember(&mut third, &changed, &recall(vec![rejected]));
        assert!(third.knowledge.rejected.is_empty());
        assert_eq!(third.knowledge.revisited.len(), 1);
    }

    #[test]
    fn a_refuted_hypothesis_is_a_finding_whose_severity_is_the_observed_impact() {
        let map = fixtures::boutique();
        let first = fresh(&map);
        let i = first
            .planned
            .iter()
            .position(|p| !p.blast_radius.affected_entry_points.is_empty())
            .expect("an experiment an entry point's traffic reaches");
        let check = first.planned[i].steady_state[0].name.clone();
        let broken = |value| CheckSample {
            check: check.clone(),
            value: Some(value),
            steady: false,
        };
        let outage = decided(
            &first,
            i,
            ApprovalState::Approved,
            Some(Verdict::Refuted),
            vec![broken(1), broken(0)],
        );
        let mut second = fresh(&map);
        remember(&mut second, &map, &recall(vec![outage.clone()]));
        let refuted = &second.knowledge.refuted[0];
        assert_eq!(refuted.severity, "critical");
        assert_eq!(refuted.proposal, outage.name);
        assert!(refuted.broken_checks[0].starts_with(&format!("{check}: 0")));
        let finding = second
            .dependencies
            .findings
            .iter()
            .find(|f| f.id == refuted.finding)
            .expect("the refuted hypothesis is a finding");
        assert_eq!(finding.kind, FindingKind::RefutedHypothesis);
        assert!(finding.message.contains("Refuted on 2023-11-14"));
        assert!(second.planned.iter().all(|p| p.name != outage.name));

        let degraded = decided(
            &first,
            i,
            ApprovalState::Approved,
            Some(Verdict::Refuted),
            vec![broken(1)],
        );
        let mut third = fresh(&map);
        remember(&mut third, &map, &recall(vec![degraded]));
        assert_eq!(third.knowledge.refuted[0].severity, "high");
    }

    #[test]
    fn suppressed_findings_are_listed_as_suppressed_never_dropped() {
        let map = fixtures::boutique();
        let mut result = fresh(&map);
        let open = result.dependencies.findings.len();
        let target = result.dependencies.findings[0].clone();
        let suppression = |finding: &str, reason: &str| Suppression {
            finding: finding.into(),
            reason: reason.into(),
        };
        let recall = Recall {
            suppressions: vec![
                (
                    suppression(&target.id, "accepted risk"),
                    SuppressionSource::Spec,
                ),
                (
                    suppression(&target.id, "from the annotation"),
                    SuppressionSource::Annotation,
                ),
                (suppression("gone-1234", "fixed"), SuppressionSource::File),
            ],
            ..Recall::default()
        };
        remember(&mut result, &map, &recall);
        assert_eq!(result.dependencies.findings.len(), open - 1);
        assert_eq!(result.summary.findings, (open - 1) as i64);
        let suppressed = &result.knowledge.suppressed;
        assert_eq!(suppressed.len(), 2);
        assert_eq!(suppressed[0].finding, target.id);
        assert_eq!(suppressed[0].reason, "accepted risk");
        assert_eq!(suppressed[0].source, SuppressionSource::Spec);
        assert!(suppressed[0].matched);
        assert_eq!(
            suppressed[0].message.as_deref(),
            Some(target.message.as_str())
        );
        assert!(!suppressed[1].matched);
    }

    #[test]
    fn the_neighbourhood_changes_with_replicas_and_callers_not_with_strangers() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let cart = NodeId("shop/Deployment/cartservice".into());
        let before = neighbourhood_hash(&index, &cart).unwrap();

        let fewer = with_replicas(&map, &cart, 1);
        assert_ne!(
            neighbourhood_hash(&MapIndex::new(&fewer), &cart).unwrap(),
            before
        );

        let stranger = with_replicas(&map, &NodeId("shop/Deployment/paymentservice".into()), 9);
        assert_eq!(
            neighbourhood_hash(&MapIndex::new(&stranger), &cart).unwrap(),
            before
        );

        let mut called = map.clone();
        let caller = called
            .nodes
            .iter()
            .find(|n| n.name == "paymentservice")
            .unwrap()
            .clone();
        let cart_service = called
            .nodes
            .iter()
            .find(|n| n.kind == crate::servicemap::NodeKind::Service && n.name == "cartservice")
            .unwrap()
            .clone();
        called.edges.push(fixtures::env_edge(
            &caller,
            &cart_service,
            "CART_SERVICE_ADDR",
            "cartservice:7070",
            Some(7070),
        ));
        assert_ne!(
            neighbourhood_hash(&MapIndex::new(&called), &cart).unwrap(),
            before
        );
        assert_eq!(
            neighbourhood_hash(&index, &NodeId("shop/Deployment/nope".into())),
            None
        );
    }
}
