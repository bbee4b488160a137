//! Stage 5 rules: one Chaos Mesh experiment per hypothesis, with selectors that match the target
//! workload's pods exactly (its namespace and pod template labels), the smallest mode that tests
//! the hypothesis, and a duration within the guardrails; plus one test case each.

use super::super::config::DEFAULT_EXPERIMENT_DURATION_MS;
use super::super::duration::format_go_duration;
use super::super::model::{
    Expectation, ExperimentDesign, ExperimentsOutput, Fault, HypothesesOutput, Hypothesis, Probe,
    SteadyState, SteadyStateOutput, TestCase,
};
use super::super::naming::item_id;
use super::super::stages::StageInput;
use super::hypotheses::{DEPENDENCY_LATENCY, HTTP_DELAY, IO_DELAY};
use crate::chaosmesh::{
    ChaosSpec, CpuStressor, DelaySpec, Direction, DnsChaosAction, DnsChaosSpec, HttpChaosSpec,
    HttpTarget, IoChaosAction, IoChaosSpec, LossSpec, NetworkChaosAction, NetworkChaosSpec,
    PodChaosAction, PodChaosSpec, PodSelector, PodSelectorSpec, SelectorMode, StressChaosSpec,
    Stressors, TimeChaosSpec,
};
use crate::servicemap::{Node, NodeKind};

/// Packet loss the built-in loss experiments cause, in percent.
pub(crate) const PACKET_LOSS: &str = "30";
/// Clock offset of the built-in time experiments.
pub(crate) const CLOCK_OFFSET: &str = "-5m";

/// One test case for an experiment: check, apply, watch, recover.
pub fn default_test_case(design: &ExperimentDesign, steady: &[SteadyState]) -> TestCase {
    let watched: Vec<&SteadyState> = design
        .steady_state_ids
        .iter()
        .filter_map(|id| steady.iter().find(|s| &s.id == id))
        .collect();
    let names: Vec<String> = watched.iter().map(|s| format!("'{}'", s.name)).collect();
    let duration = design.spec.duration().unwrap_or("its duration");
    let namespace = design
        .spec
        .selector()
        .namespaces
        .first()
        .cloned()
        .unwrap_or_default();
    TestCase {
        id: format!("tc-{}", design.id),
        experiment_id: design.id.clone(),
        hypothesis_id: design.hypothesis_id.clone(),
        title: design.title.clone(),
        steps: vec![
            format!(
                "Confirm the steady states hold before starting: {}.",
                names.join(", ")
            ),
            format!(
                "Approve the proposal; the operator creates {} {} in namespace {namespace}.",
                design.spec.kind(),
                design.id
            ),
            format!(
                "Watch the steady states for {duration}; the experiment is paused as soon as one breaks."
            ),
            "After it ends, confirm every steady state is back within 5 minutes.".to_string(),
        ],
        pass_criteria: watched
            .iter()
            .map(|s| {
                let check = match &s.probe {
                    Probe::Http { url } => format!("GET {url}"),
                    Probe::Prometheus { .. } => "the Prometheus query".to_string(),
                    Probe::AvailableReplicas => format!("available replicas of {}", s.subject),
                    Probe::ReadyEndpoints => format!("ready endpoints of {}", s.subject),
                };
                format!(
                    "{}: {check} stays at or above {} {}",
                    s.name, s.min_value, s.unit
                )
            })
            .collect(),
    }
}

/// The pods of `node`: its namespace and its pod template labels.
pub(crate) fn pods_of(node: &Node) -> Option<PodSelector> {
    let labels = &node.workload.as_ref()?.pod_labels;
    if labels.is_empty() {
        return None;
    }
    Some(PodSelector {
        namespaces: vec![node.namespace.clone()],
        label_selectors: labels.clone(),
    })
}

/// The pods behind a Service: its namespace and selector.
pub(crate) fn pods_behind(service: &Node) -> Option<PodSelector> {
    let selector = &service.service.as_ref()?.selector;
    if selector.is_empty() {
        return None;
    }
    Some(PodSelector {
        namespaces: vec![service.namespace.clone()],
        label_selectors: selector.clone(),
    })
}

