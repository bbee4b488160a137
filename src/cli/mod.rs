//! The `smart-chaos` command line: one file per subcommand.

pub mod approve;
mod crds;
mod operator;

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
pub enum Command {
    /// Print the CustomResourceDefinitions (and, on request, the approval policy) as YAML.
    Crds(crds::CrdsArgs),
    /// Run the operator: controllers, leader election, /metrics and health endpoints.
    Operator(operator::OperatorArgs),
    /// Approve an ExperimentProposal as the user of your kubeconfig.
    Approve(approve::DecideArgs),
    /// Reject an ExperimentProposal as the user of your kubeconfig; it never runs.
    Reject(approve::DecideArgs),
}

impl Cli {
    /// Parses the command line. As the kubectl plugin `kubectl-smart_chaos`, `kubectl smart-chaos
    /// approve ...` arrives here with the same arguments.
    pub fn parse_args() -> Self {
        Cli::parse()
    }

    /// Run the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Crds(args) => crds::run(args),
            Command::Operator(args) => operator::run(args).await,
            Command::Approve(args) => Ok(approve::run(args, ApprovalState::Approved).await?),
            Command::Reject(args) => Ok(approve::run(args, ApprovalState::Rejected).await?),
        }
    }
}
