//! Prices, cost estimates and budgets.
//!
//! Prices are list prices in US dollars per million tokens, as published when this table was
//! written; they change, so a user can override or extend them with a YAML or JSON file of the
//! same shape ([`PriceTable::load_overrides`]). Token counts before a call are estimated at four
//! characters per token: rough, but budgets only need an upper bound of the right size, and
//! `max_tokens` (always sent) bounds the output exactly.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{LlmError, TokenUsage};
use crate::api::Budgets;

/// Rough token count of a text: characters / 4, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Price of one model, USD per million tokens.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelPrice {
    /// Uncached input.
    pub input_per_mtok: f64,
    /// Output.
    pub output_per_mtok: f64,
    /// Input read from the prompt cache; a tenth of the input price when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_per_mtok: Option<f64>,
    /// Input written to the prompt cache; the input price ×1.25 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<f64>,
}

impl ModelPrice {
    const fn new(input: f64, output: f64) -> Self {
        ModelPrice {
            input_per_mtok: input,
            output_per_mtok: output,
            cache_read_per_mtok: None,
            cache_write_per_mtok: None,
        }
    }

    /// With the list price of cache reads and writes (USD per million tokens).
    const fn caching(mut self, read: f64, write: f64) -> Self {
        self.cache_read_per_mtok = Some(read);
        self.cache_write_per_mtok = Some(write);
        self
    }

    /// Cost of some usage in USD.
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        let per = |tokens: u64, price: f64| tokens as f64 * price / 1_000_000.0;
        per(usage.input_tokens, self.input_per_mtok)
            + per(usage.output_tokens, self.output_per_mtok)
            + per(
                usage.cache_read_tokens,
                self.cache_read_per_mtok
                    .unwrap_or(self.input_per_mtok * 0.1),
            )
            + per(
                usage.cache_write_tokens,
                self.cache_write_per_mtok
                    .unwrap_or(self.input_per_mtok * 1.25),
            )
    }
}

/// Model id (or id prefix) → price.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PriceTable {
    pub models: BTreeMap<String, ModelPrice>,
}

/// Built-in list prices (USD per million input/output tokens). Keys are id prefixes: the longest
/// matching key wins, so dated and versioned ids (`...-20250514-v1:0`, `gpt-4o-2024-08-06`) find
/// their family.
///
/// Cache prices, for the models this project measures with (README, `tests/token_budget.rs`):
/// Claude Sonnet 4 on Bedrock (on demand) reads the cache at $0.30 and writes it at $3.75;
/// OpenAI bills cached input at its own rate (gpt-4.1 $0.50, a quarter of its input price;
/// gpt-4o half) and has no cache writes. Other models take the defaults of [`ModelPrice`].
const BUILTIN_PRICES: &[(&str, ModelPrice)] = &[
    // Anthropic on Bedrock.
    ("anthropic.claude-3-haiku", ModelPrice::new(0.25, 1.25)),
    ("anthropic.claude-3-5-haiku", ModelPrice::new(0.80, 4.0)),
    ("anthropic.claude-haiku-4-5", ModelPrice::new(1.0, 5.0)),
    ("anthropic.claude-3-5-sonnet", ModelPrice::new(3.0, 15.0)),
    ("anthropic.claude-3-7-sonnet", ModelPrice::new(3.0, 15.0)),
    (
        "anthropic.claude-sonnet-4",
        ModelPrice::new(3.0, 15.0).caching(0.30, 3.75),
    ),
    ("anthropic.claude-opus-4", ModelPrice::new(15.0, 75.0)),
    ("anthropic.claude-opus-4-5", ModelPrice::new(5.0, 25.0)),
    // Amazon Nova.
    ("amazon.nova-micro", ModelPrice::new(0.035, 0.14)),
    ("amazon.nova-lite", ModelPrice::new(0.06, 0.24)),
    ("amazon.nova-pro", ModelPrice::new(0.80, 3.20)),
    // Meta and Mistral on Bedrock.
    ("meta.llama3-1-8b-instruct", ModelPrice::new(0.22, 0.22)),
    ("meta.llama3-1-70b-instruct", ModelPrice::new(0.72, 0.72)),
    ("meta.llama3-3-70b-instruct", ModelPrice::new(0.72, 0.72)),
    ("mistral.mistral-large", ModelPrice::new(2.0, 6.0)),
    // OpenAI.
    ("gpt-4o", ModelPrice::new(2.50, 10.0).caching(1.25, 2.50)),
    ("gpt-4o-mini", ModelPrice::new(0.15, 0.60)),
    ("gpt-4.1", ModelPrice::new(2.0, 8.0).caching(0.50, 2.0)),
    ("gpt-4.1-mini", ModelPrice::new(0.40, 1.60)),
    ("gpt-4.1-nano", ModelPrice::new(0.10, 0.40)),
    ("gpt-5", ModelPrice::new(1.25, 10.0)),
    ("gpt-5-mini", ModelPrice::new(0.25, 2.0)),
    ("gpt-5-nano", ModelPrice::new(0.05, 0.40)),
    ("o3-mini", ModelPrice::new(1.10, 4.40)),
    ("o4-mini", ModelPrice::new(1.10, 4.40)),
];

