//! The typed output of every stage. Each type has a JSON schema (schemars) so that a model can be
//! asked for it and its answer checked against it; every item has an id so results can be
//! searched and linked.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chaosmesh::ChaosSpec;
use crate::servicemap::{DataStoreKind, EntryVia, Evidence, NodeId, NodeKind};

/// How much a finding or an experiment matters.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The name as status and reports spell it.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Discovery

/// Where traffic enters the application.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EntryPoint {
    /// Map id of the Ingress, HTTPRoute or LoadBalancer/NodePort Service.
    pub id: NodeId,
    /// Its kind (from the map; a model is not asked for it).
    #[serde(default = "unset_kind")]
    pub kind: NodeKind,
    /// URLs through which it can be reached (Ingress hosts and paths, Service DNS names).
    #[serde(default)]
    pub urls: Vec<String>,
    /// The workloads that first receive its traffic.
    #[serde(default)]
    pub serves: Vec<NodeId>,
    /// How it was found (from the map; a model's answer is overwritten with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_by: Option<EntryVia>,
}

/// Layers of the application.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum TierName {
    /// Ingresses, HTTPRoutes, LoadBalancer and NodePort Services.
    Entry,
    /// Workloads that receive traffic straight from an entry point.
    Frontend,
    /// Workloads reached from an entry point through other workloads.
    Backend,
    /// Data stores (recognised by image or port).
    Data,
    /// Workloads no entry point reaches (batch jobs, workers).
    Unreached,
    /// Load generators (locust, k6, ...): they call the application but are not part of it.
    LoadGenerator,
    /// Hosts outside the cluster.
    External,
}

/// One tier and the nodes in it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub name: TierName,
    /// Map ids, sorted.
    pub members: Vec<NodeId>,
}

/// A data store in the map.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DataStore {
    /// Map id of the workload.
    pub id: NodeId,
    /// What it is.
    pub kind: DataStoreKind,
    /// Desired replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Keeps data on persistent volumes.
    pub persistent: bool,
    /// Workloads that call it.
    #[serde(default)]
    pub callers: Vec<NodeId>,
}

/// A host outside the cluster that the application calls.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDependency {
    /// Map id of the External node.
    pub id: NodeId,
    /// The host name (from the map; a model is not asked for it).
    #[serde(default)]
    pub host: String,
    /// Workloads that call it.
    #[serde(default)]
    pub callers: Vec<NodeId>,
}

/// A reference to a Service that does not exist.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedReference {
    /// Map id of the Unresolved node.
    pub id: NodeId,
    /// The name referenced.
    pub name: String,
    /// Workloads that reference it.
    #[serde(default)]
    pub callers: Vec<NodeId>,
}

/// Stage 1: the map summarised.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryOutput {
    /// Namespaces with workloads.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Where traffic enters.
    #[serde(default)]
    pub entry_points: Vec<EntryPoint>,
    /// Load generators (recognised by name or image): not entry points, not unreached.
    #[serde(default)]
    pub load_generators: Vec<NodeId>,
    /// The application's layers.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// Data stores.
    #[serde(default)]
    pub data_stores: Vec<DataStore>,
    /// Hosts outside the cluster.
    #[serde(default)]
    pub external_dependencies: Vec<ExternalDependency>,
    /// References to Services that do not exist.
    #[serde(default)]
    pub unresolved_references: Vec<UnresolvedReference>,
    /// A few sentences describing the application.
    #[serde(default)]
    pub summary: String,
}

// ---------------------------------------------------------------------------------------------
// 2. Dependency analysis

/// What a finding is about.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum FindingKind {
    /// The workload runs one pod.
    SingleReplica,
    /// No PodDisruptionBudget protects the workload's pods from voluntary disruption.
    NoPodDisruptionBudget,
    /// No HorizontalPodAutoscaler scales the workload.
    NoAutoscaler,
    /// A container has no readiness probe: traffic reaches pods that are not ready.
    NoReadinessProbe,
    /// A container sets no CPU or memory limits.
    NoResourceLimits,
    /// A data store runs without replicas.
    DataStoreWithoutReplicas,
    /// A reference to a Service that does not exist.
    UnresolvedReference,
    /// A Service whose selector matches no workload.
    ServiceWithoutBackends,
    /// Workloads that depend on each other in a loop.
    DependencyCycle,
    /// Many callers depend on this node.
    HighFanIn,
    /// This workload depends on many others.
    HighFanOut,
    /// A dependency on a host outside the cluster.
    ExternalDependency,
    /// Calls the configuration or the architecture declares that the traffic data never showed
    /// in its window: dead configuration, or a path nothing exercised.
    DeclaredNotObserved,
    /// Calls seen at runtime that no manifest or architecture declares: wiring hidden in code.
    ObservedNotDeclared,
    /// The team's architecture names a service that no workload or Service of the cluster is.
    DeclaredServiceMissing,
    /// The architecture declares a call that no configuration in the cluster shows.
    DeclaredCallNotConfigured,
    /// The cluster makes a call that the architecture does not show.
    UndeclaredCall,
    /// The architecture declares a call that runtime traffic never showed.
    DeclaredCallNotObserved,
    /// An experiment refuted its hypothesis: the steady state broke. Only a run's verdict makes
    /// this finding (see `analysis::memory`), so no engine is offered it.
    #[schemars(skip)]
    RefutedHypothesis,
}

