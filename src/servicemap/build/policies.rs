//! NetworkPolicy evidence on edges that already exist.

use std::collections::BTreeMap;

use super::super::model::*;
use super::Builder;
use crate::snapshot::{PeerRecord, ServiceRecord, Snapshot};

impl Builder<'_> {
    /// Adds NetworkPolicy evidence to existing workload → Service edges that an egress rule
    /// explicitly allows (a peer whose pod selector matches the Service's backends). No edge is
    /// created from a policy alone: allowing a call does not show that it happens.
    pub(super) fn network_policy_evidence(&mut self) {
        let snapshot = self.snapshot();
        let service_by_id = self.index.services_by_id();
        let mut additions: Vec<((NodeId, NodeId), Evidence)> = Vec::new();
        for policy in &snapshot.network_policies {
            if !policy.policy_types.iter().any(|t| t == "Egress") || policy.egress.is_empty() {
                continue;
            }
            for w in self.index.select(&policy.namespace, &policy.pod_selector) {
                let from = &self.index.workload_ids[w];
                // Edges are keyed by (from, to): this workload's edges are one range.
                let start = (from.clone(), NodeId::default());
                for ((edge_from, to), _) in self.edges.range(start..) {
                    if edge_from != from {
                        break;
                    }
                    let Some(&s) = service_by_id.get(to) else {
                        continue;
                    };
                    let service = &snapshot.services[s];
                    let backends = &self.index.backends[s];
                    let allowed = policy.egress.iter().any(|rule| {
                        rule.peers.iter().any(|peer| {
                            peer_selects(peer, &policy.namespace, service, backends, snapshot)
                        })
                    });
                    if allowed {
                        additions.push((
                            (from.clone(), to.clone()),
                            Evidence::NetworkPolicy {
                                policy: policy.name.clone(),
                            },
                        ));
                    }
                }
            }
        }
        for (key, evidence) in additions {
            if let Some(edge) = self.edges.get_mut(&key) {
                edge.evidence.push(evidence);
            }
        }
    }
}

/// Whether a NetworkPolicy peer selects the pods behind `service`.
fn peer_selects(
    peer: &PeerRecord,
    policy_namespace: &str,
    service: &ServiceRecord,
    backends: &[usize],
    snapshot: &Snapshot,
) -> bool {
    let Some(pod_selector) = &peer.pod_selector else {
        return false;
    };
    let namespace_ok = match &peer.namespace_selector {
        None => service.namespace == policy_namespace,
        Some(ns) if ns.is_empty() => true,
        Some(ns) => {
            let mut labels = BTreeMap::new();
            labels.insert(
                "kubernetes.io/metadata.name".to_owned(),
                service.namespace.clone(),
            );
            ns.matches(&labels)
        }
    };
    namespace_ok
        && !backends.is_empty()
        && backends
            .iter()
            .all(|&w| pod_selector.matches(&snapshot.workloads[w].pod.labels))
}
