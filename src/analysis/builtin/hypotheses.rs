//! Stage 4 rules: "if X fails, then Y keeps steady state Z", from the findings and the map.
//!
//! Every workload that serves traffic gets a pod-loss hypothesis; every call to a Service gets a
//! latency hypothesis (a partition when the callee is a data store); every call to an external
//! host a DNS failure; persistent StatefulSets a disk-latency one; autoscaled workloads a CPU
//! one; the front tier an HTTP-latency one. They are ranked by risk with a per-fault quota, so
//! large maps keep a varied, readable list.

use std::collections::{BTreeMap, BTreeSet};

use super::super::index::MapIndex;
use super::super::model::{
    DependenciesOutput, Expectation, Fault, FindingKind, HypothesesOutput, Hypothesis, SteadyState,
    SteadyStateOutput,
};
use super::super::naming::item_id;
use super::super::stages::StageInput;
use super::{fan, is_replicated_kind};
use crate::servicemap::{NodeId, NodeKind};

/// Latency the built-in dependency-latency experiments add.
pub(crate) const DEPENDENCY_LATENCY: &str = "200ms";
/// Delay the built-in HTTP experiments add to responses.
pub(crate) const HTTP_DELAY: &str = "1s";
/// Delay the built-in IO experiments add to file-system calls.
pub(crate) const IO_DELAY: &str = "100ms";

/// The id of the hypothesis that `fault` on `target` (and `peer`) breaks nothing.
pub(crate) fn hypothesis_id(
    fault: Fault,
    target: &NodeId,
    peer: Option<&NodeId>,
    name: &str,
) -> String {
    item_id(
        &format!("h-{}", fault.slug()),
        name,
        &[
            fault.slug(),
            target.as_str(),
            peer.map(NodeId::as_str).unwrap_or(""),
        ],
    )
}

/// Most steady-state checks one hypothesis (and its experiment) watches.
const MAX_CHECKS: usize = 4;

/// The steady states that speak for `target`, most important first: about its callers, the
/// entry points and workloads upstream of it, and itself. `exclude_own` leaves out checks of the
/// target and its Services (they break by design when its only pod fails). Falls back to the most
/// important steady state, so every hypothesis has a Z.
fn relevant_steady_states(
    index: &MapIndex<'_>,
    steady: &[SteadyState],
    target: usize,
    upstream: &[usize],
    exclude_own: bool,
) -> Vec<String> {
    let mut near: BTreeSet<usize> = upstream.iter().copied().collect();
    near.extend(index.callers(target).iter().copied());
    let own: BTreeSet<usize> =
        std::iter::once(target)
            .chain(
                index.predecessors(target).iter().copied().filter(|&p| {
                    index.node(p).kind == NodeKind::Service && !index.node(p).entry_point
                }),
            )
            .collect();
    if exclude_own {
        near.retain(|n| !own.contains(n));
    } else {
        near.extend(own);
    }
    let mut relevant: Vec<&SteadyState> = steady
        .iter()
        .filter(|s| {
            index
                .get(s.subject.as_str())
                .is_some_and(|i| near.contains(&i))
        })
        .collect();
    relevant.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.id.cmp(&b.id)));
    let mut out: Vec<String> = relevant
        .into_iter()
        .take(MAX_CHECKS)
        .map(|s| s.id.clone())
        .collect();
    if out.is_empty()
        && let Some(first) = steady.iter().min_by_key(|s| s.priority)
    {
        out.push(first.id.clone());
    }
    out
}

/// A hypothesis before it is written out: enough to rank it cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    fault: Fault,
    target: usize,
    peer: Option<usize>,
    risk: u32,
    at_risk: bool,
}

struct Builder<'i, 'a> {
    index: &'i MapIndex<'a>,
    steady: &'i [SteadyState],
    findings_by_subject: BTreeMap<&'i str, Vec<&'i str>>,
    spof: BTreeSet<&'i str>,
}

impl Builder<'_, '_> {
    /// Y as a phrase: the workloads, then the entry points.
    fn names(&self, nodes: &[usize]) -> String {
        let list = |names: Vec<&str>| match names.len() {
            0..=3 => names.join(", "),
            more => format!("{} and {} more", names[..3].join(", "), more - 3),
        };
        let (entries, others): (Vec<usize>, Vec<usize>) =
            nodes.iter().partition(|&&n| self.index.node(n).entry_point);
        let name = |n: &usize| self.index.node(*n).name.as_str();
        let mut parts = Vec::new();
        if !others.is_empty() {
            parts.push(list(others.iter().map(name).collect()));
        }
        if !entries.is_empty() {
            let noun = if entries.len() == 1 {
                "entry point"
            } else {
                "entry points"
            };
            parts.push(format!(
                "{noun} {}",
                list(entries.iter().map(name).collect())
            ));
        }
        if parts.is_empty() {
            "its callers".to_string()
        } else {
            parts.join(" and ")
        }
    }

