//! The operator's second line of tenancy: before every run, the user who asked for an analysis
//! must still be allowed to read everything the operator would read for them.
//!
//! Who asked is the `requested-by` annotations. Kubernetes records no trustworthy author on an
//! object (managedFields hold a client-chosen manager name, not a user), so the tenancy admission
//! policy makes the API server vouch for them instead: it refuses any create or spec change
//! whose annotations are not exactly the requesting user's name and groups. With that policy
//! installed (deploy/ and the chart ship it), the operator can trust the annotations and ask the
//! API server, with a SubjectAccessReview, whether that user may still `list` each kind of
//! [`READ_KINDS`] in every scope namespace. An analysis without them is refused, never run on
//! the operator's own rights.

use std::collections::BTreeMap;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

use crate::api::{ChaosAnalysis, REQUESTED_BY_ANNOTATION, REQUESTED_BY_GROUPS_ANNOTATION};
use crate::snapshot::cluster::{READ_KINDS, ReadKind};

/// The user an analysis acts for, as the API server authenticated them at the last spec change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester {
    pub username: String,
    pub groups: Vec<String>,
}

/// A SubjectAccessReview that could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("asking the API server whether {user} may {resource}: {source}")]
pub struct ReviewError {
    user: String,
    resource: String,
    #[source]
    source: kube::Error,
}

/// The requester named by the analysis' annotations; `Err` says what is missing.
pub fn requester(analysis: &ChaosAnalysis) -> Result<Requester, String> {
    let annotations = analysis.annotations();
    let username = annotations
        .get(REQUESTED_BY_ANNOTATION)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            format!(
                "the analysis has no {REQUESTED_BY_ANNOTATION} annotation, so the operator cannot \
                 tell whose rights it acts with; the tenancy admission policy requires it \
                 (is the smart-chaos-tenancy policy installed?)"
            )
        })?;
    Ok(Requester {
        username: username.clone(),
        groups: groups(annotations),
    })
}

