//! Typed Chaos Mesh experiments (group `chaos-mesh.org`, version `v1alpha1`, as of Chaos Mesh 2.8).
//!
//! Only the kinds and fields smart-chaos emits are modelled; every struct serialises to exactly
//! what the official CRDs accept (integration tests dry-run them against those CRDs). The spec
//! types double as the schema of `ExperimentProposal.spec.experiment`, so a proposal can only hold
//! an experiment of a shape we know.

pub mod status;
pub mod workflow;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of Chaos Mesh resources.
pub const GROUP: &str = "chaos-mesh.org";
/// The only served version of the Chaos Mesh CRDs.
pub const VERSION: &str = "v1alpha1";
/// Annotation that pauses a running Chaos Mesh experiment (used as the stop condition).
pub const PAUSE_ANNOTATION: &str = "experiment.chaos-mesh.org/pause";

/// The Chaos Mesh kinds smart-chaos knows how to design.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum ChaosKind {
    PodChaos,
    NetworkChaos,
    StressChaos,
    IOChaos,
    DNSChaos,
    HTTPChaos,
    TimeChaos,
}

impl ChaosKind {
    /// Every kind, in a stable order.
    pub const ALL: [ChaosKind; 7] = [
        ChaosKind::PodChaos,
        ChaosKind::NetworkChaos,
        ChaosKind::StressChaos,
        ChaosKind::IOChaos,
        ChaosKind::DNSChaos,
        ChaosKind::HTTPChaos,
        ChaosKind::TimeChaos,
    ];

    /// The kind's name as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }

    /// The resource's plural name, for dynamic API access.
    pub fn plural(self) -> &'static str {
        match self {
            ChaosKind::PodChaos => "podchaos",
            ChaosKind::NetworkChaos => "networkchaos",
            ChaosKind::StressChaos => "stresschaos",
            ChaosKind::IOChaos => "iochaos",
            ChaosKind::DNSChaos => "dnschaos",
            ChaosKind::HTTPChaos => "httpchaos",
            ChaosKind::TimeChaos => "timechaos",
        }
    }
}

impl std::fmt::Display for ChaosKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChaosKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChaosKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let known: Vec<&str> = ChaosKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown chaos kind {s:?}; known kinds: {}",
                    known.join(", ")
                )
            })
    }
}

/// How many of the selected pods an experiment touches.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorMode {
    /// Exactly one pod.
    #[serde(rename = "one")]
    One,
    /// Every selected pod.
    #[serde(rename = "all")]
    All,
    /// A fixed number of pods (`value`).
    #[serde(rename = "fixed")]
    Fixed,
    /// A fixed percentage of the pods (`value`, 0-100).
    #[serde(rename = "fixed-percent")]
    FixedPercent,
    /// A random percentage of the pods up to `value`.
    #[serde(rename = "random-max-percent")]
    RandomMaxPercent,
}

/// Which pods an experiment selects: the pods of one workload, by namespace and labels.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodSelector {
    /// Namespaces the pods live in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Labels every selected pod carries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label_selectors: BTreeMap<String, String>,
}

/// The target side of a NetworkChaos (the peer whose traffic is disturbed).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodSelectorSpec {
    /// The peer pods.
    pub selector: PodSelector,
    /// How many of the peer pods.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// PodChaos actions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodChaosAction {
    #[serde(rename = "pod-kill")]
    PodKill,
    #[serde(rename = "pod-failure")]
    PodFailure,
    #[serde(rename = "container-kill")]
    ContainerKill,
}

/// Kills or fails pods or containers.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodChaosSpec {
    /// What happens to the selected pods.
    pub action: PodChaosAction,
    /// Which pods.
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How long the experiment lasts (Go duration, e.g. `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Containers to kill (required by `container-kill`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_names: Vec<String>,
}

/// NetworkChaos actions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkChaosAction {
    Delay,
    Loss,
    Partition,
    Bandwidth,
}

/// Which way the disturbed traffic flows, seen from the selected pods.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    To,
    From,
    Both,
}

/// Added latency.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DelaySpec {
    /// Added latency, e.g. `100ms`.
    pub latency: String,
    /// Random variation of the latency, e.g. `10ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// Correlation with the previous packet, percent as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
}

/// Dropped packets.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LossSpec {
    /// Share of packets dropped, percent as a string, e.g. `25`.
    pub loss: String,
    /// Correlation with the previous packet, percent as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
}

/// Disturbs network traffic between the selected pods and a target.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkChaosSpec {
    /// What happens to the traffic.
    pub action: NetworkChaosAction,
    /// Which pods (the caller side).
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Direction of the disturbed traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The peer pods (the callee side); without it all traffic is disturbed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PodSelectorSpec>,
    /// Hosts or CIDRs outside the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_targets: Vec<String>,
    /// Latency, for `delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelaySpec>,
    /// Packet loss, for `loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossSpec>,
    /// How long the experiment lasts (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// CPU stress.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CpuStressor {
    /// Number of stressing workers.
    pub workers: i32,
    /// Percent of one CPU each worker loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<i32>,
}

