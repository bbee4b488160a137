//! What an analysis may propose: the CRD's guardrails, parsed once, plus the operator's own
//! namespace and the sizes that keep reports readable.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::{DurationError, parse_go_duration};
use super::measured::Measurements;
use crate::api::Guardrails;
use crate::chaosmesh::ChaosKind;
use crate::servicemap::ServiceMap;

/// Namespaces that are refused as targets unless the analysis allows system namespaces.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// Most experiments one analysis keeps (the highest risk first); large maps stay readable.
pub const DEFAULT_MAX_EXPERIMENTS: usize = 25;
/// Most hypotheses one analysis keeps.
pub const DEFAULT_MAX_HYPOTHESES: usize = 40;
/// Most steady states the steady-state stage defines.
pub const MAX_STEADY_STATES: usize = 10;
/// Duration given to experiments that do not set one (capped by the maximum).
pub const DEFAULT_EXPERIMENT_DURATION_MS: u64 = 60_000;

/// A guardrail setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("guardrails.maxDuration: {0}")]
    MaxDuration(#[from] DurationError),
    #[error("guardrails.maxDuration must be longer than 0")]
    ZeroMaxDuration,
    #[error("guardrails.maxPodSharePercent must be within 0..=100, got {0}")]
    PodShare(i32),
}

/// The limits every stage's output is held to, whatever engine produced it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisConfig {
    /// Chaos Mesh kinds that may be proposed.
    pub allowed_kinds: BTreeSet<ChaosKind>,
    /// Namespaces experiments may target; empty means the namespaces of the map's workloads.
    pub allowed_namespaces: BTreeSet<String>,
    /// Longest experiment, in milliseconds.
    pub max_duration_ms: u64,
    /// Largest share of one workload's pods an experiment may touch, in percent. One pod is always
    /// the least an experiment can touch, so a single-replica workload is touched 100% when this
    /// is above 0; such experiments carry a warning.
    pub max_pod_share_percent: u8,
    /// Allow targets in system namespaces and the operator's own.
    pub allow_system_namespaces: bool,
    /// The namespace the operator runs in: refused as a target unless system namespaces are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_namespace: Option<String>,
    /// Namespaces Chaos Mesh would not inject into (its namespace filter is on and they lack the
    /// `chaos-mesh.org/inject=enabled` opt-in): never targeted.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub without_chaos_mesh_opt_in: BTreeSet<String>,
    /// Most experiments kept, highest risk first.
    pub max_experiments: usize,
    /// Most hypotheses kept, highest risk first.
    pub max_hypotheses: usize,
    /// Baselines measured in the user's Prometheus, when one was given: the steady states are
    /// built from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<Measurements>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            allowed_kinds: ChaosKind::ALL.into_iter().collect(),
            allowed_namespaces: BTreeSet::new(),
            max_duration_ms: 300_000,
            max_pod_share_percent: 50,
            allow_system_namespaces: false,
            operator_namespace: None,
            without_chaos_mesh_opt_in: BTreeSet::new(),
            max_experiments: DEFAULT_MAX_EXPERIMENTS,
            max_hypotheses: DEFAULT_MAX_HYPOTHESES,
            measurements: None,
        }
    }
}

/// The namespace annotation by which a namespace opts in to Chaos Mesh's namespace filter.
pub const CHAOS_MESH_INJECT_ANNOTATION: &str = "chaos-mesh.org/inject";

/// Why a namespace may not be targeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceRefusal {
    /// kube-system, kube-public or kube-node-lease.
    System,
    /// The operator's own namespace.
    Operator,
    /// Not in the allowed list.
    NotAllowed,
    /// Chaos Mesh's namespace filter is on and the namespace has not opted in.
    NoChaosMeshOptIn,
}

impl NamespaceRefusal {
    /// One line a reviewer understands.
    pub fn describe(&self, namespace: &str) -> String {
        match self {
            NamespaceRefusal::System => format!(
                "namespace {namespace:?} is a system namespace; refused unless allowSystemNamespaces is true"
            ),
            NamespaceRefusal::Operator => format!(
                "namespace {namespace:?} is the operator's own; refused unless allowSystemNamespaces is true"
            ),
            NamespaceRefusal::NotAllowed => {
                format!("namespace {namespace:?} is not among the allowed namespaces")
            }
            NamespaceRefusal::NoChaosMeshOptIn => format!(
                "namespace {namespace:?} lacks the annotation {CHAOS_MESH_INJECT_ANNOTATION}=enabled \
                 and Chaos Mesh's namespace filter is on: Chaos Mesh would inject nothing there"
            ),
        }
    }
}