fn groups(annotations: &BTreeMap<String, String>) -> Vec<String> {
    annotations
        .get(REQUESTED_BY_GROUPS_ANNOTATION)
        .map(|joined| {
            joined
                .split(',')
                .filter(|group| !group.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `Ok(Err(message))` when the requester may not list one of the kinds the operator reads in
/// one of `namespaces` (every namespace when empty). Stops at the first missing right.
pub async fn may_read(
    client: &Client,
    requester: &Requester,
    namespaces: &[String],
) -> Result<Result<(), String>, ReviewError> {
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|ns| Some(ns.as_str())).collect()
    };
    for namespace in scopes {
        for kind in &READ_KINDS {
            if !allowed(client, requester, kind, namespace).await? {
                let place = namespace.map_or_else(
                    || "cluster-wide (the scope is every namespace)".to_string(),
                    |ns| format!("in namespace {ns}"),
                );
                return Ok(Err(format!(
                    "user {} may no longer list {} {place}, so the operator will not read it for \
                     them; restore the right, or change the scope (the analysis is checked again \
                     at every reconcile)",
                    requester.username,
                    kind.qualified()
                )));
            }
        }
    }
    Ok(Ok(()))
}

async fn allowed(
    client: &Client,
    requester: &Requester,
    kind: &ReadKind,
    namespace: Option<&str>,
) -> Result<bool, ReviewError> {
    let attributes = ResourceAttributes {
        group: Some(kind.group.into()),
        resource: Some(kind.resource.into()),
        verb: Some("list".into()),
        namespace: namespace.map(str::to_string),
        ..ResourceAttributes::default()
    };
    may(client, requester, attributes).await
}

/// Whether the requester may get the ConfigMap `name` in `namespace` (architecture sources are
/// read only where the requester could read them themselves).
pub async fn may_get_config_map(
    client: &Client,
    requester: &Requester,
    namespace: &str,
    name: &str,
) -> Result<bool, ReviewError> {
    let attributes = ResourceAttributes {
        group: Some(String::new()),
        resource: Some("configmaps".into()),
        verb: Some("get".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        ..ResourceAttributes::default()
    };
    may(client, requester, attributes).await
}

/// One SubjectAccessReview for the requester.
async fn may(
    client: &Client,
    requester: &Requester,
    attributes: ResourceAttributes,
) -> Result<bool, ReviewError> {
    let resource = format!(
        "{} {}",
        attributes.verb.as_deref().unwrap_or_default(),
        attributes.resource.as_deref().unwrap_or_default()
    );
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(requester.username.clone()),
            groups: Some(requester.groups.clone()),
            resource_attributes: Some(attributes),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|source| ReviewError {
            user: requester.username.clone(),
            resource,
            source,
        })?;
    Ok(answer
        .status
        .is_some_and(|s| s.allowed && s.denied != Some(true)))
}

/// What the tenancy admission policy also enforces, checked again here so that an analysis
/// admitted before the policy was installed cannot widen its reach: allowedNamespaces within the
/// scope, and a scope of every namespace only in the operator's namespace.
pub fn scope_shape(
    analysis: &ChaosAnalysis,
    operator_namespace: Option<&str>,
) -> Result<(), String> {
    let scope = &analysis.spec.scope.namespaces;
    if scope.is_empty() {
        if analysis.namespace().as_deref() != operator_namespace || operator_namespace.is_none() {
            return Err(
                "a scope of every namespace (spec.scope.labelSelector without namespaces) is the \
                 cluster-wide mode, allowed only for an analysis in the operator's namespace"
                    .into(),
            );
        }
        return Ok(());
    }
    match analysis
        .spec
        .guardrails
        .allowed_namespaces
        .iter()
        .find(|ns| !scope.contains(ns))
    {
        Some(outside) => Err(format!(
            "spec.guardrails.allowedNamespaces names {outside}, which is outside \
             spec.scope.namespaces: experiments may only target namespaces the analysis reads"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ChaosAnalysisSpec, Scope};

    fn analysis(ns: &str, scope: &[&str], allowed: &[&str]) -> ChaosAnalysis {
        let mut spec = ChaosAnalysisSpec {
            scope: Scope {
                namespaces: scope.iter().map(|s| s.to_string()).collect(),
                label_selector: None,
            },
            architecture: None,
            provider: Default::default(),
            guardrails: Default::default(),
            refresh: Default::default(),
            telemetry: Default::default(),
            architecture_refs: Vec::new(),
            test_cases: Vec::new(),
            suppressions: Vec::new(),
        };
        spec.guardrails.allowed_namespaces = allowed.iter().map(|s| s.to_string()).collect();
        let mut a = ChaosAnalysis::new("a", spec);
        a.metadata.namespace = Some(ns.into());
        a
    }

    #[test]
    fn requester_comes_from_the_annotations() {
        let mut a = analysis("t", &["t"], &[]);
        assert!(requester(&a).unwrap_err().contains(REQUESTED_BY_ANNOTATION));
        a.metadata.annotations = Some(BTreeMap::from([
            (REQUESTED_BY_ANNOTATION.to_string(), "alice".to_string()),
            (
                REQUESTED_BY_GROUPS_ANNOTATION.to_string(),
                "team-a,system:authenticated".to_string(),
            ),
        ]));
        assert_eq!(
            requester(&a).unwrap(),
            Requester {
                username: "alice".into(),
                groups: vec!["team-a".into(), "system:authenticated".into()],
            }
        );
    }

    #[test]
    fn allowed_namespaces_lie_within_the_scope_and_every_namespace_is_for_the_operator_namespace() {
        assert!(scope_shape(&analysis("t", &["t"], &["t"]), None).is_ok());
        let outside = scope_shape(&analysis("t", &["t"], &["boutique"]), None).unwrap_err();
        assert!(outside.contains("boutique"), "{outside}");
        assert!(scope_shape(&analysis("t", &[], &[]), Some("ops")).is_err());
        assert!(scope_shape(&analysis("ops", &[], &[]), Some("ops")).is_ok());
        assert!(scope_shape(&analysis("ops", &[], &[]), None).is_err());
    }
}
