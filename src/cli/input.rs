//! Where a command's objects come from: manifests (`-f`) or the current kube context.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::architecture::{self, ArchitectureSource, Diagram};
use crate::servicemap::{self, ServiceMap};
use crate::snapshot::cluster::{self, ClusterScope};
use crate::snapshot::{self, DEFAULT_NAMESPACE, ReadOptions, Snapshot};

/// The source arguments shared by `map` and `analyze`.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// Manifest files or folders (read recursively; multi-document YAML, JSON, `kind: List`,
    /// `helm template` / `kustomize build` output); `-` reads standard input. Without it, the
    /// current kube context is read.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// With -f: namespace of objects that name none. Without -f: the namespace to read
    /// (repeatable; all namespaces when omitted).
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Without -f: only objects with these labels (e.g. `app.kubernetes.io/part-of=shop`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// With -f: fail on the first document that cannot be read instead of warning.
    #[arg(long)]
    pub strict: bool,
    /// Trace files or folders (OTLP JSON, Jaeger JSON or Zipkin v2 JSON, told from the content):
    /// calls seen in them become `traffic` evidence on the map's edges.
    #[arg(long = "traces", value_name = "PATH", num_args = 1..)]
    pub traces: Vec<PathBuf>,

    /// The team's architecture (repeatable): a Mermaid flowchart (.mmd), Graphviz DOT (.dot,
    /// .gv), PlantUML component or C4 diagram (.puml), a services list (.yaml), a design
    /// document (.md: its fenced diagrams are parsed, its text is for a model) or a PNG/JPEG
    /// picture (for a model that reads images). Its calls join the map as declared evidence.
    #[arg(long = "architecture", value_name = "FILE")]
    pub architecture: Vec<PathBuf>,
}

impl SourceArgs {
    /// Reads the snapshot, reporting unreadable documents and skipped kinds on stderr.
    pub async fn read(&self) -> anyhow::Result<Snapshot> {
        if self.paths.is_empty() {
            return self.read_cluster().await;
        }
        let default_namespace = match self.namespaces.as_slice() {
            [] => DEFAULT_NAMESPACE.to_string(),
            [one] => one.clone(),
            _ => anyhow::bail!("with -f, --namespace names the one default namespace"),
        };
        let options = ReadOptions {
            default_namespace,
            strict: self.strict,
            ..ReadOptions::default()
        };
        let outcome = snapshot::read_paths(&self.paths, &options).context("reading manifests")?;
        let mut stderr = std::io::stderr().lock();
        for warning in &outcome.warnings {
            writeln!(stderr, "warning: {warning}").context("writing to stderr")?;
        }
        writeln!(
            stderr,
            "read {} documents from {} files: {} objects kept{}",
            outcome.documents,
            outcome.files,
            outcome.snapshot.len(),
            skipped_summary(&outcome.snapshot)
        )
        .context("writing to stderr")?;
        Ok(outcome.snapshot)
    }

    /// The service map of `snapshot`, with the declared calls of the `--architecture` diagrams and
    /// the runtime evidence of the `--traces` files. A diagram that cannot be read stops the
    /// command with its file and line; a bad trace file is a warning.
    pub fn map(&self, snapshot: &Snapshot) -> anyhow::Result<ServiceMap> {
        let architecture = self.read_architecture()?;
        let mut map = servicemap::build(snapshot);
        declare_architecture(&mut map, &architecture)?;
        if !self.traces.is_empty() {
            super::evidence::attach_traces(&mut map, &self.traces)?;
        }
        Ok(map)
    }

    /// Parses every `--architecture` file; the first that cannot be read stops the command with
    /// its file and line.
    pub fn read_architecture(&self) -> anyhow::Result<Vec<ArchitectureSource>> {
        let mut sources = Vec::new();
        for path in &self.architecture {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            sources.extend(architecture::parse(&path.display().to_string(), &bytes)?);
        }
        Ok(sources)
    }

    async fn read_cluster(&self) -> anyhow::Result<Snapshot> {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the current kube context (pass -f PATH to read manifests)")?;
        let scope = ClusterScope {
            namespaces: self.namespaces.clone(),
            label_selector: self.selector.clone(),
        };
        let snapshot = cluster::read(&client, &scope)
            .await
            .context("reading the cluster")?;
        eprintln!(
            "read {} objects from the cluster{}",
            snapshot.len(),
            skipped_summary(&snapshot)
        );
        Ok(snapshot)
    }
}

fn skipped_summary(snapshot: &Snapshot) -> String {
    if snapshot.skipped.is_empty() {
        return String::new();
    }
    let kinds: Vec<String> = snapshot
        .skipped
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    format!("; skipped: {}", kinds.join(", "))
}

/// Has the model engine's discovery stage read the `--architecture` text and images into `map`
/// and says on stderr what it kept and what it dropped; a model that fails leaves the map as it
/// is, with a warning.
pub async fn read_architecture_with_model(
    engine: &crate::llm::factory::Engine,
    map: &mut ServiceMap,
    sources: &[ArchitectureSource],
) -> anyhow::Result<()> {
    let mut stderr = std::io::stderr().lock();
    match crate::llm::architecture::read_into_map(engine, map, sources).await {
        Ok(None) => {}
        Ok(Some(reading)) => {
            let outcome = &reading.outcome;
            writeln!(
                stderr,
                "architecture: model {} read {} call(s) with both ends in the map ({} new edges); {} name(s) dropped",
                reading.model,
                outcome.grounded_calls,
                outcome.attach.new_edges,
                outcome.dropped.len()
            )
            .context("writing to stderr")?;
            for dropped in &outcome.dropped {
                writeln!(
                    stderr,
                    "architecture: dropped {:?} read from {}: {}",
                    dropped.name, dropped.source, dropped.reason
                )
                .context("writing to stderr")?;
            }
        }
        Err(error) => writeln!(stderr, "warning: {error}; the map stands without it")
            .context("writing to stderr")?,
    }
    Ok(())
}

/// Adds the diagrams' calls to `map` and says on stderr what matched and what did not.
pub fn declare_architecture(
    map: &mut ServiceMap,
    sources: &[ArchitectureSource],
) -> anyhow::Result<()> {
    if sources.is_empty() {
        return Ok(());
    }
    let diagrams: Vec<Diagram> = sources
        .iter()
        .filter_map(|s| match s {
            ArchitectureSource::Diagram(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    let report = architecture::declare(map, &diagrams);
    let mut stderr = std::io::stderr().lock();
    let calls: usize = diagrams.iter().map(|d| d.calls.len()).sum();
    writeln!(
        stderr,
        "architecture: {} diagram(s), {calls} call(s): {} on map edges ({} new), {} with an unmatched end, {} from people",
        diagrams.len(),
        report.attach.attached,
        report.attach.new_edges,
        report.attach.unmatched_calls,
        report.person_calls,
    )
    .context("writing to stderr")?;
    for name in map
        .unmatched
        .iter()
        .filter(|u| u.kind == crate::servicemap::EvidenceKind::Declared)
    {
        writeln!(
            stderr,
            "architecture: unmatched {:?} ({}): {}",
            name.name, name.origin, name.reason
        )
        .context("writing to stderr")?;
    }
    for source in sources {
        let what = match source {
            ArchitectureSource::Diagram(_) => continue,
            ArchitectureSource::Text { .. } => "text",
            ArchitectureSource::Image { .. } => "an image",
        };
        writeln!(
            stderr,
            "architecture: {} is {what}: only a model's discovery stage reads it",
            source.origin()
        )
        .context("writing to stderr")?;
    }
    Ok(())
}
