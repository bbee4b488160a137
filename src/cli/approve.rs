//! `smart-chaos approve|reject NS/NAME`: records a person's decision on a proposal, from that
//! person's kubeconfig.
//!
//! The API server decides who may decide (the approval admission policy); this command only makes
//! the request well formed: `approvedBy` is the user as the API server sees them (asked through a
//! SelfSubjectReview, so it is exactly what the policy compares), `decidedAt` is now, and the
//! patch carries the resourceVersion it read so that two people deciding at once cannot both win.
//!
//! Installed as `kubectl-smart_chaos` on PATH, it also runs as `kubectl smart-chaos approve ...`.

use std::path::PathBuf;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Serialize;

use crate::api::{Approval, ApprovalState, ExperimentProposal};

/// Arguments of `smart-chaos approve` and `smart-chaos reject`.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The proposal, as NAMESPACE/NAME (or NAME with --namespace).
    pub proposal: String,
    /// Namespace of the proposal when it is not given as NAMESPACE/NAME.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Why, in your words; stored in spec.approval.reason.
    #[arg(long)]
    pub reason: Option<String>,
    /// Kubeconfig file to use instead of KUBECONFIG or ~/.kube/config.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long)]
    pub context: Option<String>,
}

/// What can go wrong while deciding; each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("{0:?} is not a proposal reference: use NAMESPACE/NAME, or NAME with --namespace")]
    BadReference(String),
    #[error("cannot load the kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("cannot tell who you are (SelfSubjectReview failed): {0}")]
    WhoAmI(#[source] kube::Error),
    #[error("the API server did not say who you are (empty SelfSubjectReview)")]
    Anonymous,
    #[error("ExperimentProposal {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error(
        "ExperimentProposal {namespace}/{name} was already {state} by {by}; a decision is final, so create a new proposal to decide again"
    )]
    AlreadyDecided {
        namespace: String,
        name: String,
        state: ApprovalState,
        by: String,
    },
    #[error("refused by the API server: {0}")]
    Refused(String),
    #[error("ExperimentProposal {namespace}/{name} changed while deciding; run the command again")]
    Conflict { namespace: String, name: String },
    #[error("talking to the API server: {0}")]
    Api(#[source] kube::Error),
}

/// A proposal's namespace and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalRef {
    pub namespace: String,
    pub name: String,
}

impl ProposalRef {
    /// Parses `NAMESPACE/NAME`, or `NAME` with a namespace given separately.
    pub fn parse(text: &str, namespace: Option<&str>) -> Result<Self, DecideError> {
        let bad = || DecideError::BadReference(text.to_string());
        let (ns, name) = match text.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (namespace.ok_or_else(bad)?.to_string(), text.to_string()),
        };
        if ns.is_empty() || name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        Ok(ProposalRef {
            namespace: ns,
            name,
        })
    }
}

/// The decision to record.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Approved or Rejected.
    pub state: ApprovalState,
    /// Why.
    pub reason: Option<String>,
}

/// The JSON merge patch body: the approval, guarded by the resourceVersion that was read.
#[derive(Serialize, Debug)]
struct DecisionPatch<'a> {
    metadata: ResourceVersionGuard<'a>,
    spec: ApprovalOnly<'a>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct ResourceVersionGuard<'a> {
    resource_version: &'a str,
}

#[derive(Serialize, Debug)]
struct ApprovalOnly<'a> {
    approval: &'a Approval,
}

/// The user the API server sees behind `client`.
pub async fn who_am_i(client: &Client) -> Result<String, DecideError> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(DecideError::WhoAmI)?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .filter(|u| !u.is_empty())
        .ok_or(DecideError::Anonymous)
}

/// Records `decision` on the proposal as the user behind `client`, and returns the proposal as
/// stored.
pub async fn decide(
    client: &Client,
    proposal: &ProposalRef,
    decision: &Decision,
) -> Result<ExperimentProposal, DecideError> {
    let user = who_am_i(client).await?;
    let api: Api<ExperimentProposal> = Api::namespaced(client.clone(), &proposal.namespace);
    // The operator writes the proposal's status, which moves its resourceVersion; a conflict
    // means "read again": the fresh read re-checks that nobody decided in the meantime.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match decide_once(&api, &user, proposal, decision).await {
            Err(DecideError::Conflict { .. }) if attempts < CONFLICT_ATTEMPTS => continue,
            other => return other,
        }
    }
}

/// Reads before each write, at most this many times.
const CONFLICT_ATTEMPTS: u32 = 5;

