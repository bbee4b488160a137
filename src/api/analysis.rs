use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::score::{RemediationStatus, ScoreLossStatus, ScorePoint};
use crate::chaosmesh::ChaosKind;

/// A request to analyse part of the cluster and propose chaos experiments for it.
///
/// The operator builds a service map of the scope, runs the analysis stages with the chosen
/// provider, writes findings to status and creates one draft `ExperimentProposal` per proposed
/// experiment. Nothing runs until a person approves a proposal.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "chaos.smartchaos.io",
    version = "v1alpha1",
    kind = "ChaosAnalysis",
    plural = "chaosanalyses",
    namespaced,
    status = "ChaosAnalysisStatus",
    shortname = "ca",
    category = "smartchaos",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Services","type":"integer","jsonPath":".status.summary.services"}"#,
    printcolumn = r#"{"name":"Hypotheses","type":"integer","jsonPath":".status.summary.hypotheses","priority":1}"#,
    printcolumn = r#"{"name":"Proposals","type":"integer","jsonPath":".status.summary.proposals"}"#,
    printcolumn = r#"{"name":"Score","type":"integer","jsonPath":".status.score"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ChaosAnalysisSpec {
    /// Which part of the cluster to analyse.
    pub scope: Scope,
    /// Optional inline architecture: a diagram as code (Mermaid flowchart, Graphviz DOT,
    /// PlantUML, or a `services:` list, recognised by its first statement) whose calls join the
    /// map as declared evidence, or free text (what the services do, what matters to the
    /// business) that a model's discovery stage reads as data, never as instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20000))]
    pub architecture: Option<String>,
    /// Which engine runs the analysis stages, and with what limits.
    #[serde(default)]
    pub provider: ProviderSpec,
    /// Limits every proposed experiment must respect, whatever the provider proposes.
    #[serde(default)]
    pub guardrails: Guardrails,
    /// When the analysis runs again.
    #[serde(default)]
    pub refresh: RefreshPolicy,
    /// Runtime telemetry (Prometheus): observed calls join the map, measured baselines set the
    /// steady states. When it cannot be read, the map from the cluster's objects stands and the
    /// Degraded condition says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<super::telemetry::Telemetry>,
    /// More architecture sources, kept in ConfigMaps of the analysis' namespace: diagrams as
    /// code or text under `data`, PNG or JPEG images of a diagram under `binaryData` (read only
    /// by a model that reads images). Read only if the requesting user may get that ConfigMap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub architecture_refs: Vec<ArchitectureRef>,
    /// The team's own test cases, in the form of `smart-chaos what-if`. Each one Chaos Mesh can
    /// express becomes a Pending ExperimentProposal, through the same guardrails and approval as
    /// generated ones; the others get their blast radius in status with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub test_cases: Vec<TestCaseSpec>,
    /// Findings the team judged not worth acting on, with the reason. They stay in status and
    /// reports, marked suppressed, across re-analyses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub suppressions: Vec<super::knowledge::Suppression>,
}

/// One key of a ConfigMap, in the analysis' namespace, holding part of the architecture.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ArchitectureRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub config_map: String,
    /// Key under `data` (text, diagrams) or `binaryData` (images). The key's extension (`.mmd`,
    /// `.dot`, `.puml`, `.yaml`, `.md`, `.png`) helps tell the notation.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A failure the team wants to test: `TARGET FAULT [pods=one|all|N|N%] [to=NODE]`, as
/// `smart-chaos what-if` reads it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TestCaseSpec {
    /// A name for the test case, unique in the list.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// The failure: a target (map id or name) and a fault: kill, crash, latency=500ms, loss,
    /// partition-from=NODE, dns-error, zone-down=ZONE, cpu-stress, disk-latency, http-latency,
    /// http-abort or clock-skew; optionally `pods=one|all|N|N%` and `to=NODE`.
    #[schemars(length(min = 1, max = 512))]
    pub failure: String,
}

/// What became of one of the team's test cases.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TestCaseStatus {
    /// The test case's name.
    pub name: String,
    /// The test case as understood, with the target's map id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    /// The ExperimentProposal it became, if Chaos Mesh can express it within the guardrails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
    /// Why it has no proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who is affected, computed from the map (absent when the target is not in the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<super::BlastRadius>,
    /// Ids of the analysis' steady states expected to break.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<String>,
}

/// The namespaces and objects an analysis looks at.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.namespaces) && size(self.namespaces) > 0) || has(self.labelSelector)").message("scope must name at least one namespace or set a labelSelector"))]
pub struct Scope {
    /// Namespaces to analyse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 1000),
        inner(
            length(min = 1, max = 63),
            regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        )
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub namespaces: Vec<String>,
    /// Only objects with these labels (workloads, Services, ConfigMaps...) are analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
}

/// The engine that runs the analysis stages.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ProviderName {
    /// Deterministic rules over the service map; needs no model and no network.
    #[default]
    Builtin,
    /// AWS Bedrock through the Converse API.
    Bedrock,
    /// Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio).
    Openai,
}

