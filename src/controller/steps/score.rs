//! Step `score` (between `stages` and `apply proposals`): the verdicts of the proposals an
//! analysis owns feed the resilience score; [`record`] (called by `status`) keeps the score, its largest losses, a bounded history for the trend and
//! the suggested remediations (which the operator never applies).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams};

use super::super::Context;
use super::apply_proposals::ApplyProposalsError;
use crate::analysis::AnalysisResult;
use crate::analysis::score::{SuppressedFinding, VerifiedHypothesis};
use crate::api::{
    ANALYSIS_LABEL, ChaosAnalysisStatus, ExperimentProposal, MAX_SCORE_LOSSES, RemediationStatus,
    ScoreLossStatus, ScorePoint, record_score,
};
use crate::remediate::MAX_REMEDIATIONS_IN_STATUS;
use crate::servicemap::{NodeId, ServiceMap};

/// The verdicts of the proposals labelled with this analysis.
pub async fn verified_hypotheses(
    ctx: &Context,
    ns: &str,
    analysis: &str,
) -> Result<Vec<VerifiedHypothesis>, ApplyProposalsError> {
    let api: Api<ExperimentProposal> = Api::namespaced(ctx.client.clone(), ns);
    let proposals = api
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}={analysis}")))
        .await
        .map_err(ApplyProposalsError::List)?;
    Ok(verdicts_of(&proposals.items))
}

/// The verdicts recorded on `proposals`, in a stable order.
pub fn verdicts_of(proposals: &[ExperimentProposal]) -> Vec<VerifiedHypothesis> {
    let mut verified: Vec<VerifiedHypothesis> = proposals
        .iter()
        .filter_map(|p| {
            Some(VerifiedHypothesis {
                hypothesis_id: p.spec.hypothesis.id.clone(),
                target: NodeId(p.spec.target.clone()),
                verdict: p.status.as_ref()?.verdict?,
                proposal: p.metadata.name.clone(),
            })
        })
        .collect();
    verified.sort_by(|a, b| a.proposal.cmp(&b.proposal));
    verified
}

/// Scores `result` again with the verdicts of the analysis' proposals.
pub async fn rescore(
    ctx: &Context,
    ns: &str,
    analysis: &str,
    map: &ServiceMap,
    result: &mut AnalysisResult,
) -> Result<(), ApplyProposalsError> {
    let verified = verified_hypotheses(ctx, ns, analysis).await?;
    // The memory step already took suppressed findings out of the open list; the score lists
    // them as suppressed, with their reasons, instead of silently counting nothing.
    let suppressed: Vec<SuppressedFinding> = result
        .knowledge
        .suppressed
        .iter()
        .filter(|s| s.matched)
        .map(|s| SuppressedFinding {
            finding_id: s.finding.clone(),
            reason: s.reason.clone(),
        })
        .collect();
    result.rescore(map, &verified, &suppressed);
    Ok(())
}

/// Fills the score fields of `status` from `result`, appending this run to the history that
/// `previous` holds.
pub fn record(
    status: &mut ChaosAnalysisStatus,
    previous: &ChaosAnalysisStatus,
    result: &AnalysisResult,
    now: Timestamp,
) {
    let score = &result.score;
    status.score = Some(i64::from(score.score));
    let mut history = previous.score_history.clone();
    record_score(
        &mut history,
        ScorePoint {
            time: Time(now),
            score: i64::from(score.score),
            map_hash: result.map_hash.clone(),
        },
    );
    status.score_history = history;
    status.score_losses = score
        .lost
        .iter()
        .take(MAX_SCORE_LOSSES)
        .map(|l| ScoreLossStatus {
            points: l.points,
            reason: l.reason.clone(),
            win_back: l.win_back.clone(),
        })
        .collect();
    status.remediations = result
        .remediations
        .iter()
        .take(MAX_REMEDIATIONS_IN_STATUS)
        .map(|r| RemediationStatus {
            finding_id: r.finding_id.clone(),
            description: r.description.clone(),
            changes: r.changes.clone(),
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};
    use crate::api::MAX_SCORE_HISTORY;

    #[test]
    fn each_run_adds_one_history_point_and_the_history_stays_bounded() {
        let map = fixtures::boutique();
        let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
        let mut previous = ChaosAnalysisStatus::default();
        for second in 0..(MAX_SCORE_HISTORY as i64 + 5) {
            let mut status = ChaosAnalysisStatus::default();
            record(
                &mut status,
                &previous,
                &result,
                Timestamp::from_second(second).unwrap(),
            );
            previous = status;
        }
        assert_eq!(previous.score, Some(i64::from(result.score.score)));
        assert_eq!(previous.score_history.len(), MAX_SCORE_HISTORY);
        // Oldest first; the oldest runs were dropped.
        assert_eq!(previous.score_history[0].time.0.as_second(), 5);
        assert_eq!(
            previous.score_history.last().unwrap().time.0.as_second(),
            MAX_SCORE_HISTORY as i64 + 4
        );
        assert!(previous.score_losses.len() <= MAX_SCORE_LOSSES);
        assert!(!previous.remediations.is_empty());
        assert!(previous.remediations.len() <= MAX_REMEDIATIONS_IN_STATUS);
    }
}
