//! What a model is asked to write for a stage, as opposed to what the stage outputs: the fields
//! rules derive or grounding recomputes from the map are left out of the schema a model gets, so
//! no output token is spent on a figure that is thrown away. The answer is read into the full
//! output type all the same (those fields have serde defaults), and grounding fills them in.
//!
//! One table ([`DERIVED`]) drives both the schema sent ([`strip_derived`]) and the shape of the
//! answers the estimate and the token tests stand in for a model's ([`model_answer`]).

use serde_json::Value;

use super::stages::{StageId, StageOutput};

/// A field of a stage's output that the model is not asked for, by its path from the output's
/// top: property names, with [`ITEMS`] for "every item of this list".
struct Derived {
    stage: StageId,
    path: &'static [&'static str],
}

/// In a [`Derived`] path: every item of the list before it.
const ITEMS: &str = "[]";

const fn derived(stage: StageId, path: &'static [&'static str]) -> Derived {
    Derived { stage, path }
}

/// Why each is derived:
/// - an experiment's test case follows from its steady states (the guardrails write it);
/// - a blast radius' figures are facts of the map, always computed by grounding: the model adds
///   only why it matters (the summary);
/// - an entry point's kind and how it was found, and an external dependency's host, are set
///   from the map by grounding;
/// - fan-in and fan-out are counted from the map by grounding: the model says which workloads;
/// - the evidence of the edges a Rumsfeld item cites is the map's, copied in by grounding: the
///   model cites the edges.
const DERIVED: &[Derived] = &[
    derived(StageId::Experiments, &["testCases"]),
    derived(StageId::BlastRadius, &["experiments", ITEMS, "target"]),
    derived(
        StageId::BlastRadius,
        &["experiments", ITEMS, "affectedWorkloads"],
    ),
    derived(
        StageId::BlastRadius,
        &["experiments", ITEMS, "affectedEntryPoints"],
    ),
    derived(
        StageId::BlastRadius,
        &["experiments", ITEMS, "affectedNamespaces"],
    ),
    derived(StageId::BlastRadius, &["experiments", ITEMS, "targetPods"]),
    derived(StageId::BlastRadius, &["experiments", ITEMS, "touchedPods"]),
    derived(
        StageId::BlastRadius,
        &["experiments", ITEMS, "podSharePercent"],
    ),
    derived(StageId::BlastRadius, &["experiments", ITEMS, "severity"]),
    derived(StageId::Discovery, &["entryPoints", ITEMS, "kind"]),
    derived(StageId::Discovery, &["entryPoints", ITEMS, "foundBy"]),
    derived(StageId::Discovery, &["externalDependencies", ITEMS, "host"]),
    derived(StageId::Dependencies, &["fan", ITEMS, "fanIn"]),
    derived(StageId::Dependencies, &["fan", ITEMS, "fanOut"]),
    derived(
        StageId::Rumsfeld,
        &["knownKnowns", ITEMS, "grounds", "evidence"],
    ),
    derived(
        StageId::Rumsfeld,
        &["knownUnknowns", ITEMS, "grounds", "evidence"],
    ),
    derived(
        StageId::Rumsfeld,
        &["unknownKnowns", ITEMS, "grounds", "evidence"],
    ),
    derived(
        StageId::Rumsfeld,
        &["unknownUnknowns", ITEMS, "grounds", "evidence"],
    ),
];

fn derived_of(stage: StageId) -> impl Iterator<Item = &'static Derived> {
    DERIVED.iter().filter(move |d| d.stage == stage)
}

const DEFINITIONS: &str = "$defs";

/// Where a schema node refers to a definition (`{"$ref": "#/$defs/X"}`), its name.
fn reference(schema: &Value) -> Option<String> {
    schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/$defs/")
        .map(str::to_string)
}

