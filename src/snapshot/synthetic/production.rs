//! A cluster shaped like a large production one, for the operator's memory benchmark: many small
//! namespaces (a team or an application each), a workload and a Service per application, the
//! workloads' running Pods, an EndpointSlice per Service, and ConfigMaps wired through `envFrom`.
//! Objects carry what `kubectl apply` and the controllers leave on a real cluster (the
//! last-applied annotation, owner references, Pods bound to nodes), because a watch pays for
//! metadata too. Deterministic: the same shape and seed give the same objects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, EnvFromSource, Pod, PodSpec, PodTemplateSpec, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::{AppKind, Rng, app_kind, app_name, container, env, labels, meta};
use crate::snapshot::KubeObject;

/// How many of each object the cluster holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterShape {
    pub namespaces: usize,
    /// One workload and one Service per application.
    pub applications: usize,
    /// Running Pods, spread over the workloads (the replica counts add up to this).
    pub pods: usize,
}

impl ClusterShape {
    /// The shape of a large production cluster: 2,500 Services, 2,500 workloads, 6,500 Pods in
    /// 300 namespaces.
    pub const LARGE_PRODUCTION: ClusterShape = ClusterShape {
        namespaces: 300,
        applications: 2_500,
        pods: 6_500,
    };
}

/// The annotation `kubectl apply` keeps: the applied object as JSON.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The object with the last-applied annotation that `kubectl apply` would give it.
fn applied<T>(mut object: T) -> T
where
    T: Serialize + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    if let Ok(json) = serde_json::to_string(&object) {
        object
            .metadata_mut()
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(LAST_APPLIED.to_owned(), json);
    }
    object
}

/// The Pods of application `app`: `replicas(app)` of them over the whole cluster adds up to
/// `shape.pods`.
fn replicas(shape: ClusterShape, app: usize) -> usize {
    let apps = shape.applications.max(1);
    ((app + 1) * shape.pods) / apps - (app * shape.pods) / apps
}

/// A pod IP, unique per Pod of the cluster.
fn pod_ip(pod: usize) -> String {
    format!(
        "10.{}.{}.{}",
        64 + (pod >> 16) % 64,
        (pod >> 8) % 256,
        pod % 256
    )
}