impl FindingKind {
    /// The kind in kebab-case, as used in ids.
    pub fn slug(self) -> &'static str {
        match self {
            FindingKind::SingleReplica => "single-replica",
            FindingKind::NoPodDisruptionBudget => "no-pdb",
            FindingKind::NoAutoscaler => "no-hpa",
            FindingKind::NoReadinessProbe => "no-readiness",
            FindingKind::NoResourceLimits => "no-limits",
            FindingKind::DataStoreWithoutReplicas => "datastore-no-replicas",
            FindingKind::UnresolvedReference => "unresolved",
            FindingKind::ServiceWithoutBackends => "no-backends",
            FindingKind::DependencyCycle => "cycle",
            FindingKind::HighFanIn => "fan-in",
            FindingKind::HighFanOut => "fan-out",
            FindingKind::ExternalDependency => "external",
            FindingKind::DeclaredNotObserved => "not-observed",
            FindingKind::ObservedNotDeclared => "not-declared",
            FindingKind::DeclaredServiceMissing => "declared-missing",
            FindingKind::DeclaredCallNotConfigured => "declared-only",
            FindingKind::UndeclaredCall => "undeclared",
            FindingKind::DeclaredCallNotObserved => "diagram-not-observed",
            FindingKind::RefutedHypothesis => "refuted",
        }
    }
}

/// Something the dependency analysis found.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable id.
    pub id: String,
    /// What kind of finding.
    pub kind: FindingKind,
    /// How much it matters.
    pub severity: Severity,
    /// The node it is about.
    pub subject: NodeId,
    /// One line a person can act on.
    pub message: String,
    /// Other nodes involved (callers, the cycle's members...).
    #[serde(default)]
    pub related: Vec<NodeId>,
}

/// A chain of dependencies from an entry point: every node on it can break the entry point.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CriticalPath {
    /// Stable id.
    pub id: String,
    /// The nodes, entry point first.
    pub nodes: Vec<NodeId>,
    /// Why this path matters.
    pub reason: String,
}

/// How many nodes depend on a workload and how many it depends on.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FanDegree {
    /// The workload.
    pub node: NodeId,
    /// Distinct callers (workloads and entry points), looking through Services (counted from
    /// the map; a model is not asked for it).
    #[serde(default)]
    pub fan_in: u32,
    /// Distinct Services and hosts it calls (counted from the map).
    #[serde(default)]
    pub fan_out: u32,
}

/// Nodes that depend on each other in a loop.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyCycle {
    /// Stable id.
    pub id: String,
    /// The nodes of the loop, sorted.
    pub nodes: Vec<NodeId>,
}

/// Stage 2: critical paths, single points of failure, fan-in and fan-out, cycles.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DependenciesOutput {
    /// Findings, most severe first.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The longest chains from entry points.
    #[serde(default)]
    pub critical_paths: Vec<CriticalPath>,
    /// Workloads with the highest fan-in or fan-out.
    #[serde(default)]
    pub fan: Vec<FanDegree>,
    /// Dependency loops.
    #[serde(default)]
    pub cycles: Vec<DependencyCycle>,
}

// ---------------------------------------------------------------------------------------------
// 3. Steady state

/// How a steady state is measured.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Probe {
    /// Available replicas of the subject workload (Kubernetes).
    AvailableReplicas,
    /// Ready endpoints of the subject Service (Kubernetes).
    ReadyEndpoints,
    /// An HTTP GET through the subject entry point answers 2xx/3xx.
    Http {
        /// The URL; its host must be one the entry point serves.
        url: String,
    },
    /// A PromQL query over series that exist in the analysis' Prometheus, compared with the
    /// thresholds.
    Prometheus {
        /// The query.
        query: String,
    },
}

/// A measurable steady state.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SteadyState {
    /// Stable id.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What "steady" means here, in a sentence.
    pub description: String,
    /// The node measured (workload, Service or entry point).
    pub subject: NodeId,
    /// How it is measured.
    pub probe: Probe,
    /// The least value that counts as steady.
    pub min_value: i64,
    /// The most value that counts as steady (latency), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<i64>,
    /// Unit of the value (replicas, endpoints, percent, status).
    pub unit: String,
    /// 1 is the most important.
    pub priority: u32,
    /// The measured baseline the thresholds were set from (Prometheus steady states).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

