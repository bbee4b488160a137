//! From findings to remediations: one rule per finding kind that a change to objects fixes.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Probe, ResourceRequirements, TCPSocketAction, TopologySpreadConstraint,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    ContainerChange, NewObject, NotPatchable, PatchTarget, PatchedKind, Remediation,
    RemediationPlan, WorkloadChange, WorkloadPatch,
};
use crate::analysis::{Finding, FindingKind};
use crate::servicemap::{Node, NodeId, NodeKind, ServiceMap, WorkloadInfo};

/// Replicas that end a single point of failure.
const REPLICAS_FOR_AVAILABILITY: i32 = 2;
/// Replicas of a data store: a quorum survives the loss of one.
const REPLICAS_FOR_DATA_STORE: i32 = 3;
/// The zone label every cloud provider sets on nodes.
const ZONE_TOPOLOGY_KEY: &str = "topology.kubernetes.io/zone";
/// CPU use at which the autoscaler adds pods.
const HPA_CPU_UTILIZATION_PERCENT: i32 = 70;
/// Starting points for requests and limits; the description says to size them from usage.
const CPU_REQUEST: &str = "100m";
const MEMORY_REQUEST: &str = "128Mi";
const MEMORY_LIMIT: &str = "512Mi";

/// The remediations of `findings` on `map`: a patch (and new objects) for each finding a change
/// to objects fixes, and for the others what would fix them instead.
pub fn plan(map: &ServiceMap, findings: &[Finding]) -> RemediationPlan {
    let nodes: BTreeMap<&NodeId, &Node> = map.nodes.iter().map(|n| (&n.id, n)).collect();
    let mut out = RemediationPlan::default();
    for finding in findings {
        let node = nodes.get(&finding.subject).copied();
        match remediate(finding, node) {
            Ok(remediation) => out.remediations.push(remediation),
            Err(reason) => out.not_patchable.push(NotPatchable {
                finding_id: finding.id.clone(),
                reason,
            }),
        }
    }
    out
}

/// What fixes a finding of `kind` when no patch does.
pub fn manual_fix(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::UnresolvedReference => {
            "create the Service the reference names, or correct the reference"
        }
        FindingKind::ServiceWithoutBackends => {
            "correct the Service's selector, or deploy the workload it should select"
        }
        FindingKind::DependencyCycle => {
            "break the loop: one side calls asynchronously or not at all"
        }
        FindingKind::HighFanIn => {
            "run it with several replicas behind a PDB and give callers timeouts and fallbacks"
        }
        FindingKind::HighFanOut => "call dependencies concurrently, with timeouts and fallbacks",
        FindingKind::RefutedHypothesis => {
            "read the run's timeline, fix what broke the steady state, then verify again"
        }
        FindingKind::ExternalDependency => {
            "add timeouts, retries with backoff and a fallback for the external host"
        }
        FindingKind::DeclaredNotObserved
        | FindingKind::DeclaredCallNotObserved
        | FindingKind::DeclaredCallNotConfigured => {
            "remove the dead configuration, or exercise the path and check the traffic again"
        }
        FindingKind::ObservedNotDeclared | FindingKind::UndeclaredCall => {
            "declare the call in configuration or in the architecture"
        }
        FindingKind::DeclaredServiceMissing => {
            "deploy the service, or remove it from the architecture"
        }
        FindingKind::SingleReplica | FindingKind::DataStoreWithoutReplicas => "run more replicas",
        FindingKind::NoPodDisruptionBudget => "add a PodDisruptionBudget",
        FindingKind::NoAutoscaler => "add a HorizontalPodAutoscaler",
        FindingKind::NoReadinessProbe => "add a readiness probe",
        FindingKind::NoResourceLimits => "set resource requests and limits",
    }
}

