use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckHolder, CheckHolding};
use crate::chaosmesh::{
    ChaosKind, ChaosSpec, DnsChaosSpec, HttpChaosSpec, IoChaosSpec, NetworkChaosSpec, PodChaosSpec,
    StressChaosSpec, TimeChaosSpec,
};

/// One proposed chaos experiment, waiting for a person's decision.
///
/// The operator creates proposals as `Pending`. Only a user granted the `approve` verb on
/// experimentproposals may set `Approved`; from then on the experiment cannot be changed, and the
/// operator creates the Chaos Mesh resource and watches the steady-state checks while it runs.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "chaos.smartchaos.io",
    version = "v1alpha1",
    kind = "ExperimentProposal",
    plural = "experimentproposals",
    namespaced,
    status = "ExperimentProposalStatus",
    shortname = "chaosprop",
    shortname = "proposal",
    category = "smartchaos",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".spec.approval.state"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.experiment.kind"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.target"}"#,
    printcolumn = r#"{"name":"Run","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Checks","type":"string","jsonPath":".status.checksHeldBy"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.approval) || oldSelf.approval.state != 'Approved' || self.experiment == oldSelf.experiment").message("the experiment of an Approved proposal is immutable").reason(Reason::FieldValueForbidden).field_path(".experiment"))]
#[x_kube(validation = Rule::new("!has(oldSelf.approval) || oldSelf.approval.state != 'Approved' || self.steadyState == oldSelf.steadyState").message("the steady-state checks of an Approved proposal are immutable: they are the stop condition that was approved").reason(Reason::FieldValueForbidden).field_path(".steadyState"))]
#[x_kube(validation = Rule::new("!has(oldSelf.approval) || oldSelf.approval.state == 'Pending' || self.approval.state == oldSelf.approval.state").message("an Approved or Rejected proposal cannot change its decision; create a new proposal").field_path(".approval.state"))]
pub struct ExperimentProposalSpec {
    /// Name of the ChaosAnalysis (same namespace) that proposed this experiment.
    #[schemars(length(min = 1, max = 253))]
    pub analysis_ref: String,
    /// The workload the experiment acts on, as a map id `namespace/Kind/name`.
    #[schemars(length(min = 1, max = 512))]
    pub target: String,
    /// The hypothesis the experiment tests.
    pub hypothesis: ProposalHypothesis,
    /// Checks that define "steady" while the experiment runs; when one breaks the experiment is
    /// paused. At least one is required.
    #[schemars(length(min = 1, max = 16))]
    pub steady_state: Vec<SteadyStateCheck>,
    /// Who is affected if the hypothesis is wrong, computed from the service map.
    pub blast_radius: BlastRadius,
    /// The Chaos Mesh experiment to run once approved.
    pub experiment: ExperimentTemplate,
    /// The decision on this proposal.
    #[serde(default)]
    pub approval: Approval,
}

/// The hypothesis an experiment tests.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProposalHypothesis {
    /// Stable id of the hypothesis in the analysis.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// "If X fails, then Y keeps steady state Z."
    #[schemars(length(min = 1, max = 4096))]
    pub statement: String,
}

/// How a steady-state check reads the system.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Available replicas of a workload (Deployment, StatefulSet, DaemonSet).
    AvailableReplicas,
    /// Ready endpoints of a Service.
    ReadyEndpoints,
    /// An HTTP GET through an entry point answers with a 2xx/3xx status.
    Http,
    /// A Prometheus query compared with a threshold.
    Prometheus,
}

/// One measurable steady state.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.kind != 'Http' || has(self.url)").message("an Http check needs url"))]
#[x_kube(validation = Rule::new("self.kind != 'Prometheus' || has(self.query)").message("a Prometheus check needs query"))]
#[x_kube(validation = Rule::new("!(self.kind in ['AvailableReplicas', 'ReadyEndpoints']) || has(self.subject)").message("a Kubernetes check needs subject"))]
pub struct SteadyStateCheck {
    /// Short name of the check.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// How the check reads the system.
    pub kind: CheckKind,
    /// For Kubernetes checks, the map id of the workload or Service checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub subject: Option<String>,
    /// For Http checks, the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// For Prometheus checks, the PromQL query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub query: Option<String>,
    /// The least value that counts as steady (replicas, endpoints, or the query's result).
    pub min_value: i64,
    /// The most value that counts as steady (a latency query's result), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<i64>,
}

/// Who is affected if the hypothesis is wrong.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlastRadius {
    /// Map ids of workloads that depend on the target, transitively, the target included.
    #[serde(default)]
    pub affected_workloads: Vec<String>,
    /// Map ids of entry points (Ingress, LoadBalancer/NodePort Services) whose traffic reaches the
    /// target.
    #[serde(default)]
    pub affected_entry_points: Vec<String>,
    /// Share of the target workload's pods the experiment touches, in percent.
    #[schemars(range(min = 0, max = 100))]
    pub pod_share_percent: i32,
}

