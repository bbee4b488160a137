//! The report's sections as typed models, computed once from the map and the result and rendered
//! by both formats ([`super::markdown`], [`super::html`]): what is listed, what is cut to
//! [`super::MAX_LISTED`], how a check or a ground is described and which experiment's blast
//! radius and test case go together are decided here, so the two reports cannot disagree. The
//! models hold cluster text as it is; each format escapes it where it lands.

use crate::analysis::{
    AdjustedItem, AnalysisResult, CriticalPath, DroppedItem, ExperimentBlastRadius, FanDegree,
    Finding, Grounds, Probe, RumsfeldItem, StageNote, TestCase,
};
use crate::api::{AnalysisSummary, SteadyStateCheck};
use crate::servicemap::{CallEnd, NodeId, ServiceMap, UnmatchedName};

use super::{describe_spec, listed};
use crate::serde_name::serde_name;

/// Which end of a call an unmatched name was, for the reports.
pub fn unmatched_end(end: CallEnd) -> &'static str {
    match end {
        CallEnd::Caller => "caller",
        CallEnd::Callee => "callee",
    }
}

/// A list cut to [`MAX_LISTED`] items, and how many were left out.
pub struct Listed<'a, T> {
    pub shown: &'a [T],
    pub more: usize,
}

impl<'a, T> Listed<'a, T> {
    pub fn of(items: &'a [T]) -> Self {
        let (shown, more) = listed(items);
        Listed { shown, more }
    }
}

/// Every section of a report, in the order both formats show them.
pub struct Sections<'a> {
    pub header: Header<'a>,
    pub discovery: Discovery<'a>,
    pub dependencies: Dependencies<'a>,
    pub steady_states: Vec<SteadyStateRow<'a>>,
    pub hypotheses: Vec<HypothesisRow<'a>>,
    pub experiments: Vec<ExperimentCard<'a>>,
    pub rumsfeld: Vec<Quadrant<'a>>,
    pub guardrails: Guardrails<'a>,
}

impl<'a> Sections<'a> {
    pub fn of(map: &'a ServiceMap, result: &'a AnalysisResult) -> Self {
        Sections {
            header: Header::of(map, result),
            discovery: Discovery::of(map, result),
            dependencies: Dependencies::of(result),
            steady_states: steady_states(result),
            hypotheses: hypotheses(result),
            experiments: experiments(result),
            rumsfeld: rumsfeld(result),
            guardrails: Guardrails::of(result),
        }
    }
}

/// The title block: which map and engine, the counts, and the stages that fell back.
pub struct Header<'a> {
    /// The map hash's first 12 characters.
    pub map_hash: &'a str,
    pub engine: &'a str,
    pub summary: &'a AnalysisSummary,
    pub map_nodes: usize,
    pub notes: &'a [StageNote],
}

impl<'a> Header<'a> {
    fn of(map: &'a ServiceMap, result: &'a AnalysisResult) -> Self {
        let hash = &result.map_hash;
        Header {
            map_hash: hash.get(..hash.len().min(12)).unwrap_or(hash),
            engine: &result.engine,
            summary: &result.summary,
            map_nodes: map.nodes.len(),
            notes: &result.notes,
        }
    }
}

pub struct Discovery<'a> {
    pub summary: &'a str,
    pub entry_points: Vec<EntryPointRow<'a>>,
    pub tiers: Vec<TierRow<'a>>,
    pub data_stores: Vec<DataStoreRow<'a>>,
    pub external_dependencies: Vec<CalledRow<'a>>,
    pub unresolved_references: Vec<CalledRow<'a>>,
    /// Names in telemetry that match nothing in the map.
    pub unmatched: &'a [UnmatchedName],
}

pub struct EntryPointRow<'a> {
    pub id: &'a NodeId,
    pub kind: &'static str,
    pub found_by: Option<String>,
    pub urls: &'a [String],
    pub serves: Listed<'a, NodeId>,
}

