//! The run of an approved proposal, as pure decisions: given what the status says, whether the
//! Chaos Mesh resource exists and what the steady-state checks found, what happens next and what
//! the status becomes. No I/O here; `proposals.rs` gathers the inputs and applies the outcome.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::checks::CheckResult;
use super::reasons;
use crate::api::{ExperimentProposalStatus, RunPhase, Verdict, conditions};

/// Everything the next step depends on.
#[derive(Debug)]
pub struct RunInputs<'a> {
    /// The proposal's status as read.
    pub status: &'a ExperimentProposalStatus,
    /// When the Chaos Mesh resource was created, if it exists.
    pub chaos_created_at: Option<Timestamp>,
    /// This round's check results, in the proposal's order.
    pub checks: &'a [CheckResult],
    /// How long the experiment runs before it counts as completed.
    pub window: Duration,
    /// The time of this round.
    pub now: Timestamp,
}

/// What to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum RunStep {
    /// Do not start: the steady state does not hold, or nothing can be checked.
    Wait { message: String },
    /// Create the Chaos Mesh resource.
    Start,
    /// Running and steady: look again later.
    Continue,
    /// A check broke: pause the experiment (the stop condition); the hypothesis is refuted.
    Pause { message: String },
    /// A check's source stopped answering while running: pause, since the stop condition is
    /// blind; the verdict is inconclusive.
    Blind { message: String },
    /// The window passed with every evaluated check holding.
    Complete { message: String },
    /// The Chaos Mesh resource disappeared while running.
    Lost { message: String },
}

