//! The usage report: tokens and estimated cost per stage, built from the session's ledger and the
//! engine's own record of each stage (model, repair round, shrink, failure).

use std::collections::BTreeMap;
use std::fmt::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{StageUsage, UsageLedger};
use crate::analysis::prompt::{PROMPT_VERSION, ShrinkReport};
use crate::analysis::{DroppedItem, StageId};

/// What happened in one stage, beyond the token counts the session keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct StageRecord {
    pub(super) model: String,
    pub(super) repaired: bool,
    pub(super) shrink: Option<ShrinkReport>,
    pub(super) estimated_prompt_tokens: u64,
    pub(super) estimated_answer_tokens: u64,
    pub(super) failure: Option<String>,
    /// Items of the answer set aside as invalid.
    pub(super) invalid: Vec<DroppedItem>,
}

/// One row of the usage report.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageUsageRow {
    /// Stage name (`discovery`... or `chat`).
    pub stage: String,
    /// The model asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model calls made.
    pub calls: u32,
    /// Answers served from the cache.
    pub cached: u32,
    /// Input tokens billed as uncached: those at the full rate, and those written to the prompt
    /// cache (1.25× the rate on Bedrock); cache reads apart.
    pub input_tokens: u64,
    /// Output tokens the provider reported.
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cache_read_tokens: u64,
    /// Of `input_tokens`, those written to the prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Estimated cost in USD of the calls made.
    pub cost_usd: f64,
    /// Some call used a model without a price.
    pub cost_incomplete: bool,
    /// Our own estimate of the prompt tokens sent (a quarter of the characters), calls made only.
    pub estimated_prompt_tokens: u64,
    /// Our own estimate of the answer tokens received, calls made only.
    pub estimated_answer_tokens: u64,
    /// The first answer could not be used and a repair round was made.
    pub repaired: bool,
    /// How the map was shrunk to fit the prompt budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink: Option<ShrinkReport>,
    /// Why the built-in result stands for this stage, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Tokens and estimated cost per stage and in total, for the CLI's table and the operator's
/// status.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The engine (`bedrock`, `openai`).
    pub engine: String,
    /// Version of the prompt texts.
    pub prompt_version: String,
    /// Stages in pipeline order (then any other, such as `chat`).
    pub stages: Vec<StageUsageRow>,
    /// All stages together.
    pub total: StageUsageRow,
}

impl UsageReport {
    /// A fixed-width table, one line per stage and a total.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<13} {:<44} {:>5} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "stage",
            "model",
            "calls",
            "cached",
            "in tokens",
            "cached in",
            "out tokens",
            "est. in",
            "cost USD"
        );
        let line = |out: &mut String, row: &StageUsageRow| {
            let mut notes = Vec::new();
            if row.repaired {
                notes.push("repaired".to_string());
            }
            if let Some(shrink) = &row.shrink {
                notes.push(format!(
                    "map shrunk to {}/{} nodes",
                    shrink.nodes_shown, shrink.nodes_total
                ));
            }
            if row.failure.is_some() {
                notes.push("built-in result stands".to_string());
            }
            let cost = if row.cost_incomplete {
                format!("{:.4}+?", row.cost_usd)
            } else {
                format!("{:.4}", row.cost_usd)
            };
            let _ = writeln!(
                out,
                "{:<13} {:<44} {:>5} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}{}",
                row.stage,
                row.model.as_deref().unwrap_or("-"),
                row.calls,
                row.cached,
                row.input_tokens,
                row.cache_read_tokens,
                row.output_tokens,
                row.estimated_prompt_tokens,
                cost,
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join(", "))
                }
            );
        };
        for row in &self.stages {
            line(&mut out, row);
        }
        line(&mut out, &self.total);
        out
    }
}

pub(super) fn build_report(
    engine: &str,
    ledger: &UsageLedger,
    records: &BTreeMap<String, StageRecord>,
) -> UsageReport {
    let mut names: Vec<String> = StageId::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .filter(|name| ledger.stages.contains_key(name) || records.contains_key(name))
        .collect();
    for name in ledger.stages.keys().chain(records.keys()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let empty_usage = StageUsage::default();
    let empty_record = StageRecord::default();
    let row = |name: &str, usage: &StageUsage, record: &StageRecord| StageUsageRow {
        stage: name.to_string(),
        model: (!record.model.is_empty()).then(|| record.model.clone()),
        calls: usage.calls,
        cached: usage.cached,
        input_tokens: usage.usage.input_tokens + usage.usage.cache_write_tokens,
        output_tokens: usage.usage.output_tokens,
        cache_read_tokens: usage.usage.cache_read_tokens,
        cache_write_tokens: usage.usage.cache_write_tokens,
        cost_usd: usage.cost_usd,
        cost_incomplete: usage.cost_incomplete,
        estimated_prompt_tokens: record.estimated_prompt_tokens,
        estimated_answer_tokens: record.estimated_answer_tokens,
        repaired: record.repaired,
        shrink: record.shrink.clone(),
        failure: record.failure.clone(),
    };
    let stages: Vec<StageUsageRow> = names
        .iter()
        .map(|name| {
            row(
                name,
                ledger.stages.get(name).unwrap_or(&empty_usage),
                records.get(name).unwrap_or(&empty_record),
            )
        })
        .collect();
    let mut total = row("total", &ledger.total, &empty_record);
    total.estimated_prompt_tokens = stages.iter().map(|s| s.estimated_prompt_tokens).sum();
    total.estimated_answer_tokens = stages.iter().map(|s| s.estimated_answer_tokens).sum();
    total.repaired = stages.iter().any(|s| s.repaired);
    UsageReport {
        engine: engine.to_string(),
        prompt_version: PROMPT_VERSION.to_string(),
        stages,
        total,
    }
}
