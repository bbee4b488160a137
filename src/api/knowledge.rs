//! What an analysis learned from earlier runs and decisions: verified and refuted hypotheses,
//! rejected proposals it will not make again, and findings people suppressed. The same types are
//! in `analysis.json` (the CLI) and, bounded, in the ChaosAnalysis status (the operator).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::proposal::{RunEvent, RunPhase, Verdict};
use crate::chaosmesh::ChaosKind;

/// Annotation on a ChaosAnalysis suppressing findings: a JSON object from finding id to reason,
/// e.g. `{"no-hpa-cart-1a2b3c4d": "scaled by hand, on purpose"}`. Merged with
/// `spec.suppressions`; the spec wins where both name a finding.
pub const SUPPRESS_ANNOTATION: &str = "chaos.smartchaos.io/suppress";

/// Annotation on an ExperimentProposal: the neighbourhood hash of its target when the proposal
/// was last written. A decision (Rejected, or a Held verdict) holds while the hash is unchanged.
pub const NEIGHBOURHOOD_ANNOTATION: &str = "chaos.smartchaos.io/neighbourhood";

/// A finding a person judged not worth acting on, and why. It stays listed, as suppressed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    /// The finding's id, as status and reports show it.
    #[schemars(length(min = 1, max = 128))]
    pub finding: String,
    /// Why it is suppressed, in the team's words.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
}

/// Where a suppression came from.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum SuppressionSource {
    /// `spec.suppressions` of the ChaosAnalysis.
    Spec,
    /// The `chaos.smartchaos.io/suppress` annotation.
    Annotation,
    /// A suppressions file given to the command line.
    File,
}

/// A hypothesis an experiment verified: a known known, not proposed again while the map around
/// its target is unchanged and the verdict is younger than `spec.refresh.reverifyAfter`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedHypothesis {
    /// The hypothesis' id.
    pub hypothesis: String,
    /// The hypothesis' statement.
    pub statement: String,
    /// The target, as a map id.
    pub target: String,
    /// The experiment's kind.
    pub kind: ChaosKind,
    /// The proposal whose run held.
    pub proposal: String,
    /// When the verdict was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Time>,
}

/// Why an experiment decided on earlier is proposed again.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum RevisitReason {
    /// The map around the target changed (callers, replicas, pod template...).
    NeighbourhoodChanged,
    /// The verdict is older than `spec.refresh.reverifyAfter`.
    VerdictExpired,
}

/// An experiment proposed again although it was decided before, and why.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Revisited {
    /// The earlier proposal.
    pub previous_proposal: String,
    /// The proposal made now.
    pub proposal: String,
    /// The target, as a map id.
    pub target: String,
    /// Why it is back.
    pub reason: RevisitReason,
}

/// A rejected proposal that is not made again while the map around its target is unchanged.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RememberedRejection {
    /// The rejected proposal.
    pub proposal: String,
    /// The target, as a map id.
    pub target: String,
    /// The experiment's kind.
    pub kind: ChaosKind,
    /// Who rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// The reason they gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A hypothesis an experiment refuted: it became the finding `finding`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefutedHypothesis {
    /// The id of the finding it became (remediations name it).
    pub finding: String,
    /// The hypothesis' id.
    pub hypothesis: String,
    /// The target, as a map id.
    pub target: String,
    /// The proposal whose run refuted it; its `status.timeline` is the evidence.
    pub proposal: String,
    /// info, low, medium, high or critical, from the observed impact.
    pub severity: String,
    /// The checks that broke, with the worst value read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken_checks: Vec<String>,
    /// When the verdict was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuted_at: Option<Time>,
}

/// A suppressed finding, shown as such (or a suppression that matched no finding this run).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SuppressedFinding {
    /// The finding's id.
    pub finding: String,
    /// Why it is suppressed.
    pub reason: String,
    /// Where the suppression came from.
    pub source: SuppressionSource,
    /// Whether this run found the finding; a suppression of a finding that is gone stays listed.
    pub matched: bool,
    /// The finding's severity, when matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The node it is about, when matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The finding's message, when matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One approved experiment's run, as the report shows it: who approved it, what happened, the
/// verdict.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The proposal.
    pub proposal: String,
    /// The target, as a map id.
    pub target: String,
    /// The experiment's kind.
    pub kind: ChaosKind,
    /// The hypothesis tested.
    pub hypothesis: String,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Time>,
    /// Where the run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// The verdict, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The run's last message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What happened, in order (the proposal's `status.timeline`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<RunEvent>,
    /// Who held each steady-state check (the proposal's `status.heldBy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<super::CheckHolding>,
}

/// What earlier verdicts and decisions changed in this analysis.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Knowledge {
    /// Hypotheses verified (Held) and not proposed again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<VerifiedHypothesis>,
    /// Hypotheses refuted, each now a finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refuted: Vec<RefutedHypothesis>,
    /// Rejected proposals not made again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RememberedRejection>,
    /// Decided experiments proposed again, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisited: Vec<Revisited>,
    /// Suppressed findings, and suppressions that matched nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<SuppressedFinding>,
    /// The runs of approved proposals, for reports. Never kept in status: the timelines are in
    /// the proposals' own status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunReport>,
}

impl Knowledge {
    /// Nothing learned (a first run without suppressions).
    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
            && self.refuted.is_empty()
            && self.rejected.is_empty()
            && self.revisited.is_empty()
            && self.suppressed.is_empty()
            && self.runs.is_empty()
    }

    /// At most `limit` entries per list, as status keeps them.
    pub fn bounded(&self, limit: usize) -> Knowledge {
        fn head<T: Clone>(items: &[T], limit: usize) -> Vec<T> {
            items.iter().take(limit).cloned().collect()
        }
        Knowledge {
            verified: head(&self.verified, limit),
            refuted: head(&self.refuted, limit),
            rejected: head(&self.rejected, limit),
            revisited: head(&self.revisited, limit),
            suppressed: head(&self.suppressed, limit),
            runs: Vec::new(),
        }
    }
}
