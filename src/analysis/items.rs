//! Reading a stage answer item by item: an item that does not fit its schema, or breaks a rule
//! of [`super::validate`], is set aside with its reasons and the rest of the answer stands. A
//! model that returns 25 good experiments and one bad one keeps the 25; the repair round is asked
//! about the one.
//!
//! The answer is held as JSON while it is sorted, because an item that does not fit its type
//! cannot be held in that type; once sorted it is read into the stage's output type.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::stages::{ParseError, StageOutput, from_json_value, strip_code_fence};
use super::{DroppedItem, StageId};

/// One item of an answer that could not be used, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidItem {
    /// Where it was in the answer it came from: `experiments[3]`.
    pub at: String,
    /// The list it belongs to (`experiments`).
    pub list: String,
    /// Its `id` (or `experimentId`), when it has one.
    pub id: Option<String>,
    /// The item as the model wrote it.
    pub item: Value,
    /// What is wrong with it.
    pub reasons: Vec<String>,
}

impl InvalidItem {
    /// The item for a [`super::AnalysisResult`]'s dropped list.
    pub fn dropped(&self, stage: StageId) -> DroppedItem {
        DroppedItem {
            stage,
            item: self.id.clone().unwrap_or_else(|| self.at.clone()),
            reason: format!("invalid in the model's answer: {}", self.reasons.join("; ")),
        }
    }
}

/// A stage answer sorted into the items that stand and those set aside.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemAnswer {
    stage: StageId,
    /// The answer holding only the items that stand.
    kept: Map<String, Value>,
    /// The kept answer as the stage's output.
    pub output: StageOutput,
    /// The items set aside.
    pub invalid: Vec<InvalidItem>,
}

impl ItemAnswer {
    /// Reads `json` as `stage`'s output, item by item. Fails only when the answer as a whole is
    /// unusable: not JSON, not an object of the output's shape apart from its lists, or broken in
    /// a way no single item explains (too many steady states).
    pub fn parse(stage: StageId, json: &str) -> Result<ItemAnswer, ParseError> {
        let text = strip_code_fence(json);
        let value: Value = serde_json::from_str(text).map_err(|error| ParseError::Syntax {
            message: error.to_string(),
            line: error.line(),
            column: error.column(),
        })?;
        let Value::Object(object) = value else {
            return Err(ParseError::Schema {
                stage,
                message: "the answer must be a JSON object".into(),
                line: 1,
                column: 1,
            });
        };
        let origins = object
            .iter()
            .filter_map(|(list, value)| {
                let len = value.as_array()?.len();
                Some((
                    list.clone(),
                    (0..len).map(|i| format!("{list}[{i}]")).collect(),
                ))
            })
            .collect();
        Self::sort(stage, object, origins, Vec::new())
    }

    /// Whether any item stands.
    pub fn has_items(&self) -> bool {
        self.kept
            .values()
            .any(|v| v.as_array().is_some_and(|items| !items.is_empty()))
    }

    /// The kept answer as JSON text (what a cache stores for the stage).
    pub fn kept_json(&self) -> String {
        Value::Object(self.kept.clone()).to_string()
    }

    /// This answer with the items of a repair answer added to its lists, sorted again. An item
    /// set aside here stays set aside unless the repair brings an item with its id; the repair
    /// answer's own invalid items are set aside too.
    pub fn merged(self, repair: ItemAnswer) -> Result<ItemAnswer, ParseError> {
        let repaired_ids: Vec<String> = repair
            .kept
            .values()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(item_id)
            .collect();
        let mut invalid: Vec<InvalidItem> = self
            .invalid
            .into_iter()
            .filter(|item| item.id.as_ref().is_none_or(|id| !repaired_ids.contains(id)))
            .collect();
        invalid.extend(repair.invalid);
        let mut object = self.kept;
        let mut origins: Origins = object
            .iter()
            .filter_map(|(list, value)| {
                let len = value.as_array()?.len();
                Some((
                    list.clone(),
                    (0..len).map(|i| format!("{list}[{i}]")).collect(),
                ))
            })
            .collect();
        for (list, value) in repair.kept {
            let Value::Array(items) = value else { continue };
            origins
                .entry(list.clone())
                .or_default()
                .extend((0..items.len()).map(|i| format!("repair {list}[{i}]")));
            match object.get_mut(&list) {
                Some(Value::Array(existing)) => existing.extend(items),
                _ => {
                    object.insert(list, Value::Array(items));
                }
            }
        }
        Self::sort(self.stage, object, origins, invalid)
    }

