//! Drift between the team's architecture (declared evidence) and the cluster (config evidence)
//! or its runtime (traffic evidence). Only differences that can be checked are reported: an
//! undeclared call only when some architecture was given, an unobserved one only when some
//! traffic was.

use super::super::index::MapIndex;
use super::super::model::{EdgeRef, Finding, FindingKind, Grounds, RumsfeldItem, Severity};
use super::super::naming::item_id;
use crate::servicemap::{CallEnd, Edge, Evidence, EvidenceKind, NodeId};

/// Which kinds of evidence the map holds at all.
struct Present {
    declared: bool,
    traffic: bool,
}

fn present(index: &MapIndex<'_>) -> Present {
    let map = index.map();
    let any = |kind| map.edges.iter().any(|e| e.has_kind(kind));
    Present {
        declared: any(EvidenceKind::Declared)
            || map
                .unmatched
                .iter()
                .any(|u| u.kind == EvidenceKind::Declared),
        traffic: any(EvidenceKind::Traffic),
    }
}

/// Where the architecture declares an edge: `file:line, file:line`.
fn declared_at(edge: &Edge) -> String {
    let places: Vec<String> = edge
        .evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Declared(d) => Some(match d.line {
                Some(line) => format!("{}:{line}", d.origin),
                None => d.origin.clone(),
            }),
            _ => None,
        })
        .collect();
    places.join(", ")
}

fn short(id: &NodeId) -> &str {
    id.as_str().rsplit('/').next().unwrap_or(id.as_str())
}

/// What kind of drift an edge shows, if any.
fn edge_drift(edge: &Edge, present: &Present) -> Option<FindingKind> {
    let declared = edge.has_kind(EvidenceKind::Declared);
    let configured = edge.has_kind(EvidenceKind::Config);
    let observed = edge.has_kind(EvidenceKind::Traffic);
    if declared && present.traffic && !observed {
        Some(FindingKind::DeclaredCallNotObserved)
    } else if declared && !configured && !observed {
        Some(FindingKind::DeclaredCallNotConfigured)
    } else if !declared && present.declared && configured {
        Some(FindingKind::UndeclaredCall)
    } else {
        None
    }
}

/// Findings for names the architecture gives that the cluster lacks, and for calls on which the
/// architecture, the configuration and the traffic disagree.
pub(crate) fn findings(index: &MapIndex<'_>) -> Vec<Finding> {
    let present = present(index);
    let mut out = Vec::new();
    let map = index.map();
    for name in map
        .unmatched
        .iter()
        .filter(|u| u.kind == EvidenceKind::Declared)
    {
        // Attached to a matched neighbour; a name with none is a Rumsfeld item only.
        let Some((subject, related)) = name.peers.split_first() else {
            continue;
        };
        let kind = FindingKind::DeclaredServiceMissing;
        out.push(Finding {
            id: item_id(
                &format!("f-{}", kind.slug()),
                &name.name,
                &[kind.slug(), subject.as_str(), &name.name, &name.origin],
            ),
            kind,
            severity: Severity::Medium,
            subject: subject.clone(),
            message: format!(
                "the architecture ({}) has {}, which is no workload or Service of the cluster: missing, renamed, or not deployed here",
                name.origin,
                match name.end {
                    CallEnd::Callee => format!("{} call {:?}", short(subject), name.name),
                    CallEnd::Caller => format!("{:?} call {}", name.name, short(subject)),
                },
            ),
            related: related.to_vec(),
        });
    }
    for edge in &map.edges {
        let Some(from) = index.get(edge.from.as_str()) else {
            continue;
        };
        if !index.node(from).kind.is_workload() {
            continue;
        }
        let Some(kind) = edge_drift(edge, &present) else {
            continue;
        };
        let (from_name, to_name) = (short(&edge.from), short(&edge.to));
        let (severity, message) = match kind {
            FindingKind::DeclaredCallNotObserved => (
                Severity::Medium,
                format!(
                    "the architecture ({}) declares {from_name} → {to_name}, but no traffic was observed on it: stale, rare, or broken",
                    declared_at(edge)
                ),
            ),
            FindingKind::DeclaredCallNotConfigured => (
                Severity::Low,
                format!(
                    "the architecture ({}) declares {from_name} → {to_name}; no configuration in the cluster shows it (hard-coded in the service, or no longer true)",
                    declared_at(edge)
                ),
            ),
            _ => (
                Severity::Low,
                format!(
                    "{from_name} calls {to_name} in the cluster, but the architecture does not show it: the system does something its owners did not write down"
                ),
            ),
        };
        out.push(Finding {
            id: item_id(
                &format!("f-{}", kind.slug()),
                from_name,
                &[kind.slug(), edge.from.as_str(), edge.to.as_str()],
            ),
            kind,
            severity,
            subject: edge.from.clone(),
            message,
            related: vec![edge.to.clone()],
        });
    }
    out
}

