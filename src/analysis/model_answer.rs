//! What a model is asked to write for a stage, as opposed to what the stage outputs: the fields
//! rules derive or grounding recomputes from the map are left out of the schema a model gets, so
//! no output token is spent on a figure that is thrown away. The answer is read into the full
//! output type all the same (those fields have serde defaults), and grounding fills them in.
//!
//! One table ([`DERIVED`]) drives both the schema sent ([`strip_derived`]) and the shape of the
//! answers the estimate and the token tests stand in for a model's ([`model_answer`]).

use serde_json::Value;

use super::stages::{StageId, StageOutput};

/// A field of a stage's output that the model is not asked for.
struct Derived {
    stage: StageId,
    /// The top-level list whose items hold the field, or `None` for a top-level field.
    list: Option<&'static str>,
    field: &'static str,
}

const fn derived(stage: StageId, list: Option<&'static str>, field: &'static str) -> Derived {
    Derived { stage, list, field }
}

/// Why each is derived:
/// - an experiment's test case follows from its steady states (the guardrails write it);
/// - a blast radius' figures are facts of the map, always computed by grounding: the model adds
///   only why it matters (the summary);
/// - an entry point's kind and how it was found, and an external dependency's host, are set
///   from the map by grounding;
/// - fan-in and fan-out are counted from the map by grounding: the model says which workloads.
const DERIVED: &[Derived] = &[
    derived(StageId::Experiments, None, "testCases"),
    derived(StageId::BlastRadius, Some("experiments"), "target"),
    derived(
        StageId::BlastRadius,
        Some("experiments"),
        "affectedWorkloads",
    ),
    derived(
        StageId::BlastRadius,
        Some("experiments"),
        "affectedEntryPoints",
    ),
    derived(
        StageId::BlastRadius,
        Some("experiments"),
        "affectedNamespaces",
    ),
    derived(StageId::BlastRadius, Some("experiments"), "targetPods"),
    derived(StageId::BlastRadius, Some("experiments"), "touchedPods"),
    derived(StageId::BlastRadius, Some("experiments"), "podSharePercent"),
    derived(StageId::BlastRadius, Some("experiments"), "severity"),
    derived(StageId::Discovery, Some("entryPoints"), "kind"),
    derived(StageId::Discovery, Some("entryPoints"), "foundBy"),
    derived(StageId::Discovery, Some("externalDependencies"), "host"),
    derived(StageId::Dependencies, Some("fan"), "fanIn"),
    derived(StageId::Dependencies, Some("fan"), "fanOut"),
];

fn derived_of(stage: StageId) -> impl Iterator<Item = &'static Derived> {
    DERIVED.iter().filter(move |d| d.stage == stage)
}

/// Removes `field` from an object schema's `properties` and `required`.
fn remove_property(schema: &mut Value, field: &str) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.remove(field);
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| name != field);
    }
}

/// The `$defs` name an array property's items refer to (`{"items": {"$ref": "#/$defs/X"}}`).
fn item_definition(schema: &Value, list: &str) -> Option<String> {
    schema
        .get("properties")?
        .get(list)?
        .get("items")?
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/$defs/")
        .map(str::to_string)
}

/// `schema` (a stage's output schema as JSON) without the fields the model is not asked for.
pub(crate) fn strip_derived(stage: StageId, schema: &mut Value) {
    for derived in derived_of(stage) {
        match derived.list {
            None => remove_property(schema, derived.field),
            Some(list) => {
                let Some(name) = item_definition(schema, list) else {
                    continue;
                };
                if let Some(definition) = schema.get_mut("$defs").and_then(|d| d.get_mut(&name)) {
                    remove_property(definition, derived.field);
                }
            }
        }
    }
}

/// `output` as the JSON a model writes for its stage: the output without the derived fields.
/// The estimate and the token tests use it to stand in for a model's answer.
pub fn model_answer(output: &StageOutput) -> Value {
    let value = match output {
        StageOutput::Discovery(o) => serde_json::to_value(o),
        StageOutput::Dependencies(o) => serde_json::to_value(o),
        StageOutput::SteadyState(o) => serde_json::to_value(o),
        StageOutput::Hypotheses(o) => serde_json::to_value(o),
        StageOutput::Experiments(o) => serde_json::to_value(o),
        StageOutput::BlastRadius(o) => serde_json::to_value(o),
        StageOutput::Rumsfeld(o) => serde_json::to_value(o),
    };
    let Ok(mut value) = value else {
        return Value::Null;
    };
    for derived in derived_of(output.stage()) {
        match derived.list {
            None => {
                if let Some(object) = value.as_object_mut() {
                    object.remove(derived.field);
                }
            }
            Some(list) => {
                let items = value.get_mut(list).and_then(Value::as_array_mut);
                for item in items.into_iter().flatten() {
                    if let Some(object) = item.as_object_mut() {
                        object.remove(derived.field);
                    }
                }
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::prompt::compact_output_schema;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};

    /// Every derived field names a property the schema has, so a renamed field cannot silently
    /// go back to being asked for.
    #[test]
    fn every_derived_field_is_in_the_full_schema_and_not_in_the_compact_one() {
        for derived in DERIVED {
            let full = derived.stage.output_schema().to_value();
            let holder = match derived.list {
                None => full.clone(),
                Some(list) => {
                    let name = item_definition(&full, list).unwrap();
                    full["$defs"][&name].clone()
                }
            };
            assert!(
                holder["properties"].get(derived.field).is_some(),
                "{} {:?} {}",
                derived.stage,
                derived.list,
                derived.field
            );
            let compact = compact_output_schema(derived.stage).to_value();
            let holder = match derived.list {
                None => compact.clone(),
                Some(list) => {
                    let name = item_definition(&compact, list).unwrap();
                    compact["$defs"][&name].clone()
                }
            };
            assert!(
                holder["properties"].get(derived.field).is_none(),
                "{}",
                derived.field
            );
        }
    }

    /// A model's answer without the derived fields reads as the stage's output, and grounding
    /// gives it the figures back.
    #[test]
    fn answers_without_derived_fields_parse_and_ground_to_the_builtin_figures() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let output = StageOutput::BlastRadius(builtin.blast_radius.clone());
        let answer = model_answer(&output);
        let text = answer.to_string();
        assert!(!text.contains("affectedWorkloads") && !text.contains("podSharePercent"));
        assert!(text.contains("experimentId") && text.contains("summary"));
        let parsed = StageOutput::parse(StageId::BlastRadius, &text).unwrap();
        let StageOutput::BlastRadius(parsed) = parsed else {
            panic!("not a blast radius");
        };
        assert_eq!(
            parsed.experiments.len(),
            builtin.blast_radius.experiments.len()
        );
        for stage in [StageId::Discovery, StageId::Dependencies] {
            let output = match stage {
                StageId::Discovery => StageOutput::Discovery(builtin.discovery.clone()),
                _ => StageOutput::Dependencies(builtin.dependencies.clone()),
            };
            let text = model_answer(&output).to_string();
            StageOutput::parse(stage, &text).unwrap();
        }
    }
}