    /// Sets aside items that do not fit the schema, then, until none is left, items the
    /// validation rules name.
    fn sort(
        stage: StageId,
        mut object: Map<String, Value>,
        mut origins: Origins,
        mut invalid: Vec<InvalidItem>,
    ) -> Result<ItemAnswer, ParseError> {
        if from_json_value(stage, Value::Object(object.clone())).is_err() {
            // Which items break the schema: each alone in an answer whose other lists are empty.
            let mut bare = object.clone();
            for value in bare.values_mut() {
                if let Value::Array(items) = value {
                    items.clear();
                }
            }
            from_json_value(stage, Value::Object(bare.clone()))?;
            let lists: Vec<String> = object.keys().cloned().collect();
            for list in lists {
                let Some(Value::Array(items)) = object.get_mut(&list) else {
                    continue;
                };
                let mut kept = Vec::with_capacity(items.len());
                let mut kept_origins = Vec::with_capacity(items.len());
                let list_origins = origins.remove(&list).unwrap_or_default();
                for (i, item) in items.drain(..).enumerate() {
                    let at = list_origins
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("{list}[{i}]"));
                    let mut alone = bare.clone();
                    alone.insert(list.clone(), Value::Array(vec![item.clone()]));
                    match from_json_value(stage, Value::Object(alone)) {
                        Ok(_) => {
                            kept.push(item);
                            kept_origins.push(at);
                        }
                        Err(error) => invalid.push(InvalidItem {
                            at,
                            list: list.clone(),
                            id: item_id(&item),
                            item,
                            reasons: vec![schema_reason(&error)],
                        }),
                    }
                }
                *items = kept;
                origins.insert(list, kept_origins);
            }
        }
        loop {
            let output = from_json_value(stage, Value::Object(object.clone()))?;
            let problems = output.problems();
            if problems.is_empty() {
                return Ok(ItemAnswer {
                    stage,
                    kept: object,
                    output,
                    invalid,
                });
            }
            let mut by_item: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
            let mut whole = Vec::new();
            for problem in problems {
                match item_of(&problem) {
                    Some(key) => by_item.entry(key).or_default().push(problem),
                    None => whole.push(problem),
                }
            }
            if !whole.is_empty() || by_item.is_empty() {
                return Err(ParseError::Invalid {
                    stage,
                    problems: whole,
                });
            }
            // Remove from the back so the indices of the others stay valid.
            for ((list, index), reasons) in by_item.into_iter().rev() {
                let Some(Value::Array(items)) = object.get_mut(&list) else {
                    return Err(ParseError::Invalid {
                        stage,
                        problems: reasons,
                    });
                };
                if index >= items.len() {
                    return Err(ParseError::Invalid {
                        stage,
                        problems: reasons,
                    });
                }
                let item = items.remove(index);
                let at = origins
                    .get_mut(&list)
                    .filter(|o| index < o.len())
                    .map(|o| o.remove(index))
                    .unwrap_or_else(|| format!("{list}[{index}]"));
                invalid.push(InvalidItem {
                    at,
                    list,
                    id: item_id(&item),
                    item,
                    reasons,
                });
            }
        }
    }
}

/// Where each remaining item of each list came from, by list.
type Origins = BTreeMap<String, Vec<String>>;

/// The list and index a validation problem names (`experiments[3].spec.value: ...`), if it names
/// one item (the form every [`super::validate`] check writes).
fn item_of(problem: &str) -> Option<(String, usize)> {
    let (path, _) = problem.split_once(':')?;
    let (list, rest) = path.split_once('[')?;
    let (index, _) = rest.split_once(']')?;
    let list_ok = !list.is_empty() && list.chars().all(|c| c.is_ascii_alphanumeric());
    list_ok.then_some(())?;
    Some((list.to_string(), index.parse().ok()?))
}

fn item_id(item: &Value) -> Option<String> {
    ["id", "experimentId"]
        .iter()
        .find_map(|key| item.get(key)?.as_str())
        .map(str::to_string)
}

