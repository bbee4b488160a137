//! `smart-chaos halt --reason TEXT` and `smart-chaos resume`: the kill switch, from the caller's
//! kubeconfig.
//!
//! `halt` first sets the `ChaosHalt` (from then on the API server refuses new chaos and
//! approvals), then pauses every running experiment created from a proposal itself, with the
//! caller's own rights, so that a halt works while the operator is down. `resume` only clears
//! the halt: approvals are accepted again, and paused experiments stay paused until a person
//! takes each pause off.

use std::path::PathBuf;

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};

use super::approve::{DecideError, user_client, who_am_i};
use crate::api::{ChaosHalt, ChaosHaltSpec, HALT_NAME};
use crate::controller::halt::{PauseOutcome, Reach, pause_proposal_experiments};

/// Field manager of the CLI's writes to the ChaosHalt. A GitOps tool holding the object with
/// another manager sees the conflict it should (the CLI forces, since a halt must not wait).
pub const CLI_FIELD_MANAGER: &str = "smart-chaos-cli";

/// Arguments of `smart-chaos halt`.
#[derive(Debug, clap::Args)]
pub struct HaltArgs {
    /// Why chaos stops; recorded in the ChaosHalt and shown in every refusal.
    #[arg(long)]
    pub reason: String,
    /// Halt only these namespaces (repeatable); without it, every namespace.
    #[arg(short, long = "namespace")]
    pub namespaces: Vec<String>,
    /// Kubeconfig file to use instead of KUBECONFIG or ~/.kube/config.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long)]
    pub context: Option<String>,
}

/// Arguments of `smart-chaos resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// Kubeconfig file to use instead of KUBECONFIG or ~/.kube/config.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long)]
    pub context: Option<String>,
}

/// What can go wrong; each message says what happened.
#[derive(Debug, thiserror::Error)]
pub enum HaltError {
    #[error("a halt needs a reason (--reason TEXT)")]
    NoReason,
    #[error(transparent)]
    Connect(#[from] DecideError),
    #[error("setting ChaosHalt {HALT_NAME}: {0}")]
    Write(#[source] kube::Error),
    #[error(
        "chaos is halted (the API server refuses new experiments and approvals), but {failed} experiments could not be paused with your rights: {details}"
    )]
    Incomplete { failed: usize, details: String },
}

/// The SSA body: the whole spec, so that a resume clears the reason and namespaces of the halt.
#[derive(serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct HaltApply<'a> {
    api_version: String,
    kind: &'static str,
    metadata: kube::api::ObjectMeta,
    spec: &'a ChaosHaltSpec,
}

/// Writes the halt's spec as the caller.
pub async fn set_halt(client: &Client, spec: &ChaosHaltSpec) -> Result<ChaosHalt, HaltError> {
    let api: Api<ChaosHalt> = Api::all(client.clone());
    let body = HaltApply {
        api_version: ChaosHalt::api_version(&()).into_owned(),
        kind: "ChaosHalt",
        metadata: kube::api::ObjectMeta {
            name: Some(HALT_NAME.into()),
            ..kube::api::ObjectMeta::default()
        },
        spec,
    };
    api.patch(
        HALT_NAME,
        &PatchParams::apply(CLI_FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(HaltError::Write)
}

/// Halts as the user behind `client`: sets the ChaosHalt, then pauses what it covers.
pub async fn halt(
    client: &Client,
    reason: &str,
    namespaces: Vec<String>,
) -> Result<PauseOutcome, HaltError> {
    if reason.trim().is_empty() {
        return Err(HaltError::NoReason);
    }
    let spec = ChaosHaltSpec {
        halted: true,
        reason: Some(reason.to_string()),
        namespaces,
        changed_by: Some(who_am_i(client).await?),
    };
    set_halt(client, &spec).await?;
    Ok(pause_proposal_experiments(client, &Reach::of(&spec, None)).await)
}

/// Resumes as the user behind `client`.
pub async fn resume(client: &Client) -> Result<(), HaltError> {
    let spec = ChaosHaltSpec {
        halted: false,
        reason: None,
        namespaces: Vec::new(),
        changed_by: Some(who_am_i(client).await?),
    };
    set_halt(client, &spec).await.map(|_| ())
}

/// Runs `smart-chaos halt`.
pub async fn run_halt(args: HaltArgs) -> Result<(), HaltError> {
    let client = user_client(args.kubeconfig.as_deref(), args.context).await?;
    let outcome = halt(&client, &args.reason, args.namespaces).await?;
    for paused in &outcome.paused {
        println!(
            "paused {} {}/{}",
            paused.kind, paused.namespace, paused.name
        );
    }
    println!(
        "chaos halted: {} experiments paused now, {} were paused already; new experiments and approvals are refused until `smart-chaos resume`",
        outcome.paused.len(),
        outcome.already_paused
    );
    if outcome.failures.is_empty() {
        Ok(())
    } else {
        Err(HaltError::Incomplete {
            failed: outcome.failures.len(),
            details: outcome
                .failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// Runs `smart-chaos resume`.
pub async fn run_resume(args: ResumeArgs) -> Result<(), HaltError> {
    let client = user_client(args.kubeconfig.as_deref(), args.context).await?;
    resume(&client).await?;
    println!(
        "chaos resumed: approvals are accepted again; paused experiments stay paused (remove the annotation experiment.chaos-mesh.org/pause from one to continue it)"
    );
    Ok(())
}