/// Cross-region inference profile prefixes of Bedrock model ids (`us.anthropic...`).
const BEDROCK_PROFILE_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.",
];

/// A Bedrock model id without its cross-region inference-profile prefix.
pub(crate) fn without_profile_prefix(model: &str) -> &str {
    BEDROCK_PROFILE_PREFIXES
        .iter()
        .find_map(|p| model.strip_prefix(p))
        .unwrap_or(model)
}

/// Errors reading a price file.
#[derive(thiserror::Error, Debug)]
pub enum PriceFileError {
    #[error("cannot read price file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "price file {path} is not a price table (YAML or JSON, `models: {{id: {{inputPerMtok, outputPerMtok}}}}`): {source}"
    )]
    Parse {
        path: String,
        #[source]
        source: serde_yaml::Error,
    },
}

impl PriceTable {
    /// The built-in table.
    pub fn builtin() -> Self {
        PriceTable {
            models: BUILTIN_PRICES
                .iter()
                .map(|(id, price)| (id.to_string(), *price))
                .collect(),
        }
    }

    /// This table with `overrides` replacing or adding entries.
    pub fn with_overrides(mut self, overrides: PriceTable) -> Self {
        self.models.extend(overrides.models);
        self
    }

    /// Parses a YAML (or JSON, a subset of YAML) price table.
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// The built-in table overridden by a file.
    pub fn load_overrides(path: &Path) -> Result<Self, PriceFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PriceFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let overrides = Self::from_yaml(&text).map_err(|source| PriceFileError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::builtin().with_overrides(overrides))
    }

    /// The price of a model: an exact entry, else the longest key that prefixes the id (with
    /// Bedrock's inference-profile prefix stripped), else none.
    pub fn price_for(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(price) = self.models.get(model) {
            return Some(price);
        }
        let bare = without_profile_prefix(model);
        // Provider-qualified ids some gateways use (`openai/gpt-4o`).
        let bare = bare.rsplit_once('/').map(|(_, id)| id).unwrap_or(bare);
        self.models
            .iter()
            .filter(|(key, _)| bare.starts_with(key.as_str()))
            .max_by_key(|(key, _)| key.len())
            .map(|(_, price)| price)
    }
}

/// Estimated cost of some usage of a model in USD; `None` when the table has no price for it.
pub fn estimate_cost(prices: &PriceTable, model: &str, usage: &TokenUsage) -> Option<f64> {
    prices.price_for(model).map(|p| p.cost(usage))
}

/// Token and cost limits of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BudgetLimits {
    /// Most tokens (input + output, cached included).
    pub max_tokens: Option<u64>,
    /// Most estimated cost in USD.
    pub max_cost_usd: Option<f64>,
}

impl TryFrom<&Budgets> for BudgetLimits {
    type Error = LlmError;

    fn try_from(budgets: &Budgets) -> Result<Self, LlmError> {
        let max_tokens = budgets
            .max_tokens
            .map(|t| {
                u64::try_from(t).map_err(|_| {
                    LlmError::Config(format!("budgets.maxTokens {t} must be positive"))
                })
            })
            .transpose()?;
        let max_cost_usd = budgets
            .max_cost_usd
            .as_deref()
            .map(|text| {
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        LlmError::Config(format!(
                            "budgets.maxCostUsd {text:?} is not a decimal amount"
                        ))
                    })
            })
            .transpose()?;
        Ok(BudgetLimits {
            max_tokens,
            max_cost_usd,
        })
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Spend {
    tokens: u64,
    cost_usd: f64,
}

#[derive(Debug, Default)]
struct Ledger {
    used: Spend,
    reserved: Spend,
}

