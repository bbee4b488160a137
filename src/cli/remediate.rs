//! `smart-chaos remediate -f PATH`: what the suggested remediations would do to the score. The
//! manifests are analysed, every remediation patch is applied to them in memory (never to a
//! cluster), and the patched manifests are analysed again; both scores are printed with every
//! point lost.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::analysis::{self, AnalysisConfig, AnalysisResult};
use crate::remediate::{self, manifests::apply_plan};
use crate::report;
use crate::servicemap::{self, ServiceMap};
use crate::snapshot::{self, DEFAULT_NAMESPACE, ReadOptions};

/// Arguments of `smart-chaos remediate`.
#[derive(Debug, clap::Args)]
pub struct RemediateArgs {
    /// Manifest files or folders (`.yaml`/`.yml`, read recursively).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Namespace of objects that name none.
    #[arg(short = 'n', long = "namespace", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Also write the patched manifests to this file, for review.
    #[arg(long, value_name = "FILE")]
    pub write_patched: Option<PathBuf>,
}

/// Every manifest file under `path`, sorted.
fn manifest_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", path.display()))?;
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if entry.is_dir() && !hidden {
                manifest_files(&entry, out)?;
            } else if !hidden && entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(entry);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn analyse(text: &str, options: &ReadOptions) -> anyhow::Result<(ServiceMap, AnalysisResult)> {
    let outcome = snapshot::read_str(text, Path::new("manifests.yaml"), options)
        .context("reading manifests")?;
    let map = servicemap::build(&outcome.snapshot);
    let result = analysis::analyze_builtin(&map, &AnalysisConfig::default())
        .context("the built-in analysis")?;
    Ok((map, result))
}

pub fn run(args: RemediateArgs) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for path in &args.paths {
        manifest_files(path, &mut files)?;
    }
    let mut text = String::new();
    for file in &files {
        let contents =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        text.push_str("---\n");
        text.push_str(&contents);
        text.push('\n');
    }
    let options = ReadOptions {
        default_namespace: args.namespace.clone(),
        ..ReadOptions::default()
    };
    let (map, before) = analyse(&text, &options)?;
    let plan = remediate::plan(&map, &before.dependencies.findings);
    let patched = apply_plan(&text, &args.namespace, &plan).context("applying the remediations")?;
    if let Some(path) = &args.write_patched {
        std::fs::write(path, &patched).with_context(|| format!("writing {}", path.display()))?;
    }
    let (_, after) = analyse(&patched, &options)?;

    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "before: {} findings\n{}",
        before.dependencies.findings.len(),
        report::score::text(&before.score, usize::MAX)
    )?;
    writeln!(
        stdout,
        "remediations applied in memory: {} ({} findings need other changes)",
        plan.remediations.len(),
        plan.not_patchable.len()
    )?;
    for remediation in &plan.remediations {
        writeln!(stdout, "  {}", remediation.description)?;
    }
    writeln!(
        stdout,
        "\nafter: {} findings\n{}",
        after.dependencies.findings.len(),
        report::score::text(&after.score, usize::MAX)
    )?;
    writeln!(
        stdout,
        "score {} → {} ({:+})",
        before.score.score,
        after.score.score,
        i64::from(after.score.score) - i64::from(before.score.score)
    )?;
    Ok(())
}
