//! A generator of synthetic clusters for benchmarks: namespaces of applications, each a
//! Deployment (or a data-store StatefulSet) with its Service, and around them ConfigMaps, HPAs,
//! PDBs, NetworkPolicies and Ingresses, wired through env vars the way real manifests are
//! (`host:port`, URLs, cluster DNS names, `$(VAR)`, envFrom ConfigMaps, a few dangling and
//! external references). Deterministic: the same (objects, seed) gives the same bytes.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction,
    PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer,
    NetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::KubeObject;

pub mod production;

/// Applications per namespace.
const APPS_PER_NAMESPACE: usize = 150;

/// Errors generating a synthetic cluster.
#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    #[error("serializing a generated object to YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// A small deterministic generator (xorshift64*): benchmarks need repeatable input, not
/// statistical quality.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(namespace: &str, name: &str, labels: Option<BTreeMap<String, String>>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels,
        ..ObjectMeta::default()
    }
}

fn env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        value_from: None,
    }
}

/// What one application is.
#[derive(Clone, Copy)]
enum AppKind {
    Api,
    Redis,
    Postgres,
}

impl AppKind {
    fn port(self) -> i32 {
        match self {
            AppKind::Api => 8080,
            AppKind::Redis => 6379,
            AppKind::Postgres => 5432,
        }
    }
}

fn app_name(i: usize, kind: AppKind) -> String {
    match kind {
        AppKind::Api => format!("svc-{i}"),
        AppKind::Redis => format!("cache-{i}"),
        AppKind::Postgres => format!("db-{i}"),
    }
}

fn app_kind(i: usize) -> AppKind {
    match i % 10 {
        3 => AppKind::Redis,
        7 => AppKind::Postgres,
        _ => AppKind::Api,
    }
}

fn container(
    name: &str,
    image: String,
    port: i32,
    env: Vec<EnvVar>,
    env_from: Vec<EnvFromSource>,
) -> Container {
    let quantity = |q: &str| Quantity(q.to_owned());
    Container {
        name: name.to_owned(),
        image: Some(image),
        ports: Some(vec![ContainerPort {
            container_port: port,
            name: Some("main".to_owned()),
            ..ContainerPort::default()
        }]),
        env: Some(env),
        env_from: if env_from.is_empty() {
            None
        } else {
            Some(env_from)
        },
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("500m")),
                ("memory".to_owned(), quantity("256Mi")),
            ])),
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("100m")),
                ("memory".to_owned(), quantity("128Mi")),
            ])),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".to_owned()),
                port: IntOrString::Int(port),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        ..Container::default()
    }
}

