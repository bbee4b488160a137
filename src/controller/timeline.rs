//! A run's timeline as pure decisions: which entries one reconcile adds, given the status read,
//! the step taken, the checks' values and what Chaos Mesh records in its own status. Each entry
//! is added once (the status read back says whether it is there), samples at most once per
//! sampling interval (a status write triggers the next reconcile at once, and that one must not
//! write again), and an injection or a pause counts only when Chaos Mesh records it.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::checks::{CheckOutcome, CheckResult};
use super::run::RunStep;
use crate::api::{
    Approval, CheckSample, ExperimentProposalStatus, RunEvent, RunEventKind, Verdict,
    record_run_event,
};
use crate::chaosmesh::status::{ChaosStatus, Injection};

/// What one reconcile of a running (or starting) proposal saw and did.
#[derive(Debug)]
pub struct Round<'a> {
    /// The status as read.
    pub previous: &'a ExperimentProposalStatus,
    /// The step taken this round.
    pub step: &'a RunStep,
    /// The status written this round (phase, verdict, message).
    pub desired: &'a ExperimentProposalStatus,
    /// This round's check results.
    pub checks: &'a [CheckResult],
    /// The Chaos Mesh object's status, when the object exists.
    pub chaos: Option<&'a ChaosStatus>,
    /// `Kind/name` of the Chaos Mesh object, for messages.
    pub chaos_object: &'a str,
    /// The proposal's approval.
    pub approval: &'a Approval,
    /// How often checks are sampled while running.
    pub sample_every: Duration,
    /// The time of this round, in whole seconds.
    pub now: Timestamp,
}

/// The checks' values as timeline samples.
pub fn samples(checks: &[CheckResult]) -> Vec<CheckSample> {
    checks
        .iter()
        .filter(|c| c.is_evaluated())
        .map(|c| CheckSample {
            check: c.name.clone(),
            value: match c.outcome {
                CheckOutcome::Holds { value } => Some(value),
                _ => None,
            },
            steady: !c.is_broken() && !c.is_unavailable(),
        })
        .collect()
}

fn has(timeline: &[RunEvent], kind: RunEventKind) -> bool {
    timeline.iter().any(|e| e.kind == kind)
}

fn entry(
    kind: RunEventKind,
    now: Timestamp,
    message: impl Into<String>,
    samples: Vec<CheckSample>,
) -> RunEvent {
    RunEvent {
        time: Time(now),
        kind,
        message: Some(message.into()),
        samples,
    }
}

/// Whether a sample is due: none yet, or the last one is at least `every` (and a second) old.
fn sample_due(timeline: &[RunEvent], every: Duration, now: Timestamp) -> bool {
    let every = jiff::SignedDuration::try_from(every)
        .unwrap_or(jiff::SignedDuration::MAX)
        .max(jiff::SignedDuration::from_secs(1));
    timeline
        .iter()
        .rev()
        .find(|e| e.kind == RunEventKind::Sampled)
        .is_none_or(|last| now.duration_since(last.time.0) >= every)
}

