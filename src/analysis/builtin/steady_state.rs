//! Stage 3 rules: the ten most telling steady states. HTTP through the entry points first (what
//! users see), then the request success ratio of the front tier (a Prometheus template), then the
//! availability of the most depended-on workloads and the endpoints of the busiest Services.

use std::collections::{BTreeMap, BTreeSet};

use super::super::config::MAX_STEADY_STATES;
use super::super::index::MapIndex;
use super::super::model::{
    DependenciesOutput, DiscoveryOutput, FindingKind, Probe, SteadyState, SteadyStateOutput,
    TierName,
};
use super::super::naming::item_id;
use super::{fan, is_replicated_kind, label};
use crate::servicemap::{NodeId, NodeKind};

const MAX_HTTP: usize = 3;
const MAX_SUCCESS_RATIO: usize = 2;
const MAX_AVAILABILITY: usize = 4;
const MAX_ENDPOINTS: usize = 2;

/// The id of a steady state of type `kind` about `subject`.
pub(crate) fn steady_state_id(kind: &str, subject: &NodeId, name: &str) -> String {
    item_id(&format!("ss-{kind}"), name, &[kind, subject.as_str()])
}

/// A PromQL label value: quotes and backslashes escaped.
fn promql_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

struct Candidate {
    score: u32,
    state: SteadyState,
}

/// How much the rest of the system leans on a workload.
pub(crate) fn criticality(
    index: &MapIndex<'_>,
    i: usize,
    frontend: &BTreeSet<&str>,
    spof: &BTreeSet<&str>,
) -> u32 {
    let node = index.node(i);
    let (fan_in, _) = fan(index, i);
    let mut score = fan_in.saturating_mul(10);
    if index.entry_depth(i).is_some() {
        score += 20;
    }
    if frontend.contains(node.id.as_str()) {
        score += 15;
    }
    if index.is_data_store(i) {
        score += 15;
    }
    if spof.contains(node.id.as_str()) {
        score += 10;
    }
    score
}

