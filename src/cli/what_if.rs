//! `smart-chaos what-if`: the blast radius of a failure the user describes, computed on the map
//! of an earlier `analyze` run (its `map.json` and `analysis.json`). With `--provider`, a test
//! case in free text is first turned into the structured form by the chat model and shown; the
//! blast radius is computed from the map either way.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::provider_args::ProviderArgs;
use crate::analysis::AnalysisResult;
use crate::analysis::map_hash;
use crate::analysis::whatif::{WhatIf, what_if};
use crate::servicemap::ServiceMap;

/// Arguments of `smart-chaos what-if`.
#[derive(Debug, clap::Args)]
pub struct WhatIfArgs {
    /// The folder `smart-chaos analyze --out` wrote (map.json and analysis.json).
    #[arg(long, value_name = "DIR", default_value = "smart-chaos-report")]
    pub analysis: PathBuf,
    /// The test case: `TARGET FAULT [pods=one|all|N|N%] [to=NODE]`, where FAULT is kill,
    /// crash, latency=500ms, loss, partition-from=NODE, dns-error, zone-down=ZONE, cpu-stress,
    /// disk-latency, http-latency, http-abort or clock-skew.
    #[arg(value_name = "TEST CASE", trailing_var_arg = true, required = true)]
    pub test_case: Vec<String>,
    /// With a model: a test case in free text ("what if the payments database is slow?") is
    /// structured by it first.
    #[command(flatten)]
    pub provider: ProviderArgs,
}

pub async fn run(args: WhatIfArgs) -> anyhow::Result<()> {
    let read = |file: &str| {
        let path = args.analysis.join(file);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (run smart-chaos analyze --out DIR first)",
                path.display()
            )
        })
    };
    let map: ServiceMap =
        serde_json::from_str(&read("map.json")?).context("map.json is not a smart-chaos map")?;
    let result: AnalysisResult = serde_json::from_str(&read("analysis.json")?)
        .context("analysis.json is not a smart-chaos analysis")?;
    if map_hash(&map) != result.map_hash {
        eprintln!(
            "warning: map.json does not hash to analysis.json's mapHash: they may come from different runs"
        );
    }
    let text = args.test_case.join(" ");
    let case = match (WhatIf::parse(&text), args.provider.chat_session().await?) {
        (Ok(case), _) => case,
        (Err(syntax), None) => return Err(syntax.into()),
        (Err(_), Some((session, model))) => {
            let (structured, case) =
                crate::llm::whatif::structure_test_case(&session, &model, &map, &text).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "structured by {model}: {}", structured.test_case)?;
            if !structured.assumptions.is_empty() {
                writeln!(out, "assumptions: {}", structured.assumptions)?;
            }
            case
        }
    };
    let outcome = what_if(&map, &result.steady_state.steady_states, &case)?;
    let radius = &outcome.blast_radius;
    let mut out = std::io::stdout().lock();
    writeln!(out, "test case: {}", outcome.canonical)?;
    match &outcome.chaos_kind {
        Ok(kind) => writeln!(out, "expressible as: Chaos Mesh {kind}")?,
        Err(reason) => writeln!(out, "not expressible in Chaos Mesh: {reason}")?,
    }
    writeln!(out, "blast radius: {}", radius.summary)?;
    writeln!(
        out,
        "pods: {} of {} ({}%), severity {}",
        radius
            .touched_pods
            .map_or("?".to_owned(), |n| n.to_string()),
        radius.target_pods.map_or("?".to_owned(), |n| n.to_string()),
        radius.pod_share_percent,
        radius.severity.as_str()
    )?;
    writeln!(
        out,
        "affected workloads ({}):",
        radius.affected_workloads.len()
    )?;
    for id in &radius.affected_workloads {
        writeln!(out, "  {id}")?;
    }
    writeln!(
        out,
        "affected entry points ({}):",
        radius.affected_entry_points.len()
    )?;
    for id in &radius.affected_entry_points {
        writeln!(out, "  {id}")?;
    }
    writeln!(
        out,
        "steady states expected to break ({}):",
        outcome.breaks.len()
    )?;
    for id in &outcome.breaks {
        let name = result
            .steady_state
            .steady_states
            .iter()
            .find(|s| &s.id == id)
            .map_or("", |s| s.name.as_str());
        writeln!(out, "  {id}: {name}")?;
    }
    Ok(())
}
