//! Conversions from typed Kubernetes objects to pruned records. Both the file reader and the
//! live-cluster reader go through these functions, so both sources prune identically.
//!
//! Objects without a namespace get `default_namespace` (files); objects from a cluster always have
//! one. Nothing here ever sees a Secret's data: Secret references keep only the fact.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec, PodTemplateSpec, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::mesh::{DestinationRule, HttpRoute, VirtualService};
use super::records::*;

/// `collect` into a Vec of its own. A plain `collect` of `vec.into_iter().map(...)` reuses the
/// source's buffer, sized for the far larger k8s-openapi type, and the snapshot would keep it:
/// a third of a 50,000-object snapshot's memory was such buffers.
trait CollectFresh: Iterator + Sized {
    fn collect_fresh(self) -> Vec<Self::Item> {
        let mut fresh = Vec::new();
        fresh.extend(self);
        fresh
    }
}

impl<I: Iterator> CollectFresh for I {}

/// Label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn namespace_and_name(meta: &mut ObjectMeta, default_namespace: &str) -> (String, String) {
    let namespace = meta
        .namespace
        .take()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| default_namespace.to_owned());
    (namespace, meta.name.take().unwrap_or_default())
}

fn int_or_string(value: IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s,
    }
}

/// Converts a label selector.
pub fn selector(selector: LabelSelector) -> Selector {
    Selector {
        match_labels: selector.match_labels.unwrap_or_default(),
        match_expressions: selector
            .match_expressions
            .unwrap_or_default()
            .into_iter()
            .map(|req| SelectorRequirement {
                key: req.key,
                operator: req.operator,
                values: req.values.unwrap_or_default(),
            })
            .collect_fresh(),
    }
}

fn container(container: Container) -> ContainerRecord {
    let env = container
        .env
        .unwrap_or_default()
        .into_iter()
        .map(|var| {
            let value = match (var.value, var.value_from) {
                (Some(value), _) => EnvValue::Literal { value },
                (None, Some(source)) => match source.config_map_key_ref {
                    Some(key_ref) => EnvValue::ConfigMapKey {
                        config_map: key_ref.name,
                        key: key_ref.key,
                    },
                    None => EnvValue::Other,
                },
                // `value` absent and no source: Kubernetes reads it as the empty string.
                (None, None) => EnvValue::Literal {
                    value: String::new(),
                },
            };
            EnvVarRecord {
                name: var.name,
                value,
            }
        })
        .collect_fresh();
    let env_from = container
        .env_from
        .unwrap_or_default()
        .into_iter()
        .filter_map(|source| {
            let prefix = source.prefix.unwrap_or_default();
            source.config_map_ref.map(|cm| EnvFromConfigMap {
                config_map: cm.name,
                prefix,
            })
        })
        .collect_fresh();
    let resource_limits = container
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .is_some_and(|limits| limits.contains_key("cpu") || limits.contains_key("memory"));
    ContainerRecord {
        name: container.name,
        image: container.image.unwrap_or_default(),
        ports: container
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.container_port)
            .collect_fresh(),
        command: container.command.unwrap_or_default(),
        args: container.args.unwrap_or_default(),
        env,
        env_from,
        mounts: container
            .volume_mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| MountRecord {
                volume: m.name,
                path: m.mount_path,
            })
            .collect_fresh(),
        readiness_probe: container.readiness_probe.is_some(),
        liveness_probe: container.liveness_probe.is_some(),
        resource_limits,
    }
}

