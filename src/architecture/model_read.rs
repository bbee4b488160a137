//! What only a model can read: free text (a design document) and pictures of a diagram. The
//! discovery stage's model is asked for the services and calls it sees; its answer is grounded
//! like any model output: a call joins the map as `declared` evidence ("read by model M from
//! image I") only when both ends are nodes of the map, and every name that is not is dropped
//! with its reason. Pure: the prompt is built and the answer grounded here; the call is made by
//! [`crate::llm::architecture`].

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ArchitectureSource, ImageFormat};
use crate::analysis::prompt::{DATA_CLOSE, DATA_OPEN, SYSTEM_PROMPT, seal};
use crate::servicemap::names::Callee;
use crate::servicemap::{
    AttachReport, DeclaredEvidence, Evidence, Matching, NameHints, NameIndex, NamedCall, NodeKind,
    ServiceMap, attach,
};

/// The name of the request, in caches, usage and the output schema.
pub const READING_NAME: &str = "architecture";
/// What the reading is asked to do (`prompts/v2/architecture.md`).
const READING_TASK: &str = include_str!("../../prompts/v2/architecture.md");
/// Most output tokens of a reading.
pub const READING_MAX_TOKENS: u32 = 4_096;

/// The services and calls a model read in the architecture.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ArchitectureReading {
    /// Services the text and pictures show.
    #[serde(default)]
    pub services: Vec<ReadService>,
    /// Calls between them.
    #[serde(default)]
    pub calls: Vec<ReadCall>,
}

/// A service the model saw.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReadService {
    /// The map's name for it, or the architecture's.
    pub name: String,
    /// The origin of the text or picture it is in.
    pub source: String,
}

/// A call the model saw: `from` calls `to`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReadCall {
    pub from: String,
    pub to: String,
    /// The origin of the text or picture it is in.
    pub source: String,
}

/// A picture to send with the prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptImage<'s> {
    pub origin: &'s str,
    pub format: ImageFormat,
    pub bytes: &'s [u8],
}

/// The texts and pictures of a reading request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadingPrompt<'s> {
    pub system: String,
    /// The data block: the map's names, then every text source, sealed.
    pub context: String,
    pub task: String,
    pub images: Vec<PromptImage<'s>>,
}

/// The reading request for the text and image sources of `sources`; `None` when there are none
/// (diagrams as code need no model).
pub fn reading_prompt<'s>(
    map: &ServiceMap,
    sources: &'s [ArchitectureSource],
) -> Option<ReadingPrompt<'s>> {
    let mut texts = String::new();
    let mut images = Vec::new();
    for source in sources {
        match source {
            ArchitectureSource::Diagram(_) => {}
            ArchitectureSource::Text { origin, text } => {
                let _ = writeln!(texts, "## architecture text from {origin}\n{text}");
            }
            ArchitectureSource::Image {
                origin,
                format,
                bytes,
            } => images.push(PromptImage {
                origin,
                format: *format,
                bytes,
            }),
        }
    }
    if texts.is_empty() && images.is_empty() {
        return None;
    }
    let mut data = String::from("## map names (workloads and Services)\n");
    for node in map
        .nodes
        .iter()
        .filter(|n| n.kind.is_workload() || n.kind == NodeKind::Service)
    {
        let _ = writeln!(data, "- {} ({})", node.name, node.id);
    }
    data.push_str(&texts);
    if !images.is_empty() {
        data.push_str("## pictures (attached after the data, in this order)\n");
        for image in &images {
            let _ = writeln!(data, "- image {}", image.origin);
        }
    }
    let context = format!("{DATA_OPEN}\n{}{DATA_CLOSE}\n", seal(&data));
    let task = format!(
        "{}\nUse only the data between {DATA_OPEN} and {DATA_CLOSE} above and the pictures. Answer with JSON matching the {READING_NAME} schema.",
        READING_TASK.trim_end()
    );
    Some(ReadingPrompt {
        system: SYSTEM_PROMPT.trim_end().to_owned(),
        context,
        task,
        images,
    })
}

/// A name the model gave that is not in the map, with the reason it was dropped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DroppedName {
    pub name: String,
    pub source: String,
    pub reason: String,
}

