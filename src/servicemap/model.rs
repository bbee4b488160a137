//! The service map's data model. Its JSON form (`smart-chaos map -o json`) is a stable contract:
//! `{"nodes":[{"id","kind","namespace","name",...}],"edges":[{"from","to","evidence":[...],"confidence"}]}`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A node id: `<namespace>/<Kind>/<name>`.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    /// The id of `kind` `name` in `namespace`.
    pub fn new(namespace: &str, kind: NodeKind, name: &str) -> Self {
        NodeId(format!("{namespace}/{}/{name}", kind.as_str()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a node is.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum NodeKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    /// A Pod no controller in the input explains.
    Pod,
    Service,
    /// An Ingress: an entry point.
    Ingress,
    /// A Gateway API HTTPRoute: an entry point.
    HTTPRoute,
    /// An Istio VirtualService bound to a gateway: an entry point.
    VirtualService,
    /// A host outside the cluster (a URL or ExternalName target).
    External,
    /// A reference to a Service that does not exist in the input.
    Unresolved,
}

impl NodeKind {
    /// The kind as it appears in ids.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }

    /// Whether the node runs pods (a workload chaos can target).
    pub fn is_workload(self) -> bool {
        matches!(
            self,
            NodeKind::Deployment
                | NodeKind::StatefulSet
                | NodeKind::DaemonSet
                | NodeKind::Job
                | NodeKind::CronJob
                | NodeKind::Pod
        )
    }
}

/// Kinds of data store recognised by image name and port.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum DataStoreKind {
    Redis,
    Postgres,
    Mysql,
    Mongodb,
    Cassandra,
    Elasticsearch,
    Memcached,
    Rabbitmq,
    Kafka,
    Nats,
    Etcd,
    Zookeeper,
}

/// One container of a workload, as far as the analysis cares.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    /// Container ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<i32>,
    /// Has a readiness probe.
    pub readiness_probe: bool,
    /// Has a liveness probe.
    pub liveness_probe: bool,
    /// Sets CPU or memory limits.
    pub resource_limits: bool,
}

/// Facts about a workload node.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadInfo {
    /// Desired replicas (None for DaemonSets, Jobs and CronJobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Labels of the pod template: what chaos selectors and Services match.
    pub pod_labels: BTreeMap<String, String>,
    /// The containers (init containers are not listed).
    pub containers: Vec<ContainerInfo>,
    /// Data store recognised by image or port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_store: Option<DataStoreKind>,
    /// Mount paths of persistent volumes (PVCs and volumeClaimTemplates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persistent_mounts: Vec<String>,
    /// A PodDisruptionBudget selects these pods.
    pub has_pdb: bool,
    /// A HorizontalPodAutoscaler targets this workload: its (min, max) replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<(i32, i32)>,
}

/// Service types.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum ServiceType {
    ClusterIP,
    Headless,
    NodePort,
    LoadBalancer,
    ExternalName,
}

/// Facts about a Service node.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    pub service_type: ServiceType,
    /// Service ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<i32>,
    /// The selector (empty for selector-less Services).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Workloads whose pods the selector matches: the Service's backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<NodeId>,
    /// The ExternalName target, for ExternalName Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// Service-mesh traffic policy for this host (Istio DestinationRule and VirtualService).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<MeshPolicy>,
}

/// Resilience settings a service mesh applies to calls to a Service.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MeshPolicy {
    /// Subsets named by DestinationRules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<String>,
    /// Outlier detection (a circuit breaker).
    pub outlier_detection: bool,
    /// Connection-pool limits.
    pub connection_pool: bool,
    /// A VirtualService sets a request timeout.
    pub timeout: bool,
    /// A VirtualService sets retries.
    pub retries: bool,
}