/// A reference to one key of a Secret in the analysis' namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The Secret, in the analysis' namespace, that holds the provider's credentials.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// openai: the key holding the API key (default `apiKey`). bedrock: not used; the Secret
    /// holds `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key: Option<String>,
}

/// Provider, models and budgets.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.name == 'builtin' || has(self.model)").message("a model is required when the provider is bedrock or openai"))]
pub struct ProviderSpec {
    /// The engine: builtin (default), bedrock or openai. Where a model fails, the built-in result
    /// stands and the Degraded condition says so.
    #[serde(default)]
    pub name: ProviderName,
    /// The model used by every stage unless stageModels says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub model: Option<String>,
    /// A model per stage, e.g. `hypotheses: anthropic.claude-sonnet-4`. Keys are stage names:
    /// discovery, dependencies, steadyState, hypotheses, experiments, blastRadius, rumsfeld, chat.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, k in ['discovery', 'dependencies', 'steadyState', 'hypotheses', 'experiments', 'blastRadius', 'rumsfeld', 'chat'])").message("stageModels keys must be stage names: discovery, dependencies, steadyState, hypotheses, experiments, blastRadius, rumsfeld, chat"))]
    pub stage_models: BTreeMap<String, String>,
    /// AWS region for bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub region: Option<String>,
    /// Endpoint URL: the OpenAI-compatible base URL, or a Bedrock endpoint override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("endpoint must be an http:// or https:// URL"))]
    pub endpoint: Option<String>,
    /// Secret holding the credentials. openai: the API key under `key` (default `apiKey`).
    /// bedrock: the keys `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally
    /// `AWS_SESSION_TOKEN` (as `kubectl create secret generic NAME --from-env-file` writes them).
    /// The operator reads this one Secret and nothing else; without it bedrock uses the standard
    /// AWS chain (IRSA, EKS pod identity, environment) and openai the operator's `OPENAI_API_KEY`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<CredentialsSecretRef>,
    /// Spending limits; a run stops before it would exceed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Budgets>,
}

/// Token and cost budgets for one analysis run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Budgets {
    /// Most input plus output tokens one run may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<i64>,
    /// Most estimated cost of one run, in US dollars, as a decimal string (e.g. `0.50`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]{1,6})?$"))]
    pub max_cost_usd: Option<String>,
}

/// Limits on every experiment an analysis proposes. They apply after every provider.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Guardrails {
    /// Chaos Mesh kinds that may be proposed.
    #[serde(default = "Guardrails::default_kinds")]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_kinds: Vec<ChaosKind>,
    /// Namespaces experiments may target. Empty means the scope's namespaces. System namespaces
    /// (kube-system, kube-public, kube-node-lease) and the operator's own are refused unless
    /// allowSystemNamespaces is true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[schemars(inner(length(min = 1, max = 63)))]
    pub allowed_namespaces: Vec<String>,
    /// Longest duration of one experiment, as a Go duration (e.g. `5m`).
    #[serde(default = "Guardrails::default_max_duration")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub max_duration: String,
    /// Largest share of one workload's pods an experiment may touch, in percent (0-100).
    #[serde(default = "Guardrails::default_max_pod_share")]
    #[schemars(range(min = 0, max = 100))]
    pub max_pod_share_percent: i32,
    /// Allow targets in system namespaces and the operator's own. Off by default.
    #[serde(default)]
    pub allow_system_namespaces: bool,
    /// Chaos Mesh runs with its namespace filter on (`controllerManager.enableFilterNamespace`):
    /// it injects only into namespaces annotated `chaos-mesh.org/inject=enabled`, so no
    /// experiment is proposed for any other namespace, and status lists those namespaces and
    /// why. The operator's `--chaos-mesh-namespace-filter` turns this on for every analysis.
    #[serde(default)]
    pub chaos_mesh_namespace_filter: bool,
    /// Who holds the proposals' Http steady-state checks: `Operator` (the default) or
    /// `ChaosMesh` (each proposal runs its fault in a Chaos Mesh Workflow whose StatusCheck nodes
    /// abort it on failure, even while the operator is down). Copied to every new proposal's
    /// `experiment.checksHeldBy`.
    #[serde(default)]
    pub checks_held_by: super::CheckHolder,
}

impl Guardrails {
    fn default_kinds() -> Vec<ChaosKind> {
        ChaosKind::ALL.to_vec()
    }
    fn default_max_duration() -> String {
        "5m".into()
    }
    fn default_max_pod_share() -> i32 {
        50
    }
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            allowed_kinds: Self::default_kinds(),
            allowed_namespaces: Vec::new(),
            max_duration: Self::default_max_duration(),
            max_pod_share_percent: Self::default_max_pod_share(),
            allow_system_namespaces: false,
            chaos_mesh_namespace_filter: false,
            checks_held_by: super::CheckHolder::default(),
        }
    }
}

