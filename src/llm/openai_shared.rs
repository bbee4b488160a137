//! One response format for every stage on OpenAI-compatible servers.
//!
//! OpenAI counts a structured-output schema into the prompt, ahead of the messages, and caches
//! it with them: a schema per stage would make every stage's prefix differ from the first byte,
//! and nothing after it (system text, map) would be read from the cache. So when a request
//! offers the outputs of every stage ([`CompletionRequest::shared_outputs`]), the server gets
//! one schema, the same bytes on every stage: an object with one nullable property per stage.
//! The stage's message says which property to fill; the answer is read back from it.
//!
//! Strict mode is used when every stage's schema can be strict; one free-form map (a Chaos Mesh
//! label selector) makes the shared schema non-strict, and the answer is validated locally, item
//! by item, as always.

use serde_json::{Map, Value};

use super::openai::strict_schema;
use super::{Completion, CompletionRequest};

/// The name of the shared response format.
pub const SHARED_FORMAT_NAME: &str = "stage_answer";
const SHARED_FORMAT_DESCRIPTION: &str =
    "The answer of one analysis stage, under that stage's name; the other stages null.";

/// The shared format's parts, for the wire request.
pub(crate) struct SharedFormat {
    pub name: &'static str,
    pub description: &'static str,
    pub strict: bool,
    pub schema: schemars::Schema,
}

/// The one schema for every output `req` offers, or `None` when it offers only its own (or two
/// outputs define a type of the same name differently, which would make one schema ambiguous).
pub(crate) fn shared_format(req: &CompletionRequest) -> Option<SharedFormat> {
    if req.shared_outputs.is_empty() {
        return None;
    }
    let strict: Option<Vec<schemars::Schema>> = req
        .shared_outputs
        .iter()
        .map(|spec| strict_schema(&spec.schema).ok())
        .collect();
    let is_strict = strict.is_some();
    let schemas: Vec<Value> = match strict {
        Some(schemas) => schemas.into_iter().map(|s| s.to_value()).collect(),
        None => req
            .shared_outputs
            .iter()
            .map(|spec| spec.schema.as_value().clone())
            .collect(),
    };
    let mut definitions = Map::new();
    let mut properties = Map::new();
    for (spec, mut schema) in req.shared_outputs.iter().zip(schemas) {
        if let Some(Value::Object(own)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
            for (name, definition) in own {
                match definitions.get(&name) {
                    Some(existing) if *existing != definition => return None,
                    Some(_) => {}
                    None => {
                        definitions.insert(name, definition);
                    }
                }
            }
        }
        let nullable = serde_json::json!({ "anyOf": [schema, { "type": "null" }] });
        properties.insert(spec.name.clone(), nullable);
    }
    let required: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
    let mut root = Map::new();
    root.insert("type".into(), "object".into());
    root.insert("properties".into(), Value::Object(properties));
    root.insert("required".into(), Value::Array(required));
    root.insert("additionalProperties".into(), Value::Bool(false));
    if !definitions.is_empty() {
        root.insert("$defs".into(), Value::Object(definitions));
    }
    let schema = schemars::Schema::try_from(Value::Object(root)).ok()?;
    Some(SharedFormat {
        name: SHARED_FORMAT_NAME,
        description: SHARED_FORMAT_DESCRIPTION,
        strict: is_strict,
        schema,
    })
}

/// The line the stage's message ends with when the shared format is used: which property to
/// fill. A servers' fake reads the stage from it too.
pub(crate) fn fill_instruction(output_name: &str) -> String {
    format!(
        "\n\nThe response format holds every stage's answer: put yours under \"{output_name}\" and set the others to null."
    )
}