/// Generates the cluster: namespaces `prod-0` .. `prod-{namespaces-1}`, applications spread
/// evenly over them.
pub fn generate_cluster(shape: ClusterShape, seed: u64) -> Vec<KubeObject> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<KubeObject> = Vec::new();
    let namespaces = shape.namespaces.max(1);
    let mut pod_number = 0usize;
    let mut first_of_namespace = 0usize;
    let mut current_namespace = usize::MAX;
    for app in 0..shape.applications {
        let ns_index = app * namespaces / shape.applications.max(1);
        if ns_index != current_namespace {
            current_namespace = ns_index;
            first_of_namespace = app;
        }
        let namespace = format!("prod-{ns_index}");
        let i = app - first_of_namespace;
        let kind = app_kind(i);
        let name = app_name(i, kind);
        let port = kind.port();
        let selector = labels(&[("app", &name)]);
        let pod_labels = labels(&[("app", &name), ("team", &namespace), ("version", "v1")]);
        let pods = replicas(shape, app);
        let mut vars = vec![
            env("PORT", port.to_string()),
            env("OTEL_SERVICE_NAME", name.clone()),
        ];
        let mut env_from = Vec::new();
        if matches!(kind, AppKind::Api) && i > 0 {
            for c in 0..1 + rng.below(3) {
                let j = rng.below(i);
                let callee_kind = app_kind(j);
                let value = format!("{}:{}", app_name(j, callee_kind), callee_kind.port());
                vars.push(env(&format!("UPSTREAM_{c}_ADDR"), value));
            }
        }
        if matches!(kind, AppKind::Api) && i.is_multiple_of(2) {
            let cm_name = format!("{name}-config");
            let config = ConfigMap {
                metadata: meta(&namespace, &cm_name, None),
                data: Some(BTreeMap::from([
                    ("FEATURE_FLAGS".to_owned(), "checkout,search".to_owned()),
                    ("TIMEOUT_MS".to_owned(), "1500".to_owned()),
                ])),
                ..ConfigMap::default()
            };
            out.push(applied(config).into());
            env_from.push(EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: cm_name,
                    optional: None,
                }),
                ..EnvFromSource::default()
            });
        }
        let image = match kind {
            AppKind::Api => format!("registry.example.com/{namespace}/{name}:1.{}", i % 7),
            AppKind::Redis => "redis:7.2-alpine".to_owned(),
            AppKind::Postgres => "postgres:16".to_owned(),
        };
        let pod_spec = PodSpec {
            containers: vec![container("app", image, port, vars, env_from)],
            ..PodSpec::default()
        };
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels.clone()),
                ..ObjectMeta::default()
            }),
            spec: Some(pod_spec.clone()),
        };
        let replica_count = i32::try_from(pods).unwrap_or(i32::MAX);
        let selector_spec = LabelSelector {
            match_labels: Some(selector.clone()),
            ..LabelSelector::default()
        };
        // Pods are owned by a ReplicaSet (Deployments) or by the StatefulSet.
        let (owner, pod_name): (OwnerReference, Box<dyn Fn(usize) -> String>) = match kind {
            AppKind::Api => {
                let deployment = Deployment {
                    metadata: meta(&namespace, &name, Some(pod_labels.clone())),
                    spec: Some(DeploymentSpec {
                        replicas: Some(replica_count),
                        selector: selector_spec,
                        template,
                        ..DeploymentSpec::default()
                    }),
                    status: None,
                };
                out.push(applied(deployment).into());
                let hash = format!("{:x}", 0x5c4d_0000_u64 + (app as u64 * 7919) % 0xffff);
                let replica_set = format!("{name}-{hash}");
                let owner = OwnerReference {
                    api_version: "apps/v1".to_owned(),
                    kind: "ReplicaSet".to_owned(),
                    name: replica_set.clone(),
                    uid: format!("00000000-0000-4000-8000-{app:012}"),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                };
                let mut suffixes = Rng::new(seed ^ app as u64);
                let names: Vec<String> = (0..pods)
                    .map(|_| format!("{replica_set}-{:05x}", suffixes.next() % 0xfffff))
                    .collect();
                (
                    owner,
                    Box::new(move |p| names.get(p).cloned().unwrap_or_default()),
                )
            }
            AppKind::Redis | AppKind::Postgres => {
                let stateful_set = StatefulSet {
                    metadata: meta(&namespace, &name, Some(pod_labels.clone())),
                    spec: Some(StatefulSetSpec {
                        replicas: Some(replica_count),
                        service_name: Some(name.clone()),
                        selector: selector_spec,
                        template,
                        ..StatefulSetSpec::default()
                    }),
                    status: None,
                };
                out.push(applied(stateful_set).into());
                let owner = OwnerReference {
                    api_version: "apps/v1".to_owned(),
                    kind: "StatefulSet".to_owned(),
                    name: name.clone(),
                    uid: format!("00000000-0000-4000-9000-{app:012}"),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                };
                let base = name.clone();
                (owner, Box::new(move |p| format!("{base}-{p}")))
            }
        };
        let mut endpoints = Vec::with_capacity(pods);
        for p in 0..pods {
            let name = pod_name(p);
            let mut metadata = meta(&namespace, &name, Some(pod_labels.clone()));
            metadata.owner_references = Some(vec![owner.clone()]);
            out.push(
                Pod {
                    metadata,
                    spec: Some(PodSpec {
                        node_name: Some(format!("node-{}", (pod_number + p) % 120)),
                        ..pod_spec.clone()
                    }),
                    status: None,
                }
                .into(),
            );
            endpoints.push(Endpoint {
                addresses: vec![pod_ip(pod_number + p)],
                node_name: Some(format!("node-{}", (pod_number + p) % 120)),
                ..Endpoint::default()
            });
        }
        pod_number += pods;
        let service = Service {
            metadata: meta(&namespace, &name, Some(selector.clone())),
            spec: Some(ServiceSpec {
                selector: Some(selector.clone()),
                ports: Some(vec![ServicePort {
                    name: Some("main".to_owned()),
                    port,
                    target_port: Some(IntOrString::Int(port)),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        out.push(applied(service).into());
        let mut slice_meta = meta(
            &namespace,
            &format!("{name}-{:05x}", rng.next() % 0xfffff),
            Some(labels(&[("kubernetes.io/service-name", &name)])),
        );
        slice_meta.owner_references = Some(vec![OwnerReference {
            api_version: "v1".to_owned(),
            kind: "Service".to_owned(),
            name: name.clone(),
            uid: format!("00000000-0000-4000-a000-{app:012}"),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        out.push(
            EndpointSlice {
                metadata: slice_meta,
                address_type: "IPv4".to_owned(),
                endpoints,
                ports: Some(vec![EndpointPort {
                    name: Some("main".to_owned()),
                    port: Some(port),
                    protocol: Some("TCP".to_owned()),
                    ..EndpointPort::default()
                }]),
            }
            .into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_production_shape_has_its_counts() {
        let objects = generate_cluster(ClusterShape::LARGE_PRODUCTION, 7);
        let count = |f: fn(&KubeObject) -> bool| objects.iter().filter(|o| f(o)).count();
        assert_eq!(count(|o| matches!(o, KubeObject::Service(_))), 2_500);
        assert_eq!(
            count(|o| matches!(o, KubeObject::Deployment(_) | KubeObject::StatefulSet(_))),
            2_500
        );
        assert_eq!(count(|o| matches!(o, KubeObject::Pod(_))), 6_500);
        let namespaces: std::collections::BTreeSet<Option<String>> = objects
            .iter()
            .map(|o| match o {
                KubeObject::Service(s) => s.metadata.namespace.clone(),
                _ => None,
            })
            .filter(Option::is_some)
            .collect();
        assert_eq!(namespaces.len(), 300);
    }

    #[test]
    fn pod_names_are_unique_and_the_output_deterministic() {
        let shape = ClusterShape {
            namespaces: 3,
            applications: 40,
            pods: 100,
        };
        let pod_names = || -> Vec<String> {
            generate_cluster(shape, 1)
                .iter()
                .filter_map(|o| match o {
                    KubeObject::Pod(p) => Some(format!(
                        "{}/{}",
                        p.metadata.namespace.clone().unwrap_or_default(),
                        p.metadata.name.clone().unwrap_or_default()
                    )),
                    _ => None,
                })
                .collect()
        };
        let names = pod_names();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(names.len(), 100);
        assert_eq!(unique.len(), 100);
        assert_eq!(pod_names(), names);
    }
}
