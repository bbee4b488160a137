//! Remediations applied to manifest text in memory: the patched objects replace the originals,
//! the new objects are appended. This is how `smart-chaos remediate` and the tests show what a
//! plan's patches would change, without a cluster.
//!
//! Documents no patch targets pass through unchanged (as YAML values: their kinds are not ours to
//! type). Objects inside a `kind: List` are not patched.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{PatchedKind, RemediateError, RemediationPlan, WorkloadPatch};

/// The fields that say which object a document is.
#[derive(Deserialize, Default)]
struct Header {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: HeaderMeta,
}

#[derive(Deserialize, Default)]
struct HeaderMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// `text` (multi-document YAML) with every patch of `plan` applied and every new object appended.
/// Objects without a namespace are in `default_namespace`, as the snapshot reader sees them.
pub fn apply_plan(
    text: &str,
    default_namespace: &str,
    plan: &RemediationPlan,
) -> Result<String, RemediateError> {
    let patches: Vec<&WorkloadPatch> = plan
        .remediations
        .iter()
        .filter_map(|r| r.patch.as_ref())
        .collect();
    let mut out = String::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(document)
            .map_err(|source| RemediateError::Document { index, source })?;
        if value.is_null() {
            continue;
        }
        let header: Header = serde_yaml::from_value(value.clone()).unwrap_or_default();
        let namespace = header
            .metadata
            .namespace
            .as_deref()
            .unwrap_or(default_namespace);
        let name = header.metadata.name.as_deref().unwrap_or_default();
        let mine: Vec<&WorkloadPatch> = patches
            .iter()
            .copied()
            .filter(|p| {
                Some(p.target.kind.as_str()) == header.kind.as_deref()
                    && p.target.namespace == namespace
                    && p.target.name == name
            })
            .collect();
        let yaml = match mine.first().map(|p| p.target.kind) {
            None => to_yaml(&value, "a manifest document")?,
            Some(PatchedKind::Deployment) => {
                let mut object: Deployment = typed(value, "Deployment", namespace, name)?;
                let spec = object.spec.get_or_insert_with(Default::default);
                for patch in &mine {
                    patch.apply_to(Some(&mut spec.replicas), &mut spec.template);
                }
                to_yaml(&object, name)?
            }
            Some(PatchedKind::StatefulSet) => {
                let mut object: StatefulSet = typed(value, "StatefulSet", namespace, name)?;
                let spec = object.spec.get_or_insert_with(Default::default);
                for patch in &mine {
                    patch.apply_to(Some(&mut spec.replicas), &mut spec.template);
                }
                to_yaml(&object, name)?
            }
            Some(PatchedKind::DaemonSet) => {
                let mut object: DaemonSet = typed(value, "DaemonSet", namespace, name)?;
                let spec = object.spec.get_or_insert_with(Default::default);
                for patch in &mine {
                    patch.apply_to(None, &mut spec.template);
                }
                to_yaml(&object, name)?
            }
        };
        push_document(&mut out, &yaml);
    }
    for remediation in &plan.remediations {
        for object in &remediation.new_objects {
            let yaml = object
                .to_yaml()
                .map_err(|source| RemediateError::Serialise {
                    what: remediation.object_file(object),
                    source,
                })?;
            push_document(&mut out, &yaml);
        }
    }
    Ok(out)
}

fn typed<T: DeserializeOwned>(
    value: serde_yaml::Value,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> Result<T, RemediateError> {
    serde_yaml::from_value(value).map_err(|source| RemediateError::Workload {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        source,
    })
}

fn to_yaml<T: serde::Serialize>(value: &T, what: &str) -> Result<String, RemediateError> {
    serde_yaml::to_string(value).map_err(|source| RemediateError::Serialise {
        what: what.to_string(),
        source,
    })
}

fn push_document(out: &mut String, yaml: &str) {
    out.push_str("---\n");
    out.push_str(yaml);
    if !yaml.ends_with('\n') {
        out.push('\n');
    }
}
