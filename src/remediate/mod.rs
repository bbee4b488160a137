//! Remediations as patches: for each finding that a change to Kubernetes objects fixes, the
//! change, built from typed k8s-openapi objects against the object the finding names.
//!
//! Pure: a map and findings in, typed patches and new objects out. Nothing here (nor in the
//! operator) applies a patch to a cluster; the CLI writes them as `remediations/*.yaml`
//! (strategic-merge patches, usable as kustomize `patches`, plus new objects) for a person to
//! review and apply. [`manifests`] applies them to manifest text in memory, so that the effect
//! on the analysis can be shown before anyone touches a cluster.

pub mod manifests;
mod plan;

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    Container, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, TopologySpreadConstraint,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::FindingKind;
use crate::servicemap::NodeId;

pub use plan::{manual_fix, plan};

/// Remediations listed in a ChaosAnalysis status (the report and the CLI list them all).
pub const MAX_REMEDIATIONS_IN_STATUS: usize = 20;

/// The folder of the CLI's output that holds the patches.
pub const REMEDIATIONS_DIR: &str = "remediations";

/// Errors applying remediations to manifests or writing them.
#[derive(Debug, thiserror::Error)]
pub enum RemediateError {
    /// A manifest document is not YAML.
    #[error("document {index} of the manifests is not YAML")]
    Document {
        index: usize,
        #[source]
        source: serde_yaml::Error,
    },
    /// A workload the patch targets could not be read as its kind.
    #[error("{kind} {namespace}/{name} cannot be read as a typed object")]
    Workload {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: serde_yaml::Error,
    },
    /// A patch or object could not be serialised.
    #[error("serialising {what} as YAML")]
    Serialise {
        what: String,
        #[source]
        source: serde_yaml::Error,
    },
}

/// The kinds a remediation patches: those with a pod template (and replicas, but DaemonSets).
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum PatchedKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl PatchedKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }
}

/// The object a patch applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchTarget {
    pub kind: PatchedKind,
    pub namespace: String,
    pub name: String,
}

/// What to set on one container, matched by name (the strategic-merge key of `containers`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContainerChange {
    pub name: String,
    pub readiness_probe: Option<Probe>,
    pub resources: Option<ResourceRequirements>,
}

/// What to change in one workload. Containers not named are left as they are.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct WorkloadChange {
    pub replicas: Option<i32>,
    pub containers: Vec<ContainerChange>,
    /// Merged by `topologyKey`.
    pub topology_spread: Vec<TopologySpreadConstraint>,
}

/// A strategic-merge patch document for a Deployment, StatefulSet or DaemonSet: only the fields
/// it changes (unlike a k8s-openapi object, whose required `selector` would be sent empty).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadPatchDocument {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: WorkloadSpecPatch,
}

/// The `spec` of a [`WorkloadPatchDocument`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpecPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
}

/// A patch of one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadPatch {
    pub target: PatchTarget,
    pub change: WorkloadChange,
    /// Every container of the workload, so that a patch of the pod spec alone still names them
    /// (an empty `containers` list would be sent otherwise).
    pub container_names: Vec<String>,
}

impl WorkloadPatch {
    /// The strategic-merge patch document.
    pub fn document(&self) -> WorkloadPatchDocument {
        let change = &self.change;
        let template =
            (!change.containers.is_empty() || !change.topology_spread.is_empty()).then(|| {
                let containers = if change.containers.is_empty() {
                    self.container_names
                        .iter()
                        .map(|name| Container {
                            name: name.clone(),
                            ..Container::default()
                        })
                        .collect()
                } else {
                    change
                        .containers
                        .iter()
                        .map(|c| Container {
                            name: c.name.clone(),
                            readiness_probe: c.readiness_probe.clone(),
                            resources: c.resources.clone(),
                            ..Container::default()
                        })
                        .collect()
                };
                PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers,
                        topology_spread_constraints: (!change.topology_spread.is_empty())
                            .then(|| change.topology_spread.clone()),
                        ..PodSpec::default()
                    }),
                }
            });
        WorkloadPatchDocument {
            api_version: "apps/v1".to_string(),
            kind: self.target.kind.as_str().to_string(),
            metadata: ObjectMeta {
                name: Some(self.target.name.clone()),
                namespace: Some(self.target.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: WorkloadSpecPatch {
                replicas: change.replicas,
                template,
            },
        }
    }

    /// Applies the change to a full object's replicas and pod template, as the API server's
    /// strategic merge does: containers by name, spread constraints by topology key.
    pub fn apply_to(&self, replicas: Option<&mut Option<i32>>, template: &mut PodTemplateSpec) {
        let change = &self.change;
        if let (Some(wanted), Some(replicas)) = (change.replicas, replicas) {
            *replicas = Some(wanted);
        }
        let spec = template.spec.get_or_insert_with(PodSpec::default);
        for wanted in &change.containers {
            if let Some(container) = spec.containers.iter_mut().find(|c| c.name == wanted.name) {
                if let Some(probe) = &wanted.readiness_probe {
                    container.readiness_probe = Some(probe.clone());
                }
                if let Some(resources) = &wanted.resources {
                    let current = container.resources.get_or_insert_with(Default::default);
                    merge_quantities(&mut current.requests, &resources.requests);
                    merge_quantities(&mut current.limits, &resources.limits);
                }
            }
        }
        if !change.topology_spread.is_empty() {
            let constraints = spec
                .topology_spread_constraints
                .get_or_insert_with(Vec::new);
            for wanted in &change.topology_spread {
                match constraints
                    .iter_mut()
                    .find(|c| c.topology_key == wanted.topology_key)
                {
                    Some(existing) => *existing = wanted.clone(),
                    None => constraints.push(wanted.clone()),
                }
            }
        }
    }
}