/// Follows `path` from `node` (a schema inside `root`) and removes the last step's property:
/// from the object's `properties` and `required`, and from every `oneOf`/`anyOf` variant that
/// has it (a tagged enum's variants). Definitions are edited where they are defined.
fn remove_at(root: &mut Value, node: NodeAt, path: &[&str]) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    let Some(schema) = node.get(root).cloned() else {
        return;
    };
    if let Some(name) = reference(&schema) {
        return remove_at(root, NodeAt::Definition(name, Vec::new()), path);
    }
    for keyword in ["oneOf", "anyOf"] {
        let variants = schema.get(keyword).and_then(Value::as_array).map(Vec::len);
        for i in 0..variants.unwrap_or(0) {
            remove_at(root, node.child(&[keyword, &i.to_string()]), path);
        }
    }
    if *step == ITEMS {
        if schema.get("items").is_some() {
            remove_at(root, node.child(&["items"]), rest);
        }
        return;
    }
    if schema
        .get("properties")
        .and_then(|p| p.get(*step))
        .is_none()
    {
        return;
    }
    if !rest.is_empty() {
        return remove_at(root, node.child(&["properties", step]), rest);
    }
    let Some(object) = node.get_mut(root) else {
        return;
    };
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        properties.remove(*step);
    }
    if let Some(required) = object.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| name != *step);
    }
}

/// A node of a schema: under the root, or under one of its definitions, by keys (array indexes
/// as numbers in text).
#[derive(Clone)]
enum NodeAt {
    Root(Vec<String>),
    Definition(String, Vec<String>),
}

impl NodeAt {
    fn child(&self, keys: &[&str]) -> NodeAt {
        let extend = |base: &Vec<String>| {
            let mut keys_out = base.clone();
            keys_out.extend(keys.iter().map(|k| k.to_string()));
            keys_out
        };
        match self {
            NodeAt::Root(base) => NodeAt::Root(extend(base)),
            NodeAt::Definition(name, base) => NodeAt::Definition(name.clone(), extend(base)),
        }
    }

    fn start<'v>(&self, root: &'v Value) -> Option<(&'v Value, &Vec<String>)> {
        match self {
            NodeAt::Root(keys) => Some((root, keys)),
            NodeAt::Definition(name, keys) => Some((root.get(DEFINITIONS)?.get(name)?, keys)),
        }
    }

    fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let (mut value, keys) = self.start(root)?;
        for key in keys {
            value = match value {
                Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
                other => other.get(key)?,
            };
        }
        Some(value)
    }

    fn get_mut<'v>(&self, root: &'v mut Value) -> Option<&'v mut Value> {
        let (mut value, keys) = match self {
            NodeAt::Root(keys) => (root, keys),
            NodeAt::Definition(name, keys) => (root.get_mut(DEFINITIONS)?.get_mut(name)?, keys),
        };
        for key in keys {
            value = match value {
                Value::Array(items) => items.get_mut(key.parse::<usize>().ok()?)?,
                other => other.get_mut(key)?,
            };
        }
        Some(value)
    }
}

/// Every definition name `value` refers to, directly.
fn references_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(name) = reference(value) {
                out.push(name);
            }
            object.values().for_each(|child| references_in(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| references_in(child, out)),
        _ => {}
    }
}

/// Drops the definitions nothing refers to any more (those only a derived field used).
fn prune_definitions(schema: &mut Value) {
    let Some(definitions) = schema.get(DEFINITIONS).and_then(Value::as_object).cloned() else {
        return;
    };
    let mut body = schema.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove(DEFINITIONS);
    }
    let mut pending = Vec::new();
    references_in(&body, &mut pending);
    let mut used = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if used.insert(name.clone())
            && let Some(definition) = definitions.get(&name)
        {
            references_in(definition, &mut pending);
        }
    }
    if let Some(object) = schema.get_mut(DEFINITIONS).and_then(Value::as_object_mut) {
        object.retain(|name, _| used.contains(name));
    }
}

/// `schema` (a stage's output schema as JSON) without the fields the model is not asked for,
/// nor the definitions only they used.
pub(crate) fn strip_derived(stage: StageId, schema: &mut Value) {
    for derived in derived_of(stage) {
        remove_at(schema, NodeAt::Root(Vec::new()), derived.path);
    }
    prune_definitions(schema);
}