/// The spec and title of the experiment that tests `hypothesis`, if the map allows one.
fn design_spec(
    input: &StageInput<'_>,
    hypothesis: &Hypothesis,
    duration: &str,
) -> Option<(ChaosSpec, String)> {
    let index = input.index;
    let target = index.node_by_id(hypothesis.target.as_str())?;
    let info = target.workload.as_ref()?;
    let selector = pods_of(target)?;
    let peer = hypothesis
        .peer
        .as_ref()
        .and_then(|p| index.node_by_id(p.as_str()));
    let duration = Some(duration.to_string());
    let name = &target.name;
    let replicas = info.replicas;
    let spec_and_title = match hypothesis.fault {
        Fault::PodLoss => {
            let single = replicas.is_some_and(|r| r <= 1);
            let (action, title) = if single {
                (
                    PodChaosAction::PodFailure,
                    format!("Fail the only pod of {name}"),
                )
            } else {
                (PodChaosAction::PodKill, format!("Kill one pod of {name}"))
            };
            (
                ChaosSpec::PodChaos(PodChaosSpec {
                    action,
                    selector,
                    mode: SelectorMode::One,
                    value: None,
                    duration,
                    container_names: Vec::new(),
                }),
                title,
            )
        }
        Fault::ContainerCrash => {
            let container = info.containers.first()?.name.clone();
            (
                ChaosSpec::PodChaos(PodChaosSpec {
                    action: PodChaosAction::ContainerKill,
                    selector,
                    mode: SelectorMode::One,
                    value: None,
                    duration,
                    container_names: vec![container.clone()],
                }),
                format!("Kill container {container} of one {name} pod"),
            )
        }
        Fault::DependencyLatency | Fault::DependencyLoss | Fault::DependencyPartition => {
            let peer = peer?;
            let (target_pods, external_targets) = match peer.kind {
                NodeKind::Service => (
                    Some(PodSelectorSpec {
                        selector: pods_behind(peer)?,
                        mode: SelectorMode::All,
                        value: None,
                    }),
                    Vec::new(),
                ),
                NodeKind::External => (None, vec![peer.host.clone().unwrap_or(peer.name.clone())]),
                _ => return None,
            };
            let (action, delay, loss, title) = match hypothesis.fault {
                Fault::DependencyLatency => (
                    NetworkChaosAction::Delay,
                    Some(DelaySpec {
                        latency: DEPENDENCY_LATENCY.to_string(),
                        jitter: Some("50ms".to_string()),
                        correlation: Some("25".to_string()),
                    }),
                    None,
                    format!("Delay {name} → {} by {DEPENDENCY_LATENCY}", peer.name),
                ),
                Fault::DependencyLoss => (
                    NetworkChaosAction::Loss,
                    None,
                    Some(LossSpec {
                        loss: PACKET_LOSS.to_string(),
                        correlation: Some("25".to_string()),
                    }),
                    format!("Drop {PACKET_LOSS}% of packets {name} → {}", peer.name),
                ),
                _ => (
                    NetworkChaosAction::Partition,
                    None,
                    None,
                    format!("Cut {name} off from {}", peer.name),
                ),
            };
            (
                ChaosSpec::NetworkChaos(NetworkChaosSpec {
                    action,
                    selector,
                    mode: SelectorMode::One,
                    value: None,
                    direction: Some(Direction::To),
                    target: target_pods,
                    external_targets,
                    delay,
                    loss,
                    duration,
                }),
                title,
            )
        }
        Fault::DnsFailure => {
            let peer = peer.filter(|p| p.kind == NodeKind::External)?;
            let host = peer.host.clone().unwrap_or(peer.name.clone());
            (
                ChaosSpec::DNSChaos(DnsChaosSpec {
                    action: DnsChaosAction::Error,
                    selector,
                    mode: SelectorMode::One,
                    value: None,
                    patterns: vec![host.clone()],
                    duration,
                }),
                format!("Fail DNS lookups of {host} from {name}"),
            )
        }
        Fault::CpuPressure => {
            let allowed = allowed_pods(replicas, input.config.max_pod_share_percent);
            let (mode, value) = match allowed {
                Some(n) if n > 1 => (SelectorMode::Fixed, Some(n.to_string())),
                _ => (SelectorMode::One, None),
            };
            (
                ChaosSpec::StressChaos(StressChaosSpec {
                    selector,
                    mode,
                    value,
                    stressors: Stressors {
                        cpu: Some(CpuStressor {
                            workers: 1,
                            load: Some(80),
                        }),
                        memory: None,
                    },
                    duration,
                }),
                format!("Load the CPU of {name} to 80%"),
            )
        }
        Fault::DiskLatency => {
            let mount = info.persistent_mounts.first()?.clone();
            (
                ChaosSpec::IOChaos(IoChaosSpec {
                    action: IoChaosAction::Latency,
                    selector,
                    mode: SelectorMode::One,
                    value: None,
                    volume_path: mount.clone(),
                    path: None,
                    delay: Some(IO_DELAY.to_string()),
                    errno: None,
                    percent: Some(50),
                    duration,
                }),
                format!("Slow the volume {mount} of {name} by {IO_DELAY}"),
            )
        }
        Fault::HttpLatency | Fault::HttpAbort => {
            let port = info
                .containers
                .iter()
                .find_map(|c| c.ports.first().copied())?;
            let abort = hypothesis.fault == Fault::HttpAbort;
            (
                ChaosSpec::HTTPChaos(HttpChaosSpec {
                    selector,
                    mode: SelectorMode::One,
                    value: None,
                    target: HttpTarget::Response,
                    port,
                    path: None,
                    abort: abort.then_some(true),
                    delay: (!abort).then(|| HTTP_DELAY.to_string()),
                    duration,
                }),
                if abort {
                    format!("Abort HTTP responses of {name}")
                } else {
                    format!("Delay HTTP responses of {name} by {HTTP_DELAY}")
                },
            )
        }
        Fault::ClockSkew => (
            ChaosSpec::TimeChaos(TimeChaosSpec {
                selector,
                mode: SelectorMode::One,
                value: None,
                time_offset: CLOCK_OFFSET.to_string(),
                duration,
            }),
            format!("Shift the clock of one {name} pod by {CLOCK_OFFSET}"),
        ),
    };
    Some(spec_and_title)
}

