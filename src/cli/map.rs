use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::servicemap;
use crate::snapshot::{self, DEFAULT_NAMESPACE, ReadOptions};

/// Output formats of `smart-chaos map`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MapFormat {
    /// The JSON contract (nodes and edges with evidence).
    Json,
    /// Graphviz dot.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// Arguments of `smart-chaos map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// Manifest files or folders (read recursively); `-` reads standard input. Without it, the
    /// current kube context is read.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: MapFormat,
    /// Namespace of objects that name none.
    #[arg(short = 'n', long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Fail on the first document that cannot be read instead of warning.
    #[arg(long)]
    pub strict: bool,
    /// Print only the map's content hash (SHA-256 of its JSON).
    #[arg(long)]
    pub hash: bool,
}

pub async fn run(args: MapArgs) -> anyhow::Result<()> {
    if args.paths.is_empty() {
        // The live-cluster reader (src/snapshot/cluster.rs) is wired here by the lead.
        bail!("reading a live cluster: not yet wired; pass manifests with -f PATH");
    }
    let options = ReadOptions {
        default_namespace: args.namespace.clone(),
        strict: args.strict,
        ..ReadOptions::default()
    };
    let outcome = snapshot::read_paths(&args.paths, &options).context("reading manifests")?;
    let mut stderr = std::io::stderr().lock();
    for warning in &outcome.warnings {
        writeln!(stderr, "warning: {warning}").context("writing to stderr")?;
    }
    let skipped: Vec<String> = outcome
        .snapshot
        .skipped
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    writeln!(
        stderr,
        "read {} documents from {} files: {} objects kept{}{}",
        outcome.documents,
        outcome.files,
        outcome.snapshot.len(),
        if skipped.is_empty() {
            ""
        } else {
            "; skipped: "
        },
        skipped.join(", ")
    )
    .context("writing to stderr")?;
    let map = servicemap::build(&outcome.snapshot);
    let text = if args.hash {
        let mut hash = map.content_hash().context("hashing the map")?;
        hash.push('\n');
        hash
    } else {
        match args.output {
            MapFormat::Json => map.to_json().context("rendering the map")?,
            MapFormat::Dot => map.to_dot(),
            MapFormat::Mermaid => map.to_mermaid(),
        }
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the map to stdout")?;
    Ok(())
}
