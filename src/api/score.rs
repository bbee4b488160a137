//! The resilience score and remediations as a ChaosAnalysis status shows them (bounded; the
//! reports and `smart-chaos analyze --out` have everything).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Score history entries kept in status: enough for a trend, bounded so status stays small.
pub const MAX_SCORE_HISTORY: usize = 20;
/// Largest losses of the score listed in status.
pub const MAX_SCORE_LOSSES: usize = 10;

/// The score of one analysis run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScorePoint {
    /// When the run finished.
    pub time: Time,
    /// 0 to 100.
    pub score: i64,
    /// Content hash of the map it was computed on (a change shows the cluster changed).
    pub map_hash: String,
}

/// Points the score lost to one cause, and how to win them back.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScoreLossStatus {
    /// Points lost.
    pub points: f64,
    /// Why, in one line.
    pub reason: String,
    /// The change that wins the points back.
    pub win_back: String,
}

/// A remediation the analysis suggests. The operator never applies it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStatus {
    /// The finding it fixes.
    pub finding_id: String,
    /// What changes, in one line.
    pub description: String,
    /// Each object patched or added (`patch Deployment ns/name`, `new PodDisruptionBudget ns/name`).
    pub changes: Vec<String>,
}

/// Appends `point` to `history`, dropping the oldest beyond [`MAX_SCORE_HISTORY`].
pub fn record_score(history: &mut Vec<ScorePoint>, point: ScorePoint) {
    history.push(point);
    if history.len() > MAX_SCORE_HISTORY {
        history.drain(..history.len() - MAX_SCORE_HISTORY);
    }
}