    /// Z as a phrase: the most important steady state, and how many more are watched.
    fn steady_names(&self, ids: &[String]) -> String {
        let names: Vec<String> = ids
            .iter()
            .filter_map(|id| self.steady.iter().find(|s| &s.id == id))
            .map(|s| format!("'{}'", s.name))
            .collect();
        match names.split_first() {
            None => "their steady state".to_string(),
            Some((first, [])) => first.clone(),
            Some((first, rest)) => format!("{first} (and {} more steady states)", rest.len()),
        }
    }

    /// Y: who keeps steady. For faults of the target itself, its callers; for faults of a
    /// dependency, the target (the caller). Plus the entry points upstream of it.
    fn keepers(&self, candidate: &Candidate, upstream: &[usize]) -> Vec<usize> {
        let target = candidate.target;
        let mut out: BTreeSet<usize> = if candidate.fault.needs_peer() {
            BTreeSet::from([target])
        } else {
            self.index.callers(target).iter().copied().collect()
        };
        out.extend(
            upstream
                .iter()
                .copied()
                .filter(|&u| self.index.node(u).entry_point),
        );
        out.into_iter().collect()
    }

    /// "If X fails, then Y keeps Z", with Y and Z already named.
    fn statement(&self, candidate: &Candidate, y: &str, z: &str) -> String {
        let node = self.index.node(candidate.target);
        let name = &node.name;
        let info = node.workload.as_ref();
        let peer = candidate.peer.map(|p| self.index.node(p));
        let peer_name = peer
            .map(|p| p.host.clone().unwrap_or_else(|| p.name.clone()))
            .unwrap_or_default();
        match candidate.fault {
            Fault::PodLoss => {
                if node.is_single_point_of_failure() {
                    format!(
                        "If the only pod of {name} fails, then {y} keep {z} (the map suggests not: {name} runs a single replica)"
                    )
                } else {
                    let replicas = info.and_then(|w| w.replicas).unwrap_or(1);
                    format!(
                        "If one of the {replicas} pods of {name} is killed, then {y} keep {z}, because the remaining replicas take the traffic"
                    )
                }
            }
            Fault::ContainerCrash => {
                format!("If a container of {name} crashes, then {y} keep {z}")
            }
            Fault::DiskLatency => {
                let mount = info
                    .and_then(|w| w.persistent_mounts.first())
                    .map(String::as_str)
                    .unwrap_or("its volume");
                format!(
                    "If the volume of {name} at {mount} slows down by {IO_DELAY} per operation, then {y} keep {z}"
                )
            }
            Fault::CpuPressure => match info.and_then(|w| w.autoscaling) {
                Some((min, max)) => format!(
                    "If the CPU of {name} is saturated, then its autoscaler (min {min}, max {max} replicas) scales out and {y} keep {z}"
                ),
                None => format!("If the CPU of {name} is saturated, then {y} keep {z}"),
            },
            Fault::HttpLatency => format!(
                "If the HTTP responses of {name} are delayed by {HTTP_DELAY}, then {y} keep {z} within their timeouts"
            ),
            Fault::HttpAbort => {
                format!("If the HTTP responses of {name} are aborted, then {y} keep {z}")
            }
            Fault::ClockSkew => format!("If the clock of {name} drifts, then {y} keep {z}"),
            Fault::DependencyPartition => format!(
                "If {name} cannot reach the data store behind {peer_name}, then {y} keep {z} by degrading gracefully"
            ),
            Fault::DependencyLatency => format!(
                "If calls from {name} to {peer_name} are delayed by {DEPENDENCY_LATENCY}, then {y} keep {z} through timeouts and retries"
            ),
            Fault::DependencyLoss => format!(
                "If calls from {name} to {peer_name} lose packets, then {y} keep {z} through retries"
            ),
            Fault::DnsFailure => format!(
                "If {peer_name} cannot be resolved from {name}, then {y} keep {z}: the external call fails fast and is handled"
            ),
        }
    }

