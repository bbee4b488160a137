//! Stage 3 rules: the ten most telling steady states. HTTP through the entry points first (what
//! users see), then the request success ratio of the front tier (a Prometheus template), then the
//! availability of the most depended-on workloads and the endpoints of the busiest Services.

use std::collections::{BTreeMap, BTreeSet};

use super::super::config::{AnalysisConfig, MAX_STEADY_STATES};
use super::super::index::MapIndex;
use super::super::measured::{MeasuredQuery, Measurements, ServiceBaseline};
use super::super::model::{
    Baseline, DependenciesOutput, DiscoveryOutput, FindingKind, Probe, SteadyState,
    SteadyStateOutput, TierName,
};
use super::super::naming::item_id;
use super::{fan, is_replicated_kind, label};
use crate::servicemap::{NodeId, NodeKind};

const MAX_HTTP: usize = 3;
const MAX_AVAILABILITY: usize = 4;
const MAX_ENDPOINTS: usize = 2;

/// The id of a steady state of type `kind` about `subject`.
pub(crate) fn steady_state_id(kind: &str, subject: &NodeId, name: &str) -> String {
    item_id(&format!("ss-{kind}"), name, &[kind, subject.as_str()])
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

/// Success ratio at least the baseline minus this many percentage points.
const SUCCESS_MARGIN_PERCENT: f64 = 1.0;
/// p99 latency at most this many times the baseline p99...
const P99_FACTOR: f64 = 2.0;
/// ...and never less than the baseline plus this many milliseconds (a fast service's p99 moves
/// by a few milliseconds without anything being wrong).
const P99_SLACK_MILLIS: f64 = 10.0;
/// Calls per minute into an entry point at least this share of the baseline.
const RATE_FLOOR_SHARE: f64 = 0.5;
const MAX_MEASURED_SUCCESS: usize = 3;
const MAX_MEASURED_LATENCY: usize = 2;
const MAX_MEASURED_RATE: usize = 1;

/// Steady states from the baselines measured in Prometheus: success ratio and p99 latency of the
/// most depended-on Services, and the call rate into the Services entry points expose.
fn measured(
    index: &MapIndex<'_>,
    measurements: &Measurements,
    frontend: &BTreeSet<&str>,
    spof: &BTreeSet<&str>,
) -> Vec<Candidate> {
    // Rank each measured Service by how much leans on it (its most critical backend), and by
    // whether an entry point exposes it.
    let mut ranked: Vec<(u32, bool, &ServiceBaseline)> = Vec::new();
    for service in &measurements.services {
        let Some(s) = index.get(service.service.as_str()) else {
            continue;
        };
        let backends = index.node(s).service.iter().flat_map(|i| &i.backends);
        let score = backends
            .filter_map(|b| index.get(b.as_str()))
            .map(|w| criticality(index, w, frontend, spof))
            .max()
            .unwrap_or(0)
            + u32::try_from(index.predecessors(s).len() * 10).unwrap_or(u32::MAX);
        // A LoadBalancer or NodePort Service is an entry point itself; a ClusterIP one is
        // exposed by the Ingress or route in front of it.
        let exposed = index.node(s).entry_point
            || index
                .predecessors(s)
                .iter()
                .any(|&p| index.node(p).entry_point && !index.node(p).kind.is_workload());
        ranked.push((score, exposed, service));
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.service.cmp(&b.2.service)));

    let window = measurements.window_seconds;
    let baseline = |m: &MeasuredQuery, origin: &str| Baseline {
        value_milli: m.baseline_milli,
        query: m.baseline_query.clone(),
        window_seconds: window,
        origin: origin.to_owned(),
    };
    let state = |kind: &str, service: &ServiceBaseline, name: String, description: String| {
        let node = index.node_by_id(service.service.as_str());
        let short = node.map_or(service.service.as_str(), |n| n.name.as_str());
        SteadyState {
            id: steady_state_id(kind, &service.service, short),
            name,
            description,
            subject: service.service.clone(),
            probe: Probe::Prometheus {
                query: String::new(),
            },
            min_value: 0,
            max_value: None,
            unit: String::new(),
            priority: 0,
            baseline: None,
        }
    };
    let name_of = |service: &ServiceBaseline| {
        index
            .node_by_id(service.service.as_str())
            .map_or_else(|| service.service.to_string(), |n| n.name.clone())
    };
    let mut out = Vec::new();
    for (_, _, service) in ranked.iter().take(MAX_MEASURED_SUCCESS) {
        let m = &service.success_percent;
        let min = (m.baseline() - SUCCESS_MARGIN_PERCENT).floor().max(0.0) as i64;
        let name = name_of(service);
        out.push(Candidate {
            score: 88,
            state: SteadyState {
                probe: Probe::Prometheus {
                    query: m.query.clone(),
                },
                min_value: min,
                unit: "percent of calls succeeding".into(),
                baseline: Some(baseline(m, &service.origin)),
                ..state(
                    "success",
                    service,
                    format!("Call success ratio of {name}"),
                    format!(
                        "At least {min}% of calls to Service {name} succeed ({}: measured {:.2}% over {window}s, minus a {SUCCESS_MARGIN_PERCENT} point margin)",
                        service.origin,
                        m.baseline()
                    ),
                )
            },
        });
    }
    for (_, _, service) in ranked
        .iter()
        .filter(|(_, _, s)| s.p99_millis.is_some())
        .take(MAX_MEASURED_LATENCY)
    {
        let Some(m) = &service.p99_millis else {
            continue;
        };
        let max = (m.baseline() * P99_FACTOR)
            .max(m.baseline() + P99_SLACK_MILLIS)
            .ceil() as i64;
        let name = name_of(service);
        out.push(Candidate {
            score: 82,
            state: SteadyState {
                probe: Probe::Prometheus {
                    query: m.query.clone(),
                },
                min_value: 0,
                max_value: Some(max),
                unit: "milliseconds (p99)".into(),
                baseline: Some(baseline(m, &service.origin)),
                ..state(
                    "p99",
                    service,
                    format!("p99 latency of {name}"),
                    format!(
                        "The 99th-percentile latency of calls to Service {name} stays at most {max} ms ({}: measured {:.1} ms over {window}s; at most {P99_FACTOR}x that)",
                        service.origin,
                        m.baseline()
                    ),
                )
            },
        });
    }
    for (_, _, service) in ranked
        .iter()
        .filter(|(_, exposed, _)| *exposed)
        .take(MAX_MEASURED_RATE)
    {
        let m = &service.requests_per_minute;
        let min = (m.baseline() * RATE_FLOOR_SHARE).floor().max(1.0) as i64;
        let name = name_of(service);
        out.push(Candidate {
            score: 86,
            state: SteadyState {
                probe: Probe::Prometheus {
                    query: m.query.clone(),
                },
                min_value: min,
                unit: "calls per minute".into(),
                baseline: Some(baseline(m, &service.origin)),
                ..state(
                    "rate",
                    service,
                    format!("Traffic into {name}"),
                    format!(
                        "Entry point Service {name} keeps receiving at least {min} calls per minute ({}: measured {:.1} over {window}s; a floor at {}% of it)",
                        service.origin,
                        m.baseline(),
                        (RATE_FLOOR_SHARE * 100.0) as u32
                    ),
                )
            },
        });
    }
    out
}