fn broken_summary(checks: &[CheckResult]) -> String {
    checks
        .iter()
        .filter(|c| c.is_broken())
        .map(CheckResult::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

fn not_evaluated_summary(checks: &[CheckResult]) -> Option<String> {
    let skipped: Vec<String> = checks
        .iter()
        .filter(|c| !c.is_evaluated())
        .map(CheckResult::describe)
        .collect();
    (!skipped.is_empty()).then(|| skipped.join("; "))
}

/// When the run started: the status' word, else the resource's creation, else now.
pub fn started_at(inputs: &RunInputs<'_>) -> Timestamp {
    inputs
        .status
        .started_at
        .as_ref()
        .map(|t| t.0)
        .or(inputs.chaos_created_at)
        .unwrap_or(inputs.now)
}

/// Decides the next step for an approved proposal that is not Paused, Completed or Failed.
pub fn next_step(inputs: &RunInputs<'_>) -> RunStep {
    let running = inputs.status.phase == Some(RunPhase::Running);
    let any_evaluated = inputs.checks.iter().any(CheckResult::is_evaluated);
    let any_broken = inputs.checks.iter().any(CheckResult::is_broken);
    if running && inputs.chaos_created_at.is_none() {
        return RunStep::Lost {
            message: "the Chaos Mesh resource was deleted while the experiment ran".into(),
        };
    }
    let unavailable: Vec<String> = inputs
        .checks
        .iter()
        .filter(|c| c.is_unavailable())
        .map(CheckResult::describe)
        .collect();
    if !unavailable.is_empty() {
        let reasons = unavailable.join("; ");
        return if running {
            RunStep::Blind {
                message: format!(
                    "a steady-state check could not be evaluated while the experiment ran, so it was paused: {reasons}"
                ),
            }
        } else {
            RunStep::Wait {
                message: format!(
                    "a steady-state check cannot be evaluated, so the experiment was not started: {reasons}"
                ),
            }
        };
    }
    if !any_evaluated {
        let reason = format!(
            "none of the {} steady-state checks can be evaluated by the operator, and it runs no experiment without a stop condition: {}",
            inputs.checks.len(),
            not_evaluated_summary(inputs.checks).unwrap_or_default()
        );
        return if running {
            RunStep::Pause { message: reason }
        } else {
            RunStep::Wait { message: reason }
        };
    }
    if !running {
        return if any_broken {
            RunStep::Wait {
                message: format!(
                    "steady state does not hold before the experiment, so it was not started: {}",
                    broken_summary(inputs.checks)
                ),
            }
        } else {
            RunStep::Start
        };
    }
    if any_broken {
        return RunStep::Pause {
            message: format!(
                "steady state broke, experiment paused: {}",
                broken_summary(inputs.checks)
            ),
        };
    }
    let window = jiff::SignedDuration::try_from(inputs.window).unwrap_or(jiff::SignedDuration::MAX);
    let ends = started_at(inputs)
        .checked_add(window)
        .unwrap_or(Timestamp::MAX);
    if inputs.now >= ends {
        let evaluated = inputs.checks.iter().filter(|c| c.is_evaluated()).count();
        let mut message = format!(
            "all {evaluated} evaluated steady-state checks held for {}s",
            inputs.window.as_secs()
        );
        if let Some(skipped) = not_evaluated_summary(inputs.checks) {
            message.push_str(&format!("; {skipped}"));
        }
        RunStep::Complete { message }
    } else {
        RunStep::Continue
    }
}

/// Parses a Go duration (`30s`, `1m30s`, `1.5h`, `250ms`). `None` when it is not one.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest.get(..number_len)?.parse().ok()?;
        rest = rest.get(number_len..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match rest.get(..unit_len)? {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// A condition, keeping the previous transition time when its status did not change.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The status after a step. `generation` is the proposal's; `chaos_name` the resource's name.
pub fn status_after(
    step: &RunStep,
    inputs: &RunInputs<'_>,
    generation: Option<i64>,
    chaos_name: &str,
) -> ExperimentProposalStatus {
    let prev = inputs.status;
    let now = inputs.now;
    let started = Some(Time(started_at(inputs)));
    let checks_line = inputs
        .checks
        .iter()
        .map(CheckResult::describe)
        .collect::<Vec<_>>()
        .join("; ");
    let created = |yes: bool, reason: &str, message: &str| {
        condition(
            &prev.conditions,
            conditions::EXPERIMENT_CREATED,
            yes,
            reason,
            message,
            generation,
            now,
        )
    };
    let steady = |yes: bool, reason: &str| {
        condition(
            &prev.conditions,
            conditions::STEADY_STATE_HOLDS,
            yes,
            reason,
            &checks_line,
            generation,
            now,
        )
    };
    let base = ExperimentProposalStatus {
        observed_generation: generation,
        ..ExperimentProposalStatus::default()
    };
    match step {
        RunStep::Wait { message } => ExperimentProposalStatus {
            phase: Some(RunPhase::NotStarted),
            message: Some(message.clone()),
            conditions: vec![
                created(false, reasons::WAITING_FOR_STEADY_STATE, message),
                steady(false, reasons::NOT_STEADY),
            ],
            ..base
        },
        RunStep::Start | RunStep::Continue => ExperimentProposalStatus {
            phase: Some(RunPhase::Running),
            chaos_resource: Some(chaos_name.into()),
            started_at: started,
            message: Some(format!(
                "running; window {}s; {checks_line}",
                inputs.window.as_secs()
            )),
            conditions: vec![
                created(true, reasons::CREATED, "the Chaos Mesh resource exists"),
                steady(true, reasons::CHECKS_HOLD),
            ],
            ..base
        },
        RunStep::Pause { message } => ExperimentProposalStatus {
            phase: Some(RunPhase::Paused),
            chaos_resource: Some(chaos_name.into()),
            started_at: started,
            finished_at: Some(Time(now)),
            verdict: Some(Verdict::Refuted),
            message: Some(message.clone()),
            conditions: vec![
                created(true, reasons::PAUSED, "the Chaos Mesh resource is paused"),
                steady(false, reasons::CHECK_BROKE),
            ],
            ..base
        },
        RunStep::Complete { message } => ExperimentProposalStatus {
            phase: Some(RunPhase::Completed),
            chaos_resource: Some(chaos_name.into()),
            started_at: started,
            finished_at: Some(Time(now)),
            verdict: Some(Verdict::Held),
            message: Some(message.clone()),
            conditions: vec![
                created(true, reasons::COMPLETED, "the experiment ran its window"),
                steady(true, reasons::CHECKS_HELD),
            ],
            ..base
        },
        RunStep::Blind { message } => ExperimentProposalStatus {
            phase: Some(RunPhase::Paused),
            chaos_resource: Some(chaos_name.into()),
            started_at: started,
            finished_at: Some(Time(now)),
            verdict: Some(Verdict::Inconclusive),
            message: Some(message.clone()),
            conditions: vec![
                created(true, reasons::PAUSED, "the Chaos Mesh resource is paused"),
                steady(false, reasons::CHECK_UNAVAILABLE),
            ],
            ..base
        },
        RunStep::Lost { message } => ExperimentProposalStatus {
            phase: Some(RunPhase::Failed),
            chaos_resource: Some(chaos_name.into()),
            started_at: started,
            finished_at: Some(Time(now)),
            verdict: Some(Verdict::Inconclusive),
            message: Some(message.clone()),
            conditions: vec![created(false, reasons::DELETED, message)],
            ..base
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::checks::CheckOutcome;
    use super::*;

    fn holds(name: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            outcome: CheckOutcome::Holds { value: 3 },
        }
    }
    fn broken(name: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            outcome: CheckOutcome::Broken {
                reason: "available replicas of shop/Deployment/web is 0, below the minimum 1"
                    .into(),
            },
        }
    }
    fn skipped(name: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            outcome: CheckOutcome::NotEvaluated {
                reason: "Http checks are run by an external prober".into(),
            },
        }
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn running_since(s: i64) -> ExperimentProposalStatus {
        ExperimentProposalStatus {
            phase: Some(RunPhase::Running),
            started_at: Some(Time(ts(s))),
            ..ExperimentProposalStatus::default()
        }
    }

    fn inputs<'a>(
        status: &'a ExperimentProposalStatus,
        exists: bool,
        checks: &'a [CheckResult],
        now: i64,
    ) -> RunInputs<'a> {
        RunInputs {
            status,
            chaos_created_at: exists.then(|| ts(0)),
            checks,
            window: Duration::from_secs(60),
            now: ts(now),
        }
    }

    fn unavailable(name: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            outcome: CheckOutcome::Unavailable {
                reason: "cannot reach Prometheus at http://127.0.0.1:9".into(),
            },
        }
    }

    #[test]
    fn an_unavailable_check_keeps_the_run_from_starting_and_pauses_a_running_one() {
        let fresh = ExperimentProposalStatus::default();
        let checks = [holds("web"), unavailable("success")];
        match next_step(&inputs(&fresh, false, &checks, 0)) {
            RunStep::Wait { message } => {
                assert!(message.contains("not started"), "{message}");
                assert!(message.contains("success cannot be evaluated"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let status = running_since(0);
        let step = next_step(&inputs(&status, true, &checks, 10));
        assert!(matches!(step, RunStep::Blind { .. }), "{step:?}");
        let after = status_after(&step, &inputs(&status, true, &checks, 10), None, "p");
        assert_eq!(after.phase, Some(RunPhase::Paused));
        assert_eq!(after.verdict, Some(Verdict::Inconclusive));
    }

    #[test]
    fn a_new_approval_starts_when_steady() {
        let status = ExperimentProposalStatus::default();
        let checks = [holds("web"), skipped("home")];
        assert_eq!(
            next_step(&inputs(&status, false, &checks, 0)),
            RunStep::Start
        );
    }

    #[test]
    fn nothing_starts_when_the_steady_state_already_broke() {
        let status = ExperimentProposalStatus::default();
        let checks = [broken("web")];
        match next_step(&inputs(&status, false, &checks, 0)) {
            RunStep::Wait { message } => {
                assert!(message.contains("not started") && message.contains("web broke"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_starts_without_a_check_the_operator_can_evaluate() {
        let status = ExperimentProposalStatus::default();
        let checks = [skipped("home")];
        match next_step(&inputs(&status, false, &checks, 0)) {
            RunStep::Wait { message } => assert!(message.contains("without a stop condition")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_broken_check_while_running_pauses_and_names_the_check() {
        let status = running_since(0);
        let checks = [holds("api"), broken("web-available")];
        let step = next_step(&inputs(&status, true, &checks, 10));
        let RunStep::Pause { message } = &step else {
            panic!("{step:?}")
        };
        assert!(message.contains("web-available broke"), "{message}");
        let after = status_after(&step, &inputs(&status, true, &checks, 10), Some(2), "p");
        assert_eq!(after.phase, Some(RunPhase::Paused));
        assert_eq!(after.verdict, Some(Verdict::Refuted));
        assert_eq!(after.started_at, Some(Time(ts(0))));
        assert_eq!(after.finished_at, Some(Time(ts(10))));
        assert_eq!(after.observed_generation, Some(2));
    }

    #[test]
    fn running_continues_inside_the_window_and_completes_after_it() {
        let status = running_since(0);
        let checks = [holds("web"), skipped("home")];
        assert_eq!(
            next_step(&inputs(&status, true, &checks, 59)),
            RunStep::Continue
        );
        let step = next_step(&inputs(&status, true, &checks, 60));
        let RunStep::Complete { message } = &step else {
            panic!("{step:?}")
        };
        assert!(message.contains("all 1 evaluated"), "{message}");
        assert!(message.contains("home not evaluated"), "{message}");
        let after = status_after(&step, &inputs(&status, true, &checks, 60), None, "p");
        assert_eq!(after.verdict, Some(Verdict::Held));
    }

    #[test]
    fn a_deleted_resource_while_running_fails_inconclusively() {
        let status = running_since(0);
        let checks = [holds("web")];
        let step = next_step(&inputs(&status, false, &checks, 5));
        assert!(matches!(step, RunStep::Lost { .. }));
        let after = status_after(&step, &inputs(&status, false, &checks, 5), None, "p");
        assert_eq!(after.verdict, Some(Verdict::Inconclusive));
    }

    #[test]
    fn started_at_prefers_status_then_the_resource() {
        let fresh = ExperimentProposalStatus::default();
        let checks = [holds("web")];
        assert_eq!(started_at(&inputs(&fresh, true, &checks, 30)), ts(0));
        assert_eq!(started_at(&inputs(&fresh, false, &checks, 30)), ts(30));
        let status = running_since(7);
        assert_eq!(started_at(&inputs(&status, true, &checks, 30)), ts(7));
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let first = condition(&[], "SteadyStateHolds", true, "ChecksHold", "", None, ts(0));
        let again = condition(
            std::slice::from_ref(&first),
            "SteadyStateHolds",
            true,
            "ChecksHold",
            "",
            None,
            ts(50),
        );
        assert_eq!(again.last_transition_time, Time(ts(0)));
        let flipped = condition(
            &[again],
            "SteadyStateHolds",
            false,
            "CheckBroke",
            "",
            None,
            ts(60),
        );
        assert_eq!(flipped.last_transition_time, Time(ts(60)));
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "5", "5 minutes", "s", "1d", "-1s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
