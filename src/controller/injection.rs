//! Whether Chaos Mesh injected the fault, as pure decisions over its own status. A run whose
//! fault Chaos Mesh could not inject (a kind that needs chaos-daemon where none runs, a target it
//! cannot reach) ends as `InjectionFailed` with Chaos Mesh's message and no verdict: the checks
//! held or broke for some other reason, so they say nothing about the hypothesis. Likewise a
//! window that ends with no injection recorded claims nothing.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DynamicObject;
use serde::Deserialize as _;

use super::reasons;
use super::run::{RunStep, condition};
use crate::api::{ExperimentProposalStatus, RunEventKind, RunPhase, conditions};
use crate::chaosmesh::status::{ChaosStatus, Injection};

/// The typed status of a Chaos Mesh object, or why it could not be read (then the run treats
/// it as nothing recorded yet, and says so in the log).
pub fn chaos_status(object: &DynamicObject) -> Result<ChaosStatus, serde_json::Error> {
    match object.data.get("status") {
        Some(status) => ChaosStatus::deserialize(status),
        None => Ok(ChaosStatus::default()),
    }
}

/// Why the run ends as InjectionFailed, or `None` while it need not.
pub fn failure(
    previous: &ExperimentProposalStatus,
    chaos: Option<&ChaosStatus>,
    step: &RunStep,
) -> Option<String> {
    if previous.phase != Some(RunPhase::Running) {
        return None;
    }
    let injection = chaos.map_or(Injection::Pending, ChaosStatus::injection);
    let ever_injected = matches!(injection, Injection::Injected { .. })
        || previous
            .timeline
            .iter()
            .any(|e| e.kind == RunEventKind::Injected);
    if ever_injected {
        return None;
    }
    match (injection, step) {
        (Injection::Failed { message }, _) => Some(format!(
            "Chaos Mesh could not inject the fault, so no verdict is claimed: {message}"
        )),
        (_, RunStep::Complete { .. }) => Some(
            "the window ended and Chaos Mesh never recorded the fault injected, so no verdict is claimed"
                .into(),
        ),
        _ => None,
    }
}

/// The status of a run that ends as InjectionFailed: no verdict, the timeline kept and extended
/// by the caller.
pub fn failed_status(
    previous: &ExperimentProposalStatus,
    message: &str,
    generation: Option<i64>,
    chaos_name: &str,
    now: Timestamp,
) -> ExperimentProposalStatus {
    ExperimentProposalStatus {
        phase: Some(RunPhase::InjectionFailed),
        observed_generation: generation,
        chaos_resource: Some(chaos_name.into()),
        started_at: previous.started_at.clone(),
        finished_at: Some(Time(now)),
        verdict: None,
        message: Some(message.into()),
        conditions: vec![condition(
            &previous.conditions,
            conditions::EXPERIMENT_CREATED,
            true,
            reasons::INJECTION_FAILED,
            message,
            generation,
            now,
        )],
        timeline: previous.timeline.clone(),
        held_by: previous.held_by.clone(),
        checks_held_by: previous.checks_held_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> ExperimentProposalStatus {
        ExperimentProposalStatus {
            phase: Some(RunPhase::Running),
            ..ExperimentProposalStatus::default()
        }
    }

    fn chaos(json: serde_json::Value) -> ChaosStatus {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn chaos_meshs_failed_apply_ends_the_run_without_a_verdict() {
        let status = chaos(serde_json::json!({"experiment": {"containerRecords": [
            {"id": "shop/web-1", "injectedCount": 0, "events": [
                {"type": "Failed", "operation": "Apply", "message": "chaos-daemon not found"}]}]}}));
        let why = failure(&running(), Some(&status), &RunStep::Continue).unwrap();
        assert!(why.contains("chaos-daemon not found"), "{why}");
        let after = failed_status(&running(), &why, Some(1), "p", Timestamp::UNIX_EPOCH);
        assert_eq!(after.phase, Some(RunPhase::InjectionFailed));
        assert_eq!(after.verdict, None);
    }

    #[test]
    fn an_injected_or_not_yet_started_run_is_left_alone() {
        let injected = chaos(serde_json::json!({"experiment": {"containerRecords": [
            {"id": "shop/web-1", "injectedCount": 1}]}}));
        assert_eq!(
            failure(&running(), Some(&injected), &RunStep::Continue),
            None
        );
        assert_eq!(failure(&running(), None, &RunStep::Continue), None);
        let fresh = ExperimentProposalStatus::default();
        assert_eq!(failure(&fresh, None, &RunStep::Start), None);
    }

    #[test]
    fn a_window_without_a_recorded_injection_claims_nothing() {
        let complete = RunStep::Complete {
            message: "all held".into(),
        };
        let why = failure(&running(), Some(&ChaosStatus::default()), &complete).unwrap();
        assert!(why.contains("never recorded"), "{why}");
    }

    #[test]
    fn a_status_that_is_not_chaos_meshs_shape_is_an_error_not_a_panic() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
            "metadata": {"name": "p"}, "status": {"conditions": "not a list"}}))
        .unwrap();
        assert!(chaos_status(&object).is_err());
    }
}
