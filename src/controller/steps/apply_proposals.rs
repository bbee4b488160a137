//! Step `apply proposals`: server-side apply the result's proposals beside their analysis, owned
//! by it, with deterministic names; delete Pending proposals the result no longer holds; never
//! touch one a person has decided on.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::super::Context;
use super::super::error::is_invalid_request;
use crate::analysis::{self, AnalysisResult};
use crate::api::{ANALYSIS_LABEL, ApprovalState, ChaosAnalysis, ExperimentProposal, FIELD_MANAGER};

/// Why the proposals could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyProposalsError {
    #[error("listing proposals: {0}")]
    List(#[source] kube::Error),
    #[error("the object has no uid")]
    MissingUid,
    #[error("analysis failed: serialising a proposal: {0}")]
    Serialize(#[source] serde_json::Error),
    #[error("applying proposal {name}: {source}")]
    Apply {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl ApplyProposalsError {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            ApplyProposalsError::List(_) => "ListProposals",
            ApplyProposalsError::MissingUid => "MissingMetadata",
            ApplyProposalsError::Serialize(_) => "Analysis",
            ApplyProposalsError::Apply { .. } => "ApplyProposal",
        }
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        match self {
            ApplyProposalsError::List(_) => false,
            ApplyProposalsError::MissingUid | ApplyProposalsError::Serialize(_) => true,
            ApplyProposalsError::Apply { source, .. } => is_invalid_request(source),
        }
    }
}

/// Applies the proposals of `result`, owned by the analysis; deletes Pending proposals the new
/// result no longer contains; never touches a decided proposal. Returns how many exist now.
pub async fn apply(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    result: &AnalysisResult,
) -> Result<i64, ApplyProposalsError> {
    let name = analysis.name_any();
    let api: Api<ExperimentProposal> = Api::namespaced(ctx.client.clone(), ns);
    let existing = api
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}={name}")))
        .await
        .map_err(ApplyProposalsError::List)?;
    let decided: BTreeMap<String, ApprovalState> = existing
        .items
        .iter()
        .map(|p| (p.name_any(), p.approval_state()))
        .collect();
    let owner = analysis
        .controller_owner_ref(&())
        .ok_or(ApplyProposalsError::MissingUid)?;
    let mut desired_names = BTreeSet::new();
    for mut proposal in analysis::build_proposals(result, &name) {
        let proposal_name = proposal.name_any();
        desired_names.insert(proposal_name.clone());
        if decided
            .get(&proposal_name)
            .is_some_and(|state| *state != ApprovalState::Pending)
        {
            continue;
        }
        // Proposals live beside their analysis (owner references cannot cross namespaces);
        // the experiment's selectors still name the target's namespace.
        proposal.metadata.namespace = Some(ns.to_string());
        proposal.metadata.owner_references = Some(vec![owner.clone()]);
        proposal.spec.experiment.checks_held_by = analysis.spec.guardrails.checks_held_by;
        let body = ProposalApply::without_approval(&proposal)?;
        api.patch(
            &proposal_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| ApplyProposalsError::Apply {
            name: proposal_name.clone(),
            source,
        })?;
    }
    for (stale, state) in &decided {
        if *state == ApprovalState::Pending && !desired_names.contains(stale) {
            api.delete(stale, &DeleteParams::default())
                .await
                .map_err(|source| ApplyProposalsError::Apply {
                    name: stale.clone(),
                    source,
                })?;
        }
    }
    let kept_decided = decided
        .iter()
        .filter(|(n, s)| **s != ApprovalState::Pending && !desired_names.contains(*n))
        .count();
    Ok(i64::try_from(desired_names.len() + kept_decided).unwrap_or(i64::MAX))
}

/// The SSA body of a proposal without `spec.approval`: the decision belongs to people, so the
/// operator never owns that field (the CRD defaults it to Pending on create).
struct ProposalApply;

impl ProposalApply {
    fn without_approval(
        proposal: &ExperimentProposal,
    ) -> Result<serde_json::Value, ApplyProposalsError> {
        let mut body = serde_json::to_value(proposal).map_err(ApplyProposalsError::Serialize)?;
        if let Some(spec) = body.get_mut("spec").and_then(|s| s.as_object_mut()) {
            spec.remove("approval");
        }
        if let Some(object) = body.as_object_mut() {
            object.remove("status");
        }
        Ok(body)
    }
}
