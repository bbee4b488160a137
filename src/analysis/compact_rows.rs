//! Earlier results in a prompt as rows: a list of like objects becomes
//! `{"columns": [names], "rows": [[values]]}`, so each field name is sent once per list instead of
//! once per item. Nothing is dropped: a field an item lacks is `null` in its row. It is still
//! JSON, so every string from a cluster stays quoted.

use serde_json::{Map, Value};

/// Lists shorter than this stay objects: the header would cost more than it saves.
const LEAST_ROWS: usize = 2;

/// Turns every list of at least [`LEAST_ROWS`] objects in `value` into columns and rows.
pub(crate) fn tabulate(value: &mut Value) {
    match value {
        Value::Object(object) => object.values_mut().for_each(tabulate),
        Value::Array(items) => {
            items.iter_mut().for_each(tabulate);
            if items.len() >= LEAST_ROWS && items.iter().all(Value::is_object) {
                *value = rows_of(std::mem::take(items));
            }
        }
        _ => {}
    }
}

fn rows_of(items: Vec<Value>) -> Value {
    let mut columns: Vec<String> = Vec::new();
    for item in &items {
        for key in item.as_object().into_iter().flat_map(Map::keys) {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let rows: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            Value::Array(
                columns
                    .iter()
                    .map(|column| {
                        item.as_object_mut()
                            .and_then(|object| object.remove(column))
                            .unwrap_or(Value::Null)
                    })
                    .collect(),
            )
        })
        .collect();
    let mut table = Map::new();
    table.insert(
        "columns".into(),
        Value::Array(columns.into_iter().map(Value::String).collect()),
    );
    table.insert("rows".into(), Value::Array(rows));
    Value::Object(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_objects_become_rows_and_lose_nothing() {
        let mut value = serde_json::json!({
            "findings": [
                {"id": "f1", "severity": "high", "related": ["a"]},
                {"id": "f2", "severity": "low"}
            ],
            "one": [{"id": "x"}],
            "names": ["a", "b"]
        });
        tabulate(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "findings": {
                    "columns": ["id", "related", "severity"],
                    "rows": [["f1", ["a"], "high"], ["f2", null, "low"]]
                },
                "one": [{"id": "x"}],
                "names": ["a", "b"]
            })
        );
    }
}