/// The experiment, as a discriminated union: `kind` names the one spec field that is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.podChaos), has(self.networkChaos), has(self.stressChaos), has(self.ioChaos), has(self.dnsChaos), has(self.httpChaos), has(self.timeChaos)].filter(x, x).size() == 1").message("exactly one experiment spec must be set"))]
#[x_kube(validation = Rule::new("(self.kind == 'PodChaos') == has(self.podChaos) && (self.kind == 'NetworkChaos') == has(self.networkChaos) && (self.kind == 'StressChaos') == has(self.stressChaos) && (self.kind == 'IOChaos') == has(self.ioChaos) && (self.kind == 'DNSChaos') == has(self.dnsChaos) && (self.kind == 'HTTPChaos') == has(self.httpChaos) && (self.kind == 'TimeChaos') == has(self.timeChaos)").message("the spec set must match kind"))]
pub struct ExperimentTemplate {
    /// The Chaos Mesh kind.
    pub kind: ChaosKind,
    /// Spec of a PodChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_chaos: Option<PodChaosSpec>,
    /// Spec of a NetworkChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_chaos: Option<NetworkChaosSpec>,
    /// Spec of a StressChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress_chaos: Option<StressChaosSpec>,
    /// Spec of an IOChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_chaos: Option<IoChaosSpec>,
    /// Spec of a DNSChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_chaos: Option<DnsChaosSpec>,
    /// Spec of an HTTPChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_chaos: Option<HttpChaosSpec>,
    /// Spec of a TimeChaos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_chaos: Option<TimeChaosSpec>,
    /// Who holds the steady-state checks Chaos Mesh can evaluate (Http checks to an allowed
    /// in-cluster URL): `Operator` (the default), or `ChaosMesh`, which runs the fault in a Chaos
    /// Mesh Workflow whose StatusCheck nodes abort it on failure, even while the operator is down.
    /// Other checks always stay with the operator. Fixed once approved, with the experiment.
    #[serde(default, skip_serializing_if = "CheckHolder::is_operator")]
    pub checks_held_by: CheckHolder,
}

impl From<ChaosSpec> for ExperimentTemplate {
    fn from(spec: ChaosSpec) -> Self {
        let mut template = ExperimentTemplate {
            kind: spec.kind(),
            pod_chaos: None,
            network_chaos: None,
            stress_chaos: None,
            io_chaos: None,
            dns_chaos: None,
            http_chaos: None,
            time_chaos: None,
            checks_held_by: CheckHolder::default(),
        };
        match spec {
            ChaosSpec::PodChaos(s) => template.pod_chaos = Some(s),
            ChaosSpec::NetworkChaos(s) => template.network_chaos = Some(s),
            ChaosSpec::StressChaos(s) => template.stress_chaos = Some(s),
            ChaosSpec::IOChaos(s) => template.io_chaos = Some(s),
            ChaosSpec::DNSChaos(s) => template.dns_chaos = Some(s),
            ChaosSpec::HTTPChaos(s) => template.http_chaos = Some(s),
            ChaosSpec::TimeChaos(s) => template.time_chaos = Some(s),
        }
        template
    }
}

/// A template whose `kind` names a spec that is not set.
#[derive(Debug, thiserror::Error)]
#[error("experiment kind {0} has no matching spec field")]
pub struct MissingExperimentSpec(pub ChaosKind);

impl TryFrom<ExperimentTemplate> for ChaosSpec {
    type Error = MissingExperimentSpec;
    fn try_from(t: ExperimentTemplate) -> Result<Self, Self::Error> {
        let spec = match t.kind {
            ChaosKind::PodChaos => t.pod_chaos.map(ChaosSpec::PodChaos),
            ChaosKind::NetworkChaos => t.network_chaos.map(ChaosSpec::NetworkChaos),
            ChaosKind::StressChaos => t.stress_chaos.map(ChaosSpec::StressChaos),
            ChaosKind::IOChaos => t.io_chaos.map(ChaosSpec::IOChaos),
            ChaosKind::DNSChaos => t.dns_chaos.map(ChaosSpec::DNSChaos),
            ChaosKind::HTTPChaos => t.http_chaos.map(ChaosSpec::HTTPChaos),
            ChaosKind::TimeChaos => t.time_chaos.map(ChaosSpec::TimeChaos),
        };
        spec.ok_or(MissingExperimentSpec(t.kind))
    }
}

/// A person's decision on a proposal.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApprovalState {
    /// Waiting for a decision; nothing runs.
    #[default]
    Pending,
    /// Approved: the operator runs the experiment.
    Approved,
    /// Rejected: the experiment never runs.
    Rejected,
}

/// The decision, who made it and when. Only users allowed the `approve` verb may set Approved, and
/// `approvedBy` must be the requesting user (enforced by a ValidatingAdmissionPolicy).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.state == 'Pending' || (has(self.approvedBy) && has(self.decidedAt))").message("an Approved or Rejected proposal needs approvedBy and decidedAt"))]
pub struct Approval {
    /// Pending, Approved or Rejected.
    #[serde(default)]
    pub state: ApprovalState,
    /// The user who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub approved_by: Option<String>,
    /// When the decision was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
    /// Why, in the decider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
}

