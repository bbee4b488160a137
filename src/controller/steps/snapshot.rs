//! Step `snapshot`: read the analysis' scope from the cluster (pruned page by page), and the
//! target namespaces that lack Chaos Mesh's opt-in.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::api::Api;

use super::super::Context;
use crate::analysis::config::{CHAOS_MESH_INJECT_ANNOTATION, NamespaceRefusal};
use crate::api::{ChaosAnalysis, ExcludedNamespace};
use crate::snapshot::Snapshot;
use crate::snapshot::cluster::{self, ClusterReadError, ClusterScope};

/// Why the scope could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    ReadCluster(#[from] ClusterReadError),
    #[error("reading namespaces: {0}")]
    ReadNamespaces(#[source] kube::Error),
}

impl SnapshotError {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            SnapshotError::ReadCluster(_) => "ReadCluster",
            SnapshotError::ReadNamespaces(_) => "ReadNamespaces",
        }
    }
}

/// The objects of the analysis' scope.
pub async fn read(ctx: &Context, analysis: &ChaosAnalysis) -> Result<Snapshot, SnapshotError> {
    let scope = ClusterScope {
        namespaces: analysis.spec.scope.namespaces.clone(),
        label_selector: analysis
            .spec
            .scope
            .label_selector
            .as_ref()
            .map(label_selector_string),
    };
    Ok(cluster::read(&ctx.client, &scope).await?)
}

/// The candidate target namespaces that lack Chaos Mesh's opt-in annotation, with the reason;
/// empty when neither the analysis nor the operator turns Chaos Mesh's namespace filter on.
pub async fn without_chaos_mesh_opt_in(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    candidates: BTreeSet<String>,
) -> Result<Vec<ExcludedNamespace>, SnapshotError> {
    if !analysis.spec.guardrails.chaos_mesh_namespace_filter
        && !ctx.config.chaos_mesh_namespace_filter
    {
        return Ok(Vec::new());
    }
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let mut excluded = Vec::new();
    for name in candidates {
        let opted_in = namespaces
            .get_opt(&name)
            .await
            .map_err(SnapshotError::ReadNamespaces)?
            .is_some_and(|ns| {
                ns.annotations()
                    .get(CHAOS_MESH_INJECT_ANNOTATION)
                    .is_some_and(|v| v == "enabled")
            });
        if !opted_in {
            excluded.push(ExcludedNamespace {
                reason: NamespaceRefusal::NoChaosMeshOptIn.describe(&name),
                namespace: name,
            });
        }
    }
    Ok(excluded)
}

/// A LabelSelector in the list API's string form.
fn label_selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.clone().unwrap_or_default().join(",");
        parts.push(match requirement.operator.as_str() {
            "In" => format!("{} in ({values})", requirement.key),
            "NotIn" => format!("{} notin ({values})", requirement.key),
            "Exists" => requirement.key.clone(),
            _ => format!("!{}", requirement.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn label_selectors_render_in_the_list_api_form() {
        let selector = LabelSelector {
            match_labels: Some([("team".to_string(), "search".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["web".into(), "api".into()]),
            }]),
        };
        assert_eq!(
            label_selector_string(&selector),
            "team=search,tier in (web,api)"
        );
    }
}