fn pod_spec(labels: BTreeMap<String, String>, spec: Option<PodSpec>) -> PodRecord {
    let Some(spec) = spec else {
        return PodRecord {
            labels,
            ..PodRecord::default()
        };
    };
    let volumes = spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|volume| {
            let mut sources = Vec::new();
            if let Some(cm) = volume.config_map {
                sources.push(VolumeSource::ConfigMap {
                    config_map: cm.name,
                    keys: cm
                        .items
                        .unwrap_or_default()
                        .into_iter()
                        .map(|i| i.key)
                        .collect_fresh(),
                });
            }
            if let Some(projected) = volume.projected {
                for source in projected.sources.unwrap_or_default() {
                    if let Some(cm) = source.config_map {
                        sources.push(VolumeSource::ConfigMap {
                            config_map: cm.name,
                            keys: cm
                                .items
                                .unwrap_or_default()
                                .into_iter()
                                .map(|i| i.key)
                                .collect_fresh(),
                        });
                    }
                }
            }
            if let Some(claim) = volume.persistent_volume_claim {
                sources.push(VolumeSource::Persistent {
                    claim: claim.claim_name,
                });
            }
            if volume.ephemeral.is_some() {
                sources.push(VolumeSource::Persistent {
                    claim: volume.name.clone(),
                });
            }
            if sources.is_empty() {
                sources.push(VolumeSource::Other);
            }
            VolumeRecord {
                name: volume.name,
                sources,
            }
        })
        .collect_fresh();
    PodRecord {
        labels,
        containers: spec.containers.into_iter().map(container).collect_fresh(),
        init_containers: spec
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .map(container)
            .collect_fresh(),
        volumes,
    }
}

fn pod_template(template: PodTemplateSpec) -> PodRecord {
    let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
    pod_spec(labels, template.spec)
}

/// Converts a Deployment.
pub fn deployment(mut object: Deployment, default_namespace: &str) -> WorkloadRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    WorkloadRecord {
        kind: WorkloadKind::Deployment,
        namespace,
        name,
        replicas: Some(spec.replicas.unwrap_or(1)),
        pod: pod_template(spec.template),
    }
}

/// Converts a StatefulSet; its volumeClaimTemplates count as persistent volumes.
pub fn stateful_set(mut object: StatefulSet, default_namespace: &str) -> WorkloadRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    let mut pod = pod_template(spec.template);
    for claim in spec.volume_claim_templates.unwrap_or_default() {
        let claim_name = claim.metadata.name.unwrap_or_default();
        pod.volumes.push(VolumeRecord {
            name: claim_name.clone(),
            sources: vec![VolumeSource::Persistent { claim: claim_name }],
        });
    }
    WorkloadRecord {
        kind: WorkloadKind::StatefulSet,
        namespace,
        name,
        replicas: Some(spec.replicas.unwrap_or(1)),
        pod,
    }
}

/// Converts a DaemonSet.
pub fn daemon_set(mut object: DaemonSet, default_namespace: &str) -> WorkloadRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    WorkloadRecord {
        kind: WorkloadKind::DaemonSet,
        namespace,
        name,
        replicas: None,
        pod: pod_template(spec.template),
    }
}

/// Converts a Job. A Job created by a CronJob is still converted; the caller decides whether
/// to keep it (see [`is_controlled`]).
pub fn job(mut object: Job, default_namespace: &str) -> WorkloadRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    WorkloadRecord {
        kind: WorkloadKind::Job,
        namespace,
        name,
        replicas: None,
        pod: pod_template(spec.template),
    }
}

/// Converts a CronJob.
pub fn cron_job(mut object: CronJob, default_namespace: &str) -> WorkloadRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let pod = object
        .spec
        .and_then(|spec| spec.job_template.spec)
        .map(|job| pod_template(job.template))
        .unwrap_or_default();
    WorkloadRecord {
        kind: WorkloadKind::CronJob,
        namespace,
        name,
        replicas: None,
        pod,
    }
}

/// Whether a controller (a ReplicaSet, a Job, a StatefulSet...) owns the object: such Pods and
/// Jobs are explained by their controller and not kept.
pub fn is_controlled(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|owners| owners.iter().any(|o| o.controller == Some(true)))
}

/// Converts a bare Pod. Returns None for a Pod a controller owns.
pub fn pod(mut object: Pod, default_namespace: &str) -> Option<WorkloadRecord> {
    if is_controlled(&object.metadata) {
        return None;
    }
    let labels = object.metadata.labels.take().unwrap_or_default();
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    Some(WorkloadRecord {
        kind: WorkloadKind::Pod,
        namespace,
        name,
        replicas: None,
        pod: pod_spec(labels, object.spec),
    })
}

