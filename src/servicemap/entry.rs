//! Entry points and load generators, marked once the map is built. Routes (Ingress, Gateway API,
//! Istio gateways) and LoadBalancer/NodePort Services are entry points by construction; this pass
//! records how each was found. Many applications are reached some other way (a port-forward, a
//! cloud load balancer outside the manifests, a ClusterIP Service behind a proxy), so where
//! nothing declared reaches a workload, the roots of the call graph stand in: workloads a Service
//! exposes that nothing calls and that call others (a worker no Service exposes, such as a queue
//! consumer, is no entry point). Load generators call the application's front door, so their calls
//! must not hide it; they are recognised by name and image and marked instead.

use std::collections::VecDeque;

use foldhash::{HashMap, HashSet, HashSetExt};

use super::model::{EntryVia, Node, NodeKind, ServiceMap};
use crate::snapshot::Snapshot;

/// Names of load-testing tools, matched against whole words of a workload's name and its
/// images' repository names (so `hey` does not match `they`).
const LOAD_TOOLS: &[&str] = &[
    "locust",
    "k6",
    "jmeter",
    "vegeta",
    "hey",
    "wrk",
    "wrk2",
    "gatling",
    "artillery",
    "fortio",
    "siege",
    "loadgenerator",
    "loadgen",
    "loadtest",
];

/// Word pairs that name a load generator when they follow each other (`load-generator`).
const LOAD_PHRASES: &[(&str, &str)] = &[("load", "generator"), ("load", "gen"), ("load", "test")];

/// Whether a name (a workload name, or an image reference) names a load generator.
pub fn names_load_generator(name: &str) -> bool {
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.iter().any(|w| LOAD_TOOLS.contains(&w.as_str()))
        || words
            .windows(2)
            .any(|pair| LOAD_PHRASES.contains(&(pair[0].as_str(), pair[1].as_str())))
}

/// The repository part of an image reference: `grafana/k6:0.50` → `grafana/k6`.
fn image_repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    }
}

fn is_load_generator(node: &Node) -> bool {
    node.kind.is_workload()
        && (names_load_generator(&node.name)
            || node.workload.as_ref().is_some_and(|w| {
                w.containers
                    .iter()
                    .any(|c| names_load_generator(image_repository(&c.image)))
            }))
}

/// Marks load generators, says how each declared entry point was found, and adds the roots of
/// the call graph as entry points where nothing declared reaches them.
pub fn mark(snapshot: &Snapshot, map: &mut ServiceMap) {
    let http_route_gateways: HashMap<(&str, &str), &[String]> = snapshot
        .http_routes
        .iter()
        .map(|r| {
            (
                (r.namespace.as_str(), r.name.as_str()),
                r.parents.as_slice(),
            )
        })
        .collect();
    let istio_gateways: HashMap<(&str, &str), Vec<String>> = snapshot
        .virtual_services
        .iter()
        .map(|vs| {
            let gateways = vs.gateways.iter().filter(|g| *g != "mesh").cloned();
            (
                (vs.namespace.as_str(), vs.name.as_str()),
                gateways.collect(),
            )
        })
        .collect();
    for node in &mut map.nodes {
        node.load_generator = is_load_generator(node);
        if !node.entry_point {
            continue;
        }
        let key = (node.namespace.as_str(), node.name.as_str());
        node.entry_via = match node.kind {
            NodeKind::Ingress => Some(EntryVia::Ingress),
            NodeKind::HTTPRoute => Some(EntryVia::GatewayApi {
                gateways: http_route_gateways
                    .get(&key)
                    .map(|g| g.to_vec())
                    .unwrap_or_default(),
            }),
            NodeKind::VirtualService => Some(EntryVia::IstioGateway {
                gateways: istio_gateways.get(&key).cloned().unwrap_or_default(),
            }),
            NodeKind::Service => node.service.as_ref().map(|s| EntryVia::ServiceType {
                service_type: s.service_type,
            }),
            _ => None,
        };
    }
    mark_call_graph_roots(map);
}

/// Workloads whose pods serve traffic: batch work (Jobs, CronJobs) and data stores start calls
/// but are nobody's front door.
fn may_be_root(node: &Node) -> bool {
    matches!(
        node.kind,
        NodeKind::Deployment | NodeKind::StatefulSet | NodeKind::DaemonSet | NodeKind::Pod
    ) && !node.load_generator
        && node
            .workload
            .as_ref()
            .is_none_or(|w| w.data_store.is_none())
}