fn remediate(finding: &Finding, node: Option<&Node>) -> Result<Remediation, String> {
    let patchable = matches!(
        finding.kind,
        FindingKind::SingleReplica
            | FindingKind::DataStoreWithoutReplicas
            | FindingKind::NoPodDisruptionBudget
            | FindingKind::NoAutoscaler
            | FindingKind::NoReadinessProbe
            | FindingKind::NoResourceLimits
    );
    if !patchable {
        return Err(manual_fix(finding.kind).to_string());
    }
    let (node, info, kind) = match node.and_then(|n| Some((n, n.workload.as_ref()?))) {
        Some((node, info)) => match patched_kind(node.kind) {
            Some(kind) => (node, info, kind),
            None => {
                return Err(format!(
                    "{}: a {} is not patched here; {}",
                    node.id,
                    node.kind.as_str(),
                    manual_fix(finding.kind)
                ));
            }
        },
        None => {
            return Err(format!(
                "{} is not a workload of the map; {}",
                finding.subject,
                manual_fix(finding.kind)
            ));
        }
    };
    let target = PatchTarget {
        kind,
        namespace: node.namespace.clone(),
        name: node.name.clone(),
    };
    let patch = |change: WorkloadChange| WorkloadPatch {
        target: target.clone(),
        change,
        container_names: info.containers.iter().map(|c| c.name.clone()).collect(),
    };
    let remediation =
        |description: String, patch: Option<WorkloadPatch>, new_objects| Remediation {
            finding_id: finding.id.clone(),
            finding_kind: finding.kind,
            target: node.id.clone(),
            description,
            patch,
            new_objects,
        };
    match finding.kind {
        FindingKind::SingleReplica | FindingKind::DataStoreWithoutReplicas => {
            if kind == PatchedKind::DaemonSet {
                return Err(format!("{}: a DaemonSet runs one pod per node", node.id));
            }
            let (replicas, caveat) = if finding.kind == FindingKind::SingleReplica {
                (REPLICAS_FOR_AVAILABILITY, "")
            } else {
                (
                    REPLICAS_FOR_DATA_STORE,
                    "; the store itself must be configured to replicate across them",
                )
            };
            let description = format!(
                "{}: replicas {} → {replicas}, spread across zones, at most one pod disrupted at a time{caveat}",
                node.id,
                info.replicas.unwrap_or(1)
            );
            let change = WorkloadChange {
                replicas: Some(replicas),
                topology_spread: vec![zone_spread(info)],
                ..WorkloadChange::default()
            };
            Ok(remediation(
                description,
                Some(patch(change)),
                vec![NewObject::PodDisruptionBudget(pdb(node, info))],
            ))
        }
        FindingKind::NoPodDisruptionBudget => Ok(remediation(
            format!(
                "{}: a PodDisruptionBudget lets a drain evict one pod at a time",
                node.id
            ),
            None,
            vec![NewObject::PodDisruptionBudget(pdb(node, info))],
        )),
        FindingKind::NoAutoscaler => {
            if kind != PatchedKind::Deployment {
                return Err(format!(
                    "{}: only Deployments get an autoscaler here",
                    node.id
                ));
            }
            let hpa = hpa(node, info);
            let (min, max) = hpa
                .spec
                .as_ref()
                .map_or((0, 0), |s| (s.min_replicas.unwrap_or(1), s.max_replicas));
            Ok(remediation(
                format!(
                    "{}: an autoscaler keeps {min} to {max} pods at {HPA_CPU_UTILIZATION_PERCENT}% CPU (it needs CPU requests)",
                    node.id
                ),
                None,
                vec![NewObject::HorizontalPodAutoscaler(hpa)],
            ))
        }
        FindingKind::NoReadinessProbe => {
            let mut containers = Vec::new();
            let mut portless = Vec::new();
            for container in info.containers.iter().filter(|c| !c.readiness_probe) {
                match container.ports.first() {
                    Some(&port) => containers.push(ContainerChange {
                        name: container.name.clone(),
                        readiness_probe: Some(tcp_probe(port)),
                        resources: None,
                    }),
                    None => portless.push(container.name.as_str()),
                }
            }
            if !portless.is_empty() {
                return Err(format!(
                    "{}: container(s) {} declare no port to probe; write their readiness probe by hand",
                    node.id,
                    portless.join(", ")
                ));
            }
            let described: Vec<String> = containers
                .iter()
                .filter_map(|c| {
                    let port = c.readiness_probe.as_ref()?.tcp_socket.as_ref()?;
                    Some(format!("{} on port {}", c.name, int_or_string(&port.port)))
                })
                .collect();
            Ok(remediation(
                format!(
                    "{}: a TCP readiness probe stub for {} (replace with the app's health endpoint)",
                    node.id,
                    described.join(", ")
                ),
                Some(patch(WorkloadChange {
                    containers,
                    ..WorkloadChange::default()
                })),
                Vec::new(),
            ))
        }
        FindingKind::NoResourceLimits => {
            let containers: Vec<ContainerChange> = info
                .containers
                .iter()
                .filter(|c| !c.resource_limits)
                .map(|c| ContainerChange {
                    name: c.name.clone(),
                    readiness_probe: None,
                    resources: Some(starting_resources()),
                })
                .collect();
            let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
            Ok(remediation(
                format!(
                    "{}: requests cpu {CPU_REQUEST}, memory {MEMORY_REQUEST} and a memory limit of {MEMORY_LIMIT} for {} (size them from measured use)",
                    node.id,
                    names.join(", ")
                ),
                Some(patch(WorkloadChange {
                    containers,
                    ..WorkloadChange::default()
                })),
                Vec::new(),
            ))
        }
        _ => Err(manual_fix(finding.kind).to_string()),
    }
}