pub struct TierRow<'a> {
    pub name: String,
    pub size: usize,
    pub members: Listed<'a, NodeId>,
}

pub struct DataStoreRow<'a> {
    pub id: &'a NodeId,
    pub kind: String,
    pub replicas: Option<i32>,
    pub persistent: bool,
    pub callers: Listed<'a, NodeId>,
}

/// A node outside the map (an external host, a missing Service) and who calls it.
pub struct CalledRow<'a> {
    pub name: &'a str,
    pub callers: Listed<'a, NodeId>,
}

impl<'a> Discovery<'a> {
    fn of(map: &'a ServiceMap, result: &'a AnalysisResult) -> Self {
        let d = &result.discovery;
        Discovery {
            summary: &d.summary,
            entry_points: d
                .entry_points
                .iter()
                .map(|entry| EntryPointRow {
                    id: &entry.id,
                    kind: entry.kind.as_str(),
                    found_by: entry.found_by.as_ref().map(ToString::to_string),
                    urls: &entry.urls,
                    serves: Listed::of(&entry.serves),
                })
                .collect(),
            tiers: d
                .tiers
                .iter()
                .map(|tier| TierRow {
                    name: serde_name(&tier.name).to_string(),
                    size: tier.members.len(),
                    members: Listed::of(&tier.members),
                })
                .collect(),
            data_stores: d
                .data_stores
                .iter()
                .map(|store| DataStoreRow {
                    id: &store.id,
                    kind: serde_name(&store.kind).to_string(),
                    replicas: store.replicas,
                    persistent: store.persistent,
                    callers: Listed::of(&store.callers),
                })
                .collect(),
            external_dependencies: d
                .external_dependencies
                .iter()
                .map(|external| CalledRow {
                    name: &external.host,
                    callers: Listed::of(&external.callers),
                })
                .collect(),
            unresolved_references: d
                .unresolved_references
                .iter()
                .map(|reference| CalledRow {
                    name: reference.id.as_str(),
                    callers: Listed::of(&reference.callers),
                })
                .collect(),
            unmatched: &map.unmatched,
        }
    }
}

pub struct Dependencies<'a> {
    pub total_findings: usize,
    pub findings: Listed<'a, Finding>,
    pub critical_paths: &'a [CriticalPath],
    pub fan: &'a [FanDegree],
    pub cycles: Vec<Listed<'a, NodeId>>,
}

impl<'a> Dependencies<'a> {
    fn of(result: &'a AnalysisResult) -> Self {
        let dep = &result.dependencies;
        Dependencies {
            total_findings: dep.findings.len(),
            findings: Listed::of(&dep.findings),
            critical_paths: &dep.critical_paths,
            fan: &dep.fan,
            cycles: dep.cycles.iter().map(|c| Listed::of(&c.nodes)).collect(),
        }
    }
}

/// How a steady state is checked: `label` then the thing checked (shown as code).
pub struct CheckText<'a> {
    pub label: &'static str,
    pub subject: &'a str,
}

pub struct SteadyStateRow<'a> {
    pub id: &'a str,
    pub priority: u32,
    pub name: &'a str,
    pub description: &'a str,
    pub check: CheckText<'a>,
    pub min_value: i64,
    pub unit: &'a str,
}

fn steady_states(result: &AnalysisResult) -> Vec<SteadyStateRow<'_>> {
    result
        .steady_state
        .steady_states
        .iter()
        .map(|state| SteadyStateRow {
            id: &state.id,
            priority: state.priority,
            name: &state.name,
            description: &state.description,
            check: match &state.probe {
                Probe::AvailableReplicas => CheckText {
                    label: "available replicas of",
                    subject: state.subject.as_str(),
                },
                Probe::ReadyEndpoints => CheckText {
                    label: "ready endpoints of",
                    subject: state.subject.as_str(),
                },
                Probe::Http { url } => CheckText {
                    label: "HTTP GET",
                    subject: url,
                },
                Probe::Prometheus { query } => CheckText {
                    label: "PromQL",
                    subject: query,
                },
            },
            min_value: state.min_value,
            unit: &state.unit,
        })
        .collect()
}