pub(crate) fn run(
    index: &MapIndex<'_>,
    discovery: &DiscoveryOutput,
    dependencies: &DependenciesOutput,
) -> SteadyStateOutput {
    let mut candidates: Vec<Candidate> = Vec::new();

    // 1. What users see: an HTTP GET through each entry point.
    let mut http: Vec<Candidate> = discovery
        .entry_points
        .iter()
        .filter_map(|entry| {
            let url = entry.urls.first()?;
            let node = index.node_by_id(entry.id.as_str())?;
            let score = if node.kind == NodeKind::Service {
                95
            } else {
                100
            };
            Some(Candidate {
                score,
                state: SteadyState {
                    id: steady_state_id("http", &node.id, &node.name),
                    name: format!("HTTP through {}", node.name),
                    description: format!(
                        "GET {url} answers with a 2xx or 3xx status for at least 95% of probes"
                    ),
                    subject: node.id.clone(),
                    probe: Probe::Http { url: url.clone() },
                    min_value: 95,
                    unit: "percent of probes answering 2xx/3xx".to_string(),
                    priority: 0,
                },
            })
        })
        .collect();
    http.sort_by(|a, b| b.score.cmp(&a.score).then(a.state.id.cmp(&b.state.id)));
    candidates.extend(http.into_iter().take(MAX_HTTP));

    let frontend: BTreeSet<&str> = discovery
        .tiers
        .iter()
        .filter(|t| t.name == TierName::Frontend)
        .flat_map(|t| t.members.iter().map(NodeId::as_str))
        .collect();
    let spof: BTreeSet<&str> = dependencies
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

    // 2. The front tier's request success ratio, as a Prometheus template on the Service name.
    let mut ratio: Vec<(u32, usize, usize)> = Vec::new();
    for id in &frontend {
        let Some(w) = index.get(id) else { continue };
        let service = index.predecessors(w).iter().copied().find(|&p| {
            let node = index.node(p);
            node.kind == NodeKind::Service && !node.entry_point
        });
        if let Some(s) = service {
            ratio.push((criticality(index, w, &frontend, &spof), w, s));
        }
    }
    ratio.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, w, s) in ratio.into_iter().take(MAX_SUCCESS_RATIO) {
        let service = index.node(s);
        let selector = format!(
            "namespace=\"{}\",service=\"{}\"",
            promql_value(&service.namespace),
            promql_value(&service.name)
        );
        candidates.push(Candidate {
            score: 85,
            state: SteadyState {
                id: steady_state_id("success", &index.node(w).id, &index.node(w).name),
                name: format!("Request success ratio of {}", service.name),
                description: format!(
                    "At least 99% of requests to Service {} succeed (non-5xx) over 5 minutes; adapt the metric name to the application's instrumentation",
                    service.name
                ),
                subject: index.node(w).id.clone(),
                probe: Probe::Prometheus {
                    query: format!(
                        "100 * sum(rate(http_requests_total{{{selector},code!~\"5..\"}}[5m])) / sum(rate(http_requests_total{{{selector}}}[5m]))"
                    ),
                },
                min_value: 99,
                unit: "percent".to_string(),
                priority: 0,
            },
        });
    }

    // 3. Availability of the workloads the rest leans on most.
    let mut available: Vec<(u32, usize)> = (0..index.len())
        .filter(|&i| {
            let node = index.node(i);
            is_replicated_kind(node.kind)
                && node
                    .workload
                    .as_ref()
                    .and_then(|w| w.replicas)
                    .is_some_and(|r| r >= 1)
                && (index.entry_depth(i).is_some() || !index.callers(i).is_empty())
        })
        .map(|i| (criticality(index, i, &frontend, &spof), i))
        .collect();
    available.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (score, i) in available.into_iter().take(MAX_AVAILABILITY) {
        let node = index.node(i);
        let replicas = node.workload.as_ref().and_then(|w| w.replicas).unwrap_or(1);
        // Tolerate the loss of one pod when there are several.
        let min_value = i64::from((replicas - 1).max(1));
        candidates.push(Candidate {
            score: 40 + score.min(40),
            state: SteadyState {
                id: steady_state_id("available", &node.id, &node.name),
                name: format!("{} available", node.name),
                description: format!(
                    "{} keeps at least {min_value} of {replicas} replicas available",
                    label(index, i)
                ),
                subject: node.id.clone(),
                probe: Probe::AvailableReplicas,
                min_value,
                unit: "replicas".to_string(),
                priority: 0,
            },
        });
    }

    // 4. Ready endpoints of the Services with the most callers.
    let mut endpoints: Vec<(usize, usize)> = (0..index.len())
        .filter(|&i| {
            let node = index.node(i);
            node.kind == NodeKind::Service
                && !node.entry_point
                && node
                    .service
                    .as_ref()
                    .is_some_and(|s| !s.backends.is_empty())
        })
        .map(|i| (index.predecessors(i).len(), i))
        .filter(|(callers, _)| *callers > 0)
        .collect();
    endpoints.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (callers, i) in endpoints.into_iter().take(MAX_ENDPOINTS) {
        let node = index.node(i);
        candidates.push(Candidate {
            score: 30 + u32::try_from(callers * 10).unwrap_or(40).min(40),
            state: SteadyState {
                id: steady_state_id("endpoints", &node.id, &node.name),
                name: format!("{} endpoints ready", node.name),
                description: format!(
                    "Service {} keeps at least one ready endpoint for its {callers} caller(s)",
                    node.name
                ),
                subject: node.id.clone(),
                probe: Probe::ReadyEndpoints,
                min_value: 1,
                unit: "endpoints".to_string(),
                priority: 0,
            },
        });
    }

    let mut unique: BTreeMap<String, Candidate> = BTreeMap::new();
    for candidate in candidates {
        unique
            .entry(candidate.state.id.clone())
            .or_insert(candidate);
    }
    let mut ranked: Vec<Candidate> = unique.into_values().collect();
    ranked.sort_by(|a, b| b.score.cmp(&a.score).then(a.state.id.cmp(&b.state.id)));
    ranked.truncate(MAX_STEADY_STATES);
    SteadyStateOutput {
        steady_states: ranked
            .into_iter()
            .enumerate()
            .map(|(position, candidate)| SteadyState {
                priority: u32::try_from(position + 1).unwrap_or(u32::MAX),
                ..candidate.state
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalysisConfig;
    use crate::analysis::builtin::test_support::run_until;
    use crate::analysis::fixtures;
    use crate::analysis::stages::StageId;

    fn boutique_states() -> SteadyStateOutput {
        let map = fixtures::boutique();
        run_until(&map, &AnalysisConfig::default(), StageId::SteadyState)
            .steady_state
            .unwrap()
    }

    #[test]
    fn at_most_ten_with_http_through_entry_points_first() {
        let output = boutique_states();
        assert!(!output.steady_states.is_empty() && output.steady_states.len() <= 10);
        let first = &output.steady_states[0];
        assert_eq!(first.priority, 1);
        assert_eq!(first.subject.as_str(), "shop/Ingress/shop");
        assert_eq!(
            first.probe,
            Probe::Http {
                url: "http://shop.example.com/".into()
            }
        );
        let priorities: Vec<u32> = output.steady_states.iter().map(|s| s.priority).collect();
        let expected: Vec<u32> = (1..=output.steady_states.len() as u32).collect();
        assert_eq!(priorities, expected);
    }

    #[test]
    fn covers_every_check_type_and_names_real_nodes() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let output = boutique_states();
        let mut kinds = BTreeSet::new();
        for state in &output.steady_states {
            assert!(
                index.get(state.subject.as_str()).is_some(),
                "{}",
                state.subject
            );
            kinds.insert(match &state.probe {
                Probe::AvailableReplicas => "available",
                Probe::ReadyEndpoints => "endpoints",
                Probe::Http { .. } => "http",
                Probe::Prometheus { query } => {
                    assert!(
                        query.contains("namespace=\"shop\",service=\"frontend\""),
                        "{query}"
                    );
                    "prometheus"
                }
            });
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }

    #[test]
    fn availability_tolerates_one_pod_and_ranks_depended_on_workloads() {
        let output = boutique_states();
        let frontend = output
            .steady_states
            .iter()
            .find(|s| {
                s.probe == Probe::AvailableReplicas
                    && s.subject.as_str() == "shop/Deployment/frontend"
            })
            .unwrap();
        assert_eq!(frontend.min_value, 2, "3 replicas, one may go");
        let checkout = output.steady_states.iter().find(|s| {
            s.probe == Probe::AvailableReplicas
                && s.subject.as_str() == "shop/Deployment/checkoutservice"
        });
        if let Some(checkout) = checkout {
            assert_eq!(checkout.min_value, 1);
        }
        // The load generator and CoreDNS have no callers and no entry point: never a steady state.
        assert!(
            output
                .steady_states
                .iter()
                .all(|s| !s.subject.as_str().contains("loadgenerator"))
        );
        assert!(
            output
                .steady_states
                .iter()
                .all(|s| !s.subject.as_str().contains("coredns"))
        );
    }
}
