//! Step `validate`: whether the spec can be analysed here, and whether its requester may have the
//! operator read the scope. A problem is recorded in status (see [`super::status`]), not retried.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

use super::super::{Context, reasons, tenancy};
use crate::analysis::{AnalysisConfig, ConfigError};
use crate::api::ChaosAnalysis;

/// Why a spec cannot be analysed, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum SpecProblem {
    #[error(
        "spec.scope is empty: name the namespaces to analyse in spec.scope.namespaces \
         (or set spec.scope.labelSelector)"
    )]
    EmptyScope,
    #[error(
        "namespace(s) {} named in spec.scope.namespaces or spec.guardrails.allowedNamespaces \
         do not exist; create them or fix the spec",
        .0.join(", ")
    )]
    MissingNamespaces(Vec<String>),
    #[error("spec.guardrails: {0}")]
    Guardrails(#[source] ConfigError),
    /// The requester may not (or no longer) read the scope; the message says which check failed.
    #[error("{0}")]
    RequesterNotAllowed(String),
}

impl SpecProblem {
    /// The condition and event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SpecProblem::RequesterNotAllowed(_) => reasons::REQUESTER_NOT_ALLOWED,
            SpecProblem::EmptyScope
            | SpecProblem::MissingNamespaces(_)
            | SpecProblem::Guardrails(_) => reasons::INVALID_SPEC,
        }
    }
}

/// Why validation itself could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("reading namespaces: {0}")]
    ReadNamespaces(#[source] kube::Error),
    #[error(transparent)]
    Review(#[from] tenancy::ReviewError),
    #[error("the spec cannot be analysed: spec.guardrails: {0}")]
    Guardrails(#[source] ConfigError),
}

impl ValidateError {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            ValidateError::ReadNamespaces(_) => "ReadNamespaces",
            ValidateError::Review(_) => "SubjectAccessReview",
            ValidateError::Guardrails(_) => "InvalidSpec",
        }
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ValidateError::Guardrails(_))
    }
}

/// The first problem of the spec: its shape and namespaces, then the requester's access (nothing
/// is read for a requester who could not read it themselves). `None` when it can be analysed.
pub async fn spec_problem(
    ctx: &Context,
    analysis: &ChaosAnalysis,
) -> Result<Option<SpecProblem>, ValidateError> {
    if let Some(problem) = invalid_spec(ctx, analysis).await? {
        return Ok(Some(problem));
    }
    unauthorized(ctx, analysis).await
}

/// The analysis' settings from its guardrails and the operator's namespace.
pub fn config(ctx: &Context, analysis: &ChaosAnalysis) -> Result<AnalysisConfig, ValidateError> {
    AnalysisConfig::from_guardrails(
        &analysis.spec.guardrails,
        ctx.config.operator_namespace.as_deref(),
    )
    .map_err(ValidateError::Guardrails)
}

async fn invalid_spec(
    ctx: &Context,
    analysis: &ChaosAnalysis,
) -> Result<Option<SpecProblem>, ValidateError> {
    let scope = &analysis.spec.scope;
    if scope.namespaces.is_empty() && scope.label_selector.is_none() {
        return Ok(Some(SpecProblem::EmptyScope));
    }
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let wanted: BTreeSet<&String> = scope
        .namespaces
        .iter()
        .chain(&analysis.spec.guardrails.allowed_namespaces)
        .collect();
    let mut missing = Vec::new();
    for name in wanted {
        match namespaces.get_opt(name).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(name.clone()),
            Err(source) => return Err(ValidateError::ReadNamespaces(source)),
        }
    }
    if !missing.is_empty() {
        return Ok(Some(SpecProblem::MissingNamespaces(missing)));
    }
    if let Err(e) = AnalysisConfig::from_guardrails(&analysis.spec.guardrails, None) {
        return Ok(Some(SpecProblem::Guardrails(e)));
    }
    Ok(None)
}

/// The scope's shape, then a SubjectAccessReview per kind and namespace (see
/// [`tenancy`]).
async fn unauthorized(
    ctx: &Context,
    analysis: &ChaosAnalysis,
) -> Result<Option<SpecProblem>, ValidateError> {
    if let Err(message) = tenancy::scope_shape(analysis, ctx.config.operator_namespace.as_deref()) {
        return Ok(Some(SpecProblem::RequesterNotAllowed(message)));
    }
    let requester = match tenancy::requester(analysis) {
        Ok(requester) => requester,
        Err(message) => return Ok(Some(SpecProblem::RequesterNotAllowed(message))),
    };
    Ok(
        tenancy::may_read(&ctx.client, &requester, &analysis.spec.scope.namespaces)
            .await?
            .err()
            .map(SpecProblem::RequesterNotAllowed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_before_and_carry_their_reason() {
        let missing = SpecProblem::MissingNamespaces(vec!["a".into(), "b".into()]);
        assert!(
            missing
                .to_string()
                .starts_with("namespace(s) a, b named in")
        );
        assert_eq!(missing.reason(), "InvalidSpec");
        assert!(
            SpecProblem::EmptyScope
                .to_string()
                .starts_with("spec.scope is empty")
        );
        let refused = SpecProblem::RequesterNotAllowed("no".into());
        assert_eq!(refused.reason(), "RequesterNotAllowed");
        assert_eq!(refused.to_string(), "no");
    }
}
