//! The chat assistant's parts that need no model: retrieval over an analysis' results, the
//! built-in answer (templated, citing the ids of the items it rests on), the prompt that hands
//! retrieved items to a model as quoted data, and grounding of a model's citations.

use std::collections::BTreeSet;
use std::fmt::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::prompt::{CHAT_PROMPT, DATA_CLOSE, DATA_OPEN};
use super::render::quote;
use super::result::{AnalysisResult, ResultItem};

/// The name under which chat calls are accounted, cached and given a model (`stageModels.chat`).
pub const CHAT_STAGE: &str = "chat";
/// Items retrieved for one question.
pub const DEFAULT_RETRIEVED: usize = 12;

/// An answer to a question about an analysis.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChatAnswer {
    /// The answer, in a few sentences.
    pub answer: String,
    /// Ids of the analysis items (findings, steady states, hypotheses, experiments...) the answer
    /// rests on, copied exactly.
    #[serde(default)]
    pub cited_ids: Vec<String>,
}

/// Words that say nothing about which item a question is about.
const STOP_WORDS: &[&str] = &[
    "about", "after", "all", "and", "any", "are", "because", "but", "can", "could", "did", "does",
    "doing", "for", "from", "give", "happen", "happens", "has", "have", "how", "into", "its",
    "list", "not", "our", "should", "show", "some", "tell", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "was", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The terms of a question: lower-case words of three characters or more, without stop words,
/// a plural or third-person `s` cut (`fails` finds `failure`).
fn terms(question: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    question
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '/' | '.')))
        .map(|word| word.trim_matches('.').to_lowercase())
        .filter(|word| word.chars().count() >= 3 && !STOP_WORDS.contains(&word.as_str()))
        .map(|word| {
            if word.chars().count() > 4 && word.ends_with('s') && !word.ends_with("ss") {
                word[..word.len() - 1].to_string()
            } else {
                word
            }
        })
        .filter(|word| seen.insert(word.clone()))
        .collect()
}

/// The items of `result` that best match `question`: each term found in an item's id counts 3,
/// in its text 1; best first, ties in the result's order; items matching nothing are left out.
pub fn retrieve<'r>(
    result: &'r AnalysisResult,
    question: &str,
    limit: usize,
) -> Vec<ResultItem<'r>> {
    let terms = terms(question);
    if terms.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(u32, usize, ResultItem<'r>)> = result
        .items()
        .enumerate()
        .filter_map(|(position, item)| {
            let id = item.id().to_lowercase();
            let text = item.text().to_lowercase();
            let score: u32 = terms
                .iter()
                .map(|term| {
                    if id.contains(term.as_str()) {
                        3
                    } else if text.contains(term.as_str()) {
                        1
                    } else {
                        0
                    }
                })
                .sum();
            (score > 0).then_some((score, position, item))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, _, item)| item)
        .collect()
}

/// The built-in answer: the matching items, each with its id, or what the analysis holds when
/// nothing matches.
pub fn builtin_answer(result: &AnalysisResult, question: &str) -> ChatAnswer {
    let items = retrieve(result, question, DEFAULT_RETRIEVED);
    if items.is_empty() {
        let example = result
            .hypotheses
            .hypotheses
            .first()
            .map(|h| format!(", or an id such as {}", h.id))
            .unwrap_or_default();
        let s = &result.summary;
        return ChatAnswer {
            answer: format!(
                "Nothing in this analysis matches {}. It holds {} findings, {} hypotheses and {} proposed experiments over {} workloads; ask about a service, a kind of finding (single-replica, no-pdb, fan-in...){example}.",
                quote(question.trim()),
                s.findings,
                s.hypotheses,
                s.proposals,
                s.workloads
            ),
            cited_ids: Vec::new(),
        };
    }
    let mut answer = format!(
        "{} item{} of the analysis match {}:",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        quote(question.trim())
    );
    for item in &items {
        let _ = write!(answer, "\n- [{}] {}", item.id(), item.text());
    }
    ChatAnswer {
        answer,
        cited_ids: items.iter().map(|item| item.id().to_string()).collect(),
    }
}

/// A chat request's texts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatPrompt {
    /// Instructions (`prompts/v2/chat.md`).
    pub system: String,
    /// The retrieved items and the summary, as data.
    pub context: String,
    /// The question and what to answer with.
    pub question: String,
}