/// Converts a Service.
pub fn service(mut object: Service, default_namespace: &str) -> ServiceRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    ServiceRecord {
        namespace,
        name,
        service_type: spec.type_.unwrap_or_else(|| "ClusterIP".to_owned()),
        headless: spec.cluster_ip.as_deref() == Some("None"),
        ports: spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| ServicePortRecord {
                name: p.name,
                port: p.port,
                target_port: p.target_port.map(int_or_string),
                app_protocol: p.app_protocol,
            })
            .collect_fresh(),
        selector: spec.selector,
        external_name: spec.external_name,
    }
}

/// Converts an EndpointSlice.
pub fn endpoint_slice(mut object: EndpointSlice, default_namespace: &str) -> EndpointSliceRecord {
    let service = object
        .metadata
        .labels
        .as_mut()
        .and_then(|labels| labels.remove(SERVICE_NAME_LABEL));
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let addresses = object.endpoints.iter().map(|e| e.addresses.len()).sum();
    let targets = object
        .endpoints
        .into_iter()
        .filter_map(|e| e.target_ref)
        .map(|r| EndpointTarget {
            kind: r.kind.unwrap_or_default(),
            namespace: r.namespace.unwrap_or_else(|| namespace.clone()),
            name: r.name.unwrap_or_default(),
        })
        .collect_fresh();
    EndpointSliceRecord {
        namespace,
        name,
        service,
        addresses,
        targets,
    }
}

fn ingress_backend(backend: IngressBackend) -> Option<BackendRef> {
    backend.service.map(|service| BackendRef {
        service: service.name,
        port: service
            .port
            .and_then(|p| p.number.map(|n| n.to_string()).or(p.name)),
    })
}

/// Converts an Ingress: every path with its backend Service, plus the default backend (with an
/// empty host and path).
pub fn ingress(mut object: Ingress, default_namespace: &str) -> IngressRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    let mut paths = Vec::new();
    if let Some(backend) = spec.default_backend.and_then(ingress_backend) {
        paths.push(IngressPathRecord {
            host: String::new(),
            path: String::new(),
            backend,
        });
    }
    for rule in spec.rules.unwrap_or_default() {
        let host = rule.host.unwrap_or_default();
        for path in rule.http.map(|h| h.paths).unwrap_or_default() {
            if let Some(backend) = ingress_backend(path.backend) {
                paths.push(IngressPathRecord {
                    host: host.clone(),
                    path: path.path.unwrap_or_else(|| "/".to_owned()),
                    backend,
                });
            }
        }
    }
    IngressRecord {
        namespace,
        name,
        class: spec.ingress_class_name,
        paths,
    }
}

/// Converts a ConfigMap; binaryData is dropped.
pub fn config_map(mut object: ConfigMap, default_namespace: &str) -> ConfigMapRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    ConfigMapRecord {
        namespace,
        name,
        data: object.data.unwrap_or_default(),
    }
}

fn peer(peer: NetworkPolicyPeer) -> PeerRecord {
    PeerRecord {
        pod_selector: peer.pod_selector.map(selector),
        namespace_selector: peer.namespace_selector.map(selector),
        ip_block: peer.ip_block.map(|b| b.cidr),
    }
}

fn policy_ports(ports: Option<Vec<NetworkPolicyPort>>) -> Vec<String> {
    ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.port.map(int_or_string))
        .collect()
}

/// Converts a NetworkPolicy.
pub fn network_policy(mut object: NetworkPolicy, default_namespace: &str) -> NetworkPolicyRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    let ingress: Vec<PolicyRuleRecord> = spec
        .ingress
        .unwrap_or_default()
        .into_iter()
        .map(|rule| PolicyRuleRecord {
            peers: rule
                .from
                .unwrap_or_default()
                .into_iter()
                .map(peer)
                .collect_fresh(),
            ports: policy_ports(rule.ports),
        })
        .collect_fresh();
    let egress: Vec<PolicyRuleRecord> = spec
        .egress
        .unwrap_or_default()
        .into_iter()
        .map(|rule| PolicyRuleRecord {
            peers: rule
                .to
                .unwrap_or_default()
                .into_iter()
                .map(peer)
                .collect_fresh(),
            ports: policy_ports(rule.ports),
        })
        .collect_fresh();
    // Kubernetes' default: Ingress always, Egress when egress rules are present.
    let policy_types = spec.policy_types.unwrap_or_else(|| {
        let mut types = vec!["Ingress".to_owned()];
        if !egress.is_empty() {
            types.push("Egress".to_owned());
        }
        types
    });
    NetworkPolicyRecord {
        namespace,
        name,
        pod_selector: spec.pod_selector.map(selector).unwrap_or_default(),
        policy_types,
        ingress,
        egress,
    }
}

