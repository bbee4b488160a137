//! The context shared by the two checks every stage output passes, in this order:
//! [`super::grounding`] (everything named exists in the map) and [`super::guardrails`] (what an
//! experiment may do). Its own module so that neither check depends on the other.

use std::collections::BTreeSet;

use super::config::AnalysisConfig;
use super::index::MapIndex;
use super::result::GroundingLog;
use super::stages::StageId;
use crate::servicemap::NodeId;

/// What grounding and guardrails check stage outputs against.
#[derive(Debug, Clone, Copy)]
pub struct MapContext<'i, 'a> {
    pub index: &'i MapIndex<'a>,
    pub config: &'i AnalysisConfig,
    /// Namespaces experiments may target.
    pub namespaces: &'i BTreeSet<String>,
}

impl MapContext<'_, '_> {
    pub(crate) fn exists(&self, id: &NodeId) -> bool {
        self.index.get(id.as_str()).is_some()
    }

    /// Removes ids not in the map from `ids`, recording what was removed.
    pub(crate) fn keep_known(
        &self,
        ids: &mut Vec<NodeId>,
        stage: StageId,
        item: &str,
        field: &str,
        log: &mut GroundingLog,
    ) {
        let before = ids.len();
        let mut removed = Vec::new();
        ids.retain(|id| {
            let known = self.exists(id);
            if !known {
                removed.push(id.as_str().to_string());
            }
            known
        });
        if ids.len() != before {
            log.adjust(
                stage,
                item,
                field,
                format!("removed nodes not in the map: {}", removed.join(", ")),
            );
        }
    }
}
