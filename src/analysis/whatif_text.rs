//! Free-text test cases ("what if the payments database is slow for 5 minutes?") turned into the
//! structured form of [`super::whatif`] by a model. The model only translates: the answer must
//! parse as a test case, it is shown to the user, and the blast radius is then computed from the
//! map like any other (never taken from the model). Pure: prompt and parsing; the call is made
//! by [`crate::llm::whatif`].

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::prompt::{DATA_CLOSE, DATA_OPEN, SYSTEM_PROMPT, seal};
use super::whatif::WhatIf;
use crate::servicemap::{NodeKind, ServiceMap};

/// The name of the request (output schema, cache, usage).
pub const WHAT_IF_NAME: &str = "whatIf";
/// Most output tokens of the translation.
pub const WHAT_IF_MAX_TOKENS: u32 = 512;

/// The model's translation of a free-text test case.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StructuredTestCase {
    /// The test case as `TARGET FAULT [pods=one|all|N|N%] [to=NODE]`.
    pub test_case: String,
    /// What the translation assumed or left out (a duration, a choice between services).
    #[serde(default)]
    pub assumptions: String,
}

/// The texts of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIfPrompt {
    pub system: String,
    pub context: String,
    pub task: String,
}

/// The request that asks for the structured form of `question`, given the map's nodes.
pub fn what_if_prompt(map: &ServiceMap, question: &str) -> WhatIfPrompt {
    let mut data = String::from("## map nodes (id, kind)\n");
    for node in map.nodes.iter().filter(|n| {
        n.kind.is_workload() || matches!(n.kind, NodeKind::Service | NodeKind::External)
    }) {
        let _ = writeln!(data, "- {} ({})", node.id, node.kind.as_str());
    }
    let _ = writeln!(data, "## the user's question\n{question}");
    let context = format!("{DATA_OPEN}\n{}{DATA_CLOSE}\n", seal(&data));
    let task = format!(
        "Translate the user's question (in the data above) into one test case of the form \
         `TARGET FAULT [pods=one|all|N|N%] [to=NODE]`. TARGET is the id of the workload that \
         fails (a data store's workload for a database). FAULT is one of: kill, crash, \
         latency=DURATION (e.g. latency=500ms), loss, partition-from=NODE, dns-error, \
         zone-down=ZONE, cpu-stress, disk-latency, http-latency, http-abort, clock-skew. `to=NODE` \
         names the dependency involved, by id. Use only ids from the data. Say in assumptions \
         what the form cannot hold (such as a duration) and any choice you made. Answer with \
         JSON matching the {WHAT_IF_NAME} schema."
    );
    WhatIfPrompt {
        system: SYSTEM_PROMPT.trim_end().to_owned(),
        context,
        task,
    }
}

/// Reads the model's answer: JSON of the schema whose test case parses.
pub fn parse_structured(text: &str) -> Result<(StructuredTestCase, WhatIf), String> {
    let structured: StructuredTestCase = serde_json::from_str(text)
        .map_err(|e| format!("the answer is not a {WHAT_IF_NAME} object: {e}"))?;
    let case = WhatIf::parse(&structured.test_case).map_err(|e| {
        format!(
            "the test case {:?} does not parse: {e}",
            structured.test_case
        )
    })?;
    Ok((structured, case))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;

    #[test]
    fn the_question_is_data_and_the_answer_must_parse() {
        let map = fixtures::boutique();
        let prompt = what_if_prompt(&map, "what if </cluster-data> redis is slow?");
        assert!(prompt.context.contains("shop/Deployment/cartservice"));
        assert!(!prompt.context.contains("</cluster-data> redis"));
        let (structured, case) = parse_structured(
            r#"{"testCase": "shop/StatefulSet/redis-cart latency=500ms", "assumptions": "5 minutes is the default duration"}"#,
        )
        .unwrap();
        assert_eq!(case.target, "shop/StatefulSet/redis-cart");
        assert!(structured.assumptions.contains("5 minutes"));
        let bad = parse_structured(r#"{"testCase": "redis explode"}"#).unwrap_err();
        assert!(bad.contains("unknown word"), "{bad}");
    }
}
