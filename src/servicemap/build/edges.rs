//! Where edges gather while a map is built, or while calls from outside the manifests join a map
//! ([`super::super::attach`]): one entry per (from, to), its evidence, strongest confidence,
//! ports and protocol, and the nodes outside the input (Unresolved, External, entry points) the
//! edges reach.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeBounds;

use super::super::model::*;
use super::{Builder, Target};

/// The namespace of External nodes' ids.
pub const EXTERNAL_NAMESPACE: &str = "external";

/// One edge being gathered.
pub(crate) struct PendingEdge {
    pub evidence: Vec<Evidence>,
    pub confidence: f64,
    pub ports: BTreeSet<i32>,
    pub protocol: Option<String>,
}

/// Edges by (from, to), and the nodes they reach that the input does not define.
#[derive(Default)]
pub(crate) struct EdgeAccumulator {
    edges: BTreeMap<(NodeId, NodeId), PendingEdge>,
    extra_nodes: BTreeMap<NodeId, Node>,
}

impl EdgeAccumulator {
    /// Starts from the edges of a finished map, to add to them.
    pub fn from_edges(edges: Vec<Edge>) -> Self {
        let edges = edges
            .into_iter()
            .map(|e| {
                let pending = PendingEdge {
                    evidence: e.evidence,
                    confidence: e.confidence,
                    ports: e.port.into_iter().collect(),
                    protocol: e.protocol,
                };
                ((e.from, e.to), pending)
            })
            .collect();
        EdgeAccumulator {
            edges,
            extra_nodes: BTreeMap::new(),
        }
    }

    /// Adds one piece of evidence for `from → to`; returns whether the edge is new. Confidence
    /// is kept to three decimals (the strongest evidence wins), the first protocol named stays.
    pub fn add(
        &mut self,
        from: NodeId,
        to: NodeId,
        evidence: Evidence,
        confidence: f64,
        port: Option<i32>,
        protocol: Option<&str>,
    ) -> bool {
        let mut new = false;
        let edge = self.edges.entry((from, to)).or_insert_with(|| {
            new = true;
            PendingEdge {
                // Most edges have one piece of evidence; a first push would reserve four.
                evidence: Vec::with_capacity(1),
                confidence: 0.0,
                ports: BTreeSet::new(),
                protocol: None,
            }
        });
        merge_evidence(&mut edge.evidence, evidence);
        edge.confidence = edge.confidence.max((confidence * 1000.0).round() / 1000.0);
        if let Some(port) = port {
            edge.ports.insert(port);
        }
        if edge.protocol.is_none() {
            edge.protocol = protocol.map(str::to_owned);
        }
        new
    }

    /// The External node of `host`, added once.
    pub fn external_node(&mut self, host: &str) -> NodeId {
        let id = NodeId::new(EXTERNAL_NAMESPACE, NodeKind::External, host);
        self.extra_nodes.entry(id.clone()).or_insert_with(|| Node {
            host: Some(host.to_owned()),
            ..bare_node(id.clone(), NodeKind::External, EXTERNAL_NAMESPACE, host)
        });
        id
    }

    /// The Unresolved node of a name nobody defines, added once.
    pub fn unresolved_node(&mut self, namespace: &str, name: &str) -> NodeId {
        let id = NodeId::new(namespace, NodeKind::Unresolved, name);
        self.extra_nodes
            .entry(id.clone())
            .or_insert_with(|| bare_node(id.clone(), NodeKind::Unresolved, namespace, name));
        id
    }

    /// The node of a route object (Ingress, HTTPRoute, VirtualService): an entry point.
    pub fn entry_node(&mut self, namespace: &str, kind: NodeKind, name: &str) -> NodeId {
        let id = NodeId::new(namespace, kind, name);
        self.extra_nodes.entry(id.clone()).or_insert_with(|| Node {
            entry_point: true,
            ..bare_node(id.clone(), kind, namespace, name)
        });
        id
    }

    pub fn keys(&self) -> impl Iterator<Item = &(NodeId, NodeId)> {
        self.edges.keys()
    }

    pub fn range(
        &self,
        range: impl RangeBounds<(NodeId, NodeId)>,
    ) -> impl Iterator<Item = (&(NodeId, NodeId), &PendingEdge)> {
        self.edges.range(range)
    }

    pub fn get_mut(&mut self, key: &(NodeId, NodeId)) -> Option<&mut PendingEdge> {
        self.edges.get_mut(key)
    }

    /// The finished edges, sorted by (from, to) with normalized evidence; `protocol_of` names
    /// the protocol of an edge whose evidence named none. Then the nodes the edges reach.
    pub fn finish(
        self,
        protocol_of: impl Fn(&NodeId, Option<i32>) -> Option<String>,
    ) -> (Vec<Edge>, Vec<Node>) {
        let mut edges = Vec::with_capacity(self.edges.len());
        for ((from, to), pending) in self.edges {
            let port = pending.ports.first().copied();
            let protocol = pending.protocol.or_else(|| protocol_of(&to, port));
            let mut edge = Edge {
                from,
                to,
                evidence: pending.evidence,
                kinds: Vec::new(),
                confidence: pending.confidence,
                port,
                protocol,
            };
            edge.normalize();
            edges.push(edge);
        }
        (edges, self.extra_nodes.into_values().collect())
    }
}

/// A node with nothing known about it but its name.
fn bare_node(id: NodeId, kind: NodeKind, namespace: &str, name: &str) -> Node {
    Node {
        id,
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        entry_point: false,
        entry_via: None,
        load_generator: false,
        workload: None,
        service: None,
        host: None,
    }
}

/// Adds `evidence` to an edge's list. Traffic from one origin is one entry: names of several pods
/// of one workload reach the same edge, and their counts add up (the window is the longest; the
/// latencies the worst, since quantiles do not add).
fn merge_evidence(list: &mut Vec<Evidence>, evidence: Evidence) {
    if let Evidence::Traffic(new) = &evidence
        && let Some(Evidence::Traffic(old)) = list
            .iter_mut()
            .find(|e| matches!(e, Evidence::Traffic(t) if t.origin == new.origin))
    {
        old.requests += new.requests;
        old.errors += new.errors;
        old.window_seconds = old.window_seconds.max(new.window_seconds);
        old.p50_micros = old.p50_micros.max(new.p50_micros);
        old.p99_micros = old.p99_micros.max(new.p99_micros);
        return;
    }
    list.push(evidence);
}

impl Builder<'_> {
    /// Adds an edge from a workload or route to what an address resolved to.
    pub(super) fn add_edge(
        &mut self,
        from: NodeId,
        target: Target,
        evidence: Evidence,
        confidence: f64,
        port: Option<i32>,
        protocol: Option<&str>,
    ) {
        let to = match target {
            Target::Service(s) => self.index.service_ids[s].clone(),
            Target::Unresolved { namespace, name } => self.edges.unresolved_node(&namespace, &name),
            Target::External { host } => self.edges.external_node(&host),
        };
        self.edges
            .add(from, to, evidence, confidence, port, protocol);
    }
}