/// Rumsfeld items of the drift: `(known_unknowns, unknown_knowns)`.
pub(crate) fn rumsfeld(index: &MapIndex<'_>) -> (Vec<RumsfeldItem>, Vec<RumsfeldItem>) {
    let present = present(index);
    let map = index.map();
    let mut known_unknowns = Vec::new();
    let mut unknown_knowns = Vec::new();
    let missing: Vec<String> = map
        .unmatched
        .iter()
        .filter(|u| u.kind == EvidenceKind::Declared)
        .map(|u| format!("{} ({})", u.name, u.origin))
        .collect();
    if !missing.is_empty() {
        let subjects: Vec<NodeId> = map
            .unmatched
            .iter()
            .filter(|u| u.kind == EvidenceKind::Declared)
            .flat_map(|u| u.peers.iter().cloned())
            .collect();
        let parts: Vec<&str> = missing.iter().map(String::as_str).collect();
        known_unknowns.push(RumsfeldItem {
            id: item_id("ku-declared-missing", "architecture", &parts),
            statement: format!(
                "the architecture names {} that the cluster lacks: is it missing, renamed, or elsewhere?",
                missing.join(", ")
            ),
            subjects: sorted(subjects),
            grounds: Grounds::Absence {
                missing: "no workload or Service matches these names of the architecture"
                    .to_owned(),
            },
        });
    }
    let mut by_kind: std::collections::BTreeMap<FindingKind, Vec<&Edge>> = Default::default();
    for edge in &map.edges {
        let is_workload = index
            .get(edge.from.as_str())
            .is_some_and(|i| index.node(i).kind.is_workload());
        if let Some(kind) = edge_drift(edge, &present).filter(|_| is_workload) {
            by_kind.entry(kind).or_default().push(edge);
        }
    }
    for (kind, edges) in by_kind {
        let listed: Vec<String> = edges
            .iter()
            .map(|e| format!("{} → {}", short(&e.from), short(&e.to)))
            .collect();
        let shown = match listed.len() {
            0..=6 => listed.join(", "),
            more => format!("{} and {} more", listed[..6].join(", "), more - 6),
        };
        let parts: Vec<&str> = listed.iter().map(String::as_str).collect();
        let statement = match kind {
            FindingKind::UndeclaredCall => format!(
                "the cluster makes calls its architecture does not show: {shown}; their owners know why"
            ),
            FindingKind::DeclaredCallNotObserved => format!(
                "the architecture declares calls that no traffic showed: {shown}; do they still happen?"
            ),
            _ => format!(
                "the architecture declares calls that no configuration shows: {shown}; where are they configured?"
            ),
        };
        let item = RumsfeldItem {
            id: item_id(&format!("drift-{}", kind.slug()), "architecture", &parts),
            statement,
            subjects: sorted(
                edges
                    .iter()
                    .flat_map(|e| [e.from.clone(), e.to.clone()])
                    .collect(),
            ),
            grounds: Grounds::Evidence {
                edges: edges
                    .iter()
                    .map(|e| EdgeRef {
                        from: e.from.clone(),
                        to: e.to.clone(),
                    })
                    .collect(),
                evidence: edges
                    .iter()
                    .flat_map(|e| e.evidence.iter().cloned())
                    .collect(),
            },
        };
        match kind {
            FindingKind::UndeclaredCall => unknown_knowns.push(item),
            _ => known_unknowns.push(item),
        }
    }
    (known_unknowns, unknown_knowns)
}