/// A node of the map.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: NodeId,
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// Traffic from outside the cluster enters here (Ingress, HTTPRoute, gateway-bound
    /// VirtualService, LoadBalancer and NodePort Services, or the root of the call graph).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub entry_point: bool,
    /// How the entry point was found (set on every entry point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_via: Option<EntryVia>,
    /// A load generator (locust, k6, jmeter, ...): it calls the application but is not a user of
    /// it, so its calls do not make a workload "called" when roots are looked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub load_generator: bool,
    /// For workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadInfo>,
    /// For Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceInfo>,
    /// For External nodes, the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Node {
    /// Whether losing one pod stops the node: a workload of one replica (one when unset), a
    /// DaemonSet excepted since its pods are one per machine. Nodes that are not workloads count
    /// as one pod.
    pub fn is_single_point_of_failure(&self) -> bool {
        self.kind != NodeKind::DaemonSet
            && self.workload.as_ref().and_then(|w| w.replicas).unwrap_or(1) <= 1
    }
}

/// How an entry point was found.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(tag = "via", rename_all = "camelCase")]
pub enum EntryVia {
    /// An Ingress.
    Ingress,
    /// A Gateway API HTTPRoute attached to these Gateways.
    #[serde(rename_all = "camelCase")]
    GatewayApi { gateways: Vec<String> },
    /// An Istio VirtualService bound to these Istio Gateways.
    #[serde(rename_all = "camelCase")]
    IstioGateway { gateways: Vec<String> },
    /// A Service of type LoadBalancer or NodePort.
    #[serde(rename_all = "camelCase")]
    ServiceType { service_type: ServiceType },
    /// Nothing above reaches `workload`, nothing in the input calls it (load generators aside),
    /// it calls others and this Service exposes it: the root of the call graph.
    #[serde(rename_all = "camelCase")]
    CallGraphRoot { workload: NodeId },
}

impl fmt::Display for EntryVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryVia::Ingress => f.write_str("Ingress"),
            EntryVia::GatewayApi { gateways } if gateways.is_empty() => {
                f.write_str("Gateway API HTTPRoute")
            }
            EntryVia::GatewayApi { gateways } => {
                write!(
                    f,
                    "Gateway API HTTPRoute on Gateway {}",
                    gateways.join(", ")
                )
            }
            EntryVia::IstioGateway { gateways } => {
                write!(f, "Istio VirtualService on Gateway {}", gateways.join(", "))
            }
            EntryVia::ServiceType { service_type } => write!(f, "{service_type} Service"),
            EntryVia::CallGraphRoot { workload } => write!(
                f,
                "root of the call graph: nothing in the input calls {workload} (load generators aside), it calls others and this Service exposes it"
            ),
        }
    }
}

/// Why we believe an edge exists.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(tag = "source", rename_all = "camelCase")]
pub enum Evidence {
    /// An environment variable of a container.
    #[serde(rename_all = "camelCase")]
    Env {
        container: String,
        name: String,
        value: String,
    },
    /// A ConfigMap value a container reads (envFrom, configMapKeyRef, or a mounted ConfigMap).
    #[serde(rename_all = "camelCase")]
    ConfigMap {
        config_map: String,
        key: String,
        value: String,
    },
    /// A container command or argument.
    #[serde(rename_all = "camelCase")]
    Args { container: String, value: String },
    /// An Ingress rule.
    #[serde(rename_all = "camelCase")]
    IngressRule {
        ingress: String,
        host: String,
        path: String,
    },
    /// A Gateway API HTTPRoute rule.
    #[serde(rename_all = "camelCase")]
    HttpRoute { route: String, path: String },
    /// An Istio VirtualService route.
    #[serde(rename_all = "camelCase")]
    IstioRoute {
        virtual_service: String,
        host: String,
    },
    /// A NetworkPolicy egress rule that allows the call.
    #[serde(rename_all = "camelCase")]
    NetworkPolicy { policy: String },
    /// An entry-point Service (LoadBalancer, NodePort) exposing its own backends.
    #[serde(rename_all = "camelCase")]
    Exposure { service_type: ServiceType },
    /// Calls observed at runtime: in traces, or in mesh and service-graph metrics.
    Traffic(TrafficEvidence),
    /// The team's architecture names the call: a diagram, a services list, or a model's reading
    /// of an image.
    Declared(DeclaredEvidence),
}