/// What grounding did with a reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadingOutcome {
    /// The grounded calls' attachment.
    pub attach: AttachReport,
    /// Calls with both ends in the map.
    pub grounded_calls: usize,
    /// Services and call ends that are not in the map, each once, with the reason.
    pub dropped: Vec<DroppedName>,
}

/// Adds the calls of `reading` whose ends are both map nodes to `map`, as declared evidence
/// naming `model` and the source; lists every other name as dropped.
pub fn ground_reading(
    map: &mut ServiceMap,
    reading: &ArchitectureReading,
    model: &str,
    sources: &[ArchitectureSource],
) -> ReadingOutcome {
    let mut outcome = ReadingOutcome::default();
    let mut calls = Vec::new();
    {
        let index = NameIndex::new(map);
        let mut drop = |name: &str, source: &str, reason: String| {
            let dropped = DroppedName {
                name: name.to_owned(),
                source: source.to_owned(),
                reason,
            };
            if !outcome.dropped.contains(&dropped) {
                outcome.dropped.push(dropped);
            }
        };
        for service in &reading.services {
            if let Err(reason) = resolve(&index, &service.name, End::Either) {
                drop(&service.name, &service.source, reason);
            }
        }
        for call in &reading.calls {
            let from = resolve(&index, &call.from, End::Caller);
            let to = resolve(&index, &call.to, End::Callee);
            match (from, to) {
                (Ok(caller), Ok(callee)) => calls.push(NamedCall {
                    caller,
                    callee,
                    evidence: Evidence::Declared(DeclaredEvidence {
                        origin: evidence_origin(model, &call.source, sources),
                        line: None,
                    }),
                }),
                (from, to) => {
                    for (name, end) in [(&call.from, from), (&call.to, to)] {
                        if let Err(reason) = end {
                            drop(
                                name,
                                &call.source,
                                format!(
                                    "{reason}; the call {} → {} is dropped",
                                    call.from, call.to
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    outcome.grounded_calls = calls.len();
    outcome.attach = attach(map, calls, Matching::Loose);
    outcome.dropped.sort();
    outcome
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Caller,
    Callee,
    Either,
}

/// The hints that find `name` in the map at `end`, or why nothing there is it. A host outside
/// the map is not accepted: a model's reading never adds a node.
fn resolve(index: &NameIndex<'_>, name: &str, end: End) -> Result<NameHints, String> {
    let hints = NameHints {
        service_name: Some(name.to_owned()),
        host: (name.contains('.') && !name.contains(char::is_whitespace)).then(|| name.to_owned()),
        ..NameHints::default()
    };
    let map = index.map();
    let as_callee = || match index.callee(&hints, Matching::Loose) {
        Ok(Callee::Service(_)) => Ok(()),
        Ok(Callee::External(host)) => {
            let known = map.nodes.iter().any(|n| {
                n.kind == NodeKind::External && n.host.as_deref().unwrap_or(&n.name) == host
            });
            if known {
                Ok(())
            } else {
                Err(format!("{host} is no external host of the map"))
            }
        }
        Err(why) => Err(why.reason()),
    };
    let as_caller = || {
        index
            .workload(&hints, Matching::Loose)
            .map(|_| ())
            .map_err(|why| why.reason())
    };
    let found = match end {
        End::Caller => as_caller(),
        End::Callee => as_callee(),
        End::Either => as_caller().or_else(|_| as_callee()),
    };
    found
        .map(|()| hints)
        .map_err(|reason| format!("{name:?} is not in the map ({reason}): a service the model read but the cluster does not run, or one it invented"))
}

/// "read by model M from image I" (or "from text T"); a source the model made up is not cited.
fn evidence_origin(model: &str, source: &str, sources: &[ArchitectureSource]) -> String {
    let what = sources.iter().find_map(|s| match s {
        ArchitectureSource::Image { origin, .. } if origin == source => Some("image"),
        ArchitectureSource::Text { origin, .. } if origin == source => Some("text"),
        _ => None,
    });
    match what {
        Some(what) => format!("read by model {model} from {what} {source}"),
        None => format!("read by model {model} from the architecture"),
    }
}

/// Reads a model's answer as a reading.
pub fn parse_reading(text: &str) -> Result<ArchitectureReading, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("the answer is not an {READING_NAME} reading: {e}"))
}