/// Generates about `objects` objects (never fewer) as typed objects.
pub fn generate_objects(objects: usize, seed: u64) -> Vec<KubeObject> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<KubeObject> = Vec::with_capacity(objects + 8);
    let mut app = 0usize;
    while out.len() < objects {
        let namespace = format!("team-{}", app / APPS_PER_NAMESPACE);
        let i = app % APPS_PER_NAMESPACE;
        let kind = app_kind(i);
        let name = app_name(i, kind);
        let pod_labels = labels(&[("app", &name), ("tier", "backend"), ("version", "v1")]);
        let selector = labels(&[("app", &name)]);
        let port = kind.port();
        match kind {
            AppKind::Api => {
                let mut vars = vec![
                    env("PORT", port.to_string()),
                    env("LOG_LEVEL", "info".to_owned()),
                    env("OTEL_SERVICE_NAME", name.clone()),
                ];
                // Calls to earlier applications of the namespace, in the usual forms.
                let calls = if i == 0 { 0 } else { 2 + rng.below(5) };
                for c in 0..calls {
                    let j = rng.below(i);
                    let callee_kind = app_kind(j);
                    let callee = app_name(j, callee_kind);
                    let callee_port = callee_kind.port();
                    let value = match (callee_kind, rng.below(5)) {
                        (AppKind::Redis, _) => format!("redis://{callee}:{callee_port}/0"),
                        (AppKind::Postgres, _) => {
                            format!("postgres://app@{callee}:{callee_port}/app?sslmode=disable")
                        }
                        (AppKind::Api, 0) => format!("http://{callee}:{callee_port}/api"),
                        (AppKind::Api, 1) => {
                            format!("{callee}.{namespace}.svc.cluster.local:{callee_port}")
                        }
                        (AppKind::Api, 2) => {
                            vars.push(env(&format!("UPSTREAM_{c}_PORT"), callee_port.to_string()));
                            format!("{callee}:$(UPSTREAM_{c}_PORT)")
                        }
                        _ => format!("{callee}:{callee_port}"),
                    };
                    vars.push(env(&format!("UPSTREAM_{c}_ADDR"), value));
                }
                if rng.chance(5) {
                    vars.push(env("LEGACY_SERVICE_ADDR", format!("retired-{i}:80")));
                }
                if rng.chance(10) {
                    vars.push(env(
                        "PAYMENTS_API_URL",
                        "https://api.payments.example.com/v2".to_owned(),
                    ));
                }
                if app >= APPS_PER_NAMESPACE && rng.chance(10) {
                    let other = format!("team-{}", rng.below(app / APPS_PER_NAMESPACE));
                    vars.push(env(
                        "SHARED_SERVICE_URL",
                        format!("http://svc-0.{other}.svc.cluster.local:8080"),
                    ));
                }
                let mut env_from = Vec::new();
                if i.is_multiple_of(2) {
                    let cm_name = format!("{name}-config");
                    let mut data = BTreeMap::from([
                        ("FEATURE_FLAGS".to_owned(), "checkout,search".to_owned()),
                        ("TIMEOUT_MS".to_owned(), "1500".to_owned()),
                    ]);
                    if i > 0 {
                        let j = rng.below(i);
                        data.insert("CACHE_HOST".to_owned(), app_name(j, app_kind(j)));
                    }
                    out.push(
                        ConfigMap {
                            metadata: meta(&namespace, &cm_name, None),
                            data: Some(data),
                            ..ConfigMap::default()
                        }
                        .into(),
                    );
                    env_from.push(EnvFromSource {
                        config_map_ref: Some(ConfigMapEnvSource {
                            name: cm_name,
                            optional: None,
                        }),
                        ..EnvFromSource::default()
                    });
                }
                let image = format!("registry.example.com/{namespace}/{name}:1.{}", i % 7);
                out.push(
                    Deployment {
                        metadata: meta(&namespace, &name, Some(pod_labels.clone())),
                        spec: Some(DeploymentSpec {
                            replicas: Some(1 + (i % 3) as i32),
                            selector: LabelSelector {
                                match_labels: Some(selector.clone()),
                                ..LabelSelector::default()
                            },
                            template: PodTemplateSpec {
                                metadata: Some(ObjectMeta {
                                    labels: Some(pod_labels.clone()),
                                    ..ObjectMeta::default()
                                }),
                                spec: Some(PodSpec {
                                    containers: vec![container("app", image, port, vars, env_from)],
                                    ..PodSpec::default()
                                }),
                            },
                            ..DeploymentSpec::default()
                        }),
                        status: None,
                    }
                    .into(),
                );
            }
            AppKind::Redis | AppKind::Postgres => {
                let image = match kind {
                    AppKind::Redis => "redis:7.2-alpine".to_owned(),
                    _ => "postgres:16".to_owned(),
                };
                let vars = vec![env("TZ", "UTC".to_owned())];
                out.push(
                    StatefulSet {
                        metadata: meta(&namespace, &name, Some(pod_labels.clone())),
                        spec: Some(StatefulSetSpec {
                            replicas: Some(1),
                            service_name: Some(name.clone()),
                            selector: LabelSelector {
                                match_labels: Some(selector.clone()),
                                ..LabelSelector::default()
                            },
                            template: PodTemplateSpec {
                                metadata: Some(ObjectMeta {
                                    labels: Some(pod_labels.clone()),
                                    ..ObjectMeta::default()
                                }),
                                spec: Some(PodSpec {
                                    containers: vec![container(
                                        "store",
                                        image,
                                        port,
                                        vars,
                                        Vec::new(),
                                    )],
                                    ..PodSpec::default()
                                }),
                            },
                            ..StatefulSetSpec::default()
                        }),
                        status: None,
                    }
                    .into(),
                );
            }
        }
        out.push(
            Service {
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
            }
            .into(),
        );
        if i % 4 == 1 {
            out.push(
                HorizontalPodAutoscaler {
                    metadata: meta(&namespace, &name, None),
                    spec: Some(HorizontalPodAutoscalerSpec {
                        scale_target_ref: CrossVersionObjectReference {
                            api_version: Some("apps/v1".to_owned()),
                            kind: "Deployment".to_owned(),
                            name: name.clone(),
                        },
                        min_replicas: Some(2),
                        max_replicas: 10,
                        ..HorizontalPodAutoscalerSpec::default()
                    }),
                    status: None,
                }
                .into(),
            );
        }
        if i % 4 == 2 {
            out.push(
                PodDisruptionBudget {
                    metadata: meta(&namespace, &name, None),
                    spec: Some(PodDisruptionBudgetSpec {
                        min_available: Some(IntOrString::Int(1)),
                        selector: Some(LabelSelector {
                            match_labels: Some(selector.clone()),
                            ..LabelSelector::default()
                        }),
                        ..PodDisruptionBudgetSpec::default()
                    }),
                    status: None,
                }
                .into(),
            );
        }
        if i % 8 == 5 {
            let j = rng.below(i);
            let peer = labels(&[("app", &app_name(j, app_kind(j)))]);
            out.push(
                NetworkPolicy {
                    metadata: meta(&namespace, &format!("{name}-egress"), None),
                    spec: Some(NetworkPolicySpec {
                        pod_selector: Some(LabelSelector {
                            match_labels: Some(selector.clone()),
                            ..LabelSelector::default()
                        }),
                        policy_types: Some(vec!["Egress".to_owned()]),
                        egress: Some(vec![NetworkPolicyEgressRule {
                            to: Some(vec![NetworkPolicyPeer {
                                pod_selector: Some(LabelSelector {
                                    match_labels: Some(peer),
                                    ..LabelSelector::default()
                                }),
                                ..NetworkPolicyPeer::default()
                            }]),
                            ports: None,
                        }]),
                        ..NetworkPolicySpec::default()
                    }),
                }
                .into(),
            );
        }
        if i.is_multiple_of(20) {
            out.push(
                Ingress {
                    metadata: meta(&namespace, &format!("{name}-public"), None),
                    spec: Some(IngressSpec {
                        rules: Some(vec![IngressRule {
                            host: Some(format!("{name}.{namespace}.example.com")),
                            http: Some(HTTPIngressRuleValue {
                                paths: vec![HTTPIngressPath {
                                    path: Some("/".to_owned()),
                                    path_type: "Prefix".to_owned(),
                                    backend: IngressBackend {
                                        service: Some(IngressServiceBackend {
                                            name: name.clone(),
                                            port: Some(ServiceBackendPort {
                                                number: Some(port),
                                                name: None,
                                            }),
                                        }),
                                        resource: None,
                                    },
                                }],
                            }),
                        }]),
                        ..IngressSpec::default()
                    }),
                    status: None,
                }
                .into(),
            );
        }
        app += 1;
    }
    out
}