fn schema_reason(error: &ParseError) -> String {
    match error {
        ParseError::Schema { message, .. } | ParseError::Syntax { message, .. } => {
            format!("does not fit the schema: {message}")
        }
        ParseError::Invalid { problems, .. } => problems.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hypothesis(id: &str) -> Value {
        serde_json::json!({
            "id": id,
            "statement": format!("when {id} fails the shop keeps serving"),
            "target": "shop/Deployment/cart",
            "fault": "podLoss",
            "steadyStateIds": ["ss-1"],
            "expectation": "holds",
            "riskScore": 40
        })
    }

    fn answer(items: Vec<Value>) -> String {
        serde_json::json!({ "hypotheses": items }).to_string()
    }

    #[test]
    fn one_bad_item_among_many_is_set_aside() {
        let good = StageOutput::parse(StageId::Hypotheses, &answer(vec![hypothesis("h-0")]));
        assert!(good.is_ok(), "{good:?}");
        let mut items: Vec<Value> = (0..25).map(|i| hypothesis(&format!("h-{i}"))).collect();
        // Breaks the schema: an unknown fault.
        let mut unknown_fault = hypothesis("h-bad-fault");
        unknown_fault["fault"] = Value::from("meteorStrike");
        items.insert(3, unknown_fault);
        // Breaks a rule: a risk above 100.
        let mut too_risky = hypothesis("h-bad-risk");
        too_risky["riskScore"] = Value::from(400);
        items.push(too_risky);
        let sorted = ItemAnswer::parse(StageId::Hypotheses, &answer(items)).unwrap();
        let StageOutput::Hypotheses(output) = &sorted.output else {
            panic!("hypotheses expected");
        };
        assert_eq!(output.hypotheses.len(), 25);
        let invalid: Vec<(&str, Option<&str>)> = sorted
            .invalid
            .iter()
            .map(|i| (i.at.as_str(), i.id.as_deref()))
            .collect();
        assert_eq!(
            invalid,
            vec![
                ("hypotheses[3]", Some("h-bad-fault")),
                ("hypotheses[26]", Some("h-bad-risk"))
            ]
        );
        assert!(sorted.invalid[1].reasons[0].contains("riskScore"));
    }

    #[test]
    fn a_repair_answer_fills_in() {
        let mut bad = hypothesis("h-1");
        bad["riskScore"] = Value::from(400);
        let first =
            ItemAnswer::parse(StageId::Hypotheses, &answer(vec![hypothesis("h-0"), bad])).unwrap();
        assert_eq!(first.invalid.len(), 1);
        let repair =
            ItemAnswer::parse(StageId::Hypotheses, &answer(vec![hypothesis("h-1")])).unwrap();
        let merged = first.clone().merged(repair).unwrap();
        assert!(merged.invalid.is_empty());
        let empty = ItemAnswer::parse(StageId::Hypotheses, &answer(vec![])).unwrap();
        let unrepaired = first.merged(empty).unwrap();
        assert_eq!(unrepaired.invalid.len(), 1);
        assert_eq!(unrepaired.invalid[0].id.as_deref(), Some("h-1"));
        let StageOutput::Hypotheses(output) = &merged.output else {
            panic!("hypotheses expected");
        };
        let ids: Vec<&str> = output.hypotheses.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, vec!["h-0", "h-1"]);
    }

    #[test]
    fn a_repeated_item_in_a_repair_is_dropped_as_a_duplicate() {
        let first =
            ItemAnswer::parse(StageId::Hypotheses, &answer(vec![hypothesis("h-0")])).unwrap();
        let repair =
            ItemAnswer::parse(StageId::Hypotheses, &answer(vec![hypothesis("h-0")])).unwrap();
        let merged = first.merged(repair).unwrap();
        assert_eq!(merged.invalid.len(), 1);
        assert_eq!(merged.invalid[0].at, "repair hypotheses[0]");
    }

    #[test]
    fn whole_answer_failures_stay_errors() {
        assert!(matches!(
            ItemAnswer::parse(StageId::Hypotheses, "not json"),
            Err(ParseError::Syntax { .. })
        ));
        assert!(matches!(
            ItemAnswer::parse(StageId::Hypotheses, "[1, 2]"),
            Err(ParseError::Schema { .. })
        ));
        assert!(matches!(
            ItemAnswer::parse(StageId::Hypotheses, r#"{"hypotheses": 3}"#),
            Err(ParseError::Schema { .. })
        ));
    }

    #[test]
    fn problems_name_their_item() {
        assert_eq!(
            item_of("experiments[3].spec.value: required"),
            Some(("experiments".to_string(), 3))
        );
        assert_eq!(item_of("steadyStates: at most 10 allowed, got 12"), None);
    }
}
