//! The service map: who calls whom, with evidence. Built by a pure function of the snapshot
//! ([`build::build`]), rendered as JSON (the stable contract), Graphviz dot or Mermaid.

pub mod address;
pub mod attach;
pub mod build;
pub mod datastore;
pub mod entry;
pub mod model;
pub mod names;
pub mod render;

pub use attach::{AttachReport, NamedCall, attach};
pub use build::build;
pub use model::*;
pub use names::{Matching, NameHints, NameIndex};
pub use render::ObservedTraffic;

#[cfg(test)]
mod tests;