    /// Writes a ranked candidate out in full.
    fn build(&self, candidate: &Candidate) -> Hypothesis {
        let node = self.index.node(candidate.target);
        let peer_node = candidate.peer.map(|p| self.index.node(p));
        let upstream = self.index.upstream(candidate.target);
        let keepers = self.keepers(candidate, &upstream);
        let single_pod_loss =
            candidate.fault == Fault::PodLoss && node.is_single_point_of_failure();
        let steady_state_ids = relevant_steady_states(
            self.index,
            self.steady,
            candidate.target,
            &upstream,
            single_pod_loss,
        );
        let mut subjects = vec![node.id.as_str()];
        if let Some(p) = candidate.peer {
            subjects.push(self.index.node(p).id.as_str());
            for backend in self.index.backing_workloads(p) {
                subjects.push(self.index.node(backend).id.as_str());
            }
        }
        let mut finding_ids: Vec<String> = subjects
            .iter()
            .filter_map(|s| self.findings_by_subject.get(s))
            .flatten()
            .map(|id| id.to_string())
            .collect();
        finding_ids.sort();
        finding_ids.dedup();
        let name = match peer_node {
            Some(p) => format!("{}-{}", node.name, p.name),
            None => node.name.clone(),
        };
        let statement = self.statement(
            candidate,
            &self.names(&keepers),
            &self.steady_names(&steady_state_ids),
        );
        Hypothesis {
            id: hypothesis_id(candidate.fault, &node.id, peer_node.map(|p| &p.id), &name),
            statement,
            fault: candidate.fault,
            target: node.id.clone(),
            peer: peer_node.map(|p| p.id.clone()),
            keeps_steady: keepers
                .iter()
                .map(|&k| self.index.node(k).id.clone())
                .collect(),
            steady_state_ids,
            finding_ids,
            expectation: if candidate.at_risk {
                Expectation::AtRisk
            } else {
                Expectation::Holds
            },
            risk_score: candidate.risk.min(100),
        }
    }

    fn is_spof(&self, i: usize) -> bool {
        self.spof.contains(self.index.node(i).id.as_str())
    }

    /// The candidates about workload `i`, scored. Cheap: no strings, no allocation per item.
    fn candidates(&self, i: usize, out: &mut Vec<Candidate>) {
        let index = self.index;
        let node = index.node(i);
        let Some(info) = &node.workload else { return };
        if info.pod_labels.is_empty() || info.replicas == Some(0) {
            return;
        }
        let reached = index.entry_depth(i).is_some();
        let callers = index.callers(i);
        let (fan_in, fan_out) = fan(index, i);
        let reach_bonus = if reached { 5 } else { 0 };
        let unprobed = info.containers.iter().any(|c| !c.readiness_probe);
        let mut push = |fault, peer, risk: u32, at_risk| {
            out.push(Candidate {
                fault,
                target: i,
                peer,
                risk: risk.min(100),
                at_risk,
            })
        };

        // Pods behind a Service serve someone even when no edge says who (calls wired in code):
        // their loss is worth a hypothesis without any known caller.
        let fronted = index
            .predecessors(i)
            .iter()
            .any(|&p| index.node(p).kind == NodeKind::Service);
        if (is_replicated_kind(node.kind) || node.kind == NodeKind::DaemonSet)
            && (reached || fronted || !callers.is_empty() || info.data_store.is_some())
        {
            let replicas = info.replicas.unwrap_or(1);
            let base = match (replicas <= 1, info.data_store.is_some(), info.has_pdb) {
                (true, true, _) => 90,
                (true, false, _) => 80,
                (false, _, false) => 50,
                (false, _, true) => 35,
            };
            let single = node.is_single_point_of_failure();
            push(
                Fault::PodLoss,
                None,
                base + (fan_in * 3).min(12) + reach_bonus,
                single || unprobed,
            );
        }
        if node.kind == NodeKind::StatefulSet && !info.persistent_mounts.is_empty() {
            let store = if info.data_store.is_some() { 10 } else { 0 };
            push(
                Fault::DiskLatency,
                None,
                50 + store + reach_bonus,
                self.is_spof(i),
            );
        }
        if info.autoscaling.is_some() {
            push(Fault::CpuPressure, None, 45 + reach_bonus, false);
        }
        let serves_entry = index.predecessors(i).iter().any(|&p| {
            index.node(p).entry_point
                || index
                    .predecessors(p)
                    .iter()
                    .any(|&q| index.node(q).entry_point)
        });
        let has_port = info.containers.iter().any(|c| !c.ports.is_empty());
        if serves_entry && has_port {
            push(Fault::HttpLatency, None, 50 + reach_bonus, false);
        }
        // A caller nobody calls and no entry point reaches (a load generator, a cron job) has no
        // steady state of its own to keep while its dependencies fail.
        let serves_traffic = reached || !callers.is_empty();
        for &callee in index.successors(i).iter().filter(|_| serves_traffic) {
            let peer = index.node(callee);
            match peer.kind {
                NodeKind::Service => {
                    let has_selector = peer
                        .service
                        .as_ref()
                        .is_some_and(|s| !s.selector.is_empty());
                    let backends = index.backing_workloads(callee);
                    if backends.is_empty() || !has_selector || backends.contains(&i) {
                        continue;
                    }
                    let store = backends.iter().any(|&b| index.is_data_store(b));
                    let fragile = backends.iter().any(|&b| self.is_spof(b));
                    if store {
                        push(
                            Fault::DependencyPartition,
                            Some(callee),
                            60 + if fragile { 15 } else { 0 } + reach_bonus,
                            fragile,
                        );
                    } else {
                        push(
                            Fault::DependencyLatency,
                            Some(callee),
                            40 + if fragile { 10 } else { 0 } + reach_bonus + (fan_out * 2).min(10),
                            false,
                        );
                    }
                }
                NodeKind::External => {
                    push(Fault::DnsFailure, Some(callee), 55 + reach_bonus, false);
                }
                _ => {}
            }
        }
    }
}