/// The most pods of `replicas` the share allows (at least one when the share is above 0).
pub(crate) fn allowed_pods(replicas: Option<i32>, max_share_percent: u8) -> Option<i32> {
    let n = replicas.filter(|&n| n > 0)?;
    if max_share_percent == 0 {
        return Some(0);
    }
    Some(((i64::from(n) * i64::from(max_share_percent)) / 100).max(1) as i32)
}

pub(crate) fn run(
    input: &StageInput<'_>,
    hypotheses: &HypothesesOutput,
    steady: &SteadyStateOutput,
) -> ExperimentsOutput {
    let duration =
        format_go_duration(DEFAULT_EXPERIMENT_DURATION_MS.min(input.config.max_duration_ms));
    let mut ordered: Vec<&Hypothesis> = hypotheses.hypotheses.iter().collect();
    ordered.sort_by(|a, b| b.risk_score.cmp(&a.risk_score).then(a.id.cmp(&b.id)));
    let mut experiments = Vec::new();
    for hypothesis in ordered {
        if experiments.len() >= input.config.max_experiments {
            break;
        }
        let Some((spec, title)) = design_spec(input, hypothesis, &duration) else {
            continue;
        };
        if !input.config.allowed_kinds.contains(&spec.kind()) {
            continue;
        }
        let rationale = match hypothesis.expectation {
            Expectation::AtRisk => format!(
                "The map suggests this breaks steady state (findings: {}); run it to confirm and size the fix.",
                if hypothesis.finding_ids.is_empty() {
                    "none".to_string()
                } else {
                    hypothesis.finding_ids.join(", ")
                }
            ),
            Expectation::Holds => {
                "Verifies a resilience property the map suggests holds.".to_string()
            }
        };
        experiments.push(ExperimentDesign {
            id: item_id("x", &title, &[hypothesis.id.as_str()]),
            hypothesis_id: hypothesis.id.clone(),
            title,
            target: hypothesis.target.clone(),
            peer: hypothesis.peer.clone(),
            spec,
            steady_state_ids: hypothesis.steady_state_ids.clone(),
            risk_score: hypothesis.risk_score,
            rationale,
        });
    }
    let test_cases = experiments
        .iter()
        .map(|e| default_test_case(e, &steady.steady_states))
        .collect();
    ExperimentsOutput {
        experiments,
        test_cases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalysisConfig;
    use crate::analysis::builtin::test_support::run_until;
    use crate::analysis::fixtures;
    use crate::analysis::stages::StageId;
    use crate::chaosmesh::ChaosKind;

    fn boutique(config: &AnalysisConfig) -> ExperimentsOutput {
        let map = fixtures::boutique();
        run_until(&map, config, StageId::Experiments)
            .experiments
            .unwrap()
    }

    fn by_title<'a>(output: &'a ExperimentsOutput, title: &str) -> &'a ExperimentDesign {
        output
            .experiments
            .iter()
            .find(|e| e.title == title)
            .unwrap_or_else(|| {
                panic!(
                    "no experiment {title:?} in {:#?}",
                    output
                        .experiments
                        .iter()
                        .map(|e| &e.title)
                        .collect::<Vec<_>>()
                )
            })
    }

    #[test]
    fn pod_experiments_fit_the_replica_count() {
        let output = boutique(&AnalysisConfig::default());
        let kill = by_title(&output, "Kill one pod of frontend");
        let ChaosSpec::PodChaos(spec) = &kill.spec else {
            panic!()
        };
        assert_eq!(spec.action, PodChaosAction::PodKill);
        assert_eq!(spec.mode, SelectorMode::One);
        assert_eq!(spec.selector.namespaces, vec!["shop"]);
        assert_eq!(
            spec.selector.label_selectors.get("app").unwrap(),
            "frontend"
        );
        let fail = by_title(&output, "Fail the only pod of checkoutservice");
        let ChaosSpec::PodChaos(spec) = &fail.spec else {
            panic!()
        };
        assert_eq!(spec.action, PodChaosAction::PodFailure);
        assert_eq!(spec.duration.as_deref(), Some("1m"));
    }

    #[test]
    fn network_experiments_target_the_callee_pods() {
        let output = boutique(&AnalysisConfig::default());
        let delay = by_title(&output, "Delay frontend → cartservice by 200ms");
        let ChaosSpec::NetworkChaos(spec) = &delay.spec else {
            panic!()
        };
        assert_eq!(spec.action, NetworkChaosAction::Delay);
        assert_eq!(spec.direction, Some(Direction::To));
        assert_eq!(
            spec.selector.label_selectors.get("app").unwrap(),
            "frontend"
        );
        let target = spec.target.as_ref().unwrap();
        assert_eq!(
            target.selector.label_selectors.get("app").unwrap(),
            "cartservice"
        );
        assert_eq!(target.mode, SelectorMode::All);
        assert_eq!(spec.delay.as_ref().unwrap().latency, "200ms");
        let partition = by_title(&output, "Cut cartservice off from redis-cart");
        let ChaosSpec::NetworkChaos(spec) = &partition.spec else {
            panic!()
        };
        assert_eq!(spec.action, NetworkChaosAction::Partition);
        assert_eq!(
            spec.target
                .as_ref()
                .unwrap()
                .selector
                .label_selectors
                .get("app")
                .unwrap(),
            "redis-cart"
        );
    }

    #[test]
    fn dns_io_stress_and_http_experiments_where_the_map_supports_them() {
        let output = boutique(&AnalysisConfig::default());
        let dns = by_title(
            &output,
            "Fail DNS lookups of api.payments.example.net from paymentservice",
        );
        let ChaosSpec::DNSChaos(spec) = &dns.spec else {
            panic!()
        };
        assert_eq!(spec.patterns, vec!["api.payments.example.net"]);
        let io = by_title(&output, "Slow the volume /data of redis-cart by 100ms");
        let ChaosSpec::IOChaos(spec) = &io.spec else {
            panic!()
        };
        assert_eq!(spec.volume_path, "/data");
        let stress = by_title(&output, "Load the CPU of frontend to 80%");
        let ChaosSpec::StressChaos(spec) = &stress.spec else {
            panic!()
        };
        // 3 replicas at 50% → one pod.
        assert_eq!(spec.mode, SelectorMode::One);
        let http = by_title(&output, "Delay HTTP responses of frontend by 1s");
        let ChaosSpec::HTTPChaos(spec) = &http.spec else {
            panic!()
        };
        assert_eq!(spec.port, 8080);
    }

    #[test]
    fn respects_allowed_kinds_durations_and_the_cap() {
        let config = AnalysisConfig {
            allowed_kinds: [ChaosKind::PodChaos].into_iter().collect(),
            max_duration_ms: 20_000,
            max_experiments: 2,
            ..AnalysisConfig::default()
        };
        let output = boutique(&config);
        assert_eq!(output.experiments.len(), 2);
        for e in &output.experiments {
            assert_eq!(e.spec.kind(), ChaosKind::PodChaos);
            assert_eq!(e.spec.duration(), Some("20s"));
        }
        assert_eq!(output.test_cases.len(), 2);
        assert_eq!(output.test_cases[0].experiment_id, output.experiments[0].id);
        assert!(!output.test_cases[0].pass_criteria.is_empty());
    }

    #[test]
    fn allowed_pods_never_goes_below_one() {
        assert_eq!(allowed_pods(Some(1), 50), Some(1));
        assert_eq!(allowed_pods(Some(3), 50), Some(1));
        assert_eq!(allowed_pods(Some(10), 50), Some(5));
        assert_eq!(allowed_pods(Some(10), 0), Some(0));
        assert_eq!(allowed_pods(None, 50), None);
    }
}
