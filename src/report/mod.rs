//! Reports of an analysis: `report.md`, `report.html` (self-contained, with an SVG picture of the
//! map), `analysis.json`, `proposals/*.yaml` and `chaos/*.yaml`.
//!
//! Pure: [`render_all`] returns relative paths and contents; the CLI writes them. Identical input
//! gives identical bytes (no timestamps, everything sorted). Cluster text is untrusted and is
//! escaped for the format it lands in.

pub mod html;
pub mod knowledge;
pub mod layout;
pub mod markdown;
pub mod score;
pub mod sections;

use std::path::PathBuf;

use crate::analysis::AnalysisResult;
use crate::api::ExperimentProposal;
use crate::chaosmesh::{ChaosManifest, ChaosSpec, PodChaosAction};
use crate::serde_name::serde_name;
use crate::servicemap::ServiceMap;

/// Items listed per section before "and N more" (the full lists are in analysis.json).
pub const MAX_LISTED: usize = 50;

/// A report that could not be serialised.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("serialising {file} as JSON")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("serialising {file} as YAML")]
    Yaml {
        file: String,
        #[source]
        source: serde_yaml::Error,
    },
}

/// Every report file: (path relative to the output folder, contents), sorted by path.
pub fn render_all(
    map: &ServiceMap,
    result: &AnalysisResult,
    proposals: &[ExperimentProposal],
    manifests: &[ChaosManifest],
) -> Result<Vec<(PathBuf, String)>, ReportError> {
    let mut files = Vec::with_capacity(4 + proposals.len() + manifests.len());
    let mut json = serde_json::to_string_pretty(result).map_err(|source| ReportError::Json {
        file: "analysis.json".to_string(),
        source,
    })?;
    json.push('\n');
    files.push((PathBuf::from("analysis.json"), json));
    // The map itself, so that `what-if --analysis DIR` computes on exactly what was analysed.
    let mut map_json = serde_json::to_string_pretty(map).map_err(|source| ReportError::Json {
        file: "map.json".to_string(),
        source,
    })?;
    map_json.push('\n');
    files.push((PathBuf::from("map.json"), map_json));
    files.push((PathBuf::from("report.md"), markdown::render(map, result)));
    files.push((PathBuf::from("report.html"), html::render(map, result)));
    for proposal in proposals {
        let name = proposal.metadata.name.clone().unwrap_or_default();
        let file = format!("proposals/{name}.yaml");
        let yaml = serde_yaml::to_string(proposal).map_err(|source| ReportError::Yaml {
            file: file.clone(),
            source,
        })?;
        files.push((PathBuf::from(file), yaml));
    }
    for manifest in manifests {
        let name = manifest.metadata.name.clone().unwrap_or_default();
        let file = format!("chaos/{name}.yaml");
        let yaml = serde_yaml::to_string(manifest).map_err(|source| ReportError::Yaml {
            file: file.clone(),
            source,
        })?;
        files.push((PathBuf::from(file), yaml));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// One line describing what an experiment does: kind, action, parameters, mode, duration.
pub fn describe_spec(spec: &ChaosSpec) -> String {
    let action = match spec {
        ChaosSpec::PodChaos(s) => match s.action {
            PodChaosAction::PodKill => "pod-kill".to_string(),
            PodChaosAction::PodFailure => "pod-failure".to_string(),
            PodChaosAction::ContainerKill => {
                format!("container-kill {}", s.container_names.join(","))
            }
        },
        ChaosSpec::NetworkChaos(s) => {
            let mut text = serde_name(&s.action).to_string();
            if let Some(delay) = &s.delay {
                text.push_str(&format!(" {}", delay.latency));
                if let Some(jitter) = &delay.jitter {
                    text.push_str(&format!(" ±{jitter}"));
                }
            }
            if let Some(loss) = &s.loss {
                text.push_str(&format!(" {}%", loss.loss));
            }
            if let Some(direction) = s.direction {
                text.push_str(&format!(", direction {}", serde_name(&direction)));
            }
            text
        }
        ChaosSpec::StressChaos(s) => {
            let mut parts = Vec::new();
            if let Some(cpu) = &s.stressors.cpu {
                parts.push(format!(
                    "cpu {} worker(s) at {}%",
                    cpu.workers,
                    cpu.load.unwrap_or(100)
                ));
            }
            if let Some(memory) = &s.stressors.memory {
                parts.push(format!(
                    "memory {} worker(s) {}",
                    memory.workers,
                    memory.size.as_deref().unwrap_or("")
                ));
            }
            parts.join(", ")
        }
        ChaosSpec::IOChaos(s) => format!(
            "{} {} on {} ({}% of calls)",
            serde_name(&s.action),
            s.delay.as_deref().unwrap_or(""),
            s.volume_path,
            s.percent.unwrap_or(100)
        )
        .to_lowercase(),
        ChaosSpec::DNSChaos(s) => {
            format!("{} for {}", serde_name(&s.action), s.patterns.join(", ")).to_lowercase()
        }
        ChaosSpec::HTTPChaos(s) => {
            let what = if s.abort == Some(true) {
                "abort".to_string()
            } else {
                format!("delay {}", s.delay.as_deref().unwrap_or(""))
            };
            format!("{what} {}s on port {}", serde_name(&s.target), s.port).to_lowercase()
        }
        ChaosSpec::TimeChaos(s) => format!("clock offset {}", s.time_offset),
    };
    let (mode, value) = spec.selection();
    let mode = serde_name(&mode);
    let mode = match value {
        Some(value) => format!("{mode} {value}"),
        None => mode.to_string(),
    };
    format!(
        "{} {action}; mode {mode}; for {}",
        spec.kind(),
        spec.duration().unwrap_or("(no duration)")
    )
}

/// `items` shortened to `MAX_LISTED`, and how many were left out.
pub(crate) fn listed<T>(items: &[T]) -> (&[T], usize) {
    let shown = items.len().min(MAX_LISTED);
    (&items[..shown], items.len() - shown)
}

#[cfg(test)]
mod tests;