/// The timeline after this round: the previous entries plus what happened now.
pub fn after_round(round: &Round<'_>) -> Vec<RunEvent> {
    let mut timeline = round.previous.timeline.clone();
    let now = round.now;
    if let RunStep::Start = round.step {
        if !has(&timeline, RunEventKind::Approved) {
            let by = round.approval.approved_by.as_deref().unwrap_or("someone");
            let at = round.approval.decided_at.as_ref().map_or(now, |t| t.0);
            record_run_event(
                &mut timeline,
                entry(
                    RunEventKind::Approved,
                    at,
                    format!("approved by {by}"),
                    vec![],
                ),
            );
        }
        record_run_event(
            &mut timeline,
            entry(
                RunEventKind::PreChecked,
                now,
                "the steady state held before the start",
                samples(round.checks),
            ),
        );
        record_run_event(
            &mut timeline,
            entry(
                RunEventKind::Created,
                now,
                format!("created {}", round.chaos_object),
                vec![],
            ),
        );
        return timeline;
    }
    if let Some(Injection::Injected { targets }) = round.chaos.map(ChaosStatus::injection)
        && !has(&timeline, RunEventKind::Injected)
    {
        record_run_event(
            &mut timeline,
            entry(
                RunEventKind::Injected,
                now,
                format!(
                    "Chaos Mesh records the fault injected into {}",
                    targets.join(", ")
                ),
                vec![],
            ),
        );
    }
    match round.step {
        RunStep::Continue if sample_due(&timeline, round.sample_every, now) => record_run_event(
            &mut timeline,
            entry(
                RunEventKind::Sampled,
                now,
                "steady state holds",
                samples(round.checks),
            ),
        ),
        RunStep::Pause { message } | RunStep::Blind { message } => record_run_event(
            &mut timeline,
            entry(
                RunEventKind::Paused,
                now,
                format!("the operator paused {}: {message}", round.chaos_object),
                samples(round.checks),
            ),
        ),
        RunStep::Complete { message } => record_run_event(
            &mut timeline,
            entry(
                RunEventKind::Completed,
                now,
                message.clone(),
                samples(round.checks),
            ),
        ),
        _ => {}
    }
    if let Some(verdict) = round.desired.verdict
        && round.previous.verdict != Some(verdict)
    {
        record_run_event(
            &mut timeline,
            entry(RunEventKind::Verdict, now, verdict_message(verdict), vec![]),
        );
    }
    timeline
}

fn verdict_message(verdict: Verdict) -> String {
    match verdict {
        Verdict::Held => "Held: the steady state held while the fault was injected".into(),
        Verdict::Refuted => "Refuted: the steady state broke while the fault was injected".into(),
        Verdict::Inconclusive => "Inconclusive: the run could not tell".into(),
    }
}

/// The timeline of a paused run with what Chaos Mesh recorded since the pause: the injection, if
/// it was not seen before the pause, and the pause itself (its `Paused` condition). `None` when
/// there is nothing new.
pub fn while_paused(
    previous: &ExperimentProposalStatus,
    chaos: &ChaosStatus,
    chaos_object: &str,
    now: Timestamp,
) -> Option<Vec<RunEvent>> {
    let mut timeline = previous.timeline.clone();
    if let Injection::Injected { targets } = chaos.injection()
        && !has(&timeline, RunEventKind::Injected)
    {
        record_run_event(&mut timeline, injected(&targets, now));
    }
    let pauses = |t: &[RunEvent]| t.iter().filter(|e| e.kind == RunEventKind::Paused).count();
    if chaos.paused() && pauses(&timeline) < 2 {
        record_run_event(
            &mut timeline,
            entry(
                RunEventKind::Paused,
                now,
                format!("Chaos Mesh records {chaos_object} paused (condition Paused=True)"),
                vec![],
            ),
        );
    }
    (timeline != previous.timeline).then_some(timeline)
}

fn injected(targets: &[String], now: Timestamp) -> RunEvent {
    entry(
        RunEventKind::Injected,
        now,
        format!(
            "Chaos Mesh records the fault injected into {}",
            targets.join(", ")
        ),
        vec![],
    )
}

