//! Stage 7 rules: the Rumsfeld matrix. Every item rests on the map's evidence, on findings or
//! hypotheses, or names what the map lacks.

use std::collections::BTreeMap;

use super::super::index::MapIndex;
use super::super::model::{
    DependenciesOutput, EdgeRef, Finding, FindingKind, Grounds, HypothesesOutput, RumsfeldItem,
    RumsfeldOutput, Severity,
};
use super::super::naming::item_id;
use super::{has_traffic_evidence, states_call as config_evidence};
use crate::servicemap::{Evidence, EvidenceKind, NodeId, NodeKind};

/// Edges below this confidence are "believed", not "known".
const KNOWN_CONFIDENCE: f64 = 0.7;

fn item(
    prefix: &str,
    name: &str,
    parts: &[&str],
    statement: String,
    subjects: Vec<NodeId>,
    grounds: Grounds,
) -> RumsfeldItem {
    RumsfeldItem {
        id: item_id(prefix, name, parts),
        statement,
        subjects,
        grounds,
    }
}

fn names(ids: &[NodeId]) -> String {
    let names: Vec<&str> = ids
        .iter()
        .map(|id| id.as_str().rsplit('/').next().unwrap_or(id.as_str()))
        .collect();
    match names.len() {
        0..=5 => names.join(", "),
        more => format!("{} and {} more", names[..5].join(", "), more - 5),
    }
}

/// The matrix: each quadrant from its own rules. Drift between the team's architecture, the
/// configuration and the traffic feeds two quadrants.
pub(crate) fn run(
    index: &MapIndex<'_>,
    dependencies: &DependenciesOutput,
    hypotheses: &HypothesesOutput,
) -> RumsfeldOutput {
    let (drift_unknowns, drift_knowns) = super::drift::rumsfeld(index);
    RumsfeldOutput {
        known_knowns: known_knowns(index, dependencies),
        known_unknowns: known_unknowns(index, dependencies, hypotheses, drift_unknowns),
        unknown_knowns: unknown_knowns(index, dependencies, drift_knowns),
        unknown_unknowns: unknown_unknowns(index),
    }
}

/// Known knowns: dependencies the configuration states, and the serious findings.
fn known_knowns(index: &MapIndex<'_>, dependencies: &DependenciesOutput) -> Vec<RumsfeldItem> {
    let mut out = Vec::new();
    // Known knowns: dependencies the configuration states, per caller.
    for i in 0..index.len() {
        let node = index.node(i);
        if !node.kind.is_workload() && !node.entry_point {
            continue;
        }
        let mut edges = Vec::new();
        let mut evidence = Vec::new();
        let mut callees = Vec::new();
        for &next in index.successors(i) {
            let Some(edge) = index.edge(i, next) else {
                continue;
            };
            let configured: Vec<&Evidence> = edge
                .evidence
                .iter()
                .filter(|e| config_evidence(e))
                .collect();
            if edge.confidence >= KNOWN_CONFIDENCE && !configured.is_empty() {
                edges.push(EdgeRef {
                    from: edge.from.clone(),
                    to: edge.to.clone(),
                });
                evidence.extend(configured.into_iter().cloned());
                callees.push(edge.to.clone());
            }
        }
        if !edges.is_empty() {
            out.push(item(
                "kk-calls",
                &node.name,
                &[node.id.as_str()],
                if node.entry_point {
                    format!(
                        "{} {} routes traffic to {} (stated in its configuration)",
                        node.kind.as_str(),
                        node.name,
                        names(&callees)
                    )
                } else {
                    format!(
                        "{} calls {} (stated in its configuration)",
                        node.name,
                        names(&callees)
                    )
                },
                vec![node.id.clone()],
                Grounds::Evidence { edges, evidence },
            ));
        }
    }
    // Known knowns: the serious findings, grouped by kind.
    let mut by_kind: BTreeMap<FindingKind, (Vec<String>, Vec<NodeId>)> = BTreeMap::new();
    for finding in &dependencies.findings {
        if finding.severity >= Severity::High {
            let entry = by_kind.entry(finding.kind).or_default();
            entry.0.push(finding.id.clone());
            entry.1.push(finding.subject.clone());
        }
    }
    for (kind, (finding_ids, subjects)) in by_kind {
        let what = match kind {
            FindingKind::SingleReplica => "workload(s) run a single replica",
            FindingKind::DataStoreWithoutReplicas => "data store(s) run without replicas",
            FindingKind::UnresolvedReference => "Service(s) are referenced but do not exist",
            _ => "node(s) have serious findings",
        };
        out.push(item(
            "kk-findings",
            kind.slug(),
            &[kind.slug()],
            format!("{} {what}: {}", subjects.len(), names(&subjects)),
            subjects,
            Grounds::Findings { finding_ids },
        ));
    }

    out
}

