use anyhow::Context;
use std::io::Write;

use super::input::SourceArgs;
use super::prometheus_args::PrometheusArgs;

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
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: MapFormat,
    /// Print only the map's content hash (SHA-256 of its JSON).
    #[arg(long)]
    pub hash: bool,
}

pub async fn run(args: MapArgs) -> anyhow::Result<()> {
    let snapshot = args.source.read().await?;
    let mut map = args.source.map(&snapshot)?;
    // Freeing a large cluster's records one by one took a tenth of the run; the process is about
    // to exit, which returns their memory at once.
    std::mem::forget(snapshot);
    args.prometheus.enrich(&mut map).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.hash {
        let hash = map.content_hash().context("hashing the map")?;
        writeln!(out, "{hash}").context("writing the map's hash to stdout")?;
    } else {
        match args.output {
            MapFormat::Json => map
                .write_json(&mut out)
                .context("writing the map to stdout")?,
            MapFormat::Dot => out
                .write_all(map.to_dot().as_bytes())
                .context("writing the map to stdout")?,
            MapFormat::Mermaid => out
                .write_all(map.to_mermaid().as_bytes())
                .context("writing the map to stdout")?,
        }
    }
    out.flush().context("writing the map to stdout")?;
    std::mem::forget(map);
    Ok(())
}