fn patched_kind(kind: NodeKind) -> Option<PatchedKind> {
    match kind {
        NodeKind::Deployment => Some(PatchedKind::Deployment),
        NodeKind::StatefulSet => Some(PatchedKind::StatefulSet),
        NodeKind::DaemonSet => Some(PatchedKind::DaemonSet),
        _ => None,
    }
}

fn pod_selector(info: &WorkloadInfo) -> LabelSelector {
    LabelSelector {
        match_labels: Some(info.pod_labels.clone()),
        match_expressions: None,
    }
}

fn zone_spread(info: &WorkloadInfo) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: ZONE_TOPOLOGY_KEY.to_string(),
        // A cluster with one zone still schedules the pods.
        when_unsatisfiable: "ScheduleAnyway".to_string(),
        label_selector: Some(pod_selector(info)),
        ..TopologySpreadConstraint::default()
    }
}

fn pdb(node: &Node, info: &WorkloadInfo) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(format!("{}-pdb", node.name)),
            namespace: Some(node.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(pod_selector(info)),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

fn hpa(node: &Node, info: &WorkloadInfo) -> HorizontalPodAutoscaler {
    let min = info.replicas.unwrap_or(1).max(REPLICAS_FOR_AVAILABILITY);
    HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            namespace: Some(node.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_string()),
                kind: node.kind.as_str().to_string(),
                name: node.name.clone(),
            },
            min_replicas: Some(min),
            max_replicas: (min * 2).max(min + 2),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_string(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_string(),
                    target: MetricTarget {
                        type_: "Utilization".to_string(),
                        average_utilization: Some(HPA_CPU_UTILIZATION_PERCENT),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: None,
        }),
        status: None,
    }
}

fn tcp_probe(port: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            host: None,
        }),
        initial_delay_seconds: Some(5),
        period_seconds: Some(10),
        ..Probe::default()
    }
}

fn starting_resources() -> ResourceRequirements {
    let quantities = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect()
    };
    ResourceRequirements {
        requests: Some(quantities(&[
            ("cpu", CPU_REQUEST),
            ("memory", MEMORY_REQUEST),
        ])),
        limits: Some(quantities(&[("memory", MEMORY_LIMIT)])),
        claims: None,
    }
}

fn int_or_string(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}
