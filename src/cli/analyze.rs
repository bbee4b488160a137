use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::input::SourceArgs;
use super::prometheus_args::PrometheusArgs;
use super::provider_args::ProviderArgs;
use crate::analysis::{self, AnalysisConfig, AnalysisResult};
use crate::api::Guardrails;
use crate::chaosmesh::ChaosKind;
use crate::{remediate, report};

/// Arguments of `smart-chaos analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Folder for report.md, report.html, analysis.json, proposals/ and chaos/.
    #[arg(long, value_name = "DIR", default_value = "smart-chaos-report")]
    pub out: PathBuf,
    /// Name of the analysis, used in proposal names and labels.
    #[arg(long, default_value = "offline")]
    pub name: String,
    /// Chaos Mesh kinds that may be proposed (repeatable; all by default).
    #[arg(long = "allow-kind", value_name = "KIND")]
    pub allowed_kinds: Vec<ChaosKind>,
    /// Namespaces experiments may target (repeatable; the input's namespaces by default).
    #[arg(long = "allow-namespace", value_name = "NS")]
    pub allowed_namespaces: Vec<String>,
    /// Longest duration of one experiment (Go duration).
    #[arg(long, default_value = "5m")]
    pub max_duration: String,
    /// Largest share of a workload's pods one experiment may touch, in percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(0..=100))]
    pub max_pod_share: i32,
    /// Allow targets in kube-system and other system namespaces.
    #[arg(long)]
    pub allow_system_namespaces: bool,
    /// Findings to suppress, with reasons: a YAML or JSON list of `{finding, reason}` (or a
    /// ChaosAnalysis manifest, whose spec.suppressions are used). Suppressed findings are listed
    /// as such in the reports.
    #[arg(long, value_name = "FILE")]
    pub suppressions: Option<PathBuf>,
    /// Print the expected tokens and cost of each stage of a model run, from the prompt sizes,
    /// and stop: no model is called and no report is written.
    #[arg(long)]
    pub estimate: bool,
}

impl AnalyzeArgs {
    fn guardrails(&self) -> Guardrails {
        let defaults = Guardrails::default();
        Guardrails {
            allowed_kinds: if self.allowed_kinds.is_empty() {
                defaults.allowed_kinds
            } else {
                self.allowed_kinds.clone()
            },
            allowed_namespaces: self.allowed_namespaces.clone(),
            max_duration: self.max_duration.clone(),
            max_pod_share_percent: self.max_pod_share,
            allow_system_namespaces: self.allow_system_namespaces,
            // Offline there are no Namespace objects to read the opt-in from.
            chaos_mesh_namespace_filter: false,
            checks_held_by: Default::default(),
        }
    }
}

/// Progress lines on a terminal; nothing when stderr is piped.
struct Progress {
    enabled: bool,
    started: Instant,
}

impl Progress {
    fn new() -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    fn step(&self, what: &str) {
        if self.enabled {
            eprintln!("[{:>6.2}s] {what}", self.started.elapsed().as_secs_f64());
        }
    }
}

pub async fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let progress = Progress::new();
    let mut config =
        AnalysisConfig::from_guardrails(&args.guardrails(), None).context("invalid guardrails")?;
    progress.step("reading objects");
    let snapshot = args.source.read().await?;
    progress.step("building the service map");
    let mut map = args.source.map(&snapshot)?;
    progress.step("reading observed calls and baselines from Prometheus");
    config.measurements = args.prometheus.enrich(&mut map).await?;
    if args.estimate {
        let builtin = analysis::analyze_builtin(&map, &config).context("the built-in analysis")?;
        let estimate = crate::llm::estimate::estimate_run(
            &map,
            &config,
            &builtin,
            &args.provider.provider_config()?,
            &args.provider.prices()?,
            &args.provider.engine_options(),
        );
        if estimate.stages.is_empty() {
            anyhow::bail!("--estimate needs --provider bedrock or openai and a model");
        }
        print!("{}", estimate.table());
        return Ok(());
    }
    let engine = args.provider.engine().await?;
    progress.step("reading the architecture's text and images with the model");
    let sources = args.source.read_architecture()?;
    super::input::read_architecture_with_model(&engine, &mut map, &sources).await?;
    progress.step("running the analysis stages");
    let mut result = analysis::analyze(&map, &config, engine.stage_engine().as_ref()).await;
    if let Some(file) = &args.suppressions {
        let recall = analysis::memory::Recall {
            suppressions: super::suppressions::read(file)?
                .into_iter()
                .map(|s| (s, crate::api::SuppressionSource::File))
                .collect(),
            ..Default::default()
        };
        analysis::memory::remember(&mut result, &map, &recall);
    }
    if let Some(usage) = engine.usage_report() {
        eprint!("{}", usage.table());
    }
    progress.step("writing reports");
    let proposals = analysis::build_proposals(&result, &args.name);
    let manifests = analysis::build_chaos_manifests(&result, &args.name);
    let mut files = report::render_all(&map, &result, &proposals, &manifests)
        .context("rendering the reports")?;
    let remediations = remediate::plan(&map, &result.dependencies.findings);
    files.extend(
        remediations
            .files()
            .context("writing the remediations")?
            .into_iter()
            .map(|(path, yaml)| (PathBuf::from(path), yaml)),
    );
    write_reports(&args.out, &files)?;
    print_summary(&args.out, &result)?;
    Ok(())
}

/// Writes the report files, first removing proposals and manifests of an earlier run so the
/// folder holds exactly this run's plan.
fn write_reports(out: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for owned in ["proposals", "chaos", remediate::REMEDIATIONS_DIR] {
        let dir = out.join(owned);
        if dir.is_dir() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
            {
                let path = entry
                    .with_context(|| format!("reading {}", dir.display()))?
                    .path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing stale {}", path.display()))?;
                }
            }
        }
    }
    for (relative, contents) in files {
        let path = out.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Largest losses of the score the summary lists (report.md lists them all).
const SUMMARY_LOSSES: usize = 5;

fn print_summary(out: &Path, result: &AnalysisResult) -> anyhow::Result<()> {
    let s = &result.summary;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{} services, {} workloads, {} dependencies ({} unresolved); {} findings, {} hypotheses, \
         {} experiments proposed, {} items dropped by grounding and guardrails",
        s.services,
        s.workloads,
        s.edges,
        s.unresolved,
        s.findings,
        s.hypotheses,
        s.proposals,
        s.dropped
    )?;
    let suppressed = &result.knowledge.suppressed;
    if !suppressed.is_empty() {
        let unmatched = suppressed.iter().filter(|s| !s.matched).count();
        writeln!(
            stdout,
            "{} findings suppressed (listed as suppressed in the reports); {unmatched} suppressions matched no finding",
            suppressed.len() - unmatched
        )?;
    }
    for note in &result.notes {
        writeln!(stdout, "warning: stage {}: {}", note.stage, note.message)?;
    }
    write!(
        stdout,
        "{}",
        report::score::text(&result.score, SUMMARY_LOSSES)
    )?;
    writeln!(
        stdout,
        "reports written to {}/ (report.html, report.md, analysis.json, proposals/, chaos/, remediations/)",
        out.display()
    )?;
    Ok(())
}
