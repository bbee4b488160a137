//! Where a command's objects come from: manifests (`-f`) or the current kube context.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

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

    /// The service map of `snapshot`, with the runtime evidence the arguments name.
    pub fn map(&self, snapshot: &Snapshot) -> anyhow::Result<ServiceMap> {
        let mut map = servicemap::build(snapshot);
        if !self.traces.is_empty() {
            super::evidence::attach_traces(&mut map, &self.traces)?;
        }
        Ok(map)
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