/// Adds the end of a run whose fault Chaos Mesh could not inject, in Chaos Mesh's words.
pub fn injection_failed(timeline: &mut Vec<RunEvent>, message: &str, now: Timestamp) {
    record_run_event(
        timeline,
        entry(RunEventKind::InjectionFailed, now, message, vec![]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApprovalState, RunPhase};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn holds(value: i64) -> CheckResult {
        CheckResult {
            name: "web".into(),
            outcome: CheckOutcome::Holds { value },
        }
    }

    fn approval() -> Approval {
        Approval {
            state: ApprovalState::Approved,
            approved_by: Some("approver".into()),
            decided_at: Some(Time(ts(-5))),
            reason: None,
        }
    }

    fn injected() -> ChaosStatus {
        serde_json::from_value(serde_json::json!({
            "experiment": {"containerRecords": [
                {"id": "shop/web-1", "injectedCount": 1, "events": []}]},
        }))
        .unwrap()
    }

    fn round<'a>(
        previous: &'a ExperimentProposalStatus,
        step: &'a RunStep,
        desired: &'a ExperimentProposalStatus,
        checks: &'a [CheckResult],
        chaos: Option<&'a ChaosStatus>,
        approval: &'a Approval,
        now: i64,
    ) -> Round<'a> {
        Round {
            previous,
            step,
            desired,
            checks,
            chaos,
            chaos_object: "PodChaos/kill-web",
            approval,
            sample_every: Duration::from_millis(500),
            now: ts(now),
        }
    }

    fn kinds(timeline: &[RunEvent]) -> Vec<RunEventKind> {
        timeline.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_run_records_approval_precheck_creation_injection_samples_pause_and_verdict() {
        let approval = approval();
        let checks = [holds(1)];
        let none = ExperimentProposalStatus::default();
        let start = after_round(&round(
            &none,
            &RunStep::Start,
            &none,
            &checks,
            None,
            &approval,
            0,
        ));
        assert_eq!(
            kinds(&start),
            [
                RunEventKind::Approved,
                RunEventKind::PreChecked,
                RunEventKind::Created
            ]
        );
        assert_eq!(start[0].time, Time(ts(-5)));
        assert_eq!(start[1].samples[0].value, Some(1));

        let running = ExperimentProposalStatus {
            phase: Some(RunPhase::Running),
            timeline: start,
            ..ExperimentProposalStatus::default()
        };
        let chaos = injected();
        let sampled = after_round(&round(
            &running,
            &RunStep::Continue,
            &running,
            &checks,
            Some(&chaos),
            &approval,
            1,
        ));
        assert_eq!(sampled[3].kind, RunEventKind::Injected);
        assert!(
            sampled[3]
                .message
                .as_deref()
                .unwrap()
                .contains("shop/web-1"),
            "{sampled:?}"
        );
        assert_eq!(sampled[4].kind, RunEventKind::Sampled);

        // The reconcile that the status write triggers, in the same second, adds nothing.
        let again = ExperimentProposalStatus {
            timeline: sampled.clone(),
            ..running.clone()
        };
        let same = after_round(&round(
            &again,
            &RunStep::Continue,
            &again,
            &checks,
            Some(&chaos),
            &approval,
            1,
        ));
        assert_eq!(same, sampled);

        let broken = [CheckResult {
            name: "web".into(),
            outcome: CheckOutcome::Broken {
                reason: "available replicas is 0".into(),
            },
        }];
        let pause = RunStep::Pause {
            message: "web broke".into(),
        };
        let paused = ExperimentProposalStatus {
            phase: Some(RunPhase::Paused),
            verdict: Some(Verdict::Refuted),
            ..ExperimentProposalStatus::default()
        };
        let end = after_round(&round(
            &again,
            &pause,
            &paused,
            &broken,
            Some(&chaos),
            &approval,
            3,
        ));
        let tail = &end[end.len() - 2..];
        assert_eq!(kinds(tail), [RunEventKind::Paused, RunEventKind::Verdict]);
        assert!(!tail[0].samples[0].steady);
        assert!(tail[1].message.as_deref().unwrap().starts_with("Refuted"));

        let after_pause = ExperimentProposalStatus {
            timeline: end,
            ..paused
        };
        let mut chaos_paused = chaos.clone();
        assert_eq!(
            while_paused(&after_pause, &chaos_paused, "PodChaos/kill-web", ts(4)),
            None
        );
        chaos_paused.conditions.push(
            serde_json::from_value(serde_json::json!({"type": "Paused", "status": "True"}))
                .unwrap(),
        );
        let confirmed =
            while_paused(&after_pause, &chaos_paused, "PodChaos/kill-web", ts(4)).unwrap();
        assert!(
            confirmed
                .last()
                .unwrap()
                .message
                .as_deref()
                .unwrap()
                .contains("Chaos Mesh records")
        );
        let twice = ExperimentProposalStatus {
            timeline: confirmed,
            ..after_pause
        };
        assert_eq!(
            while_paused(&twice, &chaos_paused, "PodChaos/kill-web", ts(5)),
            None
        );
    }
}