pub struct HypothesisRow<'a> {
    pub id: &'a str,
    pub risk_score: u32,
    pub statement: &'a str,
    pub expectation: String,
}

fn hypotheses(result: &AnalysisResult) -> Vec<HypothesisRow<'_>> {
    result
        .hypotheses
        .hypotheses
        .iter()
        .map(|h| HypothesisRow {
            id: &h.id,
            risk_score: h.risk_score,
            statement: &h.statement,
            expectation: serde_name(&h.expectation).to_string(),
        })
        .collect()
}

/// One planned experiment with its blast radius entry and test case looked up.
pub struct ExperimentCard<'a> {
    /// Its place in the list, from 1.
    pub number: usize,
    pub name: &'a str,
    pub title: &'a str,
    /// [`describe_spec`] of its Chaos Mesh spec.
    pub what: String,
    pub target: &'a NodeId,
    pub namespace: &'a str,
    pub peer: Option<&'a NodeId>,
    pub hypothesis_id: &'a str,
    pub hypothesis: &'a str,
    pub risk_score: u32,
    pub checks: &'a [SteadyStateCheck],
    pub pod_share_percent: i32,
    pub affected_workloads: usize,
    pub affected_entry_points: &'a [String],
    pub blast: Option<&'a ExperimentBlastRadius>,
    pub warnings: &'a [String],
    pub test_case: Option<&'a TestCase>,
}

fn experiments(result: &AnalysisResult) -> Vec<ExperimentCard<'_>> {
    result
        .planned
        .iter()
        .enumerate()
        .map(|(n, planned)| ExperimentCard {
            number: n + 1,
            name: &planned.name,
            title: &planned.title,
            what: describe_spec(&planned.spec),
            target: &planned.target,
            namespace: &planned.namespace,
            peer: planned.peer.as_ref(),
            hypothesis_id: &planned.hypothesis.id,
            hypothesis: &planned.hypothesis.statement,
            risk_score: planned.risk_score,
            checks: &planned.steady_state,
            pod_share_percent: planned.blast_radius.pod_share_percent,
            affected_workloads: planned.blast_radius.affected_workloads.len(),
            affected_entry_points: &planned.blast_radius.affected_entry_points,
            blast: result
                .blast_radius
                .experiments
                .iter()
                .find(|b| b.experiment_id == planned.name),
            warnings: &planned.warnings,
            test_case: result
                .experiments
                .test_cases
                .iter()
                .find(|c| c.experiment_id == planned.name),
        })
        .collect()
}

/// What an item of the matrix rests on: `kind` (`evidence`, `findings`, ...) and the detail.
pub struct GroundsText {
    pub kind: &'static str,
    pub detail: String,
}

impl GroundsText {
    fn of(grounds: &Grounds) -> Self {
        match grounds {
            Grounds::Evidence { edges, evidence } => GroundsText {
                kind: "evidence",
                detail: format!("{} edge(s), {} item(s)", edges.len(), evidence.len()),
            },
            Grounds::Findings { finding_ids } => GroundsText {
                kind: "findings",
                detail: finding_ids.join(", "),
            },
            Grounds::Hypotheses { hypothesis_ids } => GroundsText {
                kind: "hypotheses",
                detail: hypothesis_ids.join(", "),
            },
            Grounds::Absence { missing } => GroundsText {
                kind: "missing",
                detail: missing.clone(),
            },
        }
    }
}

pub struct QuadrantLine<'a> {
    pub statement: &'a str,
    pub grounds: GroundsText,
}

pub struct Quadrant<'a> {
    pub title: &'static str,
    pub total: usize,
    pub lines: Vec<QuadrantLine<'a>>,
    pub more: usize,
}

