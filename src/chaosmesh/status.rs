//! What Chaos Mesh writes in the status of an experiment it runs (`status.conditions` and
//! `status.experiment`, the same for every chaos kind), with only the fields the run loop reads,
//! and what they mean for a run. The operator never claims an injection, a failure or a pause
//! that Chaos Mesh did not record here.

use serde::Deserialize;

/// `status` of a Chaos Mesh experiment.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChaosStatus {
    /// Selected, AllInjected, AllRecovered and Paused, each True or False.
    #[serde(default)]
    pub conditions: Vec<ChaosCondition>,
    /// The per-target records.
    #[serde(default)]
    pub experiment: ExperimentStatus,
}

/// One of Chaos Mesh's conditions.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct ChaosCondition {
    /// Selected, AllInjected, AllRecovered or Paused.
    #[serde(rename = "type")]
    pub type_: String,
    /// "True" or "False".
    pub status: String,
}

/// `status.experiment`.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentStatus {
    /// One record per selected target (a pod or a container).
    #[serde(default, rename = "containerRecords")]
    pub records: Vec<Record>,
}

/// What Chaos Mesh did to one target.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The target, `namespace/pod` (or `namespace/pod/container`).
    pub id: String,
    /// How many times the fault was applied to it.
    #[serde(default)]
    pub injected_count: i64,
    /// Applications and recoveries, oldest first, with Chaos Mesh's message on failure.
    #[serde(default)]
    pub events: Vec<RecordEvent>,
}

/// One application or recovery of the fault on one target.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct RecordEvent {
    /// Succeeded or Failed.
    #[serde(rename = "type")]
    pub type_: String,
    /// Apply or Recover.
    pub operation: String,
    /// Chaos Mesh's words, on failure.
    #[serde(default)]
    pub message: Option<String>,
}

/// Chaos Mesh's condition types and values, as it spells them.
pub mod conditions {
    pub const PAUSED: &str = "Paused";
    pub const ALL_INJECTED: &str = "AllInjected";
    pub const TRUE: &str = "True";
}

/// Where an experiment's injection is, by Chaos Mesh's own records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Nothing applied yet, and no failure recorded.
    Pending,
    /// The fault was applied to these targets.
    Injected { targets: Vec<String> },
    /// Chaos Mesh tried and could not apply the fault to any target.
    Failed { message: String },
}

impl ChaosStatus {
    /// Whether Chaos Mesh records a condition as True.
    pub fn condition_true(&self, type_: &str) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == conditions::TRUE)
    }

    /// Whether Chaos Mesh records the experiment as paused.
    pub fn paused(&self) -> bool {
        self.condition_true(conditions::PAUSED)
    }

    /// The injection as recorded: any target the fault reached counts, so a pod-kill whose pod
    /// is already gone stays Injected; Failed only when no target was reached and an apply failed.
    pub fn injection(&self) -> Injection {
        let records = &self.experiment.records;
        let targets: Vec<String> = records
            .iter()
            .filter(|r| {
                r.injected_count > 0
                    || r.events
                        .iter()
                        .any(|e| e.operation == "Apply" && e.type_ == "Succeeded")
            })
            .map(|r| r.id.clone())
            .collect();
        if !targets.is_empty() {
            return Injection::Injected { targets };
        }
        let failure = records
            .iter()
            .filter_map(|r| {
                r.events
                    .iter()
                    .rev()
                    .find(|e| e.operation == "Apply" && e.type_ == "Failed")
                    .map(|e| (r, e))
            })
            .next();
        match failure {
            Some((record, event)) => Injection::Failed {
                message: format!(
                    "{}: {}",
                    record.id,
                    event.message.as_deref().unwrap_or("apply failed")
                ),
            },
            None => Injection::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: serde_json::Value) -> ChaosStatus {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_empty_status_is_pending_and_not_paused() {
        let s = ChaosStatus::default();
        assert_eq!(s.injection(), Injection::Pending);
        assert!(!s.paused());
    }

    #[test]
    fn a_pod_kill_record_counts_as_injected_and_pause_is_read_from_the_condition() {
        let s = status(serde_json::json!({
            "conditions": [
                {"type": "AllInjected", "status": "True"},
                {"type": "Paused", "status": "True"},
            ],
            "experiment": {"desiredPhase": "Stop", "containerRecords": [
                {"id": "shop/web-1", "selectorKey": ".", "phase": "Not Injected",
                 "injectedCount": 1, "recoveredCount": 1,
                 "events": [{"type": "Succeeded", "operation": "Apply", "timestamp": null}]},
            ]},
        }));
        assert_eq!(
            s.injection(),
            Injection::Injected {
                targets: vec!["shop/web-1".into()]
            }
        );
        assert!(s.paused());
    }

    #[test]
    fn a_failed_apply_with_nothing_injected_carries_chaos_meshs_message() {
        let s = status(serde_json::json!({
            "experiment": {"containerRecords": [
                {"id": "shop/web-1", "selectorKey": ".", "phase": "Not Injected",
                 "injectedCount": 0, "recoveredCount": 0, "events": [
                    {"type": "Failed", "operation": "Apply", "message": "first", "timestamp": null},
                    {"type": "Failed", "operation": "Apply", "message": "no chaos-daemon on node kwok-a1", "timestamp": null},
                 ]},
            ]},
        }));
        assert_eq!(
            s.injection(),
            Injection::Failed {
                message: "shop/web-1: no chaos-daemon on node kwok-a1".into()
            }
        );
    }
}
