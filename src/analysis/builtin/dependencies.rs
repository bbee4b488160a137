//! Stage 2 rules: single points of failure and other findings, critical paths, fan-in and
//! fan-out, cycles. Linear in the map's size except for sorting.

use std::collections::BTreeSet;

use super::super::index::MapIndex;
use super::super::model::{
    CriticalPath, DependenciesOutput, DependencyCycle, FanDegree, Finding, FindingKind, Severity,
};
use super::super::naming::item_id;
use super::{fan, has_traffic_evidence, is_declared, is_replicated_kind, label};
use crate::servicemap::{EvidenceKind, NodeId, NodeKind, ServiceType};

/// Callers at which a node counts as a hub.
pub(crate) const HIGH_FAN_IN: u32 = 3;
/// Callees at which a workload counts as an aggregator.
pub(crate) const HIGH_FAN_OUT: u32 = 5;
/// Critical paths reported.
const MAX_CRITICAL_PATHS: usize = 10;
/// Workloads listed by fan-in/fan-out.
const MAX_FAN_ENTRIES: usize = 20;

/// The id of the finding of `kind` about `subject`.
pub(crate) fn finding_id(kind: FindingKind, subject: &NodeId, name: &str) -> String {
    item_id(
        &format!("f-{}", kind.slug()),
        name,
        &[kind.slug(), subject.as_str()],
    )
}

struct Findings<'i, 'a> {
    index: &'i MapIndex<'a>,
    out: Vec<Finding>,
}

impl Findings<'_, '_> {
    fn add(
        &mut self,
        kind: FindingKind,
        severity: Severity,
        subject: usize,
        message: String,
        related: Vec<usize>,
    ) {
        let node = self.index.node(subject);
        let mut related: Vec<NodeId> = related
            .into_iter()
            .map(|r| self.index.node(r).id.clone())
            .collect();
        related.sort();
        related.dedup();
        self.out.push(Finding {
            id: finding_id(kind, &node.id, &node.name),
            kind,
            severity,
            subject: node.id.clone(),
            message,
            related,
        });
    }
}

