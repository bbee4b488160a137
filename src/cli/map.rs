use anyhow::Context;
use std::io::Write;

use super::input::SourceArgs;

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
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: MapFormat,
    /// Print only the map's content hash (SHA-256 of its JSON).
    #[arg(long)]
    pub hash: bool,
}

pub async fn run(args: MapArgs) -> anyhow::Result<()> {
    let (map, _architecture) = args.source.build_map().await?;
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