pub(crate) fn run(
    input: &StageInput<'_>,
    dependencies: &DependenciesOutput,
    steady: &SteadyStateOutput,
) -> HypothesesOutput {
    let index = input.index;
    let mut findings_by_subject: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for finding in &dependencies.findings {
        findings_by_subject
            .entry(finding.subject.as_str())
            .or_default()
            .push(finding.id.as_str());
    }
    let spof = dependencies
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FindingKind::SingleReplica | FindingKind::DataStoreWithoutReplicas
            )
        })
        .map(|f| f.subject.as_str())
        .collect();
    let builder = Builder {
        index,
        steady: &steady.steady_states,
        findings_by_subject,
        spof,
    };
    let mut candidates = Vec::new();
    for i in 0..index.len() {
        let node = index.node(i);
        // Only workloads experiments may target: no point hypothesising about the rest.
        if node.kind.is_workload()
            && input
                .config
                .check_namespace(&node.namespace, input.namespaces)
                .is_ok()
        {
            builder.candidates(i, &mut candidates);
        }
    }
    // Highest risk first; node numbers follow ids, so ties break deterministically.
    candidates.sort_by(|a, b| {
        b.risk
            .cmp(&a.risk)
            .then(a.target.cmp(&b.target))
            .then(a.fault.cmp(&b.fault))
            .then(a.peer.cmp(&b.peer))
    });
    // Every workload's riskiest candidate first, so each service gets a plan even when the map
    // knows no edge; then the rest by risk, a per-fault quota keeping a large map's list varied.
    // On a large map coverage leaves a third of the list to the other faults.
    let max = input.config.max_hypotheses;
    let quota = (max / 3).max(5);
    let coverage = max.saturating_sub(quota);
    let mut per_fault: BTreeMap<Fault, usize> = BTreeMap::new();
    let mut covered = BTreeSet::new();
    let mut taken = vec![false; candidates.len()];
    let mut picked: Vec<&Candidate> = Vec::new();
    for (k, candidate) in candidates.iter().enumerate() {
        if picked.len() < coverage && covered.insert(candidate.target) {
            taken[k] = true;
            *per_fault.entry(candidate.fault).or_default() += 1;
            picked.push(candidate);
        }
    }
    for (k, candidate) in candidates.iter().enumerate() {
        if picked.len() >= max {
            break;
        }
        let count = per_fault.entry(candidate.fault).or_default();
        if taken[k] || *count >= quota {
            continue;
        }
        *count += 1;
        picked.push(candidate);
    }
    let mut kept: Vec<Hypothesis> = picked.into_iter().map(|c| builder.build(c)).collect();
    let mut seen = BTreeSet::new();
    kept.retain(|h| seen.insert(h.id.clone()));
    kept.sort_by(|a, b| b.risk_score.cmp(&a.risk_score).then(a.id.cmp(&b.id)));
    HypothesesOutput { hypotheses: kept }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalysisConfig;
    use crate::analysis::builtin::test_support::run_until;
    use crate::analysis::fixtures;
    use crate::analysis::stages::StageId;

    fn boutique() -> (HypothesesOutput, SteadyStateOutput, DependenciesOutput) {
        let map = fixtures::boutique();
        let outputs = run_until(&map, &AnalysisConfig::default(), StageId::Hypotheses);
        (
            outputs.hypotheses.unwrap(),
            outputs.steady_state.unwrap(),
            outputs.dependencies.unwrap(),
        )
    }

    fn find<'a>(
        output: &'a HypothesesOutput,
        fault: Fault,
        target: &str,
    ) -> Option<&'a Hypothesis> {
        output
            .hypotheses
            .iter()
            .find(|h| h.fault == fault && h.target.as_str() == target)
    }

    #[test]
    fn single_replicas_get_at_risk_pod_loss_hypotheses() {
        let (output, _, dependencies) = boutique();
        let checkout = find(&output, Fault::PodLoss, "shop/Deployment/checkoutservice").unwrap();
        assert_eq!(checkout.expectation, Expectation::AtRisk);
        assert!(
            checkout
                .statement
                .starts_with("If the only pod of checkoutservice fails"),
            "{}",
            checkout.statement
        );
        assert!(
            checkout
                .keeps_steady
                .contains(&NodeId("shop/Deployment/frontend".into()))
        );
        // Linked to the SPOF finding.
        let spof = dependencies
            .findings
            .iter()
            .find(|f| {
                f.kind == FindingKind::SingleReplica
                    && f.subject.as_str() == "shop/Deployment/checkoutservice"
            })
            .unwrap();
        assert!(checkout.finding_ids.contains(&spof.id));
        let frontend = find(&output, Fault::PodLoss, "shop/Deployment/frontend").unwrap();
        assert_eq!(frontend.expectation, Expectation::Holds);
        assert!(frontend.risk_score < checkout.risk_score);
    }

    #[test]
    fn dependency_faults_follow_the_edges() {
        let (output, _, _) = boutique();
        let latency = find(
            &output,
            Fault::DependencyLatency,
            "shop/Deployment/frontend",
        )
        .unwrap();
        assert!(latency.peer.is_some());
        let partition = find(
            &output,
            Fault::DependencyPartition,
            "shop/Deployment/cartservice",
        )
        .unwrap();
        assert_eq!(
            partition.peer.as_ref().unwrap().as_str(),
            "shop/Service/redis-cart"
        );
        assert_eq!(
            partition.expectation,
            Expectation::AtRisk,
            "redis-cart has one replica"
        );
        let dns = find(&output, Fault::DnsFailure, "shop/Deployment/paymentservice").unwrap();
        assert_eq!(
            dns.peer.as_ref().unwrap().as_str(),
            "shop/External/api.payments.example.net"
        );
        assert!(find(&output, Fault::DiskLatency, "shop/StatefulSet/redis-cart").is_some());
        assert!(find(&output, Fault::CpuPressure, "shop/Deployment/frontend").is_some());
        assert!(find(&output, Fault::HttpLatency, "shop/Deployment/frontend").is_some());
        // No hypotheses about what cannot be targeted or the missing Service.
        assert!(
            output
                .hypotheses
                .iter()
                .all(|h| !h.target.as_str().starts_with("kube-system/"))
        );
        assert!(output.hypotheses.iter().all(|h| {
            h.peer
                .as_ref()
                .is_none_or(|p| !p.as_str().contains("Unresolved"))
        }));
    }

    #[test]
    fn every_hypothesis_links_real_steady_states_and_is_sorted_by_risk() {
        let (output, steady, _) = boutique();
        let ids: BTreeSet<&str> = steady.steady_states.iter().map(|s| s.id.as_str()).collect();
        for h in &output.hypotheses {
            assert!(!h.steady_state_ids.is_empty(), "{}", h.id);
            for id in &h.steady_state_ids {
                assert!(ids.contains(id.as_str()), "{id}");
            }
        }
        let risks: Vec<u32> = output.hypotheses.iter().map(|h| h.risk_score).collect();
        let mut sorted = risks.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(risks, sorted);
    }

    #[test]
    fn the_cap_and_quota_bound_large_maps() {
        let map = fixtures::synthetic(600);
        let config = AnalysisConfig::default();
        let outputs = run_until(&map, &config, StageId::Hypotheses);
        let hypotheses = outputs.hypotheses.unwrap().hypotheses;
        assert_eq!(hypotheses.len(), config.max_hypotheses);
        let faults: BTreeSet<Fault> = hypotheses.iter().map(|h| h.fault).collect();
        assert!(faults.len() >= 3, "{faults:?}");
    }
}