/// Known unknowns: untested hypotheses, missing Services, external hosts, declared calls the
/// traffic never showed, missing readiness probes, and the architecture's drift.
fn known_unknowns(
    index: &MapIndex<'_>,
    dependencies: &DependenciesOutput,
    hypotheses: &HypothesesOutput,
    drift: Vec<RumsfeldItem>,
) -> Vec<RumsfeldItem> {
    let mut out = Vec::new();
    // Known unknowns: every untested hypothesis.
    for hypothesis in &hypotheses.hypotheses {
        let mut subjects = vec![hypothesis.target.clone()];
        subjects.extend(hypothesis.peer.iter().cloned());
        out.push(item(
            "ku-untested",
            &hypothesis.id,
            &[hypothesis.id.as_str()],
            format!("Untested: {}", hypothesis.statement),
            subjects,
            Grounds::Hypotheses {
                hypothesis_ids: vec![hypothesis.id.clone()],
            },
        ));
    }
    // Known unknowns: missing Services, external hosts, missing readiness probes.
    for i in 0..index.len() {
        let node = index.node(i);
        let callers: Vec<NodeId> = index
            .callers(i)
            .iter()
            .map(|&c| index.node(c).id.clone())
            .collect();
        match node.kind {
            NodeKind::Unresolved => {
                let mut subjects = vec![node.id.clone()];
                subjects.extend(callers.iter().cloned());
                out.push(item(
                    "ku-unresolved",
                    &node.name,
                    &[node.id.as_str()],
                    format!(
                        "{} reference {:?}, which is not in the manifests: deployed elsewhere, or broken?",
                        names(&callers),
                        node.name
                    ),
                    subjects,
                    Grounds::Absence {
                        missing: format!(
                            "no Service named {:?} in namespace {:?}",
                            node.name, node.namespace
                        ),
                    },
                ));
            }
            NodeKind::External => {
                let host = node.host.clone().unwrap_or_else(|| node.name.clone());
                let edges: Vec<EdgeRef> = index
                    .predecessors(i)
                    .iter()
                    .filter_map(|&p| index.edge(p, i))
                    .map(|e| EdgeRef {
                        from: e.from.clone(),
                        to: e.to.clone(),
                    })
                    .collect();
                let evidence = index
                    .predecessors(i)
                    .iter()
                    .filter_map(|&p| index.edge(p, i))
                    .flat_map(|e| e.evidence.iter().cloned())
                    .collect();
                if !edges.is_empty() {
                    out.push(item(
                        "ku-external",
                        &host,
                        &[node.id.as_str()],
                        format!(
                            "How {host} behaves when slow or down, and its rate limits, are outside the map"
                        ),
                        vec![node.id.clone()],
                        Grounds::Evidence { edges, evidence },
                    ));
                }
            }
            _ => {}
        }
    }
    // Declared calls the traffic never showed.
    out.extend(
        dependencies
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::DeclaredNotObserved)
            .map(|f| {
                finding_item(
                    "ku-unobserved",
                    f,
                    format!("Whether these declared calls still happen: {}", f.message),
                )
            }),
    );
    let unprobed: Vec<&_> = dependencies
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::NoReadinessProbe)
        .collect();
    if !unprobed.is_empty() {
        let subjects: Vec<NodeId> = unprobed.iter().map(|f| f.subject.clone()).collect();
        out.push(item(
            "ku-readiness",
            "readiness",
            &["readiness"],
            format!(
                "Whether {} are ready when they receive traffic: they have no readiness probe",
                names(&subjects)
            ),
            subjects,
            Grounds::Findings {
                finding_ids: unprobed.iter().map(|f| f.id.clone()).collect(),
            },
        ));
    }

    out.extend(drift);
    out
}