fn workload_findings(index: &MapIndex<'_>, findings: &mut Findings<'_, '_>, i: usize) {
    let node = index.node(i);
    let Some(info) = &node.workload else {
        return;
    };
    let callers = index.callers(i);
    let reached = index.entry_depth(i).is_some();
    // A Service selecting the pods means someone calls them, even when no edge shows who.
    let fronted = index
        .predecessors(i)
        .iter()
        .any(|&p| index.node(p).kind == NodeKind::Service);
    let serves_traffic = !callers.is_empty() || reached || fronted;
    let name = label(index, i);
    if is_replicated_kind(node.kind) {
        match (info.replicas, info.data_store) {
            (Some(replicas), Some(store)) if replicas <= 1 => findings.add(
                FindingKind::DataStoreWithoutReplicas,
                if reached { Severity::Critical } else { Severity::High },
                i,
                format!(
                    "{name} ({store}) runs {replicas} replica: losing its pod loses the data store for {} caller(s)",
                    callers.len()
                ),
                callers.to_vec(),
            ),
            (Some(1), None) if serves_traffic => findings.add(
                FindingKind::SingleReplica,
                if reached { Severity::High } else { Severity::Medium },
                i,
                format!(
                    "{name} runs a single replica: a single point of failure for {} caller(s)",
                    callers.len()
                ),
                callers.to_vec(),
            ),
            _ => {}
        }
        if info.replicas.unwrap_or(1) >= 2 && !info.has_pdb && serves_traffic {
            findings.add(
                FindingKind::NoPodDisruptionBudget,
                if reached {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                i,
                format!(
                    "{name} has no PodDisruptionBudget: a node drain may evict all its pods at once"
                ),
                Vec::new(),
            );
        }
    }
    let is_frontend = index.predecessors(i).iter().any(|&p| {
        index.node(p).entry_point
            || index
                .predecessors(p)
                .iter()
                .any(|&q| index.node(q).entry_point)
    });
    if node.kind == NodeKind::Deployment && is_frontend && info.autoscaling.is_none() {
        findings.add(
            FindingKind::NoAutoscaler,
            Severity::Low,
            i,
            format!("{name} serves an entry point but no HorizontalPodAutoscaler scales it"),
            Vec::new(),
        );
    }
    let unprobed: Vec<&str> = info
        .containers
        .iter()
        .filter(|c| !c.readiness_probe)
        .map(|c| c.name.as_str())
        .collect();
    if fronted && !unprobed.is_empty() {
        findings.add(
            FindingKind::NoReadinessProbe,
            if reached { Severity::Medium } else { Severity::Low },
            i,
            format!(
                "{name}: container(s) {} have no readiness probe, so Services send traffic to pods that are not ready",
                unprobed.join(", ")
            ),
            Vec::new(),
        );
    }
    let unlimited: Vec<&str> = info
        .containers
        .iter()
        .filter(|c| !c.resource_limits)
        .map(|c| c.name.as_str())
        .collect();
    if !unlimited.is_empty() {
        findings.add(
            FindingKind::NoResourceLimits,
            Severity::Low,
            i,
            format!(
                "{name}: container(s) {} set no CPU or memory limits; a noisy neighbour can starve the node",
                unlimited.join(", ")
            ),
            Vec::new(),
        );
    }
    let (fan_in, fan_out) = fan(index, i);
    if fan_in >= HIGH_FAN_IN {
        findings.add(
            FindingKind::HighFanIn,
            if info.replicas == Some(1) {
                Severity::Medium
            } else {
                Severity::Low
            },
            i,
            format!("{name} has {fan_in} callers: a failure here spreads widely"),
            callers.to_vec(),
        );
    }
    if fan_out >= HIGH_FAN_OUT {
        findings.add(
            FindingKind::HighFanOut,
            Severity::Low,
            i,
            format!(
                "{name} calls {fan_out} dependencies: its latency is the sum of theirs unless it calls them concurrently"
            ),
            index.successors(i).to_vec(),
        );
    }
}

/// Where the kinds of evidence disagree, per caller: declared calls never observed, observed
/// calls declared nowhere. Only when the map holds traffic evidence at all.
fn evidence_gap_findings(index: &MapIndex<'_>, findings: &mut Findings<'_, '_>, i: usize) {
    let mut unobserved = Vec::new();
    let mut undeclared = Vec::new();
    for &next in index.successors(i) {
        let Some(edge) = index.edge(i, next) else {
            continue;
        };
        let observed = edge.has_kind(EvidenceKind::Traffic);
        match (is_declared(edge), observed) {
            (true, false) => unobserved.push(next),
            (false, true) => undeclared.push(next),
            _ => {}
        }
    }
    let name = label(index, i);
    let names = |nodes: &[usize]| {
        nodes
            .iter()
            .map(|&n| index.node(n).name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !unobserved.is_empty() {
        findings.add(
            FindingKind::DeclaredNotObserved,
            Severity::Low,
            i,
            format!(
                "{name} is configured to call {}, but the traffic data shows no such call in its window: dead configuration, or a path nothing exercised",
                names(&unobserved)
            ),
            unobserved,
        );
    }
    if !undeclared.is_empty() {
        findings.add(
            FindingKind::ObservedNotDeclared,
            Severity::Medium,
            i,
            format!(
                "{name} calls {} at runtime, but no manifest or architecture declares it: wiring hidden in code",
                names(&undeclared)
            ),
            undeclared,
        );
    }
}

/// Strongly connected components with two or more workloads (Tarjan's algorithm, iterative so
/// deep graphs cannot overflow the stack).
fn cycles(index: &MapIndex<'_>) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = index.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut components = Vec::new();
    let mut frames: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if order[start] != UNSEEN {
            continue;
        }
        order[start] = counter;
        low[start] = counter;
        counter += 1;
        stack.push(start);
        on_stack[start] = true;
        frames.push((start, 0));
        while let Some(frame) = frames.last_mut() {
            let (v, position) = *frame;
            let successors = index.successors(v);
            if position < successors.len() {
                frame.1 += 1;
                let w = successors[position];
                if order[w] == UNSEEN {
                    order[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    frames.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let workloads = component
                    .iter()
                    .filter(|&&c| index.node(c).kind.is_workload())
                    .count();
                if workloads >= 2 {
                    component.sort_unstable();
                    components.push(component);
                }
            }
        }
    }
    components.sort();
    components
}

fn critical_paths(index: &MapIndex<'_>) -> Vec<CriticalPath> {
    // Ends of chains: reached nodes that are no other reached node's BFS parent.
    let n = index.len();
    let mut is_parent = vec![false; n];
    for i in 0..n {
        if let Some(parent) = index.entry_parent(i) {
            is_parent[parent] = true;
        }
    }
    let mut ends: Vec<(u32, bool, usize)> = (0..n)
        .filter_map(|i| {
            let depth = index.entry_depth(i)?;
            (depth >= 2 && !is_parent[i]).then(|| (depth, index.is_data_store(i), i))
        })
        .collect();
    // Deepest first, data stores before others at equal depth, then by id.
    ends.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    ends.into_iter()
        .take(MAX_CRITICAL_PATHS)
        .map(|(depth, _, end)| {
            let path = index.entry_path(end);
            let fragile: Vec<String> = path
                .iter()
                .filter(|&&p| {
                    let node = index.node(p);
                    is_replicated_kind(node.kind)
                        && node.workload.as_ref().and_then(|w| w.replicas) == Some(1)
                })
                .map(|&p| index.node(p).name.clone())
                .collect();
            let first = path.first().copied().unwrap_or(end);
            let reason = if fragile.is_empty() {
                format!(
                    "{depth} hops from {} to {}; every node on it can break the entry point",
                    label(index, first),
                    label(index, end)
                )
            } else {
                format!(
                    "{depth} hops from {} to {}; single replicas on the way: {}",
                    label(index, first),
                    label(index, end),
                    fragile.join(", ")
                )
            };
            let nodes: Vec<NodeId> = path.iter().map(|&p| index.node(p).id.clone()).collect();
            let joined: Vec<&str> = nodes.iter().map(NodeId::as_str).collect();
            CriticalPath {
                id: item_id("cp", &index.node(end).name, &joined),
                nodes,
                reason,
            }
        })
        .collect()
}

pub(crate) fn run(index: &MapIndex<'_>) -> DependenciesOutput {
    let mut findings = Findings {
        index,
        out: Vec::new(),
    };
    let mut fans = Vec::new();
    let observed = has_traffic_evidence(index);
    for i in 0..index.len() {
        let node = index.node(i);
        if observed && node.kind.is_workload() {
            evidence_gap_findings(index, &mut findings, i);
        }
        if node.kind.is_workload() {
            workload_findings(index, &mut findings, i);
            let (fan_in, fan_out) = fan(index, i);
            if fan_in >= 2 || fan_out >= 3 {
                fans.push(FanDegree {
                    node: node.id.clone(),
                    fan_in,
                    fan_out,
                });
            }
        }
        match node.kind {
            NodeKind::Unresolved => {
                let callers = index.callers(i);
                let reached = callers.iter().any(|&c| index.entry_depth(c).is_some());
                findings.add(
                    FindingKind::UnresolvedReference,
                    if reached {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    i,
                    format!(
                        "{} caller(s) reference Service {:?}, which does not exist: those calls fail today",
                        callers.len(),
                        node.name
                    ),
                    callers.to_vec(),
                );
            }
            NodeKind::External => {
                let callers = index.callers(i);
                findings.add(
                    FindingKind::ExternalDependency,
                    Severity::Low,
                    i,
                    format!(
                        "{} caller(s) depend on {:?} outside the cluster; its failures are outside our control",
                        callers.len(),
                        node.host.as_deref().unwrap_or(&node.name)
                    ),
                    callers.to_vec(),
                );
            }
            NodeKind::Service => {
                let Some(service) = &node.service else {
                    continue;
                };
                let callers = index.callers(i);
                if service.backends.is_empty()
                    && !service.selector.is_empty()
                    && service.service_type != ServiceType::ExternalName
                    && !callers.is_empty()
                {
                    findings.add(
                        FindingKind::ServiceWithoutBackends,
                        Severity::Medium,
                        i,
                        format!(
                            "Service {:?} selects no workload in the map; its {} caller(s) reach nothing",
                            node.name,
                            callers.len()
                        ),
                        callers.to_vec(),
                    );
                }
            }
            _ => {}
        }
    }
    let mut cycle_list = Vec::new();
    for component in cycles(index) {
        let workloads: Vec<usize> = component
            .iter()
            .copied()
            .filter(|&c| index.node(c).kind.is_workload())
            .collect();
        let names: Vec<String> = workloads
            .iter()
            .map(|&w| index.node(w).name.clone())
            .collect();
        let first = workloads.first().copied().unwrap_or(component[0]);
        findings.add(
            FindingKind::DependencyCycle,
            Severity::Medium,
            first,
            format!(
                "{} depend on each other in a loop: a failure can feed back and retries can amplify",
                names.join(", ")
            ),
            component.clone(),
        );
        let nodes: Vec<NodeId> = component
            .iter()
            .map(|&c| index.node(c).id.clone())
            .collect();
        let joined: Vec<&str> = nodes.iter().map(NodeId::as_str).collect();
        cycle_list.push(DependencyCycle {
            id: item_id("cycle", &index.node(first).name, &joined),
            nodes,
        });
    }
    let mut findings = findings.out;
    findings.extend(super::drift::findings(index));
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then(a.subject.cmp(&b.subject))
    });
    let mut seen_ids = BTreeSet::new();
    findings.retain(|f| seen_ids.insert(f.id.clone()));
    fans.sort_by(|a, b| {
        (b.fan_in + b.fan_out)
            .cmp(&(a.fan_in + a.fan_out))
            .then(a.node.cmp(&b.node))
    });
    fans.truncate(MAX_FAN_ENTRIES);
    DependenciesOutput {
        findings,
        critical_paths: critical_paths(index),
        fan: fans,
        cycles: cycle_list,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;
    use crate::servicemap::Edge;

    fn kinds_of(output: &DependenciesOutput, subject: &str) -> Vec<FindingKind> {
        output
            .findings
            .iter()
            .filter(|f| f.subject.as_str() == subject)
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn flags_single_points_of_failure() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        let checkout = kinds_of(&output, "shop/Deployment/checkoutservice");
        assert!(
            checkout.contains(&FindingKind::SingleReplica),
            "{checkout:?}"
        );
        let redis = kinds_of(&output, "shop/StatefulSet/redis-cart");
        assert!(redis.contains(&FindingKind::DataStoreWithoutReplicas));
        assert!(redis.contains(&FindingKind::NoReadinessProbe));
        assert!(
            !redis.contains(&FindingKind::SingleReplica),
            "reported once, as a data store"
        );
        let cart = kinds_of(&output, "shop/Deployment/cartservice");
        assert!(cart.contains(&FindingKind::NoPodDisruptionBudget));
        assert!(cart.contains(&FindingKind::NoResourceLimits));
        // frontend has 3 replicas, a PDB and an HPA.
        let frontend = kinds_of(&output, "shop/Deployment/frontend");
        assert!(!frontend.contains(&FindingKind::SingleReplica));
        assert!(!frontend.contains(&FindingKind::NoPodDisruptionBudget));
        assert!(!frontend.contains(&FindingKind::NoAutoscaler));
        // The load generator has no callers: one replica there is not a SPOF.
        assert!(
            !kinds_of(&output, "shop/Deployment/loadgenerator")
                .contains(&FindingKind::SingleReplica)
        );
        let redis_finding = output
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::DataStoreWithoutReplicas)
            .unwrap();
        assert_eq!(redis_finding.severity, Severity::Critical);
        assert_eq!(
            output.findings[0].severity,
            Severity::Critical,
            "most severe first"
        );
    }

    #[test]
    fn reports_unresolved_references_and_external_hosts() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        let unresolved = output
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::UnresolvedReference)
            .unwrap();
        assert_eq!(
            unresolved.subject.as_str(),
            "shop/Unresolved/shoppingassistantservice"
        );
        assert_eq!(
            unresolved.related,
            vec![NodeId("shop/Deployment/frontend".into())]
        );
        assert!(
            output
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::ExternalDependency)
        );
    }

    #[test]
    fn critical_paths_run_from_entry_points_to_the_deepest_nodes() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        assert!(!output.critical_paths.is_empty());
        let first = &output.critical_paths[0];
        assert!(
            first.nodes[0].as_str().contains("Ingress")
                || first.nodes[0].as_str().contains("frontend-external")
        );
        let longest = output
            .critical_paths
            .iter()
            .map(|p| p.nodes.len())
            .max()
            .unwrap();
        assert_eq!(first.nodes.len(), longest);
        // The external payment API is the deepest node: entry → svc → frontend → svc → checkout
        // → svc → payment → external.
        assert!(
            output
                .critical_paths
                .iter()
                .any(|p| p.nodes.last().unwrap().as_str()
                    == "shop/External/api.payments.example.net")
        );
    }

    #[test]
    fn fan_in_counts_callers_through_services() {
        let map = fixtures::boutique();
        let output = run(&MapIndex::new(&map));
        let cart = output
            .fan
            .iter()
            .find(|f| f.node.as_str() == "shop/Deployment/cartservice")
            .unwrap();
        assert_eq!(cart.fan_in, 2);
        let frontend = output
            .fan
            .iter()
            .find(|f| f.node.as_str() == "shop/Deployment/frontend")
            .unwrap();
        assert_eq!(frontend.fan_out, 4);
    }

    #[test]
    fn finds_cycles_between_workloads_only() {
        let mut map = fixtures::boutique();
        assert!(run(&MapIndex::new(&map)).cycles.is_empty());
        // redis-cart calling back into cartservice closes a loop.
        map.edges.push(Edge {
            from: NodeId("shop/StatefulSet/redis-cart".into()),
            to: NodeId("shop/Service/cartservice".into()),
            evidence: vec![],
            kinds: vec![],
            confidence: 0.5,
            port: None,
            protocol: None,
        });
        let output = run(&MapIndex::new(&map));
        assert_eq!(output.cycles.len(), 1);
        let members: Vec<&str> = output.cycles[0].nodes.iter().map(NodeId::as_str).collect();
        assert!(members.contains(&"shop/Deployment/cartservice"));
        assert!(members.contains(&"shop/StatefulSet/redis-cart"));
        assert!(
            output
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::DependencyCycle)
        );
    }
}
