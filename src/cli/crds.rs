use std::io::Write;

use anyhow::Context;

/// Arguments of `smart-chaos crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {}

pub fn run(_args: CrdsArgs) -> anyhow::Result<()> {
    let yaml = crate::api::crds_yaml().context("rendering the CRDs")?;
    std::io::stdout()
        .write_all(yaml.as_bytes())
        .context("writing the CRDs to stdout")?;
    Ok(())
}