/// Converts a HorizontalPodAutoscaler (autoscaling/v2).
pub fn horizontal_pod_autoscaler(
    mut object: HorizontalPodAutoscaler,
    default_namespace: &str,
) -> HpaRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    HpaRecord {
        namespace,
        name,
        target_kind: spec.scale_target_ref.kind,
        target_name: spec.scale_target_ref.name,
        min_replicas: spec.min_replicas.unwrap_or(1),
        max_replicas: spec.max_replicas,
    }
}

/// Converts a PodDisruptionBudget.
pub fn pod_disruption_budget(
    mut object: PodDisruptionBudget,
    default_namespace: &str,
) -> PdbRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec.unwrap_or_default();
    PdbRecord {
        namespace,
        name,
        selector: spec.selector.map(selector),
        min_available: spec.min_available.map(int_or_string),
        max_unavailable: spec.max_unavailable.map(int_or_string),
    }
}

/// Converts an Istio VirtualService.
pub fn virtual_service(
    mut object: VirtualService,
    default_namespace: &str,
) -> VirtualServiceRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let spec = object.spec;
    let has_timeout = spec.http.iter().any(|r| r.timeout.is_some());
    let has_retries = spec
        .http
        .iter()
        .any(|r| r.retries.as_ref().is_some_and(|x| x.attempts != Some(0)));
    let destinations = spec
        .http
        .into_iter()
        .flat_map(|r| r.route)
        .chain(spec.tcp.into_iter().flat_map(|r| r.route))
        .chain(spec.tls.into_iter().flat_map(|r| r.route))
        .map(|d| RouteDestinationRecord {
            host: d.destination.host,
            subset: d.destination.subset,
            port: d.destination.port.and_then(|p| p.number),
            weight: d.weight,
        })
        .collect_fresh();
    VirtualServiceRecord {
        namespace,
        name,
        hosts: spec.hosts,
        gateways: spec.gateways,
        destinations,
        has_timeout,
        has_retries,
    }
}

/// Converts an Istio DestinationRule.
pub fn destination_rule(
    mut object: DestinationRule,
    default_namespace: &str,
) -> DestinationRuleRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let policy = object.spec.traffic_policy.unwrap_or_default();
    DestinationRuleRecord {
        namespace,
        name,
        host: object.spec.host,
        subsets: object
            .spec
            .subsets
            .into_iter()
            .map(|s| s.name)
            .collect_fresh(),
        outlier_detection: policy.outlier_detection.is_some(),
        connection_pool: policy.connection_pool.is_some(),
    }
}

/// Converts a Gateway API HTTPRoute. Backends of another kind than Service are dropped.
pub fn http_route(mut object: HttpRoute, default_namespace: &str) -> HttpRouteRecord {
    let (namespace, name) = namespace_and_name(&mut object.metadata, default_namespace);
    let rules = object
        .spec
        .rules
        .into_iter()
        .map(|rule| {
            let mut paths: Vec<String> = rule
                .matches
                .into_iter()
                .filter_map(|m| m.path.and_then(|p| p.value))
                .collect_fresh();
            if paths.is_empty() {
                paths.push("/".to_owned());
            }
            let backends = rule
                .backend_refs
                .into_iter()
                .filter(|b| {
                    b.kind.as_deref().is_none_or(|k| k == "Service")
                        && b.group.as_deref().is_none_or(str::is_empty)
                })
                .map(|b| RouteBackendRecord {
                    namespace: b.namespace.unwrap_or_else(|| namespace.clone()),
                    service: b.name,
                    port: b.port,
                })
                .collect_fresh();
            HttpRouteRuleRecord { paths, backends }
        })
        .collect_fresh();
    HttpRouteRecord {
        namespace,
        name,
        hostnames: object.spec.hostnames,
        parents: object
            .spec
            .parent_refs
            .into_iter()
            .map(|p| p.name)
            .collect_fresh(),
        rules,
    }
}
