//! The discovery stage's model reads the team's architecture text and pictures (see
//! [`crate::architecture::model_read`] for the prompt and the grounding of its answer). Every
//! text is redacted before it leaves the process, as in every stage.

use super::{ChatMessage, CompletionRequest, ImageInput, LlmError, LlmSession, OutputSpec};
use crate::analysis::prompt::PROMPT_VERSION;
use crate::analysis::redact::redact;
use crate::architecture::ArchitectureSource;
use crate::architecture::model_read::{
    ArchitectureReading, READING_MAX_TOKENS, READING_NAME, parse_reading, reading_prompt,
};
use crate::servicemap::ServiceMap;

/// Why the architecture could not be read by the model.
#[derive(Debug, thiserror::Error)]
pub enum ReadingError {
    #[error("asking {model} to read the architecture: {source}")]
    Model {
        model: String,
        #[source]
        source: LlmError,
    },
    #[error("{model}'s reading of the architecture cannot be used: {problem}")]
    Unusable { model: String, problem: String },
}

/// The request that asks `model` to read the text and image sources; `None` without any.
pub fn reading_request(
    model: &str,
    map: &ServiceMap,
    sources: &[ArchitectureSource],
) -> Option<CompletionRequest> {
    let prompt = reading_prompt(map, sources)?;
    Some(CompletionRequest {
        model: model.to_owned(),
        system: redact(&prompt.system),
        context: redact(&prompt.context),
        messages: vec![ChatMessage::user(redact(&prompt.task))],
        output: OutputSpec {
            name: READING_NAME.to_owned(),
            description: "The services and calls the team's architecture text and pictures show"
                .to_owned(),
            schema: schemars::schema_for!(ArchitectureReading),
        },
        max_tokens: READING_MAX_TOKENS,
        temperature: Some(0.0),
        shared_outputs: Vec::new(),
        images: prompt
            .images
            .iter()
            .map(|image| ImageInput::new(image.origin, image.format, image.bytes))
            .collect(),
    })
}

/// Asks `model` through `session` for what the text and image sources show; `Ok(None)` when
/// there are none.
pub async fn read_architecture(
    session: &LlmSession,
    model: &str,
    map: &ServiceMap,
    sources: &[ArchitectureSource],
) -> Result<Option<ArchitectureReading>, ReadingError> {
    let Some(request) = reading_request(model, map, sources) else {
        return Ok(None);
    };
    let (_, parsed) = session
        .complete_checked(READING_NAME, PROMPT_VERSION, &request, |c| {
            parse_reading(&c.text)
        })
        .await
        .map_err(|source| ReadingError::Model {
            model: model.to_owned(),
            source,
        })?;
    parsed.map(Some).map_err(|problem| ReadingError::Unusable {
        model: model.to_owned(),
        problem,
    })
}

/// What a model engine read into the map.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelReading {
    /// The discovery stage's model, which read it.
    pub model: String,
    pub outcome: crate::architecture::model_read::ReadingOutcome,
}

/// Has `engine`'s discovery model read the text and image sources and adds the grounded calls
/// to `map`. `Ok(None)` for the built-in engine or without such sources. With anonymised
/// prompts nothing is sent: the team's text names services in the clear.
pub async fn read_into_map(
    engine: &super::factory::Engine,
    map: &mut ServiceMap,
    sources: &[ArchitectureSource],
) -> Result<Option<ModelReading>, ReadingError> {
    let super::factory::Engine::Model(engine) = engine else {
        return Ok(None);
    };
    let Some(model) = engine.model_for(crate::analysis::StageId::Discovery) else {
        return Ok(None);
    };
    let model = model.to_owned();
    if engine.options().anonymize {
        return Err(ReadingError::Unusable {
            model,
            problem: "prompts are anonymised, and the architecture's own text would name every service in the clear; it is not sent".to_owned(),
        });
    }
    let Some(reading) = read_architecture(engine.session(), &model, map, sources).await? else {
        return Ok(None);
    };
    let outcome = crate::architecture::model_read::ground_reading(map, &reading, &model, sources);
    Ok(Some(ModelReading { model, outcome }))
}