/// What a steady state measured before anything was broken.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// The value, in the steady state's unit, times 1000.
    pub value_milli: i64,
    /// The query that measured it.
    pub query: String,
    /// The window it was measured over, in seconds.
    pub window_seconds: u64,
    /// The metric the query reads.
    pub origin: String,
}

impl Baseline {
    /// The value in the steady state's unit.
    pub fn value(&self) -> f64 {
        self.value_milli as f64 / 1000.0
    }
}

/// Stage 3: the top ten measurable steady states.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SteadyStateOutput {
    /// At most ten, most important first.
    #[serde(default)]
    pub steady_states: Vec<SteadyState>,
}

// ---------------------------------------------------------------------------------------------
// 4. Hypotheses

/// What fails in a hypothesis.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum Fault {
    /// Pods of the target die.
    PodLoss,
    /// A container of the target crashes.
    ContainerCrash,
    /// Calls from the target to the peer are slow.
    DependencyLatency,
    /// Calls from the target to the peer lose packets.
    DependencyLoss,
    /// The target cannot reach the peer at all.
    DependencyPartition,
    /// The target cannot resolve the peer's host name.
    DnsFailure,
    /// The target's CPU is saturated.
    CpuPressure,
    /// The target's persistent volume is slow.
    DiskLatency,
    /// The target's HTTP responses are slow.
    HttpLatency,
    /// The target's HTTP responses are aborted.
    HttpAbort,
    /// The target's clock is wrong.
    ClockSkew,
}

impl Fault {
    /// The fault in kebab-case, as used in ids.
    pub fn slug(self) -> &'static str {
        match self {
            Fault::PodLoss => "pod-loss",
            Fault::ContainerCrash => "container-crash",
            Fault::DependencyLatency => "latency",
            Fault::DependencyLoss => "loss",
            Fault::DependencyPartition => "partition",
            Fault::DnsFailure => "dns",
            Fault::CpuPressure => "cpu",
            Fault::DiskLatency => "disk",
            Fault::HttpLatency => "http-latency",
            Fault::HttpAbort => "http-abort",
            Fault::ClockSkew => "clock",
        }
    }

    /// Whether the fault is about a dependency and so needs a peer.
    pub fn needs_peer(self) -> bool {
        matches!(
            self,
            Fault::DependencyLatency
                | Fault::DependencyLoss
                | Fault::DependencyPartition
                | Fault::DnsFailure
        )
    }
}

/// What the analysis expects of a hypothesis before it is tested.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Expectation {
    /// Nothing in the map says it will not hold.
    Holds,
    /// Findings suggest the steady state will break (the experiment is likely to refute it).
    AtRisk,
}

/// "If X fails, then Y keeps steady state Z."
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Hypothesis {
    /// Stable id.
    pub id: String,
    /// The hypothesis in one sentence.
    pub statement: String,
    /// What fails (X).
    pub fault: Fault,
    /// The workload the fault is applied to.
    pub target: NodeId,
    /// The dependency involved, for dependency faults (a Service, External host or data store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<NodeId>,
    /// Who keeps steady (Y).
    #[serde(default)]
    pub keeps_steady: Vec<NodeId>,
    /// Which steady states must hold (Z), by id.
    #[serde(default)]
    pub steady_state_ids: Vec<String>,
    /// Findings that motivate it, by id.
    #[serde(default)]
    pub finding_ids: Vec<String>,
    /// Whether the map suggests it holds.
    pub expectation: Expectation,
    /// 0 to 100; higher is tested first.
    pub risk_score: u32,
}

/// Stage 4: the hypotheses, highest risk first.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct HypothesesOutput {
    #[serde(default)]
    pub hypotheses: Vec<Hypothesis>,
}

// ---------------------------------------------------------------------------------------------
// 5. Experiment design

/// One Chaos Mesh experiment that tests a hypothesis.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentDesign {
    /// Id; the pipeline replaces it with the deterministic object name after the guardrails.
    pub id: String,
    /// The hypothesis it tests.
    pub hypothesis_id: String,
    /// Short title.
    pub title: String,
    /// The workload whose pods the selector picks.
    pub target: NodeId,
    /// The dependency disturbed, for network and DNS experiments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<NodeId>,
    /// The Chaos Mesh kind and spec.
    pub spec: ChaosSpec,
    /// Steady states watched while it runs, by id (at least one).
    #[serde(default)]
    pub steady_state_ids: Vec<String>,
    /// 0 to 100; higher runs first.
    pub risk_score: u32,
    /// Why this experiment, in a sentence.
    #[serde(default)]
    pub rationale: String,
}