/// The stage's answer out of a shared-format answer: the object under the output's name. Any
/// other text (a server that fell back to `json_object` answers the stage's object itself) is
/// left as it is; a stage's own output never holds an object under its own name.
pub(crate) fn unwrap_answer(req: &CompletionRequest, mut completion: Completion) -> Completion {
    if req.shared_outputs.is_empty() {
        return completion;
    }
    let inner = serde_json::from_str::<Value>(completion.text.trim())
        .ok()
        .and_then(|value| match value {
            Value::Object(mut object) => object.remove(&req.output.name),
            _ => None,
        })
        .filter(Value::is_object);
    if let Some(inner) = inner {
        completion.text = inner.to_string();
    }
    completion
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::OutputSpec;

    fn spec(name: &str, schema: Value) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            description: String::new(),
            schema: schemars::Schema::try_from(schema).unwrap(),
        }
    }

    fn request(output: &str, shared: Vec<OutputSpec>) -> CompletionRequest {
        let own = shared
            .iter()
            .find(|s| s.name == output)
            .cloned()
            .unwrap_or_else(|| spec(output, serde_json::json!({"type": "object"})));
        CompletionRequest {
            model: "gpt-4.1".into(),
            system: String::new(),
            context: String::new(),
            messages: Vec::new(),
            output: own,
            shared_outputs: shared,
            max_tokens: 100,
            temperature: None,
            images: Vec::new(),
        }
    }

    fn outputs() -> Vec<OutputSpec> {
        vec![
            spec(
                "first",
                serde_json::json!({"type": "object", "properties": {"ids": {"type": "array", "items": {"$ref": "#/$defs/Id"}}}, "$defs": {"Id": {"type": "string"}}}),
            ),
            spec(
                "second",
                serde_json::json!({"type": "object", "properties": {"id": {"$ref": "#/$defs/Id"}}, "$defs": {"Id": {"type": "string"}}}),
            ),
        ]
    }

    #[test]
    fn every_stage_gets_the_same_schema_with_one_nullable_property_each() {
        let first = shared_format(&request("first", outputs())).unwrap();
        let second = shared_format(&request("second", outputs())).unwrap();
        assert_eq!(first.schema, second.schema);
        assert!(first.strict);
        let value = first.schema.to_value();
        assert_eq!(value["required"], serde_json::json!(["first", "second"]));
        assert_eq!(
            value["properties"]["second"]["anyOf"][1],
            serde_json::json!({"type": "null"})
        );
        assert_eq!(value["$defs"]["Id"], serde_json::json!({"type": "string"}));
        assert!(shared_format(&request("first", Vec::new())).is_none());
    }

    #[test]
    fn a_free_form_map_makes_it_non_strict_and_a_clash_of_names_stops_sharing() {
        let mut with_map = outputs();
        with_map.push(spec(
            "third",
            serde_json::json!({"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}),
        ));
        assert!(!shared_format(&request("third", with_map)).unwrap().strict);
        let mut clash = outputs();
        clash.push(spec(
            "third",
            serde_json::json!({"type": "object", "properties": {"id": {"$ref": "#/$defs/Id"}}, "$defs": {"Id": {"type": "integer"}}}),
        ));
        assert!(shared_format(&request("third", clash)).is_none());
    }

    #[test]
    fn the_answer_is_read_from_the_stage_property_and_other_text_passes() {
        let req = request("first", outputs());
        let completion = |text: &str| Completion {
            text: text.into(),
            usage: crate::llm::TokenUsage::default(),
            model: "gpt-4.1".into(),
            stop_reason: None,
        };
        let unwrapped = unwrap_answer(
            &req,
            completion(r#"{"first": {"ids": ["a"]}, "second": null}"#),
        );
        assert_eq!(unwrapped.text, r#"{"ids":["a"]}"#);
        let bare = unwrap_answer(&req, completion(r#"{"first": ["a"]}"#));
        assert_eq!(bare.text, r#"{"first": ["a"]}"#);
        let broken = unwrap_answer(&req, completion("{not json"));
        assert_eq!(broken.text, "{not json");
    }
}