/// Unknown knowns: observed calls nobody declared (the code's owners know them; the manifests do
/// not), and what else the owners know that the manifests do not say.
fn unknown_knowns(
    index: &MapIndex<'_>,
    dependencies: &DependenciesOutput,
    drift: Vec<RumsfeldItem>,
) -> Vec<RumsfeldItem> {
    let mut out: Vec<RumsfeldItem> = dependencies
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::ObservedNotDeclared)
        .map(|f| {
            finding_item(
                "uk-undeclared",
                f,
                format!("Seen at runtime, declared nowhere: {}", f.message),
            )
        })
        .collect();
    // Unknown knowns: what the owners know and the manifests do not say.
    let mut uncalled = Vec::new();
    let mut untriggered = Vec::new();
    for i in 0..index.len() {
        let node = index.node(i);
        if node.kind == NodeKind::Service
            && !node.entry_point
            && index.predecessors(i).is_empty()
            && node
                .service
                .as_ref()
                .is_some_and(|s| !s.backends.is_empty())
        {
            uncalled.push(node.id.clone());
        }
        if node.kind.is_workload()
            && index.entry_depth(i).is_none()
            && index.predecessors(i).is_empty()
            && !index.successors(i).is_empty()
        {
            untriggered.push(node.id.clone());
        }
        if node.kind.is_workload() || node.entry_point {
            for &next in index.successors(i) {
                if let Some(edge) = index.edge(i, next)
                    && !edge.evidence.is_empty()
                    && edge.kinds == [EvidenceKind::Config]
                    && !edge.evidence.iter().any(config_evidence)
                {
                    out.push(item(
                        "uk-policy-only",
                        &node.name,
                        &[edge.from.as_str(), edge.to.as_str()],
                        format!(
                            "{} → {} is allowed by network policy or mesh routing, but no configuration shows the call",
                            node.name,
                            index.node(next).name
                        ),
                        vec![edge.from.clone(), edge.to.clone()],
                        Grounds::Evidence {
                            edges: vec![EdgeRef {
                                from: edge.from.clone(),
                                to: edge.to.clone(),
                            }],
                            evidence: edge.evidence.clone(),
                        },
                    ));
                }
            }
        }
    }
    if !uncalled.is_empty() {
        out.push(item(
            "uk-uncalled",
            "services",
            &["uncalled"],
            format!(
                "{} serve pods but no manifest says who calls them; their owners know",
                names(&uncalled)
            ),
            uncalled,
            Grounds::Absence {
                missing: "no env var, ConfigMap, argument or route that references these Services"
                    .to_string(),
            },
        ));
    }
    if !untriggered.is_empty() {
        out.push(item(
            "uk-untriggered",
            "workloads",
            &["untriggered"],
            format!(
                "{} call others but nothing in the map calls or exposes them: what starts their traffic is known to their owners",
                names(&untriggered)
            ),
            untriggered,
            Grounds::Absence {
                missing: "no entry point or caller for these workloads".to_string(),
            },
        ));
    }

    out.extend(drift);
    out
}

/// Unknown unknowns: what the map cannot show.
fn unknown_unknowns(index: &MapIndex<'_>) -> Vec<RumsfeldItem> {
    let mut out = Vec::new();
    let silent: Vec<NodeId> = (0..index.len())
        .filter(|&i| {
            let node = index.node(i);
            node.kind.is_workload()
                && !index.is_data_store(i)
                && index.successors(i).is_empty()
                && (index.entry_depth(i).is_some() || !index.predecessors(i).is_empty())
        })
        .map(|i| index.node(i).id.clone())
        .collect();
    if !silent.is_empty() {
        out.push(item(
            "uu-silent",
            "leaf-workloads",
            &["silent"],
            format!(
                "{} call nothing the manifests show; any dependency hard-coded in their code is invisible",
                names(&silent)
            ),
            silent,
            Grounds::Absence {
                missing: "no outgoing reference in env, ConfigMaps or arguments".to_string(),
            },
        ));
    }
    if !has_traffic_evidence(index) {
        out.push(item(
        "uu-runtime",
        "runtime-calls",
        &["runtime"],
        "Calls that no manifest explains (addresses in code, service discovery, DNS SRV, calls from outside the scope) cannot be seen without traffic data".to_string(),
        Vec::new(),
        Grounds::Absence {
            missing: "runtime traffic observations (mesh telemetry, flow logs)".to_string(),
        },
    ));
    }
    if index.dangling_edges() > 0 {
        out.push(item(
            "uu-dangling",
            "edges",
            &["dangling"],
            format!(
                "{} edge(s) of the map name nodes the map does not have",
                index.dangling_edges()
            ),
            Vec::new(),
            Grounds::Absence {
                missing: "the nodes those edges name".to_string(),
            },
        ));
    }
    out
}