impl Evidence {
    /// Which of the three kinds of evidence this is.
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Evidence::Traffic(_) => EvidenceKind::Traffic,
            Evidence::Declared(_) => EvidenceKind::Declared,
            Evidence::Env { .. }
            | Evidence::ConfigMap { .. }
            | Evidence::Args { .. }
            | Evidence::IngressRule { .. }
            | Evidence::HttpRoute { .. }
            | Evidence::IstioRoute { .. }
            | Evidence::NetworkPolicy { .. }
            | Evidence::Exposure { .. } => EvidenceKind::Config,
        }
    }
}

/// The three kinds of evidence. They never conflict; the differences between them are findings
/// (declared but not observed, observed but declared nowhere).
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum EvidenceKind {
    /// The cluster's objects or manifests: env, ConfigMaps, routes, policies.
    Config,
    /// Observed at runtime: traces, mesh or service-graph metrics.
    Traffic,
    /// The team's architecture: a diagram, a services list, text or an image read by a model.
    Declared,
}

impl EvidenceKind {
    /// The kind as JSON spells it.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }
}

/// Calls seen at runtime. Counts and latencies are integers so that evidence stays comparable
/// and sortable (the map is hashed); rates and ratios are derived from them.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct TrafficEvidence {
    /// Where the calls were seen: a trace file, or a Prometheus metric name.
    pub origin: String,
    /// Length of the observed window in seconds, when the data has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// Calls seen in the window.
    pub requests: u64,
    /// Of those, calls that failed.
    pub errors: u64,
    /// Median latency in microseconds, when the data has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_micros: Option<u64>,
    /// 99th-percentile latency in microseconds, when the data has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_micros: Option<u64>,
}

impl TrafficEvidence {
    /// Requests per second over the window, when there is one.
    pub fn rate_per_second(&self) -> Option<f64> {
        self.window_seconds
            .filter(|&w| w > 0)
            .map(|w| self.requests as f64 / w as f64)
    }

    /// Share of failed calls, 0.0 to 1.0 (None without calls).
    pub fn error_ratio(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

/// A call the team's architecture names.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredEvidence {
    /// The file it was read from, or "read by model M from image I".
    pub origin: String,
    /// Line in that file, for diagrams as code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// A dependency: `from` calls `to`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub from: NodeId,
    pub to: NodeId,
    /// Everything that shows the dependency, sorted.
    pub evidence: Vec<Evidence>,
    /// The kinds of evidence present, sorted (config, traffic, declared).
    #[serde(default)]
    pub kinds: Vec<EvidenceKind>,
    /// How sure we are, 0.0 to 1.0.
    pub confidence: f64,
    /// The port called, when the evidence names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Protocol inferred from the URL scheme or port (http, grpc, redis, postgres...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

impl Edge {
    /// Sorts and deduplicates the evidence and recomputes [`Edge::kinds`] from it.
    pub fn normalize(&mut self) {
        self.evidence.sort();
        self.evidence.dedup();
        self.kinds = self.evidence.iter().map(Evidence::kind).collect();
        self.kinds.sort();
        self.kinds.dedup();
    }

    /// Whether some evidence of `kind` supports the edge.
    pub fn has_kind(&self, kind: EvidenceKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// Which end of a call a name was.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum CallEnd {
    Caller,
    Callee,
}

/// A name from telemetry or a diagram that matched no node of the map.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedName {
    /// The name as the source spelled it (with its namespace when given).
    pub name: String,
    /// Where it was found: a trace file, a metric, a diagram file.
    pub origin: String,
    /// The kind of evidence it came with.
    pub kind: EvidenceKind,
    /// Which end of a call it was.
    pub end: CallEnd,
    /// Why it matched nothing.
    pub reason: String,
    /// How many calls named it.
    pub calls: u64,
    /// The matched other ends of those calls (what would call it, or what it would call): the
    /// nodes a finding about the missing name is attached to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<NodeId>,
}

/// The service map: nodes sorted by id, edges sorted by (from, to).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
pub struct ServiceMap {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Names in telemetry or in the architecture that matched no node, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<UnmatchedName>,
}