fn sorted(mut ids: Vec<NodeId>) -> Vec<NodeId> {
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;
    use crate::servicemap::{
        DeclaredEvidence, Matching, NameHints, NamedCall, TrafficEvidence, attach,
    };

    fn named(name: &str) -> NameHints {
        NameHints {
            service_name: Some(name.to_owned()),
            ..NameHints::default()
        }
    }

    fn declared(from: &str, to: &str, line: u32) -> NamedCall {
        NamedCall {
            caller: named(from),
            callee: named(to),
            evidence: Evidence::Declared(DeclaredEvidence {
                origin: "arch.mmd".to_owned(),
                line: Some(line),
            }),
        }
    }

    fn kinds_of(findings: &[Finding]) -> Vec<(FindingKind, String, String)> {
        let mut out: Vec<_> = findings
            .iter()
            .map(|f| {
                (
                    f.kind,
                    short(&f.subject).to_owned(),
                    f.related
                        .first()
                        .map(|r| short(r).to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn nothing_without_an_architecture() {
        let map = fixtures::boutique();
        assert!(findings(&MapIndex::new(&map)).is_empty());
        let (ku, uk) = rumsfeld(&MapIndex::new(&map));
        assert!(ku.is_empty() && uk.is_empty());
    }

    #[test]
    fn declared_configured_and_observed_calls_disagree() {
        let mut map = fixtures::boutique();
        attach(
            &mut map,
            [
                declared("Frontend", "Cart Service", 3),
                declared("checkoutservice", "paymentservice", 4),
                declared("frontend", "recommendations", 5),
            ],
            Matching::Loose,
        );
        let index = MapIndex::new(&map);
        let found = kinds_of(&findings(&index));
        assert!(found.contains(&(
            FindingKind::DeclaredServiceMissing,
            "frontend".into(),
            String::new()
        )));
        // Every config call of a workload the diagram does not show is undeclared.
        assert!(found.contains(&(
            FindingKind::UndeclaredCall,
            "frontend".into(),
            "productcatalogservice".into()
        )));
        assert!(
            !found
                .iter()
                .any(|(_, from, to)| from == "frontend" && to == "cartservice")
        );

        // With traffic present, a declared call nobody observed is reported.
        attach(
            &mut map,
            [NamedCall {
                caller: named("frontend"),
                callee: named("cartservice"),
                evidence: Evidence::Traffic(TrafficEvidence {
                    origin: "traces.json".to_owned(),
                    window_seconds: Some(60),
                    requests: 100,
                    errors: 0,
                    p50_micros: None,
                    p99_micros: None,
                }),
            }],
            Matching::Exact,
        );
        let index = MapIndex::new(&map);
        let found = kinds_of(&findings(&index));
        assert!(found.contains(&(
            FindingKind::DeclaredCallNotObserved,
            "checkoutservice".into(),
            "paymentservice".into()
        )));
        assert!(!found.iter().any(
            |(kind, from, _)| *kind == FindingKind::DeclaredCallNotObserved && from == "frontend"
        ));
        let (known_unknowns, unknown_knowns) = rumsfeld(&index);
        assert!(
            known_unknowns
                .iter()
                .any(|i| i.statement.contains("recommendations (arch.mmd)"))
        );
        assert!(
            known_unknowns
                .iter()
                .any(|i| i.statement.contains("checkoutservice → paymentservice"))
        );
        assert!(
            unknown_knowns
                .iter()
                .any(|i| i.statement.contains("frontend → productcatalogservice"))
        );
    }
}