/// Recomputes the entry points inferred from the call graph after calls were added to the map
/// (traffic or declared evidence): a workload that was a root of the configuration's call graph
/// may be called by another workload at runtime.
pub fn remark_call_graph_roots(map: &mut ServiceMap) {
    for node in &mut map.nodes {
        if matches!(node.entry_via, Some(EntryVia::CallGraphRoot { .. })) {
            node.entry_point = false;
            node.entry_via = None;
        }
    }
    mark_call_graph_roots(map);
}

fn mark_call_graph_roots(map: &mut ServiceMap) {
    let by_id: HashMap<&str, usize> = map
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let n = map.nodes.len();
    // Calls, with a Service standing for its backends: caller → Service → backend workload.
    let mut successors = vec![Vec::new(); n];
    let mut services_of = vec![Vec::new(); n];
    for edge in &map.edges {
        if let (Some(&from), Some(&to)) =
            (by_id.get(edge.from.as_str()), by_id.get(edge.to.as_str()))
        {
            successors[from].push(to);
        }
    }
    for (s, node) in map.nodes.iter().enumerate() {
        for backend in node.service.iter().flat_map(|s| &s.backends) {
            if let Some(&b) = by_id.get(backend.as_str()) {
                successors[s].push(b);
                services_of[b].push(s);
            }
        }
    }
    let reached = reachable(&successors, (0..n).filter(|&i| map.nodes[i].entry_point));
    // A workload is called when a call other than its own or a load generator's reaches it or
    // one of its Services.
    let mut called = vec![false; n];
    for (from, targets) in successors.iter().enumerate() {
        if map.nodes[from].load_generator || map.nodes[from].kind == NodeKind::Service {
            continue;
        }
        for &to in targets {
            if to == from {
                continue;
            }
            called[to] = true;
            if map.nodes[to].kind == NodeKind::Service {
                for backend in map.nodes[to].service.iter().flat_map(|s| &s.backends) {
                    if let Some(&b) = by_id.get(backend.as_str())
                        && b != from
                    {
                        called[b] = true;
                    }
                }
            }
        }
    }
    let mut roots = Vec::new();
    for (w, node) in map.nodes.iter().enumerate() {
        let calls_others = successors[w]
            .iter()
            .any(|&to| !services_of[w].contains(&to) && to != w);
        let called_via_service = services_of[w].iter().any(|&s| called[s]);
        // A worker nothing can address (a queue consumer) is no entry point.
        let addressable = !services_of[w].is_empty();
        if may_be_root(node)
            && addressable
            && !reached.contains(&w)
            && !called[w]
            && !called_via_service
            && calls_others
        {
            roots.push(w);
        }
    }
    for w in roots {
        let via = EntryVia::CallGraphRoot {
            workload: map.nodes[w].id.clone(),
        };
        // Enter through the workload's Services: what a port-forward or a proxy addresses.
        for &door in &services_of[w] {
            let node = &mut map.nodes[door];
            if !node.entry_point {
                node.entry_point = true;
                node.entry_via = Some(via.clone());
            }
        }
    }
}

/// Every node reachable from `starts` along `successors`, the starts included.
fn reachable(successors: &[Vec<usize>], starts: impl Iterator<Item = usize>) -> HashSet<usize> {
    let mut seen: HashSet<usize> = HashSet::new();
    let mut queue: VecDeque<usize> = VecDeque::new();
    for s in starts {
        if seen.insert(s) {
            queue.push_back(s);
        }
    }
    while let Some(i) = queue.pop_front() {
        for &next in &successors[i] {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_generators_are_recognised_by_whole_words() {
        for name in [
            "load-generator",
            "loadgenerator",
            "locust-master",
            "grafana/k6",
            "my-load-test",
            "hey",
            "williamyeh/wrk",
            "jmeter-runner",
        ] {
            assert!(names_load_generator(name), "{name}");
        }
        for name in [
            "they",
            "worker",
            "frontend-proxy",
            "k8s-agent",
            "network",
            "loader",
        ] {
            assert!(!names_load_generator(name), "{name}");
        }
        assert_eq!(image_repository("grafana/k6:0.50@sha256:ab"), "grafana/k6");
        assert_eq!(
            image_repository("localhost:5000/locust"),
            "localhost:5000/locust"
        );
    }
}
