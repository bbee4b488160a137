//! Adding calls known from outside the manifests (traffic seen in traces or metrics, calls the
//! team's architecture declares) to a map built from the cluster's objects. One edge keeps every
//! kind of evidence; names are matched by [`super::names`], and what matches nothing is listed
//! in [`ServiceMap::unmatched`], never turned into a node. A called host outside the input becomes
//! an External node, as a URL in an env var does.

use std::collections::BTreeMap;

use super::build::edges::EdgeAccumulator;
use super::model::{CallEnd, Evidence, EvidenceKind, NodeId, ServiceMap, UnmatchedName};
use super::names::{Callee, Matching, NameHints, NameIndex};

/// A call between two named ends, with the evidence that shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedCall {
    pub caller: NameHints,
    pub callee: NameHints,
    /// `Evidence::Traffic` or `Evidence::Declared`.
    pub evidence: Evidence,
}

/// How sure an edge is that only runtime or declared evidence shows.
mod confidence {
    /// Seen at runtime: the call happened.
    pub const TRAFFIC: f64 = 0.95;
    /// Written down by the team: true when written, perhaps stale.
    pub const DECLARED: f64 = 0.8;
}

/// What [`attach`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttachReport {
    /// Calls that became (or joined) an edge.
    pub attached: usize,
    /// Edges that did not exist before.
    pub new_edges: usize,
    /// Calls dropped because an end matched nothing (listed in the map's `unmatched`).
    pub unmatched_calls: usize,
    /// Calls from a workload to a Service that selects it (a pod calling itself).
    pub self_calls: usize,
}

/// Adds `calls` to `map`. Telemetry names are matched exactly, declared names loosely
/// (`matching`). Edges stay sorted and their evidence normalized.
pub fn attach(
    map: &mut ServiceMap,
    calls: impl IntoIterator<Item = NamedCall>,
    matching: Matching,
) -> AttachReport {
    let mut report = AttachReport::default();
    let mut additions: Vec<(NodeId, NodeId, Evidence)> = Vec::new();
    let mut edges = EdgeAccumulator::from_edges(std::mem::take(&mut map.edges));
    let mut unmatched: BTreeMap<(String, String, CallEnd), UnmatchedName> = BTreeMap::new();
    {
        let index = NameIndex::new(map);
        for call in calls {
            let kind = call.evidence.kind();
            let origin = evidence_origin(&call.evidence);
            let caller = index.workload(&call.caller, matching);
            let callee = index.callee(&call.callee, matching);
            let calls = calls_of(&call.evidence);
            let mut note =
                |hints: &NameHints, end: CallEnd, reason: String, peer: Option<NodeId>| {
                    let name = hints.display_name();
                    let entry = unmatched
                        .entry((name.clone(), origin.clone(), end))
                        .or_insert_with(|| UnmatchedName {
                            name,
                            origin: origin.clone(),
                            kind,
                            end,
                            reason,
                            calls: 0,
                            peers: Vec::new(),
                        });
                    entry.calls += calls;
                    if let Some(peer) = peer
                        && !entry.peers.contains(&peer)
                    {
                        entry.peers.push(peer);
                        entry.peers.sort();
                    }
                };
            let (from, to) = match (caller, callee) {
                (Ok(from), Ok(callee)) => (from, callee),
                (caller, callee) => {
                    let callee_id = match &callee {
                        Ok(Callee::Service(id)) => Some(id.clone()),
                        _ => None,
                    };
                    match caller {
                        Err(why) => note(&call.caller, CallEnd::Caller, why.reason(), callee_id),
                        Ok(from) => {
                            if let Err(why) = callee {
                                note(&call.callee, CallEnd::Callee, why.reason(), Some(from));
                            }
                            report.unmatched_calls += 1;
                            continue;
                        }
                    }
                    if let Err(why) = callee {
                        note(&call.callee, CallEnd::Callee, why.reason(), None);
                    }
                    report.unmatched_calls += 1;
                    continue;
                }
            };
            let to = match to {
                Callee::Service(id) => {
                    let selects_caller = index
                        .map()
                        .nodes
                        .iter()
                        .find(|n| n.id == id)
                        .and_then(|n| n.service.as_ref())
                        .is_some_and(|s| s.backends.contains(&from));
                    if selects_caller {
                        report.self_calls += 1;
                        continue;
                    }
                    id
                }
                Callee::External(host) => edges.external_node(&host),
            };
            report.attached += 1;
            additions.push((from, to, call.evidence));
        }
    }
    for (from, to, evidence) in additions {
        let floor = match evidence.kind() {
            EvidenceKind::Traffic => confidence::TRAFFIC,
            EvidenceKind::Declared | EvidenceKind::Config => confidence::DECLARED,
        };
        if edges.add(from, to, evidence, floor, None, None) {
            report.new_edges += 1;
        }
    }
    // Edges attached here name no protocol of their own.
    let (finished, reached) = edges.finish(|_, _| None);
    map.edges = finished;
    for node in reached {
        if !map.nodes.iter().any(|n| n.id == node.id) {
            map.nodes.push(node);
        }
    }
    map.nodes.sort_by(|a, b| a.id.cmp(&b.id));
    if report.new_edges > 0 {
        super::entry::remark_call_graph_roots(map);
    }
    map.unmatched.extend(unmatched.into_values());
    map.unmatched.sort();
    map.unmatched.dedup();
    report
}

/// How many calls a piece of evidence stands for: its requests for traffic, else one.
fn calls_of(evidence: &Evidence) -> u64 {
    match evidence {
        Evidence::Traffic(t) => t.requests.max(1),
        _ => 1,
    }
}

fn evidence_origin(evidence: &Evidence) -> String {
    match evidence {
        Evidence::Traffic(t) => t.origin.clone(),
        Evidence::Declared(d) => d.origin.clone(),
        other => other.kind().as_str().to_owned(),
    }
}
