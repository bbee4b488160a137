//! Who holds a proposal's steady-state checks: the operator, which samples them and pauses the
//! experiment on a breach, or Chaos Mesh, which probes them from a `Workflow`'s StatusCheck nodes
//! and aborts the fault itself, so the stop condition survives the operator going down.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who evaluates a steady-state check and stops the experiment when it breaks.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckHolder {
    /// The operator samples the check and pauses the experiment on a breach.
    #[default]
    Operator,
    /// Chaos Mesh probes the check in a Workflow next to the fault and aborts the Workflow when it
    /// fails, even while the operator is down. Only Http checks to an allowed in-cluster URL; the
    /// operator still samples them for the timeline and the verdict.
    ChaosMesh,
}

impl CheckHolder {
    /// Whether this is the default, the operator (skipped when serialising, so proposals that do
    /// not opt in read as before).
    pub fn is_operator(&self) -> bool {
        *self == CheckHolder::Operator
    }

    /// The name as it appears in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckHolder::Operator => "Operator",
            CheckHolder::ChaosMesh => "ChaosMesh",
        }
    }
}

/// Who holds one check, as the operator decided it from the approved spec.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckHolding {
    /// The check's name.
    #[schemars(length(max = 256))]
    pub check: String,
    /// Operator or ChaosMesh.
    pub held_by: CheckHolder,
    /// Why the operator holds a check that was asked to be held by Chaos Mesh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
}

/// The holdings in one short line for `kubectl get`, e.g. `ChaosMesh 1, Operator 2`.
pub fn holdings_summary(holdings: &[CheckHolding]) -> Option<String> {
    let count = |holder| holdings.iter().filter(|h| h.held_by == holder).count();
    let parts: Vec<String> = [CheckHolder::ChaosMesh, CheckHolder::Operator]
        .into_iter()
        .filter(|holder| count(*holder) > 0)
        .map(|holder| format!("{} {}", holder.as_str(), count(holder)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Who holds each check in words, e.g. `front by Chaos Mesh (Workflow), web by the operator`,
/// for the CLI and the reports.
pub fn holdings_line(holdings: &[CheckHolding]) -> Option<String> {
    (!holdings.is_empty()).then(|| {
        holdings
            .iter()
            .map(|h| match h.held_by {
                CheckHolder::ChaosMesh => format!("{} by Chaos Mesh (Workflow)", h.check),
                CheckHolder::Operator => format!("{} by the operator", h.check),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(check: &str, held_by: CheckHolder) -> CheckHolding {
        CheckHolding {
            check: check.into(),
            held_by,
            reason: None,
        }
    }

    #[test]
    fn the_summary_counts_each_holder() {
        assert_eq!(holdings_summary(&[]), None);
        let holdings = [
            holding("web", CheckHolder::Operator),
            holding("front", CheckHolder::ChaosMesh),
            holding("api", CheckHolder::Operator),
        ];
        assert_eq!(
            holdings_summary(&holdings).as_deref(),
            Some("ChaosMesh 1, Operator 2")
        );
        assert_eq!(
            holdings_line(&holdings[..2]).as_deref(),
            Some("web by the operator, front by Chaos Mesh (Workflow)")
        );
    }
}