async fn decide_once(
    api: &Api<ExperimentProposal>,
    user: &str,
    proposal: &ProposalRef,
    decision: &Decision,
) -> Result<ExperimentProposal, DecideError> {
    let current = api
        .get_opt(&proposal.name)
        .await
        .map_err(|e| refusal_or(e, DecideError::Api))?
        .ok_or_else(|| DecideError::NotFound {
            namespace: proposal.namespace.clone(),
            name: proposal.name.clone(),
        })?;
    let approval = &current.spec.approval;
    if approval.state != ApprovalState::Pending {
        return Err(DecideError::AlreadyDecided {
            namespace: proposal.namespace.clone(),
            name: proposal.name.clone(),
            state: approval.state,
            by: approval
                .approved_by
                .clone()
                .unwrap_or_else(|| "someone".into()),
        });
    }
    let resource_version = current.metadata.resource_version.unwrap_or_default();
    let approval = Approval {
        state: decision.state,
        approved_by: Some(user.to_string()),
        decided_at: Some(Time(jiff::Timestamp::now())),
        reason: decision.reason.clone(),
    };
    let body = DecisionPatch {
        metadata: ResourceVersionGuard {
            resource_version: &resource_version,
        },
        spec: ApprovalOnly {
            approval: &approval,
        },
    };
    api.patch(
        &proposal.name,
        &PatchParams::default(),
        &Patch::Merge(&body),
    )
    .await
    .map_err(|e| match e {
        kube::Error::Api(status) if status.code == 409 => DecideError::Conflict {
            namespace: proposal.namespace.clone(),
            name: proposal.name.clone(),
        },
        other => refusal_or(other, DecideError::Api),
    })
}

/// Turns a 403 or 422 into the API server's own words (RBAC or the admission policy).
fn refusal_or(error: kube::Error, otherwise: fn(kube::Error) -> DecideError) -> DecideError {
    match error {
        kube::Error::Api(status) if status.code == 403 || status.code == 422 => {
            DecideError::Refused(status.message)
        }
        other => otherwise(other),
    }
}

/// A client from the user's kubeconfig: `--kubeconfig`, else KUBECONFIG, else ~/.kube/config.
pub async fn user_client(
    kubeconfig: Option<&std::path::Path>,
    context: Option<String>,
) -> Result<Client, DecideError> {
    let options = KubeConfigOptions {
        context,
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(DecideError::Kubeconfig)?;
            Config::from_custom_kubeconfig(file, &options).await
        }
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(DecideError::Kubeconfig)?;
    Client::try_from(config).map_err(DecideError::Client)
}

/// Runs `approve` (state Approved) or `reject` (state Rejected).
pub async fn run(args: DecideArgs, state: ApprovalState) -> Result<(), DecideError> {
    let proposal = ProposalRef::parse(&args.proposal, args.namespace.as_deref())?;
    let client = user_client(args.kubeconfig.as_deref(), args.context).await?;
    let decision = Decision {
        state,
        reason: args.reason,
    };
    let stored = decide(&client, &proposal, &decision).await?;
    let by = stored.spec.approval.approved_by.unwrap_or_default();
    let verb = match state {
        ApprovalState::Approved => "approved",
        ApprovalState::Rejected => "rejected",
        ApprovalState::Pending => "left pending",
    };
    println!(
        "experimentproposal {}/{} {verb} by {by}",
        proposal.namespace, proposal.name
    );
    // Who will stop the run when a check breaks: the operator, or Chaos Mesh in a Workflow.
    if let Some(held) = stored
        .status
        .as_ref()
        .and_then(|s| crate::api::holdings_line(&s.held_by))
    {
        println!("checks held: {held}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_and_without_namespace() {
        assert_eq!(
            ProposalRef::parse("shop/kill-web", None).unwrap(),
            ProposalRef {
                namespace: "shop".into(),
                name: "kill-web".into()
            }
        );
        assert_eq!(
            ProposalRef::parse("kill-web", Some("shop"))
                .unwrap()
                .namespace,
            "shop"
        );
        for bad in ["kill-web", "/kill-web", "shop/", "a/b/c"] {
            assert!(
                matches!(
                    ProposalRef::parse(bad, None),
                    Err(DecideError::BadReference(_))
                ),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn patch_body_carries_the_guard_and_only_the_approval() {
        let approval = Approval {
            state: ApprovalState::Approved,
            approved_by: Some("alice".into()),
            decided_at: None,
            reason: None,
        };
        let body = DecisionPatch {
            metadata: ResourceVersionGuard {
                resource_version: "42",
            },
            spec: ApprovalOnly {
                approval: &approval,
            },
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["metadata"]["resourceVersion"], "42");
        assert_eq!(json["spec"]["approval"]["state"], "Approved");
        assert_eq!(json["spec"]["approval"]["approvedBy"], "alice");
        assert_eq!(json["spec"].as_object().unwrap().len(), 1);
    }
}