/// When an analysis runs again after its first run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshPolicy {
    /// Re-analyse when the service map of the scope changes.
    #[serde(default = "default_true")]
    pub on_map_change: bool,
    /// Re-analyse at least this often (Go duration, e.g. `24h`); never when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<String>,
    /// Propose a verified (Held) experiment again once its verdict is this old (Go duration,
    /// e.g. `720h`), even when the map around its target is unchanged; never when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub reverify_after: Option<String>,
}

fn default_true() -> bool {
    true
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            on_map_change: true,
            interval: None,
            reverify_after: None,
        }
    }
}

/// Where an analysis is in its life.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalysisPhase {
    Pending,
    Analyzing,
    Ready,
    Failed,
}

/// What an analysis found, in numbers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSummary {
    /// Services in the map.
    pub services: i64,
    /// Workloads in the map.
    pub workloads: i64,
    /// Dependencies (edges) in the map.
    pub edges: i64,
    /// References to Services that do not exist.
    pub unresolved: i64,
    /// Findings (single points of failure, missing probes...).
    pub findings: i64,
    /// Hypotheses generated.
    pub hypotheses: i64,
    /// Experiment proposals created.
    pub proposals: i64,
    /// Items the guardrails or grounding dropped.
    pub dropped: i64,
}

/// A finding, as short as status allows.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FindingStatus {
    /// Stable id of the finding.
    pub id: String,
    /// info, low, medium, high or critical.
    pub severity: String,
    /// Map node the finding is about (`namespace/Kind/name`).
    pub subject: String,
    /// One line a person can act on.
    pub message: String,
}

/// A hypothesis, as short as status allows.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HypothesisStatus {
    /// Stable id of the hypothesis.
    pub id: String,
    /// "If X fails, then Y keeps steady state Z."
    pub statement: String,
}

/// Counts of the Rumsfeld matrix.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RumsfeldCounts {
    pub known_knowns: i64,
    pub known_unknowns: i64,
    pub unknown_knowns: i64,
    pub unknown_unknowns: i64,
}

/// Model usage of the last run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UsageStatus {
    /// Input tokens billed at the full rate (prompt-cache reads apart).
    pub input_tokens: i64,
    /// Input tokens read from the provider's prompt cache (billed at the cache-read rate).
    #[serde(default)]
    pub cached_input_tokens: i64,
    /// Output tokens received.
    pub output_tokens: i64,
    /// Estimated cost in US dollars, as a decimal string.
    pub estimated_cost_usd: String,
    /// Stage results served from the cache.
    pub cached_stages: i64,
}

/// The expected use of a model run, from the prompt sizes, before any call (the CLI's
/// `analyze --estimate`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EstimateStatus {
    /// Input tokens of every stage's prompt (before any prompt caching).
    pub input_tokens: i64,
    /// Output tokens, from the size of the built-in answers.
    pub output_tokens: i64,
    /// Cost at list price without prompt caching, in US dollars, as a decimal string.
    pub estimated_cost_usd: String,
}

/// A namespace no experiment may target, with the reason.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedNamespace {
    /// The namespace.
    pub namespace: String,
    /// Why no experiment targets it.
    pub reason: String,
}

/// What the operator last saw and did.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChaosAnalysisStatus {
    /// Pending, Analyzing, Ready or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, ServiceMapBuilt, Analyzed and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Content hash of the service map the results were computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_hash: Option<String>,
    /// When the last analysis finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analyzed: Option<Time>,
    /// Counts of what was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<AnalysisSummary>,
    /// The most important findings (at most 20; the rest are in the proposals and the CLI report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingStatus>,
    /// The hypotheses (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hypotheses: Vec<HypothesisStatus>,
    /// Counts of the Rumsfeld matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rumsfeld: Option<RumsfeldCounts>,
    /// Model usage of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageStatus>,
    /// What the model run is expected to use, written before its first call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimateStatus>,
    /// Namespaces that got no proposal whatever the map holds, and why (e.g. no Chaos Mesh opt-in
    /// while its namespace filter is on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_namespaces: Vec<ExcludedNamespace>,
    /// What became of each of spec.testCases: its proposal, or its blast radius and why it has
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<TestCaseStatus>,
    /// What earlier verdicts and decisions changed: verified, refuted, rejected and revisited
    /// experiments, and suppressed findings (at most 20 of each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<super::knowledge::Knowledge>,
    /// Hash of the decisions, verdicts and suppressions the results were computed with; a change
    /// runs the analysis again even when the map is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_hash: Option<String>,

    // Resilience score and remediations (docs/resilience-score.md).
    /// The resilience score of the last analysis run, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// The score of each of the last analysis runs, oldest first (at most 20), for the trend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub score_history: Vec<ScorePoint>,
    /// The largest losses of the score, with the change that wins each back (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub score_losses: Vec<ScoreLossStatus>,
    /// Remediations the analysis suggests, as patches and new objects (at most 20; the report
    /// lists all). The operator never applies them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub remediations: Vec<RemediationStatus>,
}
