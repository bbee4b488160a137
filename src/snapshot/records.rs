//! Pruned records: only the fields the service map and the analysis read.
//!
//! Both sources (files and a live cluster) convert typed k8s-openapi objects into these records
//! through the same functions in [`super::convert`], so they produce identical snapshots.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kinds of workload the snapshot keeps.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    /// A Pod with no controller.
    Pod,
}

impl WorkloadKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }
}

/// A label selector (`matchLabels` and `matchExpressions`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl Selector {
    /// Whether the selector has no requirement at all (and so selects everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every requirement. An unknown operator matches nothing, so a
    /// selector we cannot read never invents a relation.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|req| {
                let present = labels.get(&req.key);
                match req.operator.as_str() {
                    "In" => present.is_some_and(|v| req.values.contains(v)),
                    "NotIn" => present.is_none_or(|v| !req.values.contains(v)),
                    "Exists" => present.is_some(),
                    "DoesNotExist" => present.is_none(),
                    _ => false,
                }
            })
    }
}

/// Where an environment variable's value comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", tag = "from")]
pub enum EnvValue {
    /// A literal value (possibly with `$(VAR)` references).
    #[serde(rename_all = "camelCase")]
    Literal { value: String },
    /// A key of a ConfigMap.
    #[serde(rename_all = "camelCase")]
    ConfigMapKey { config_map: String, key: String },
    /// Anything else (Secret key, field or resource reference): the value is not known here and a
    /// Secret is never read.
    Other,
}

/// One environment variable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarRecord {
    pub name: String,
    pub value: EnvValue,
}

/// An `envFrom` ConfigMap (Secrets are not kept).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromConfigMap {
    pub config_map: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

/// A volume mount.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MountRecord {
    pub volume: String,
    pub path: String,
}

/// A container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVarRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromConfigMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountRecord>,
    #[serde(default)]
    pub readiness_probe: bool,
    #[serde(default)]
    pub liveness_probe: bool,
    #[serde(default)]
    pub resource_limits: bool,
}

/// The source of a volume, as far as the map cares.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum VolumeSource {
    /// A ConfigMap, whole (`keys` empty) or only some keys.
    #[serde(rename_all = "camelCase")]
    ConfigMap {
        config_map: String,
        keys: Vec<String>,
    },
    /// A PersistentVolumeClaim (or a StatefulSet volumeClaimTemplate).
    #[serde(rename_all = "camelCase")]
    Persistent { claim: String },
    /// Anything else (emptyDir, Secret, hostPath...).
    Other,
}

/// A volume of the pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeRecord {
    pub name: String,
    /// The ConfigMap sources (a projected volume can have several).
    pub sources: Vec<VolumeSource>,
}

/// A pod template (or a bare Pod's spec).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodRecord {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<ContainerRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeRecord>,
}

/// A workload: Deployment, StatefulSet, DaemonSet, Job, CronJob or bare Pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRecord {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// Desired replicas (Deployments and StatefulSets; a missing field means 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    pub pod: PodRecord,
}

/// A Service port.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePortRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: i32,
    /// The target port, a number or a container port name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// A Service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    pub namespace: String,
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub service_type: String,
    /// `clusterIP: None`.
    #[serde(default)]
    pub headless: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortRecord>,
    /// None for a selector-less Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
}

/// A reference from an EndpointSlice endpoint to the object behind it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTarget {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// An EndpointSlice.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSliceRecord {
    pub namespace: String,
    pub name: String,
    /// The Service it belongs to (label `kubernetes.io/service-name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Number of endpoint addresses.
    pub addresses: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<EndpointTarget>,
}

/// An Ingress backend Service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackendRef {
    pub service: String,
    /// A port number or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// One Ingress path (or the default backend, with empty host and path).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IngressPathRecord {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub path: String,
    pub backend: BackendRef,
}

/// An Ingress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IngressRecord {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub paths: Vec<IngressPathRecord>,
}

/// A ConfigMap's text data (binaryData is dropped).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapRecord {
    pub namespace: String,
    pub name: String,
    pub data: BTreeMap<String, String>,
}

/// A NetworkPolicy peer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PeerRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<Selector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<Selector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<String>,
}

/// A NetworkPolicy rule: peers (empty: everyone) and ports (empty: all).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRuleRecord {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerRecord>,
    /// Port numbers or names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

/// A NetworkPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyRecord {
    pub namespace: String,
    pub name: String,
    pub pod_selector: Selector,
    /// `Ingress` and/or `Egress`.
    pub policy_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<PolicyRuleRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<PolicyRuleRecord>,
}

/// A HorizontalPodAutoscaler.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HpaRecord {
    pub namespace: String,
    pub name: String,
    pub target_kind: String,
    pub target_name: String,
    pub min_replicas: i32,
    pub max_replicas: i32,
}

/// A PodDisruptionBudget.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PdbRecord {
    pub namespace: String,
    pub name: String,
    /// None selects no pod; an empty selector selects every pod of the namespace (policy/v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<String>,
}

/// A destination of an Istio route.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestinationRecord {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// An Istio VirtualService.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceRecord {
    pub namespace: String,
    pub name: String,
    pub hosts: Vec<String>,
    /// Gateways it is bound to; `mesh` (or none) means sidecar traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    pub destinations: Vec<RouteDestinationRecord>,
    /// Some HTTP route sets a timeout.
    #[serde(default)]
    pub has_timeout: bool,
    /// Some HTTP route sets retries.
    #[serde(default)]
    pub has_retries: bool,
}

/// An Istio DestinationRule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleRecord {
    pub namespace: String,
    pub name: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<String>,
    /// Outlier detection (a circuit breaker) is configured.
    #[serde(default)]
    pub outlier_detection: bool,
    /// Connection-pool limits are configured.
    #[serde(default)]
    pub connection_pool: bool,
}

/// A backend of an HTTPRoute rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteBackendRecord {
    pub namespace: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// One HTTPRoute rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRuleRecord {
    /// Path matches (`/` when the rule has none).
    pub paths: Vec<String>,
    pub backends: Vec<RouteBackendRecord>,
}

/// A Gateway API HTTPRoute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRecord {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    pub rules: Vec<HttpRouteRuleRecord>,
}