/// How a person runs and judges an experiment.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// Stable id.
    pub id: String,
    /// The experiment it runs.
    pub experiment_id: String,
    /// The hypothesis it tests.
    pub hypothesis_id: String,
    /// Short title.
    pub title: String,
    /// Steps, in order.
    #[serde(default)]
    pub steps: Vec<String>,
    /// What must be true for the hypothesis to hold.
    #[serde(default)]
    pub pass_criteria: Vec<String>,
}

/// Stage 5: test cases and the experiment list.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentsOutput {
    /// Experiments, highest risk first.
    #[serde(default)]
    pub experiments: Vec<ExperimentDesign>,
    /// One test case per experiment.
    #[serde(default)]
    pub test_cases: Vec<TestCase>,
}

// ---------------------------------------------------------------------------------------------
// 6. Blast radius

/// Who an experiment can hurt, computed from the map.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentBlastRadius {
    /// The experiment.
    pub experiment_id: String,
    /// Its target workload. This and the figures below are computed from the map by grounding,
    /// whatever an engine says; a model is asked only for the summary.
    #[serde(default)]
    pub target: NodeId,
    /// Workloads that depend on the target, transitively, the target included.
    #[serde(default)]
    pub affected_workloads: Vec<NodeId>,
    /// Entry points whose traffic reaches the target.
    #[serde(default)]
    pub affected_entry_points: Vec<NodeId>,
    /// Namespaces of the affected workloads.
    #[serde(default)]
    pub affected_namespaces: Vec<String>,
    /// Pods of the target workload (None when the map does not say, e.g. DaemonSets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_pods: Option<i32>,
    /// Pods the experiment touches at most (None when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_pods: Option<i32>,
    /// Share of the target's pods touched, in percent.
    #[serde(default)]
    pub pod_share_percent: i32,
    /// How bad it is if the hypothesis is wrong.
    #[serde(default = "unset_severity")]
    pub severity: Severity,
    /// One sentence.
    #[serde(default)]
    pub summary: String,
}

/// Stage 6: blast radius per experiment.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct BlastRadiusOutput {
    #[serde(default)]
    pub experiments: Vec<ExperimentBlastRadius>,
}

// ---------------------------------------------------------------------------------------------
// 7. Rumsfeld matrix

/// An edge of the map, by its ends.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct EdgeRef {
    pub from: NodeId,
    pub to: NodeId,
}

/// What a Rumsfeld item rests on: evidence, or the absence of it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Grounds {
    /// Edges of the map and the evidence that shows them.
    #[serde(rename_all = "camelCase")]
    Evidence {
        edges: Vec<EdgeRef>,
        #[serde(default)]
        evidence: Vec<Evidence>,
    },
    /// Findings of the dependency analysis.
    #[serde(rename_all = "camelCase")]
    Findings { finding_ids: Vec<String> },
    /// Hypotheses that no experiment has tested yet.
    #[serde(rename_all = "camelCase")]
    Hypotheses { hypothesis_ids: Vec<String> },
    /// What the map does not contain.
    #[serde(rename_all = "camelCase")]
    Absence { missing: String },
}

/// One item of the matrix.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RumsfeldItem {
    /// Stable id.
    pub id: String,
    /// The item in one sentence.
    pub statement: String,
    /// Nodes it is about.
    #[serde(default)]
    pub subjects: Vec<NodeId>,
    /// Evidence, or the absence of it.
    pub grounds: Grounds,
}

/// Stage 7: what we know and what we do not.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RumsfeldOutput {
    /// Facts the map shows with evidence.
    #[serde(default)]
    pub known_knowns: Vec<RumsfeldItem>,
    /// Questions we know to ask: untested hypotheses, unresolved references, external hosts,
    /// missing probes.
    #[serde(default)]
    pub known_unknowns: Vec<RumsfeldItem>,
    /// Things the team likely knows that the manifests do not say (callers nobody declares,
    /// dependencies only the network policy shows).
    #[serde(default)]
    pub unknown_knowns: Vec<RumsfeldItem>,
    /// Blind spots: what the map cannot show at all.
    #[serde(default)]
    pub unknown_unknowns: Vec<RumsfeldItem>,
}

impl RumsfeldOutput {
    /// The four quadrants with their names, in matrix order.
    pub fn quadrants(&self) -> [(&'static str, &[RumsfeldItem]); 4] {
        [
            ("Known knowns", &self.known_knowns),
            ("Known unknowns", &self.known_unknowns),
            ("Unknown knowns", &self.unknown_knowns),
            ("Unknown unknowns", &self.unknown_unknowns),
        ]
    }
}

// Stand-ins for the fields a model is not asked for (`super::model_answer`), until grounding sets
// them from the map.
fn unset_kind() -> NodeKind {
    NodeKind::Unresolved
}

fn unset_severity() -> Severity {
    Severity::Info
}