/// Where an approved experiment's run is.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// Not approved yet, or rejected.
    NotStarted,
    /// The Chaos Mesh resource exists and the checks hold.
    Running,
    /// A steady-state check broke; the experiment was paused.
    Paused,
    /// The experiment ran its duration.
    Completed,
    /// The Chaos Mesh resource could not be created.
    Failed,
    /// Chaos Mesh accepted the resource but reports that it could not inject the fault (for
    /// example, a kind that needs chaos-daemon where none runs). No verdict is claimed.
    InjectionFailed,
}

/// The most timeline entries a proposal's status keeps; older samples give way first.
pub const MAX_TIMELINE_ENTRIES: usize = 60;

/// What happened at one point of a run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEventKind {
    /// A person approved the proposal.
    Approved,
    /// The steady state was checked before the start.
    PreChecked,
    /// The Chaos Mesh resource was created.
    Created,
    /// Chaos Mesh reports the fault injected.
    Injected,
    /// Chaos Mesh reports that it could not inject the fault.
    InjectionFailed,
    /// The steady-state checks were sampled while running.
    Sampled,
    /// The experiment was paused (a breach, a blind check, or a halt).
    Paused,
    /// The experiment ran its duration.
    Completed,
    /// The verdict was recorded.
    Verdict,
}

/// One check's value at one sample.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckSample {
    /// The check's name.
    #[schemars(length(max = 256))]
    pub check: String,
    /// The value read, when the source answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// Whether the value is within the steady range.
    pub steady: bool,
}

/// One entry of a run's timeline.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    /// When it happened.
    pub time: Time,
    /// What happened.
    pub kind: RunEventKind,
    /// Who or what caused it (the approver, Chaos Mesh, a check), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    /// The check values read at this point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<CheckSample>,
}

/// Appends to a bounded timeline: over the bound, the oldest `Sampled` entry gives way, so the
/// approval, creation, injection and the end of the run are always kept.
pub fn record_run_event(timeline: &mut Vec<RunEvent>, event: RunEvent) {
    timeline.push(event);
    while timeline.len() > MAX_TIMELINE_ENTRIES {
        match timeline
            .iter()
            .position(|e| e.kind == RunEventKind::Sampled)
        {
            Some(oldest_sample) => timeline.remove(oldest_sample),
            None => timeline.remove(0),
        };
    }
}

/// The verdict on the hypothesis.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Steady state held throughout.
    Held,
    /// Steady state broke: the hypothesis is refuted, the system is weaker than assumed.
    Refuted,
    /// Not enough evidence either way.
    Inconclusive,
}

/// The run of an approved proposal.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentProposalStatus {
    /// NotStarted, Running, Paused, Completed, Failed or InjectionFailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Name of the Chaos Mesh resource created for this proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos_resource: Option<String>,
    /// When the experiment started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it ended or was paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The verdict on the hypothesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why: which check broke, or that all held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Conditions of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// What happened during the run, in order, bounded (see `MAX_TIMELINE_ENTRIES`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 60))]
    pub timeline: Vec<RunEvent>,
    /// Who holds each steady-state check: the operator, or Chaos Mesh in the Workflow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub held_by: Vec<CheckHolding>,
    /// `heldBy` in one line, e.g. `ChaosMesh 1, Operator 2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub checks_held_by: Option<String>,
}

impl ExperimentProposal {
    /// The decision on this proposal.
    pub fn approval_state(&self) -> ApprovalState {
        self.spec.approval.state
    }
}

#[cfg(test)]
mod timeline_tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn event(kind: RunEventKind, second: i64) -> RunEvent {
        RunEvent {
            time: Time(Timestamp::from_second(second).unwrap()),
            kind,
            message: None,
            samples: Vec::new(),
        }
    }

    #[test]
    fn a_full_timeline_drops_the_oldest_sample_and_keeps_the_milestones() {
        let mut timeline = Vec::new();
        record_run_event(&mut timeline, event(RunEventKind::Approved, 0));
        record_run_event(&mut timeline, event(RunEventKind::Created, 1));
        for second in 2..(MAX_TIMELINE_ENTRIES as i64 + 10) {
            record_run_event(&mut timeline, event(RunEventKind::Sampled, second));
        }
        record_run_event(&mut timeline, event(RunEventKind::Paused, 1000));
        assert_eq!(timeline.len(), MAX_TIMELINE_ENTRIES);
        assert_eq!(timeline[0].kind, RunEventKind::Approved);
        assert_eq!(timeline[1].kind, RunEventKind::Created);
        assert_eq!(
            timeline[MAX_TIMELINE_ENTRIES - 1].kind,
            RunEventKind::Paused
        );
        // The samples kept are the newest ones.
        assert_eq!(
            timeline[MAX_TIMELINE_ENTRIES - 2].time.0.as_second(),
            MAX_TIMELINE_ENTRIES as i64 + 9
        );
    }
}