/// Tracks a run's spending against its limits. A call first reserves its worst case (estimated
/// input + `max_tokens` of output); the reservation is replaced by the real usage when the call
/// ends, or released if it fails. Concurrent calls therefore cannot overspend together.
#[derive(Debug)]
pub struct Budget {
    limits: BudgetLimits,
    ledger: Mutex<Ledger>,
}

/// A reservation held for one call in flight. Dropping it without [`BudgetReservation::settle`]
/// releases it.
#[derive(Debug)]
pub struct BudgetReservation<'a> {
    budget: &'a Budget,
    worst: Spend,
    settled: bool,
}

impl Budget {
    /// A budget with these limits.
    pub fn new(limits: BudgetLimits) -> Self {
        Budget {
            limits,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    /// The limits.
    pub fn limits(&self) -> BudgetLimits {
        self.limits
    }

    /// Tokens and cost used so far (settled calls only).
    pub fn used(&self) -> (u64, f64) {
        let ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        (ledger.used.tokens, ledger.used.cost_usd)
    }

    /// Reserves the worst case of a call, or refuses it with [`LlmError::BudgetExceeded`] before
    /// anything is sent.
    pub fn reserve(
        &self,
        prices: &PriceTable,
        model: &str,
        estimated_input_tokens: u64,
        max_output_tokens: u64,
    ) -> Result<BudgetReservation<'_>, LlmError> {
        let worst_usage = TokenUsage {
            input_tokens: estimated_input_tokens,
            output_tokens: max_output_tokens,
            ..TokenUsage::default()
        };
        let worst_cost = match (
            self.limits.max_cost_usd,
            estimate_cost(prices, model, &worst_usage),
        ) {
            (Some(_), None) => {
                return Err(LlmError::BudgetExceeded(format!(
                    "a cost budget is set but the price table has no price for model {model}; add one"
                )));
            }
            (_, cost) => cost.unwrap_or(0.0),
        };
        let worst = Spend {
            tokens: worst_usage.total(),
            cost_usd: worst_cost,
        };
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(max) = self.limits.max_tokens {
            let committed = ledger.used.tokens + ledger.reserved.tokens;
            if committed + worst.tokens > max {
                return Err(LlmError::BudgetExceeded(format!(
                    "this call may use up to {} tokens ({estimated_input_tokens} in, {max_output_tokens} out) but only {} of {max} are left",
                    worst.tokens,
                    max.saturating_sub(committed)
                )));
            }
        }
        if let Some(max) = self.limits.max_cost_usd {
            let committed = ledger.used.cost_usd + ledger.reserved.cost_usd;
            if committed + worst.cost_usd > max {
                return Err(LlmError::BudgetExceeded(format!(
                    "this call may cost up to ${:.4} but only ${:.4} of ${max:.4} are left",
                    worst.cost_usd,
                    (max - committed).max(0.0)
                )));
            }
        }
        ledger.reserved.tokens += worst.tokens;
        ledger.reserved.cost_usd += worst.cost_usd;
        Ok(BudgetReservation {
            budget: self,
            worst,
            settled: false,
        })
    }

    fn release(&self, worst: Spend) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        ledger.reserved.tokens = ledger.reserved.tokens.saturating_sub(worst.tokens);
        ledger.reserved.cost_usd = (ledger.reserved.cost_usd - worst.cost_usd).max(0.0);
    }
}

impl BudgetReservation<'_> {
    /// Replaces the reservation by what the call really used.
    pub fn settle(mut self, usage: &TokenUsage, cost_usd: f64) {
        self.budget.release(self.worst);
        let mut ledger = self.budget.ledger.lock().unwrap_or_else(|p| p.into_inner());
        ledger.used.tokens += usage.total();
        ledger.used.cost_usd += cost_usd;
        self.settled = true;
    }
}