/// Removes the value at `path` from `value` (every item's, through [`ITEMS`]).
fn remove_value(value: &mut Value, path: &[&str]) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    if *step == ITEMS {
        if let Value::Array(items) = value {
            items.iter_mut().for_each(|item| remove_value(item, rest));
        }
        return;
    }
    let Value::Object(object) = value else {
        return;
    };
    if rest.is_empty() {
        object.remove(*step);
    } else if let Some(child) = object.get_mut(*step) {
        remove_value(child, rest);
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
        remove_value(&mut value, derived.path);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::prompt::compact_output_schema;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};

    /// Whether the schema has a property at `path` (through refs, items and enum variants).
    fn has_property(root: &Value, node: &Value, path: &[&str]) -> bool {
        let Some((step, rest)) = path.split_first() else {
            return true;
        };
        if let Some(name) = reference(node) {
            return has_property(root, &root[DEFINITIONS][&name], path);
        }
        let in_variants = ["oneOf", "anyOf"].iter().any(|keyword| {
            node.get(*keyword)
                .and_then(Value::as_array)
                .is_some_and(|variants| variants.iter().any(|v| has_property(root, v, path)))
        });
        in_variants
            || if *step == ITEMS {
                node.get("items")
                    .is_some_and(|items| has_property(root, items, rest))
            } else {
                node.get("properties")
                    .and_then(|p| p.get(*step))
                    .is_some_and(|child| has_property(root, child, rest))
            }
    }

    /// Every derived field names a property the full schema has, so a renamed field cannot
    /// silently go back to being asked for; the compact schema has none of them.
    #[test]
    fn every_derived_field_is_in_the_full_schema_and_not_in_the_compact_one() {
        for derived in DERIVED {
            let full = derived.stage.output_schema().to_value();
            assert!(
                has_property(&full, &full, derived.path),
                "{} {:?}",
                derived.stage,
                derived.path
            );
            let compact = compact_output_schema(derived.stage).to_value();
            assert!(
                !has_property(&compact, &compact, derived.path),
                "{} {:?}",
                derived.stage,
                derived.path
            );
        }
        let rumsfeld = compact_output_schema(StageId::Rumsfeld).to_value();
        assert!(rumsfeld[DEFINITIONS].get("Evidence").is_none(), "pruned");
        assert!(
            rumsfeld[DEFINITIONS].get("EdgeRef").is_some(),
            "still cited"
        );
        let experiments = compact_output_schema(StageId::Experiments).to_value();
        assert!(experiments[DEFINITIONS].get("TestCase").is_none());
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

    /// Grounding gives an answer without the derived fields the figures and evidence back from
    /// the map, and notes no correction for what the model was not asked for.
    #[test]
    fn grounding_fills_in_what_the_model_is_not_asked_for() {
        use crate::analysis::grounding::ground;
        use crate::analysis::map_context::MapContext;
        use crate::analysis::result::GroundingLog;
        use crate::analysis::{Grounds, MapIndex, StageOutputs};

        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let index = MapIndex::new(&map);
        let namespaces = config.effective_namespaces(&map);
        let context = MapContext {
            index: &index,
            config: &config,
            namespaces: &namespaces,
        };
        let earlier = StageOutputs {
            dependencies: Some(builtin.dependencies.clone()),
            hypotheses: Some(builtin.hypotheses.clone()),
            experiments: Some(builtin.experiments.clone()),
            ..StageOutputs::default()
        };
        let mut log = GroundingLog::default();
        let answer = |output: StageOutput| {
            StageOutput::parse(output.stage(), &model_answer(&output).to_string()).unwrap()
        };
        let radius = answer(StageOutput::BlastRadius(builtin.blast_radius.clone()));
        let StageOutput::BlastRadius(radius) = ground(radius, &context, &earlier, &mut log) else {
            panic!("not a blast radius");
        };
        assert_eq!(radius, builtin.blast_radius);
        let rumsfeld = answer(StageOutput::Rumsfeld(builtin.rumsfeld.clone()));
        let StageOutput::Rumsfeld(rumsfeld) = ground(rumsfeld, &context, &earlier, &mut log) else {
            panic!("not a Rumsfeld matrix");
        };
        let with_evidence = rumsfeld
            .known_knowns
            .iter()
            .filter(|item| {
                matches!(&item.grounds, Grounds::Evidence { evidence, .. } if !evidence.is_empty())
            })
            .count();
        assert!(with_evidence > 0, "{rumsfeld:?}");
        assert!(log.adjusted.is_empty(), "{:?}", log.adjusted);
        assert!(log.dropped.is_empty(), "{:?}", log.dropped);
    }
}
