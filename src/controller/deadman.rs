//! The dead man's switch: every experiment the operator creates carries a duration, no longer
//! than the operator's ceiling, so that Chaos Mesh ends it by itself. If the operator dies or
//! loses its Lease mid-run, nothing is left that could extend the run: a new leader finds the
//! object already there and neither recreates nor re-applies it (see `proposals::approved`), so
//! the run ends when Chaos Mesh's own clock says so.
//!
//! The analysis' guardrails bound durations when a proposal is made; this bound holds for every
//! proposal the operator runs, hand-written ones included.

use std::time::Duration;

use crate::analysis::duration::{format_go_duration, parse_go_duration};
use crate::chaosmesh::ChaosSpec;

/// The operator's ceiling on one experiment's duration unless configured otherwise: the
/// guardrails' default maximum.
pub const DEFAULT_MAX_EXPERIMENT_DURATION: Duration = Duration::from_secs(300);

/// `spec` with a duration that Chaos Mesh will end: a missing or unreadable one becomes
/// `default_window` (capped), one over `ceiling` becomes `ceiling`.
pub fn bounded(mut spec: ChaosSpec, default_window: Duration, ceiling: Duration) -> ChaosSpec {
    let ceiling_ms = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1000);
    let window_ms = u64::try_from(default_window.as_millis()).unwrap_or(u64::MAX);
    let slot = spec.duration_mut();
    let bounded_ms = match slot.as_deref().map(parse_go_duration) {
        // Zero runs forever in Chaos Mesh.
        Some(Ok(ms)) if ms > 0 => ms.min(ceiling_ms),
        _ => window_ms.min(ceiling_ms).max(1000),
    };
    let text = format_go_duration(bounded_ms);
    if slot.as_deref() != Some(text.as_str())
        && slot
            .as_deref()
            .and_then(|d| parse_go_duration(d).ok())
            .is_none_or(|ms| ms != bounded_ms)
    {
        *slot = Some(text);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaosmesh::{PodChaosAction, PodChaosSpec, PodSelector, SelectorMode};

    fn pod_kill(duration: Option<&str>) -> ChaosSpec {
        ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector: PodSelector::default(),
            mode: SelectorMode::One,
            value: None,
            duration: duration.map(str::to_string),
            container_names: vec![],
        })
    }

    fn bounded_duration(duration: Option<&str>) -> Option<String> {
        bounded(
            pod_kill(duration),
            Duration::from_secs(60),
            Duration::from_secs(300),
        )
        .duration()
        .map(str::to_string)
    }

    #[test]
    fn every_experiment_ends_by_itself_within_the_ceiling() {
        assert_eq!(bounded_duration(None).as_deref(), Some("1m"));
        assert_eq!(bounded_duration(Some("0s")).as_deref(), Some("1m"));
        assert_eq!(bounded_duration(Some("soon")).as_deref(), Some("1m"));
        assert_eq!(bounded_duration(Some("2h")).as_deref(), Some("5m"));
        // Within the ceiling, the approved text stays as written.
        assert_eq!(bounded_duration(Some("90s")).as_deref(), Some("90s"));
        assert_eq!(bounded_duration(Some("30s")).as_deref(), Some("30s"));
    }

    #[test]
    fn a_window_longer_than_the_ceiling_is_capped_too() {
        let spec = bounded(
            pod_kill(None),
            Duration::from_secs(3600),
            Duration::from_secs(120),
        );
        assert_eq!(spec.duration(), Some("2m"));
    }
}
