//! The chat assistant with a model: the retrieved items of an analysis as quoted data plus the
//! question, answered as `{answer, citedIds}`, parsed (one repair round), citations grounded.
//! Without a model the CLI uses [`crate::analysis::chat::builtin_answer`].

use super::{ChatMessage, CompletionRequest, LlmError, LlmSession, OutputSpec};
use crate::analysis::AnalysisResult;
use crate::analysis::chat::{
    CHAT_STAGE, ChatAnswer, DEFAULT_RETRIEVED, chat_prompt, ground_citations, parse_chat_answer,
    retrieve,
};
use crate::analysis::prompt::PROMPT_VERSION;
use crate::analysis::redact::redact;

/// Most output tokens of one chat answer.
pub const CHAT_MAX_TOKENS: u32 = 2_048;

/// Why the model gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("the answer could not be used after one repair round: {}", .0.join("; "))]
    Unusable(Vec<String>),
}

/// A grounded answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatReply {
    /// The answer with only citations of items that exist.
    pub answer: ChatAnswer,
    /// Citations that named no item of the analysis, removed.
    pub dropped_citations: Vec<String>,
    /// The first answer was unusable and a repair round was made.
    pub repaired: bool,
}

/// Answers questions about an analysis with a model.
pub struct ChatAssistant {
    session: LlmSession,
    model: String,
}

impl ChatAssistant {
    /// An assistant asking `model` through `session`.
    pub fn new(session: LlmSession, model: impl Into<String>) -> Self {
        ChatAssistant {
            session,
            model: model.into(),
        }
    }

    /// The session (usage, budget).
    pub fn session(&self) -> &LlmSession {
        &self.session
    }

    /// Answers `question` from `result`.
    pub async fn ask(
        &self,
        result: &AnalysisResult,
        question: &str,
    ) -> Result<ChatReply, ChatError> {
        let items = retrieve(result, question, DEFAULT_RETRIEVED);
        let prompt = chat_prompt(result, question, &items);
        let request = CompletionRequest {
            model: self.model.clone(),
            system: redact(&prompt.system),
            context: redact(&prompt.context),
            messages: vec![ChatMessage::user(redact(&prompt.question))],
            output: OutputSpec {
                name: CHAT_STAGE.to_string(),
                description: "An answer to a question about the analysis, with the ids it cites"
                    .to_string(),
                schema: schemars::schema_for!(ChatAnswer),
            },
            shared_outputs: Vec::new(),
            max_tokens: CHAT_MAX_TOKENS,
            temperature: Some(0.0),
            images: Vec::new(),
        };
        let read = |c: &super::Completion| parse_chat_answer(&c.text);
        let (first, parsed) = self
            .session
            .complete_checked(CHAT_STAGE, PROMPT_VERSION, &request, read)
            .await?;
        let (answer, repaired) = match parsed {
            Ok(answer) => (answer, false),
            Err(problems) => {
                let mut repair = request.clone();
                repair
                    .messages
                    .push(ChatMessage::assistant(redact(&first.completion.text)));
                let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
                repair.messages.push(ChatMessage::user(format!(
                    "Your previous answer could not be used:\n{}\nAnswer again with JSON matching the chat schema (answer, citedIds). JSON only.",
                    list.join("\n")
                )));
                let (second, parsed) = self
                    .session
                    .complete_checked(CHAT_STAGE, PROMPT_VERSION, &repair, read)
                    .await?;
                let answer = parsed.map_err(ChatError::Unusable)?;
                self.session
                    .remember(CHAT_STAGE, PROMPT_VERSION, &request, &second.completion)
                    .await;
                (answer, true)
            }
        };
        let (answer, dropped_citations) = ground_citations(result, answer);
        Ok(ChatReply {
            answer,
            dropped_citations,
            repaired,
        })
    }
}
