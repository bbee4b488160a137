use std::io::Write;

use anyhow::Context;

use crate::api::policy::{self, OperatorIdentity};

/// Arguments of `smart-chaos crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Also print the approval admission policy, its binding and its parameter, so that one
    /// `kubectl apply` installs everything approval needs.
    #[arg(long, conflicts_with = "policy_only")]
    with_policy: bool,
    /// Print only the approval ValidatingAdmissionPolicy (no CRDs, no binding): the file shipped
    /// in deploy/ and the Helm chart.
    #[arg(long, conflicts_with = "tenancy_only")]
    policy_only: bool,
    /// Print only the tenancy ValidatingAdmissionPolicies and the bindings that name no
    /// namespace: the file shipped in deploy/ and the Helm chart.
    #[arg(long, conflicts_with = "with_policy")]
    tenancy_only: bool,
    /// Print only the kill switch's ValidatingAdmissionPolicy and its binding (the ChaosHalt
    /// is its parameter): the file shipped in deploy/ and the Helm chart.
    #[arg(long, conflicts_with_all = ["with_policy", "policy_only", "tenancy_only"])]
    halt_only: bool,
    /// Namespace the operator runs in (names the policy's parameter and the denied service account).
    #[arg(long, default_value = policy::DEFAULT_OPERATOR_NAMESPACE)]
    operator_namespace: String,
    /// The operator's ServiceAccount, which may never approve.
    #[arg(long, default_value = policy::DEFAULT_OPERATOR_SERVICE_ACCOUNT)]
    operator_service_account: String,
}

pub fn run(args: CrdsArgs) -> anyhow::Result<()> {
    let identity = OperatorIdentity {
        namespace: args.operator_namespace,
        service_account: args.operator_service_account,
    };
    let yaml = if args.halt_only {
        crate::api::halt::halt_policy_yaml().context("rendering the halt policy")?
    } else if args.tenancy_only {
        policy::tenancy_yaml().context("rendering the tenancy policies")?
    } else if args.policy_only {
        policy::policy_yaml().context("rendering the approval policy")?
    } else {
        let mut yaml = crate::api::crds_yaml().context("rendering the CRDs")?;
        if args.with_policy {
            yaml.push_str(
                &policy::policy_with_binding_yaml(&identity)
                    .context("rendering the approval policy")?,
            );
            yaml.push_str(
                &crate::api::halt::halt_policy_yaml().context("rendering the halt policy")?,
            );
        }
        yaml
    };
    std::io::stdout()
        .write_all(yaml.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}