fn rumsfeld(result: &AnalysisResult) -> Vec<Quadrant<'_>> {
    result
        .rumsfeld
        .quadrants()
        .into_iter()
        .map(|(title, items): (&'static str, &[RumsfeldItem])| {
            let listed = Listed::of(items);
            Quadrant {
                title,
                total: items.len(),
                lines: listed
                    .shown
                    .iter()
                    .map(|item| QuadrantLine {
                        statement: &item.statement,
                        grounds: GroundsText::of(&item.grounds),
                    })
                    .collect(),
                more: listed.more,
            }
        })
        .collect()
}

/// What grounding and the guardrails dropped and adjusted.
pub struct Guardrails<'a> {
    pub total_dropped: usize,
    pub dropped: Listed<'a, DroppedItem>,
    pub total_adjusted: usize,
    pub adjusted: Listed<'a, AdjustedItem>,
}

impl<'a> Guardrails<'a> {
    fn of(result: &'a AnalysisResult) -> Self {
        Guardrails {
            total_dropped: result.dropped.len(),
            dropped: Listed::of(&result.dropped),
            total_adjusted: result.adjusted.len(),
            adjusted: Listed::of(&result.adjusted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Expectation, TierName};
    use crate::report::MAX_LISTED;
    use crate::servicemap::DataStoreKind;

    #[test]
    fn names_are_serde_names() {
        assert_eq!(serde_name(&Expectation::AtRisk), "atRisk");
        assert_eq!(serde_name(&TierName::LoadGenerator), "loadGenerator");
        assert_eq!(serde_name(&DataStoreKind::Redis), "redis");
    }

    #[test]
    fn both_formats_show_each_section_model() {
        use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};
        use crate::report::{html, markdown};
        let map = fixtures::boutique();
        let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
        let sections = Sections::of(&map, &result);
        let md = markdown::render(&map, &result);
        let page = html::render(&map, &result);
        assert!(!sections.hypotheses.is_empty() && !sections.experiments.is_empty());
        for tier in &sections.discovery.tiers {
            let label = format!("{} ({})", tier.name, tier.size);
            assert!(md.contains(&format!("| {label} |")), "{label}");
            assert!(page.contains(&format!("<td>{label}</td>")), "{label}");
        }
        for h in &sections.hypotheses {
            assert!(["holds", "atRisk"].contains(&h.expectation.as_str()));
            let md_row = format!("| {} | {} |", h.expectation, markdown::md(h.id));
            assert!(md.contains(&md_row), "{md_row}");
            assert!(page.contains(&format!("<td>{}</td></tr>", h.expectation)));
        }
        for card in &sections.experiments {
            assert!(md.contains(&markdown::md(&card.what)), "{}", card.what);
            assert!(page.contains(&html::esc(&card.what)), "{}", card.what);
        }
        for quadrant in &sections.rumsfeld {
            assert!(md.contains(&format!("### {} ({})", quadrant.title, quadrant.total)));
            assert!(page.contains(&format!("<h3>{} ({})</h3>", quadrant.title, quadrant.total)));
        }
        // No Rust Debug names: `AtRisk`, `LoadGenerator`, `Backend` are serde's `atRisk`...
        for debug_name in ["AtRisk", "Holds (", "| Backend (", "| Frontend ("] {
            assert!(
                !md.contains(debug_name) && !page.contains(debug_name),
                "{debug_name}"
            );
        }
    }

    #[test]
    fn lists_are_cut_once_with_the_rest_counted() {
        let items: Vec<u32> = (0..(MAX_LISTED as u32 + 7)).collect();
        let listed = Listed::of(&items);
        assert_eq!(listed.shown.len(), MAX_LISTED);
        assert_eq!(listed.more, 7);
        let few = [1, 2];
        assert_eq!(Listed::of(&few).more, 0);
    }
}