impl AnalysisConfig {
    /// The config of an analysis: its guardrails and the namespace the operator runs in.
    pub fn from_guardrails(
        guardrails: &Guardrails,
        operator_namespace: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let max_duration_ms = parse_go_duration(&guardrails.max_duration)?;
        if max_duration_ms == 0 {
            return Err(ConfigError::ZeroMaxDuration);
        }
        let max_pod_share_percent = u8::try_from(guardrails.max_pod_share_percent)
            .ok()
            .filter(|share| *share <= 100)
            .ok_or(ConfigError::PodShare(guardrails.max_pod_share_percent))?;
        Ok(AnalysisConfig {
            allowed_kinds: guardrails.allowed_kinds.iter().copied().collect(),
            allowed_namespaces: guardrails.allowed_namespaces.iter().cloned().collect(),
            max_duration_ms,
            max_pod_share_percent,
            allow_system_namespaces: guardrails.allow_system_namespaces,
            operator_namespace: operator_namespace.map(str::to_string),
            ..AnalysisConfig::default()
        })
    }

    /// The allowed namespaces with the empty list resolved against the map: the namespaces of its
    /// workloads.
    pub fn effective_namespaces(&self, map: &ServiceMap) -> BTreeSet<String> {
        if !self.allowed_namespaces.is_empty() {
            return self.allowed_namespaces.clone();
        }
        map.nodes
            .iter()
            .filter(|node| node.kind.is_workload())
            .map(|node| node.namespace.clone())
            .collect()
    }

    /// Whether experiments may target `namespace`, given the effective allowed namespaces.
    pub fn check_namespace(
        &self,
        namespace: &str,
        effective: &BTreeSet<String>,
    ) -> Result<(), NamespaceRefusal> {
        if !self.allow_system_namespaces {
            if SYSTEM_NAMESPACES.contains(&namespace) {
                return Err(NamespaceRefusal::System);
            }
            if self.operator_namespace.as_deref() == Some(namespace) {
                return Err(NamespaceRefusal::Operator);
            }
        }
        if self.without_chaos_mesh_opt_in.contains(namespace) {
            return Err(NamespaceRefusal::NoChaosMeshOptIn);
        }
        if effective.contains(namespace) {
            Ok(())
        } else {
            Err(NamespaceRefusal::NotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrails_become_config() {
        let guardrails = Guardrails {
            allowed_kinds: vec![ChaosKind::PodChaos, ChaosKind::NetworkChaos],
            allowed_namespaces: vec!["shop".into()],
            max_duration: "2m30s".into(),
            max_pod_share_percent: 34,
            allow_system_namespaces: false,
            chaos_mesh_namespace_filter: false,
            checks_held_by: Default::default(),
        };
        let config = AnalysisConfig::from_guardrails(&guardrails, Some("smart-chaos")).unwrap();
        assert_eq!(config.max_duration_ms, 150_000);
        assert_eq!(config.max_pod_share_percent, 34);
        assert_eq!(config.allowed_kinds.len(), 2);
        assert_eq!(config.operator_namespace.as_deref(), Some("smart-chaos"));
    }

    #[test]
    fn bad_guardrails_are_errors() {
        let bad_duration = Guardrails {
            max_duration: "forever".into(),
            ..Guardrails::default()
        };
        assert!(matches!(
            AnalysisConfig::from_guardrails(&bad_duration, None),
            Err(ConfigError::MaxDuration(_))
        ));
        let bad_share = Guardrails {
            max_pod_share_percent: 120,
            ..Guardrails::default()
        };
        assert_eq!(
            AnalysisConfig::from_guardrails(&bad_share, None),
            Err(ConfigError::PodShare(120))
        );
        let zero = Guardrails {
            max_duration: "0s".into(),
            ..Guardrails::default()
        };
        assert_eq!(
            AnalysisConfig::from_guardrails(&zero, None),
            Err(ConfigError::ZeroMaxDuration)
        );
    }

    #[test]
    fn system_and_operator_namespaces_are_refused_unless_allowed() {
        let mut config = AnalysisConfig {
            operator_namespace: Some("smart-chaos".into()),
            ..AnalysisConfig::default()
        };
        let effective: BTreeSet<String> = ["shop", "kube-system", "smart-chaos"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(config.check_namespace("shop", &effective), Ok(()));
        assert_eq!(
            config.check_namespace("kube-system", &effective),
            Err(NamespaceRefusal::System)
        );
        assert_eq!(
            config.check_namespace("smart-chaos", &effective),
            Err(NamespaceRefusal::Operator)
        );
        assert_eq!(
            config.check_namespace("billing", &effective),
            Err(NamespaceRefusal::NotAllowed)
        );
        config.allow_system_namespaces = true;
        assert_eq!(config.check_namespace("kube-system", &effective), Ok(()));
        config.without_chaos_mesh_opt_in = ["shop".to_string()].into();
        assert_eq!(
            config.check_namespace("shop", &effective),
            Err(NamespaceRefusal::NoChaosMeshOptIn)
        );
    }
}