pub(crate) fn run(
    index: &MapIndex<'_>,
    config: &AnalysisConfig,
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
                    max_value: None,
                    unit: "percent of probes answering 2xx/3xx".to_string(),
                    priority: 0,
                    baseline: None,
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

    // 2. Measured steady states, where a Prometheus was given: only series that exist there,
    //    thresholds from the baseline. Without one, no metric is named at all.
    if let Some(measurements) = &config.measurements {
        candidates.extend(measured(index, measurements, &frontend, &spof));
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
                max_value: None,
                unit: "replicas".to_string(),
                priority: 0,
                baseline: None,
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
                max_value: None,
                unit: "endpoints".to_string(),
                priority: 0,
                baseline: None,
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
                    panic!("no Prometheus was given, yet a query names a metric: {query}")
                }
            });
        }
        assert_eq!(kinds.len(), 3, "{kinds:?}");
    }

    fn measured(service: &str, success: i64, p99: Option<i64>, rpm: i64) -> ServiceBaseline {
        let q = |what: &str, milli: i64| MeasuredQuery {
            query: format!("{what}{{destination_service_name=\"{service}\"}}[2m]"),
            baseline_query: format!("{what}{{destination_service_name=\"{service}\"}}[3600s]"),
            baseline_milli: milli,
        };
        ServiceBaseline {
            service: NodeId(format!("shop/Service/{service}")),
            origin: "istio_requests_total".into(),
            success_percent: q("success", success),
            p99_millis: p99.map(|p| q("p99", p)),
            requests_per_minute: q("rate", rpm),
        }
    }

    #[test]
    fn measured_baselines_set_the_thresholds_and_stay_in_the_output() {
        let map = fixtures::boutique();
        let config = AnalysisConfig {
            measurements: Some(Measurements {
                source: "http://prometheus:9090".into(),
                window_seconds: 3600,
                services: vec![
                    measured("frontend", 99_730, Some(120_000), 600_000),
                    measured("cartservice", 100_000, Some(2_000), 300_000),
                ],
            }),
            ..AnalysisConfig::default()
        };
        let output = run_until(&map, &config, StageId::SteadyState)
            .steady_state
            .unwrap();
        let prometheus: Vec<&SteadyState> = output
            .steady_states
            .iter()
            .filter(|s| matches!(s.probe, Probe::Prometheus { .. }))
            .collect();
        let find = |kind: &str, service: &str| {
            prometheus
                .iter()
                .find(|s| {
                    s.id.starts_with(&format!("ss-{kind}")) && s.subject.as_str().ends_with(service)
                })
                .unwrap_or_else(|| panic!("no {kind} state for {service}: {prometheus:#?}"))
        };
        let success = find("success", "/frontend");
        assert_eq!(success.min_value, 98, "99.73% minus one point, floored");
        assert_eq!(success.baseline.as_ref().unwrap().value_milli, 99_730);
        assert_eq!(success.baseline.as_ref().unwrap().window_seconds, 3600);
        let p99 = find("p99", "/frontend");
        assert_eq!(p99.max_value, Some(240), "twice the 120 ms baseline");
        let fast = find("p99", "/cartservice");
        assert_eq!(
            fast.max_value,
            Some(12),
            "a 2 ms baseline gets 10 ms of slack"
        );
        let rate = find("rate", "/frontend");
        assert_eq!(rate.min_value, 300, "half the 600 calls per minute");
        assert!(prometheus.iter().all(|s| s.baseline.is_some()));
        assert!(output.steady_states.len() <= 10);
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
