//! `smart-chaos chat`: questions answered from an analysis' results, by retrieval over them
//! (built-in) or by a model given the retrieved items (with `--provider`).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::provider_args::ProviderArgs;
use crate::analysis::AnalysisResult;
use crate::analysis::chat::{ChatAnswer, builtin_answer};
use crate::llm::chat::ChatAssistant;

/// Arguments of `smart-chaos chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The analysis.json that `smart-chaos analyze` wrote.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "smart-chaos-report/analysis.json"
    )]
    pub analysis: PathBuf,
    /// Print each answer as one line of JSON (`{"answer", "citedIds"}`).
    #[arg(long)]
    pub json: bool,
    /// The question. Without it, questions are read from standard input, one a line.
    #[arg(value_name = "QUESTION", trailing_var_arg = true)]
    pub question: Vec<String>,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

fn read_analysis(path: &Path) -> anyhow::Result<AnalysisResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (run smart-chaos analyze first)", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an analysis.json of smart-chaos", path.display()))
}

/// How questions are answered.
enum Answerer {
    Builtin,
    Model(Box<ChatAssistant>),
}

impl Answerer {
    async fn answer(&self, result: &AnalysisResult, question: &str) -> ChatAnswer {
        match self {
            Answerer::Builtin => builtin_answer(result, question),
            Answerer::Model(assistant) => match assistant.ask(result, question).await {
                Ok(reply) => {
                    if !reply.dropped_citations.is_empty() {
                        eprintln!(
                            "warning: the model cited ids that are not in the analysis, removed: {}",
                            reply.dropped_citations.join(", ")
                        );
                    }
                    reply.answer
                }
                Err(error) => {
                    eprintln!(
                        "warning: the model gave no usable answer ({error}); answering from the results instead"
                    );
                    builtin_answer(result, question)
                }
            },
        }
    }
}

fn write_answer(
    out: &mut impl Write,
    result: &AnalysisResult,
    answer: &ChatAnswer,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let line = serde_json::to_string(answer).context("encoding the answer")?;
        writeln!(out, "{line}")?;
        return Ok(());
    }
    writeln!(out, "{}", answer.answer.trim_end())?;
    // A built-in answer lists its items already; a model's answer gets its sources listed.
    let unlisted: Vec<&String> = answer
        .cited_ids
        .iter()
        .filter(|id| !answer.answer.contains(&format!("[{id}]")))
        .collect();
    if !unlisted.is_empty() {
        writeln!(out, "Sources:")?;
        for id in unlisted {
            let text = result.find(id).map(|item| item.text()).unwrap_or_default();
            writeln!(out, "- [{id}] {text}")?;
        }
    }
    Ok(())
}

pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let result = read_analysis(&args.analysis)?;
    let answerer = match args.provider.chat_session().await? {
        Some((session, model)) => Answerer::Model(Box::new(ChatAssistant::new(session, model))),
        None => Answerer::Builtin,
    };
    let questions: Vec<String> = if args.question.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .context("reading questions from standard input")?
    } else {
        vec![args.question.join(" ")]
    };
    let mut stdout = std::io::stdout().lock();
    let mut first = true;
    for question in questions.iter().map(|q| q.trim()).filter(|q| !q.is_empty()) {
        if !first && !args.json {
            writeln!(stdout)?;
        }
        first = false;
        let answer = answerer.answer(&result, question).await;
        write_answer(&mut stdout, &result, &answer, args.json)?;
        stdout.flush()?;
    }
    if let Answerer::Model(assistant) = &answerer {
        let total = assistant.session().ledger().total;
        eprintln!(
            "model usage: {} calls, {} cached, {} input and {} output tokens, ${:.4}{}",
            total.calls,
            total.cached,
            total.usage.input_tokens,
            total.usage.output_tokens,
            total.cost_usd,
            if total.cost_incomplete {
                " (some models have no price)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
