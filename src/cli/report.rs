//! `smart-chaos report -n NS`: rebuilds report.html and report.md of the namespace's analyses
//! from the cluster, with the user's own rights: each analysis' scope is read and mapped again,
//! and its proposals' decisions, verdicts and run timelines, and its suppressions, are applied as
//! the operator applies them.

use std::path::PathBuf;

use anyhow::Context;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use crate::analysis::{self, AnalysisConfig};
use crate::api::{ChaosAnalysis, ProviderName};
use crate::controller::steps::memory;
use crate::controller::steps::snapshot::label_selector_string;
use crate::report;
use crate::servicemap;
use crate::snapshot::cluster::{self, ClusterScope};

/// The files a rebuilt report consists of (proposals stay in the cluster, where they are decided).
const REPORT_FILES: [&str; 4] = ["analysis.json", "map.json", "report.html", "report.md"];

/// Arguments of `smart-chaos report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Namespace of the ChaosAnalyses and their proposals.
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespace: String,
    /// Only this analysis (all of the namespace's by default).
    #[arg(long, value_name = "NAME")]
    pub analysis: Option<String>,
    /// Folder for the reports: one subfolder per analysis.
    #[arg(long, value_name = "DIR", default_value = "smart-chaos-report")]
    pub out: PathBuf,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the current kube context")?;
    let ns = &args.namespace;
    let api: Api<ChaosAnalysis> = Api::namespaced(client.clone(), ns);
    let analyses = match &args.analysis {
        Some(name) => vec![
            api.get(name)
                .await
                .with_context(|| format!("reading ChaosAnalysis {ns}/{name}"))?,
        ],
        None => {
            api.list(&ListParams::default())
                .await
                .with_context(|| format!("listing the ChaosAnalyses of {ns}"))?
                .items
        }
    };
    if analyses.is_empty() {
        anyhow::bail!("namespace {ns} holds no ChaosAnalysis");
    }
    for analysis in &analyses {
        let name = analysis.name_any();
        let files = rebuild(&client, analysis, ns)
            .await
            .with_context(|| format!("rebuilding the report of {ns}/{name}"))?;
        let dir = args.out.join(&name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (relative, contents) in files {
            let path = dir.join(relative);
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        println!("{ns}/{name}: {}/report.html, report.md", dir.display());
    }
    Ok(())
}

/// The report files of one analysis, rebuilt from the cluster.
async fn rebuild(
    client: &kube::Client,
    analysis: &ChaosAnalysis,
    ns: &str,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let spec = &analysis.spec;
    let scope = ClusterScope {
        namespaces: spec.scope.namespaces.clone(),
        label_selector: spec
            .scope
            .label_selector
            .as_ref()
            .map(label_selector_string),
    };
    let snapshot = cluster::read(client, &scope)
        .await
        .context("reading the analysis' scope")?;
    let map = servicemap::build(&snapshot);
    let config =
        AnalysisConfig::from_guardrails(&spec.guardrails, None).context("spec.guardrails")?;
    if spec.provider.name != ProviderName::Builtin {
        eprintln!(
            "note: {ns}/{}: the stages are re-run with the built-in engine (no model is called); \
             verdicts, decisions and suppressions are the cluster's",
            analysis.name_any()
        );
    }
    let mut result = analysis::analyze_builtin(&map, &config).context("the built-in analysis")?;
    let gathered = memory::gather(client, analysis, ns)
        .await
        .context("reading the analysis' proposals")?;
    for problem in &gathered.problems {
        eprintln!("warning: {problem}");
    }
    analysis::memory::remember(&mut result, &map, &gathered.recall);
    let files = report::render_all(&map, &result, &[], &[]).context("rendering the reports")?;
    Ok(files
        .into_iter()
        .filter(|(path, _)| REPORT_FILES.iter().any(|f| path.as_os_str() == *f))
        .collect())
}