/// An item that rests on one finding about its subject and the nodes related to it.
fn finding_item(prefix: &str, finding: &Finding, statement: String) -> RumsfeldItem {
    let mut subjects = vec![finding.subject.clone()];
    subjects.extend(finding.related.iter().cloned());
    item(
        prefix,
        finding.subject.as_str(),
        &[finding.id.as_str()],
        statement,
        subjects,
        Grounds::Findings {
            finding_ids: vec![finding.id.clone()],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalysisConfig;
    use crate::analysis::builtin::test_support::run_until;
    use crate::analysis::fixtures;
    use crate::analysis::stages::StageId;

    fn boutique() -> (RumsfeldOutput, HypothesesOutput) {
        let map = fixtures::boutique();
        let outputs = run_until(&map, &AnalysisConfig::default(), StageId::Rumsfeld);
        (outputs.rumsfeld.unwrap(), outputs.hypotheses.unwrap())
    }

    #[test]
    fn known_knowns_rest_on_evidence_and_findings() {
        let (output, _) = boutique();
        let frontend = output
            .known_knowns
            .iter()
            .find(|i| i.subjects == vec![NodeId("shop/Deployment/frontend".into())])
            .unwrap();
        let Grounds::Evidence { edges, evidence } = &frontend.grounds else {
            panic!()
        };
        assert_eq!(edges.len(), 4);
        assert!(
            evidence
                .iter()
                .any(|e| matches!(e, Evidence::Env { name, .. } if name == "CART_SERVICE_ADDR"))
        );
        assert!(
            output
                .known_knowns
                .iter()
                .any(|i| matches!(i.grounds, Grounds::Findings { .. }))
        );
    }

    #[test]
    fn known_unknowns_cover_hypotheses_unresolved_external_and_probes() {
        let (output, hypotheses) = boutique();
        let untested = output
            .known_unknowns
            .iter()
            .filter(|i| matches!(i.grounds, Grounds::Hypotheses { .. }))
            .count();
        assert_eq!(untested, hypotheses.hypotheses.len());
        let unresolved = output
            .known_unknowns
            .iter()
            .find(|i| {
                i.subjects
                    .contains(&NodeId("shop/Unresolved/shoppingassistantservice".into()))
            })
            .unwrap();
        assert!(
            matches!(&unresolved.grounds, Grounds::Absence { missing } if missing.contains("shoppingassistantservice"))
        );
        assert!(
            output
                .known_unknowns
                .iter()
                .any(|i| i.statement.contains("api.payments.example.net"))
        );
        assert!(
            output
                .known_unknowns
                .iter()
                .any(|i| i.statement.contains("readiness probe"))
        );
    }

    #[test]
    fn unknowns_name_what_is_missing() {
        let (output, _) = boutique();
        let untriggered = output
            .unknown_knowns
            .iter()
            .find(|i| i.id.starts_with("uk-untriggered"))
            .unwrap();
        assert_eq!(
            untriggered.subjects,
            vec![NodeId("shop/Deployment/loadgenerator".into())]
        );
        let silent = output
            .unknown_unknowns
            .iter()
            .find(|i| i.id.starts_with("uu-silent"))
            .unwrap();
        assert!(
            silent
                .subjects
                .contains(&NodeId("shop/Deployment/productcatalogservice".into()))
        );
        assert!(
            !silent
                .subjects
                .contains(&NodeId("shop/StatefulSet/redis-cart".into())),
            "data stores call nothing by nature"
        );
        for quadrant in [
            &output.known_knowns,
            &output.known_unknowns,
            &output.unknown_knowns,
            &output.unknown_unknowns,
        ] {
            for item in quadrant.iter() {
                assert!(!item.statement.is_empty());
            }
        }
    }
}
