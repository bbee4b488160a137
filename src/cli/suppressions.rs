//! `--suppressions FILE`: the suppressions a ChaosAnalysis holds in `spec.suppressions`, for the
//! offline command, so a GitOps repository keeps them beside its manifests.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::api::Suppression;

/// The shapes a suppressions file may have: a list, an object with `suppressions:`, or a
/// ChaosAnalysis manifest (its `spec.suppressions`).
#[derive(Deserialize)]
#[serde(untagged)]
enum SuppressionsFile {
    List(Vec<Suppression>),
    Object { suppressions: Vec<Suppression> },
    Analysis { spec: AnalysisSpec },
}

#[derive(Deserialize)]
struct AnalysisSpec {
    #[serde(default)]
    suppressions: Vec<Suppression>,
}

/// Reads the suppressions of `path` (YAML or JSON).
pub fn read(path: &Path) -> anyhow::Result<Vec<Suppression>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("reading suppressions from {}", path.display()))
}

fn parse(text: &str) -> anyhow::Result<Vec<Suppression>> {
    let file: SuppressionsFile = serde_yaml::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "expected a list of {{finding, reason}}, an object with `suppressions:`, or a \
             ChaosAnalysis with spec.suppressions ({e})"
        )
    })?;
    let suppressions = match file {
        SuppressionsFile::List(list) => list,
        SuppressionsFile::Object { suppressions } => suppressions,
        SuppressionsFile::Analysis { spec } => spec.suppressions,
    };
    if let Some(empty) = suppressions
        .iter()
        .find(|s| s.finding.trim().is_empty() || s.reason.trim().is_empty())
    {
        anyhow::bail!(
            "every suppression needs a finding id and a reason (finding {:?})",
            empty.finding
        );
    }
    Ok(suppressions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_shapes_read_the_same() {
        let list = "- finding: no-hpa-cart-1\n  reason: scaled by hand\n";
        let object = "suppressions:\n- finding: no-hpa-cart-1\n  reason: scaled by hand\n";
        let analysis = "apiVersion: chaos.smartchaos.io/v1alpha1\nkind: ChaosAnalysis\nmetadata: {name: shop}\nspec:\n  scope: {namespaces: [shop]}\n  suppressions:\n  - finding: no-hpa-cart-1\n    reason: scaled by hand\n";
        for text in [list, object, analysis] {
            let read = parse(text).unwrap();
            assert_eq!(read.len(), 1, "{text}");
            assert_eq!(read[0].finding, "no-hpa-cart-1");
            assert_eq!(read[0].reason, "scaled by hand");
        }
    }

    #[test]
    fn a_suppression_without_a_reason_is_refused() {
        let error = parse("- finding: no-hpa-cart-1\n  reason: ''\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("needs a finding id and a reason")
        );
        let error = parse("finding: x").unwrap_err();
        assert!(error.to_string().contains("expected a list"), "{error}");
    }
}
