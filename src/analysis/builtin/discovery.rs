//! Stage 1 rules: entry points, tiers, data stores, external hosts, unresolved references.

use std::collections::{BTreeMap, BTreeSet};

use super::super::index::MapIndex;
use super::super::model::{
    DataStore, DiscoveryOutput, EntryPoint, ExternalDependency, Tier, TierName, UnresolvedReference,
};
use crate::servicemap::{Evidence, NodeId, NodeKind, ServiceType};

/// URLs through which an entry point is reached: Ingress hosts and paths, the cluster DNS name of
/// LoadBalancer and NodePort Services.
pub(crate) fn entry_urls(index: &MapIndex<'_>, i: usize) -> Vec<String> {
    let node = index.node(i);
    let mut urls = BTreeSet::new();
    for &next in index.successors(i) {
        let Some(edge) = index.edge(i, next) else {
            continue;
        };
        for evidence in &edge.evidence {
            if let Evidence::IngressRule { host, path, .. } = evidence
                && !host.is_empty()
                && !host.contains('*')
            {
                let path = if path.starts_with('/') {
                    path.as_str()
                } else {
                    "/"
                };
                urls.insert(format!("http://{host}{path}"));
            }
        }
    }
    if let Some(service) = &node.service
        && matches!(
            service.service_type,
            ServiceType::LoadBalancer | ServiceType::NodePort
        )
    {
        let port = service.ports.first().copied().unwrap_or(80);
        urls.insert(format!(
            "http://{}.{}.svc.cluster.local:{port}/",
            node.name, node.namespace
        ));
    }
    urls.into_iter().collect()
}

/// The workloads that first receive an entry point's traffic.
pub(crate) fn entry_serves(index: &MapIndex<'_>, i: usize) -> Vec<usize> {
    let mut serves = BTreeSet::new();
    for &next in index.successors(i) {
        serves.extend(index.backing_workloads(next));
    }
    serves.into_iter().collect()
}

fn ids(index: &MapIndex<'_>, nodes: impl IntoIterator<Item = usize>) -> Vec<NodeId> {
    nodes
        .into_iter()
        .map(|i| index.node(i).id.clone())
        .collect()
}

fn workload_callers(index: &MapIndex<'_>, i: usize) -> Vec<NodeId> {
    ids(
        index,
        index
            .callers(i)
            .iter()
            .copied()
            .filter(|&c| index.node(c).kind.is_workload()),
    )
}

