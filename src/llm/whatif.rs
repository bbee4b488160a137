//! A model turns a free-text test case into the structured form (see
//! [`crate::analysis::whatif_text`]); texts are redacted before they leave the process.

use super::{ChatMessage, CompletionRequest, LlmError, LlmSession, OutputSpec};
use crate::analysis::prompt::PROMPT_VERSION;
use crate::analysis::redact::redact;
use crate::analysis::whatif::WhatIf;
use crate::analysis::whatif_text::{
    StructuredTestCase, WHAT_IF_MAX_TOKENS, WHAT_IF_NAME, parse_structured, what_if_prompt,
};
use crate::servicemap::ServiceMap;

/// Why a free-text test case could not be structured.
#[derive(Debug, thiserror::Error)]
pub enum StructureError {
    #[error("asking {model} to structure the test case: {source}")]
    Model {
        model: String,
        #[source]
        source: LlmError,
    },
    #[error("{model}'s structured test case cannot be used: {problem}")]
    Unusable { model: String, problem: String },
}

/// Asks `model` for the structured form of `question`.
pub async fn structure_test_case(
    session: &LlmSession,
    model: &str,
    map: &ServiceMap,
    question: &str,
) -> Result<(StructuredTestCase, WhatIf), StructureError> {
    let prompt = what_if_prompt(map, question);
    let request = CompletionRequest {
        model: model.to_owned(),
        system: redact(&prompt.system),
        context: redact(&prompt.context),
        messages: vec![ChatMessage::user(redact(&prompt.task))],
        output: OutputSpec {
            name: WHAT_IF_NAME.to_owned(),
            description: "A free-text test case in the structured what-if form".to_owned(),
            schema: schemars::schema_for!(StructuredTestCase),
        },
        max_tokens: WHAT_IF_MAX_TOKENS,
        temperature: Some(0.0),
        shared_outputs: Vec::new(),
        images: Vec::new(),
    };
    let (_, parsed) = session
        .complete_checked(WHAT_IF_NAME, PROMPT_VERSION, &request, |c| {
            parse_structured(&c.text)
        })
        .await
        .map_err(|source| StructureError::Model {
            model: model.to_owned(),
            source,
        })?;
    parsed.map_err(|problem| StructureError::Unusable {
        model: model.to_owned(),
        problem,
    })
}
