//! The `smart-chaos` command line: one file per subcommand.

mod analyze;
pub mod approve;
mod chat;
mod crds;
mod evidence;
pub mod halt;
mod input;
mod map;
mod operator;
mod prometheus_args;
pub mod provider_args;
mod remediate;
mod report;
mod suppressions;
mod what_if;

use clap::{Parser, Subcommand};

use crate::api::ApprovalState;

/// smart-chaos: turn a Kubernetes application into a reviewed chaos-engineering plan.
#[derive(Debug, Parser)]
#[command(name = "smart-chaos", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up; boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Print the CustomResourceDefinitions (and, on request, the approval policy) as YAML.
    Crds(crds::CrdsArgs),
    /// Analyse manifests (or the current kube context): reports, proposals and Chaos Mesh manifests.
    Analyze(analyze::AnalyzeArgs),
    /// Build the service map of manifests (or of the current kube context) and print it.
    Map(map::MapArgs),
    /// Run the operator: controllers, leader election, /metrics and health endpoints.
    Operator(operator::OperatorArgs),
    /// Approve an ExperimentProposal as the user of your kubeconfig.
    Approve(approve::DecideArgs),
    /// Reject an ExperimentProposal as the user of your kubeconfig; it never runs.
    Reject(approve::DecideArgs),
    /// Stop all chaos: set the ChaosHalt and pause every running experiment, with your rights.
    Halt(halt::HaltArgs),
    /// Lift the halt: approvals are accepted again; paused experiments stay paused.
    Resume(halt::ResumeArgs),
    /// Answer questions about an analysis from its results (with a model when one is set).
    Chat(chat::ChatArgs),
    /// The blast radius of a failure you describe, on the map of an earlier `analyze --out DIR`.
    WhatIf(what_if::WhatIfArgs),
    /// Rebuild report.html and report.md of a namespace's analyses from the cluster: findings,
    /// verdicts, decisions, suppressions and run timelines.
    Report(report::ReportArgs),
    /// Apply the suggested remediations to manifests in memory and print the resilience score
    /// before and after, with every point lost.
    Remediate(remediate::RemediateArgs),
}

impl Cli {
    /// Run the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Analyze(args) => analyze::run(args).await,
            Command::Crds(args) => crds::run(args),
            Command::Map(args) => map::run(args).await,
            Command::Operator(args) => operator::run(args).await,
            Command::Approve(args) => Ok(approve::run(args, ApprovalState::Approved).await?),
            Command::Reject(args) => Ok(approve::run(args, ApprovalState::Rejected).await?),
            Command::Halt(args) => Ok(halt::run_halt(args).await?),
            Command::Resume(args) => Ok(halt::run_resume(args).await?),
            Command::Chat(args) => chat::run(args).await,
            Command::WhatIf(args) => what_if::run(args).await,
            Command::Report(args) => report::run(args).await,
            Command::Remediate(args) => remediate::run(args),
        }
    }
}