pub(crate) fn run(index: &MapIndex<'_>) -> DiscoveryOutput {
    let mut namespaces = BTreeSet::new();
    let mut tiers: BTreeMap<TierName, Vec<NodeId>> = BTreeMap::new();
    let mut entry_points = Vec::new();
    let mut frontend = BTreeSet::new();
    for &e in index.entry_points() {
        let serves = entry_serves(index, e);
        frontend.extend(serves.iter().copied());
        entry_points.push(EntryPoint {
            id: index.node(e).id.clone(),
            kind: index.node(e).kind,
            urls: entry_urls(index, e),
            serves: ids(index, serves),
            found_by: index.node(e).entry_via.clone(),
        });
        tiers
            .entry(TierName::Entry)
            .or_default()
            .push(index.node(e).id.clone());
    }
    let mut load_generators = Vec::new();
    let mut data_stores = Vec::new();
    let mut external_dependencies = Vec::new();
    let mut unresolved_references = Vec::new();
    for i in 0..index.len() {
        let node = index.node(i);
        if node.kind.is_workload() {
            namespaces.insert(node.namespace.clone());
            let data_store = node.workload.as_ref().and_then(|w| w.data_store);
            let tier = if node.load_generator {
                load_generators.push(node.id.clone());
                TierName::LoadGenerator
            } else if data_store.is_some() {
                TierName::Data
            } else if frontend.contains(&i) {
                TierName::Frontend
            } else if index.entry_depth(i).is_some() {
                TierName::Backend
            } else {
                TierName::Unreached
            };
            tiers.entry(tier).or_default().push(node.id.clone());
            if let (Some(kind), Some(info)) = (data_store, &node.workload) {
                data_stores.push(DataStore {
                    id: node.id.clone(),
                    kind,
                    replicas: info.replicas,
                    persistent: !info.persistent_mounts.is_empty(),
                    callers: workload_callers(index, i),
                });
            }
        }
        match node.kind {
            NodeKind::External => {
                tiers
                    .entry(TierName::External)
                    .or_default()
                    .push(node.id.clone());
                external_dependencies.push(ExternalDependency {
                    id: node.id.clone(),
                    host: node.host.clone().unwrap_or_else(|| node.name.clone()),
                    callers: workload_callers(index, i),
                });
            }
            NodeKind::Unresolved => unresolved_references.push(UnresolvedReference {
                id: node.id.clone(),
                name: node.name.clone(),
                callers: workload_callers(index, i),
            }),
            _ => {}
        }
    }
    let workloads: usize = tiers
        .iter()
        .filter(|(name, _)| !matches!(name, TierName::Entry | TierName::External))
        .map(|(_, members)| members.len())
        .sum();
    let summary = format!(
        "{workloads} workloads in {} namespaces behind {} entry points; {} frontend, {} backend, {} unreached, {} load generators; {} data stores, {} external hosts, {} unresolved references.",
        namespaces.len(),
        entry_points.len(),
        tiers.get(&TierName::Frontend).map_or(0, Vec::len),
        tiers.get(&TierName::Backend).map_or(0, Vec::len),
        tiers.get(&TierName::Unreached).map_or(0, Vec::len),
        load_generators.len(),
        data_stores.len(),
        external_dependencies.len(),
        unresolved_references.len(),
    );
    DiscoveryOutput {
        namespaces: namespaces.into_iter().collect(),
        entry_points,
        load_generators,
        tiers: tiers
            .into_iter()
            .map(|(name, members)| Tier { name, members })
            .collect(),
        data_stores,
        external_dependencies,
        unresolved_references,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;

    fn tier(output: &DiscoveryOutput, name: TierName) -> Vec<&str> {
        output
            .tiers
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.members.iter().map(NodeId::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn finds_entry_points_with_urls_and_the_workloads_they_serve() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        let ids: Vec<&str> = output.entry_points.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["shop/Ingress/shop", "shop/Service/frontend-external"]
        );
        assert_eq!(
            output.entry_points[0].urls,
            vec!["http://shop.example.com/"]
        );
        assert_eq!(
            output.entry_points[1].urls,
            vec!["http://frontend-external.shop.svc.cluster.local:80/"]
        );
        for entry in &output.entry_points {
            assert_eq!(
                entry.serves,
                vec![NodeId("shop/Deployment/frontend".into())]
            );
        }
    }

    #[test]
    fn sorts_workloads_into_tiers() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        assert_eq!(
            tier(&output, TierName::Frontend),
            vec!["shop/Deployment/frontend"]
        );
        assert_eq!(
            tier(&output, TierName::Data),
            vec!["shop/StatefulSet/redis-cart"]
        );
        assert!(tier(&output, TierName::Backend).contains(&"shop/Deployment/cartservice"));
        assert_eq!(
            tier(&output, TierName::Unreached),
            vec![
                "kube-system/Deployment/coredns",
                "shop/Deployment/loadgenerator"
            ]
        );
        assert_eq!(
            tier(&output, TierName::External),
            vec!["shop/External/api.payments.example.net"]
        );
    }

    #[test]
    fn lists_data_stores_externals_and_unresolved_with_callers() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        assert_eq!(output.data_stores.len(), 1);
        assert!(output.data_stores[0].persistent);
        assert_eq!(
            output.data_stores[0].callers,
            vec![NodeId("shop/Deployment/cartservice".into())]
        );
        assert_eq!(
            output.external_dependencies[0].host,
            "api.payments.example.net"
        );
        assert_eq!(
            output.external_dependencies[0].callers,
            vec![NodeId("shop/Deployment/paymentservice".into())]
        );
        assert_eq!(
            output.unresolved_references[0].name,
            "shoppingassistantservice"
        );
        assert_eq!(output.namespaces, vec!["kube-system", "shop"]);
        assert!(
            output.summary.contains("2 entry points"),
            "{}",
            output.summary
        );
    }
}