fn merge_quantities<V: Clone>(
    current: &mut Option<BTreeMap<String, V>>,
    wanted: &Option<BTreeMap<String, V>>,
) {
    if let Some(wanted) = wanted {
        let current = current.get_or_insert_with(BTreeMap::new);
        for (key, value) in wanted {
            current.insert(key.clone(), value.clone());
        }
    }
}

/// An object a remediation adds.
#[derive(Clone, Debug, PartialEq)]
pub enum NewObject {
    PodDisruptionBudget(PodDisruptionBudget),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
}

impl NewObject {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            NewObject::PodDisruptionBudget(_) => "PodDisruptionBudget",
            NewObject::HorizontalPodAutoscaler(_) => "HorizontalPodAutoscaler",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            NewObject::PodDisruptionBudget(o) => &o.metadata,
            NewObject::HorizontalPodAutoscaler(o) => &o.metadata,
        }
    }

    /// The object as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        match self {
            NewObject::PodDisruptionBudget(o) => serde_yaml::to_string(o),
            NewObject::HorizontalPodAutoscaler(o) => serde_yaml::to_string(o),
        }
    }
}

/// The change that fixes one finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Remediation {
    /// The finding it fixes.
    pub finding_id: String,
    pub finding_kind: FindingKind,
    /// The node the finding names.
    pub target: NodeId,
    /// What changes, in one line.
    pub description: String,
    /// The patch of the object the finding names, if it needs one.
    pub patch: Option<WorkloadPatch>,
    /// Objects to add next to it.
    pub new_objects: Vec<NewObject>,
}

impl Remediation {
    /// The file of the patch, relative to the output folder.
    pub fn patch_file(&self) -> Option<String> {
        self.patch
            .as_ref()
            .map(|_| format!("{REMEDIATIONS_DIR}/{}.patch.yaml", self.finding_id))
    }

    /// The file of a new object, relative to the output folder.
    pub fn object_file(&self, object: &NewObject) -> String {
        format!(
            "{REMEDIATIONS_DIR}/{}.{}.yaml",
            self.finding_id,
            object.kind().to_lowercase()
        )
    }

    /// Every file this remediation writes, with its contents.
    pub fn files(&self) -> Result<Vec<(String, String)>, RemediateError> {
        let mut files = Vec::new();
        if let (Some(patch), Some(file)) = (&self.patch, self.patch_file()) {
            let yaml = serde_yaml::to_string(&patch.document()).map_err(|source| {
                RemediateError::Serialise {
                    what: file.clone(),
                    source,
                }
            })?;
            files.push((file, yaml));
        }
        for object in &self.new_objects {
            let file = self.object_file(object);
            let yaml = object
                .to_yaml()
                .map_err(|source| RemediateError::Serialise {
                    what: file.clone(),
                    source,
                })?;
            files.push((file, yaml));
        }
        Ok(files)
    }

    /// The short form kept in the analysis result and in status.
    pub fn summary(&self) -> RemediationSummary {
        let mut changes = Vec::new();
        if let Some(patch) = &self.patch {
            changes.push(format!(
                "patch {} {}/{}",
                patch.target.kind.as_str(),
                patch.target.namespace,
                patch.target.name
            ));
        }
        for object in &self.new_objects {
            let meta = object.metadata();
            changes.push(format!(
                "new {} {}/{}",
                object.kind(),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            ));
        }
        let mut files: Vec<String> = self.patch_file().into_iter().collect();
        files.extend(self.new_objects.iter().map(|o| self.object_file(o)));
        RemediationSummary {
            finding_id: self.finding_id.clone(),
            target: self.target.clone(),
            description: self.description.clone(),
            changes,
            files,
        }
    }
}

/// A remediation in short: what it fixes, what it changes, where its files are.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSummary {
    /// The finding it fixes.
    pub finding_id: String,
    /// The node the finding names.
    pub target: NodeId,
    /// What changes, in one line.
    pub description: String,
    /// Each object patched or added (`patch Deployment ns/name`, `new PodDisruptionBudget ns/name`).
    pub changes: Vec<String>,
    /// The files `smart-chaos analyze` writes for it, relative to its output folder.
    pub files: Vec<String>,
}

/// A finding no change to Kubernetes objects fixes, and why.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NotPatchable {
    pub finding_id: String,
    /// What would fix it instead.
    pub reason: String,
}

/// The remediations of one analysis.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RemediationPlan {
    pub remediations: Vec<Remediation>,
    pub not_patchable: Vec<NotPatchable>,
}

impl RemediationPlan {
    /// Every file of every remediation, sorted by path.
    pub fn files(&self) -> Result<Vec<(String, String)>, RemediateError> {
        let mut files = Vec::new();
        for remediation in &self.remediations {
            files.extend(remediation.files()?);
        }
        files.sort();
        Ok(files)
    }

    /// The short forms, in finding order.
    pub fn summaries(&self) -> Vec<RemediationSummary> {
        self.remediations.iter().map(Remediation::summary).collect()
    }
}

#[cfg(test)]
mod tests;