/// Memory stress.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStressor {
    /// Number of stressing workers.
    pub workers: i32,
    /// Memory each worker takes, e.g. `256MB` or `50%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// The stressors of a StressChaos.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stressors {
    /// CPU stress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStressor>,
    /// Memory stress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStressor>,
}

/// Burns CPU or memory inside the selected pods.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StressChaosSpec {
    /// Which pods.
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What to stress.
    pub stressors: Stressors,
    /// How long the experiment lasts (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// IOChaos actions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum IoChaosAction {
    Latency,
    Fault,
}

/// Slows or fails file-system calls on a volume of the selected pods.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IoChaosSpec {
    /// What happens to the I/O calls.
    pub action: IoChaosAction,
    /// Which pods.
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Mount point of the volume inside the container.
    pub volume_path: String,
    /// Glob of the affected files; all files under the volume by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Added latency, for `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// errno returned, for `fault`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// Share of calls affected (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// How long the experiment lasts (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// DNSChaos actions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DnsChaosAction {
    Error,
    Random,
}

/// Makes DNS resolution of some host names fail or return random addresses.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DnsChaosSpec {
    /// What the resolver answers.
    pub action: DnsChaosAction,
    /// Which pods.
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Host name patterns affected, e.g. `api.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    /// How long the experiment lasts (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// Which HTTP phase an HTTPChaos acts on.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpTarget {
    Request,
    Response,
}

/// Aborts or delays HTTP traffic served by the selected pods.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpChaosSpec {
    /// Which pods (the server side).
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Request or response phase.
    pub target: HttpTarget,
    /// The container port serving HTTP.
    pub port: i32,
    /// Path pattern affected, e.g. `/api/*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Abort the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<bool>,
    /// Delay, e.g. `2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// How long the experiment lasts (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// Shifts the clock seen by the selected pods.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TimeChaosSpec {
    /// Which pods.
    pub selector: PodSelector,
    /// How many of them.
    pub mode: SelectorMode,
    /// The count or percentage for `fixed*`/`random-max-percent` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Clock offset, e.g. `-10m`.
    pub time_offset: String,
    /// How long the experiment lasts (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// One experiment: exactly one spec, of the kind it names.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", content = "spec")]
pub enum ChaosSpec {
    PodChaos(PodChaosSpec),
    NetworkChaos(NetworkChaosSpec),
    StressChaos(StressChaosSpec),
    IOChaos(IoChaosSpec),
    DNSChaos(DnsChaosSpec),
    HTTPChaos(HttpChaosSpec),
    TimeChaos(TimeChaosSpec),
}

impl ChaosSpec {
    /// The experiment's kind.
    pub fn kind(&self) -> ChaosKind {
        match self {
            ChaosSpec::PodChaos(_) => ChaosKind::PodChaos,
            ChaosSpec::NetworkChaos(_) => ChaosKind::NetworkChaos,
            ChaosSpec::StressChaos(_) => ChaosKind::StressChaos,
            ChaosSpec::IOChaos(_) => ChaosKind::IOChaos,
            ChaosSpec::DNSChaos(_) => ChaosKind::DNSChaos,
            ChaosSpec::HTTPChaos(_) => ChaosKind::HTTPChaos,
            ChaosSpec::TimeChaos(_) => ChaosKind::TimeChaos,
        }
    }

    /// The pods the experiment acts on (for NetworkChaos, the caller side).
    pub fn selector(&self) -> &PodSelector {
        match self {
            ChaosSpec::PodChaos(s) => &s.selector,
            ChaosSpec::NetworkChaos(s) => &s.selector,
            ChaosSpec::StressChaos(s) => &s.selector,
            ChaosSpec::IOChaos(s) => &s.selector,
            ChaosSpec::DNSChaos(s) => &s.selector,
            ChaosSpec::HTTPChaos(s) => &s.selector,
            ChaosSpec::TimeChaos(s) => &s.selector,
        }
    }

    /// Mutable access to the pods the experiment acts on, for guardrails that narrow them.
    pub fn selector_mut(&mut self) -> &mut PodSelector {
        match self {
            ChaosSpec::PodChaos(s) => &mut s.selector,
            ChaosSpec::NetworkChaos(s) => &mut s.selector,
            ChaosSpec::StressChaos(s) => &mut s.selector,
            ChaosSpec::IOChaos(s) => &mut s.selector,
            ChaosSpec::DNSChaos(s) => &mut s.selector,
            ChaosSpec::HTTPChaos(s) => &mut s.selector,
            ChaosSpec::TimeChaos(s) => &mut s.selector,
        }
    }

    /// How many of the selected pods the experiment touches: its mode and value.
    pub fn selection(&self) -> (SelectorMode, Option<&str>) {
        match self {
            ChaosSpec::PodChaos(s) => (s.mode, s.value.as_deref()),
            ChaosSpec::NetworkChaos(s) => (s.mode, s.value.as_deref()),
            ChaosSpec::StressChaos(s) => (s.mode, s.value.as_deref()),
            ChaosSpec::IOChaos(s) => (s.mode, s.value.as_deref()),
            ChaosSpec::DNSChaos(s) => (s.mode, s.value.as_deref()),
            ChaosSpec::HTTPChaos(s) => (s.mode, s.value.as_deref()),
            ChaosSpec::TimeChaos(s) => (s.mode, s.value.as_deref()),
        }
    }

    /// Mutable access to the selection, for guardrails that narrow it.
    pub fn selection_mut(&mut self) -> (&mut SelectorMode, &mut Option<String>) {
        match self {
            ChaosSpec::PodChaos(s) => (&mut s.mode, &mut s.value),
            ChaosSpec::NetworkChaos(s) => (&mut s.mode, &mut s.value),
            ChaosSpec::StressChaos(s) => (&mut s.mode, &mut s.value),
            ChaosSpec::IOChaos(s) => (&mut s.mode, &mut s.value),
            ChaosSpec::DNSChaos(s) => (&mut s.mode, &mut s.value),
            ChaosSpec::HTTPChaos(s) => (&mut s.mode, &mut s.value),
            ChaosSpec::TimeChaos(s) => (&mut s.mode, &mut s.value),
        }
    }

    /// The experiment's duration, if set.
    pub fn duration(&self) -> Option<&str> {
        match self {
            ChaosSpec::PodChaos(s) => s.duration.as_deref(),
            ChaosSpec::NetworkChaos(s) => s.duration.as_deref(),
            ChaosSpec::StressChaos(s) => s.duration.as_deref(),
            ChaosSpec::IOChaos(s) => s.duration.as_deref(),
            ChaosSpec::DNSChaos(s) => s.duration.as_deref(),
            ChaosSpec::HTTPChaos(s) => s.duration.as_deref(),
            ChaosSpec::TimeChaos(s) => s.duration.as_deref(),
        }
    }

    /// Mutable access to the duration, for guardrails that cap it.
    pub fn duration_mut(&mut self) -> &mut Option<String> {
        match self {
            ChaosSpec::PodChaos(s) => &mut s.duration,
            ChaosSpec::NetworkChaos(s) => &mut s.duration,
            ChaosSpec::StressChaos(s) => &mut s.duration,
            ChaosSpec::IOChaos(s) => &mut s.duration,
            ChaosSpec::DNSChaos(s) => &mut s.duration,
            ChaosSpec::HTTPChaos(s) => &mut s.duration,
            ChaosSpec::TimeChaos(s) => &mut s.duration,
        }
    }

    /// The complete Chaos Mesh object, ready to apply.
    pub fn to_manifest(&self, metadata: ObjectMeta) -> ChaosManifest {
        ChaosManifest {
            api_version: format!("{GROUP}/{VERSION}"),
            metadata,
            spec: self.clone(),
        }
    }
}

/// A whole Chaos Mesh object (`apiVersion`, `kind`, `metadata`, `spec`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChaosManifest {
    /// Always `chaos-mesh.org/v1alpha1`.
    pub api_version: String,
    /// Name, namespace, labels and owners.
    pub metadata: ObjectMeta,
    /// The kind and its spec, flattened to `kind:` and `spec:`.
    #[serde(flatten)]
    pub spec: ChaosSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_pods() -> PodSelector {
        PodSelector {
            namespaces: vec!["shop".into()],
            label_selectors: BTreeMap::from([("app".into(), "web".into())]),
        }
    }

    #[test]
    fn pod_kill_serialises_as_chaos_mesh_expects() {
        let spec = ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector: web_pods(),
            mode: SelectorMode::One,
            value: None,
            duration: Some("30s".into()),
            container_names: vec![],
        });
        let manifest = spec.to_manifest(ObjectMeta {
            name: Some("kill-web".into()),
            namespace: Some("shop".into()),
            ..ObjectMeta::default()
        });
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(json["apiVersion"], "chaos-mesh.org/v1alpha1");
        assert_eq!(json["kind"], "PodChaos");
        assert_eq!(json["spec"]["action"], "pod-kill");
        assert_eq!(json["spec"]["mode"], "one");
        assert_eq!(json["spec"]["selector"]["labelSelectors"]["app"], "web");
        let back: ChaosManifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, manifest);
    }

    #[test]
    fn kind_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("iochaos".parse::<ChaosKind>(), Ok(ChaosKind::IOChaos));
        let err = "KernelChaos".parse::<ChaosKind>().unwrap_err();
        assert!(err.contains("PodChaos"), "{err}");
    }
}