fn to_yaml(object: &KubeObject) -> Result<String, serde_yaml::Error> {
    match object {
        KubeObject::Deployment(o) => serde_yaml::to_string(o),
        KubeObject::StatefulSet(o) => serde_yaml::to_string(o),
        KubeObject::DaemonSet(o) => serde_yaml::to_string(o),
        KubeObject::Job(o) => serde_yaml::to_string(o),
        KubeObject::CronJob(o) => serde_yaml::to_string(o),
        KubeObject::Pod(o) => serde_yaml::to_string(o),
        KubeObject::Service(o) => serde_yaml::to_string(o),
        KubeObject::EndpointSlice(o) => serde_yaml::to_string(o),
        KubeObject::Ingress(o) => serde_yaml::to_string(o),
        KubeObject::ConfigMap(o) => serde_yaml::to_string(o),
        KubeObject::NetworkPolicy(o) => serde_yaml::to_string(o),
        KubeObject::HorizontalPodAutoscaler(o) => serde_yaml::to_string(o),
        KubeObject::PodDisruptionBudget(o) => serde_yaml::to_string(o),
        KubeObject::VirtualService(o) => serde_yaml::to_string(o),
        KubeObject::DestinationRule(o) => serde_yaml::to_string(o),
        KubeObject::HttpRoute(o) => serde_yaml::to_string(o),
    }
}

/// Generates about `objects` objects (never fewer) as multi-document YAML.
pub fn generate(objects: usize, seed: u64) -> Result<String, SyntheticError> {
    let mut yaml = String::new();
    for object in generate_objects(objects, seed) {
        yaml.push_str("---\n");
        yaml.push_str(&to_yaml(&object)?);
    }
    Ok(yaml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let a = generate(600, 7).expect("generates");
        let b = generate(600, 7).expect("generates");
        assert_eq!(a, b);
        assert_ne!(a, generate(600, 8).expect("generates"));
        let count = generate_objects(600, 7).len();
        assert!((600..610).contains(&count), "{count}");
    }
}
