//! Step `memory`: gathers what an analysis already knows (the proposals it owns, their decisions and verdicts,
//! and the suppressions of its spec and annotation) for the pure [`crate::analysis::memory`].
//!
//! Re-analysis is keyed by the map hash; a verdict or a decision changes no object the map reads,
//! so the recall has its own hash in status, and a change of it runs the stages again.

use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::events::EventType;

use super::super::{Context, publish_event, reasons};
use crate::analysis::memory::{PastProposal, Recall};
use crate::analysis::parse_go_duration;
use crate::api::{
    ANALYSIS_LABEL, ApprovalState, ChaosAnalysis, ExperimentProposal, SUPPRESS_ANNOTATION,
    Suppression, SuppressionSource,
};
use crate::hashing::sha256_hex;

/// Why the analysis' memory could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("listing the analysis' proposals: {0}")]
    ListProposals(#[source] kube::Error),
    #[error("spec.refresh.reverifyAfter: {0}")]
    ReverifyAfter(#[source] crate::analysis::DurationError),
}

impl MemoryError {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            MemoryError::ListProposals(_) => "ListProposals",
            MemoryError::ReverifyAfter(_) => "InvalidSpec",
        }
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MemoryError::ReverifyAfter(_))
    }
}

/// What the analysis knows, its hash, and problems a person should hear about (a malformed
/// suppress annotation: its suppressions are not applied, the spec's still are).
pub struct Gathered {
    pub recall: Recall,
    pub hash: String,
    pub problems: Vec<String>,
}

/// Reads the proposals `analysis` owns and its suppressions (the operator, and `smart-chaos
/// report` with the user's own client).
pub async fn gather(
    client: &kube::Client,
    analysis: &ChaosAnalysis,
    ns: &str,
) -> Result<Gathered, MemoryError> {
    let api: Api<ExperimentProposal> = Api::namespaced(client.clone(), ns);
    let owned = api
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}={}", analysis.name_any())))
        .await
        .map_err(MemoryError::ListProposals)?;
    let past: Vec<PastProposal> = owned
        .items
        .iter()
        .filter(|p| p.spec.analysis_ref == analysis.name_any())
        .map(PastProposal::from_proposal)
        .collect();
    let mut problems = Vec::new();
    let mut suppressions: Vec<(Suppression, SuppressionSource)> = analysis
        .spec
        .suppressions
        .iter()
        .map(|s| (s.clone(), SuppressionSource::Spec))
        .collect();
    match annotated_suppressions(analysis) {
        Ok(annotated) => suppressions.extend(
            annotated
                .into_iter()
                .map(|s| (s, SuppressionSource::Annotation)),
        ),
        Err(problem) => problems.push(problem),
    }
    let reverify_after_ms = match analysis.spec.refresh.reverify_after.as_deref() {
        Some(text) => Some(parse_go_duration(text).map_err(MemoryError::ReverifyAfter)?),
        None => None,
    };
    let hash = recall_hash(&past, &suppressions, reverify_after_ms);
    Ok(Gathered {
        recall: Recall {
            past,
            suppressions,
            reverify_after_ms,
            now: Some(Timestamp::now()),
        },
        hash,
        problems,
    })
}

/// The suppressions of the `chaos.smartchaos.io/suppress` annotation, a JSON object from finding
/// id to reason; `Err` says what is wrong with it.
pub fn annotated_suppressions(analysis: &ChaosAnalysis) -> Result<Vec<Suppression>, String> {
    let Some(text) = analysis.annotations().get(SUPPRESS_ANNOTATION) else {
        return Ok(Vec::new());
    };
    let parsed: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|e| {
            format!(
                "annotation {SUPPRESS_ANNOTATION} is not a JSON object from finding id to reason ({e}); \
                 its suppressions are not applied"
            )
        })?;
    Ok(parsed
        .into_iter()
        .map(|(finding, reason)| Suppression { finding, reason })
        .collect())
}

/// A hash of what changes the plan without changing the map: decisions, verdicts, suppressions.
fn recall_hash(
    past: &[PastProposal],
    suppressions: &[(Suppression, SuppressionSource)],
    reverify_after_ms: Option<u64>,
) -> String {
    let mut decided: Vec<String> = past
        .iter()
        .filter(|p| p.decision != ApprovalState::Pending)
        .map(|p| {
            format!(
                "{}\0{:?}\0{:?}\0{}",
                p.name,
                p.decision,
                p.verdict,
                p.reason.as_deref().unwrap_or_default()
            )
        })
        .collect();
    decided.sort();
    let mut text = decided.join("\n");
    for (s, source) in suppressions {
        text.push_str(&format!("\n{:?}\0{}\0{}", source, s.finding, s.reason));
    }
    text.push_str(&format!("\n{reverify_after_ms:?}"));
    let mut hex = sha256_hex(text.as_bytes());
    hex.truncate(16);
    hex
}

/// Tells a person about a suppress annotation that could not be read (its suppressions are not
/// applied; the spec's are).
pub async fn report_problems(ctx: &Context, analysis: &ChaosAnalysis, gathered: &Gathered) {
    for problem in &gathered.problems {
        publish_event(
            ctx,
            analysis,
            "Analyze",
            EventType::Warning,
            reasons::INVALID_SUPPRESSIONS,
            Some(problem.clone()),
        )
        .await;
    }
}