/// The prompt for a model: the summary and the retrieved items between the data delimiters (each
/// item's text JSON-quoted, `<` escaped), then the question.
pub fn chat_prompt(
    result: &AnalysisResult,
    question: &str,
    items: &[ResultItem<'_>],
) -> ChatPrompt {
    let s = &result.summary;
    let mut data = format!(
        "# analysis: {} services, {} workloads, {} edges, {} findings, {} hypotheses, {} proposed experiments, {} items dropped by grounding and guardrails\n## items (id, then text)\n",
        s.services, s.workloads, s.edges, s.findings, s.hypotheses, s.proposals, s.dropped
    );
    for item in items {
        let _ = writeln!(data, "{} {}", quote(item.id()), quote(&item.text()));
    }
    if items.is_empty() {
        data.push_str("(no item matches the question)\n");
    }
    ChatPrompt {
        system: CHAT_PROMPT.trim_end().to_string(),
        context: format!(
            "{DATA_OPEN}\n{}{DATA_CLOSE}\n",
            data.replace('<', "\\u003c")
        ),
        question: format!(
            "Question: {}\nAnswer with JSON matching the chat schema (answer, citedIds).",
            question.trim()
        ),
    }
}

/// Reads a model's chat answer: JSON of [`ChatAnswer`] (a Markdown fence tolerated) with a
/// non-empty answer. The error lists the problems, for a repair round.
pub fn parse_chat_answer(text: &str) -> Result<ChatAnswer, Vec<String>> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("```")
        .map(|rest| {
            let inner = rest.split_once('\n').map(|(_, b)| b).unwrap_or("");
            inner.trim_end().strip_suffix("```").unwrap_or(inner).trim()
        })
        .unwrap_or(trimmed);
    let answer: ChatAnswer = serde_json::from_str(body).map_err(|e| {
        vec![format!(
            "not JSON of the chat schema (line {}, column {}): {e}",
            e.line(),
            e.column()
        )]
    })?;
    if answer.answer.trim().is_empty() {
        return Err(vec!["answer is empty".to_string()]);
    }
    Ok(answer)
}

/// Keeps the citations that name items of `result` (each once, in order) and returns those that
/// do not.
pub fn ground_citations(
    result: &AnalysisResult,
    mut answer: ChatAnswer,
) -> (ChatAnswer, Vec<String>) {
    let mut seen = BTreeSet::new();
    let mut dropped = Vec::new();
    answer.cited_ids.retain(|id| {
        if result.find(id).is_none() {
            dropped.push(id.clone());
            return false;
        }
        seen.insert(id.clone())
    });
    (answer, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};

    fn result() -> AnalysisResult {
        analyze_builtin(&fixtures::boutique(), &AnalysisConfig::default()).unwrap()
    }

    #[test]
    fn terms_drop_stop_words_and_plurals() {
        assert_eq!(
            terms("What happens if redis-cart fails? Which experiments?"),
            vec!["redis-cart", "fail", "experiment"]
        );
        assert!(terms("what is it?").is_empty());
    }

    #[test]
    fn retrieval_finds_items_about_a_service_best_first() {
        let result = result();
        let items = retrieve(&result, "what if cartservice fails", 5);
        assert!(!items.is_empty());
        for item in &items {
            let haystack = format!("{} {}", item.id(), item.text()).to_lowercase();
            assert!(
                haystack.contains("cartservice") || haystack.contains("fail"),
                "{haystack}"
            );
        }
        assert!(
            format!("{} {}", items[0].id(), items[0].text()).contains("cartservice"),
            "the best item names the service"
        );
        assert!(retrieve(&result, "zzzz-nothing", 5).is_empty());
    }

    #[test]
    fn builtin_answer_cites_items_that_exist() {
        let result = result();
        let answer = builtin_answer(&result, "single replica findings");
        assert!(!answer.cited_ids.is_empty());
        for id in &answer.cited_ids {
            assert!(result.find(id).is_some(), "{id}");
            assert!(answer.answer.contains(&format!("[{id}]")));
        }
        let none = builtin_answer(&result, "quantum flux capacitor");
        assert!(none.cited_ids.is_empty());
        assert!(none.answer.starts_with("Nothing in this analysis matches"));
    }

    #[test]
    fn citations_are_grounded() {
        let result = result();
        let real = result.hypotheses.hypotheses[0].id.clone();
        let (answer, dropped) = ground_citations(
            &result,
            ChatAnswer {
                answer: "x".into(),
                cited_ids: vec![real.clone(), "invented-1".into(), real.clone()],
            },
        );
        assert_eq!(answer.cited_ids, vec![real]);
        assert_eq!(dropped, vec!["invented-1".to_string()]);
    }

    #[test]
    fn prompt_quotes_items_as_data_and_parse_reads_answers() {
        let result = result();
        let items = retrieve(&result, "cartservice", 3);
        let prompt = chat_prompt(&result, "What if cartservice fails?", &items);
        assert!(prompt.context.starts_with(DATA_OPEN));
        assert_eq!(prompt.context.matches(DATA_CLOSE).count(), 1);
        assert!(prompt.context.contains(&quote(items[0].id())));
        assert!(prompt.question.contains("What if cartservice fails?"));
        assert_eq!(
            parse_chat_answer("```json\n{\"answer\":\"ok\",\"citedIds\":[\"a\"]}\n```").unwrap(),
            ChatAnswer {
                answer: "ok".into(),
                cited_ids: vec!["a".into()]
            }
        );
        assert!(parse_chat_answer("{\"answer\": \"\"}").is_err());
        assert!(parse_chat_answer("not json").unwrap_err()[0].contains("line 1"));
    }
}