impl Drop for BudgetReservation<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.budget.release(self.worst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            ..TokenUsage::default()
        }
    }

    #[test]
    fn estimates_four_chars_per_token() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé"), 1);
    }

    #[test]
    fn finds_prices_by_longest_prefix_and_profile() {
        let table = PriceTable::builtin();
        let sonnet = table
            .price_for("us.anthropic.claude-sonnet-4-20250514-v1:0")
            .unwrap();
        assert_eq!(sonnet.input_per_mtok, 3.0);
        let opus45 = table
            .price_for("anthropic.claude-opus-4-5-20251101-v1:0")
            .unwrap();
        assert_eq!(opus45.input_per_mtok, 5.0);
        let opus4 = table
            .price_for("anthropic.claude-opus-4-1-20250805-v1:0")
            .unwrap();
        assert_eq!(opus4.input_per_mtok, 15.0);
        assert_eq!(
            table
                .price_for("gpt-4o-mini-2024-07-18")
                .unwrap()
                .input_per_mtok,
            0.15
        );
        assert_eq!(
            table.price_for("gpt-4o-2024-08-06").unwrap().input_per_mtok,
            2.50
        );
        assert_eq!(
            table
                .price_for("openai/gpt-4.1-mini")
                .unwrap()
                .input_per_mtok,
            0.40
        );
        assert!(table.price_for("llama3.1:8b").is_none());
    }

    #[test]
    fn cost_counts_cache_tokens_at_their_rates() {
        let price = ModelPrice::new(3.0, 15.0);
        let cost = price.cost(&TokenUsage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 1_000_000,
            cache_write_tokens: 0,
        });
        assert!((cost - (3.0 + 1.5 + 0.3)).abs() < 1e-9, "{cost}");
        assert_eq!(
            estimate_cost(&PriceTable::default(), "x", &usage(1, 1)),
            None
        );
    }

    #[test]
    fn overrides_replace_and_add() {
        let overrides = PriceTable::from_yaml(
            "models:\n  gpt-4o:\n    inputPerMtok: 1.0\n    outputPerMtok: 2.0\n  llama3.1:\n    inputPerMtok: 0\n    outputPerMtok: 0\n",
        )
        .unwrap();
        let table = PriceTable::builtin().with_overrides(overrides);
        assert_eq!(table.price_for("gpt-4o").unwrap().input_per_mtok, 1.0);
        assert_eq!(table.price_for("llama3.1:8b").unwrap().output_per_mtok, 0.0);
        assert_eq!(table.price_for("gpt-4.1").unwrap().input_per_mtok, 2.0);
        let json =
            PriceTable::from_yaml(r#"{"models":{"m":{"inputPerMtok":1,"outputPerMtok":1}}}"#)
                .unwrap();
        assert!(json.price_for("m").is_some());
        assert!(PriceTable::from_yaml("models: {m: {inputPerMtok: 1}}").is_err());
    }

    #[test]
    fn load_overrides_reports_the_path() {
        let missing = Path::new("/nonexistent/prices.yaml");
        let error = PriceTable::load_overrides(missing).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/prices.yaml"));
    }

    #[test]
    fn token_budget_refuses_worst_case_and_settles_actuals() {
        let prices = PriceTable::builtin();
        let budget = Budget::new(BudgetLimits {
            max_tokens: Some(1000),
            max_cost_usd: None,
        });
        let first = budget.reserve(&prices, "unknown-model", 300, 400).unwrap();
        // 700 reserved: a second worst case of 700 does not fit.
        let refused = budget
            .reserve(&prices, "unknown-model", 300, 400)
            .unwrap_err();
        assert_eq!(refused.category().as_str(), "BudgetExceeded");
        first.settle(&usage(250, 50), 0.0);
        assert_eq!(budget.used().0, 300);
        // Now 700 are left.
        let second = budget.reserve(&prices, "unknown-model", 300, 400).unwrap();
        drop(second);
        assert_eq!(budget.used().0, 300);
        assert!(budget.reserve(&prices, "unknown-model", 300, 401).is_err());
    }

    #[test]
    fn cost_budget_needs_a_price_and_refuses_overspend() {
        let prices = PriceTable::builtin();
        let budget = Budget::new(BudgetLimits {
            max_tokens: None,
            max_cost_usd: Some(0.01),
        });
        assert!(budget.reserve(&prices, "no-price-model", 10, 10).is_err());
        // 1000 in + 500 out on sonnet: 0.003 + 0.0075 = 0.0105 > 0.01.
        let refused = budget.reserve(&prices, "anthropic.claude-sonnet-4", 1000, 500);
        assert!(refused.is_err());
        let ok = budget.reserve(&prices, "anthropic.claude-sonnet-4", 1000, 400);
        assert!(ok.is_ok());
    }

    #[test]
    fn limits_from_the_spec() {
        let limits = BudgetLimits::try_from(&Budgets {
            max_tokens: Some(5000),
            max_cost_usd: Some("0.50".into()),
        })
        .unwrap();
        assert_eq!(limits.max_tokens, Some(5000));
        assert_eq!(limits.max_cost_usd, Some(0.5));
        assert!(
            BudgetLimits::try_from(&Budgets {
                max_tokens: Some(-1),
                max_cost_usd: None
            })
            .is_err()
        );
    }
}
