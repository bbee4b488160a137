//! The service map: who calls whom, with evidence. Built by a pure function of the snapshot
//! ([`build::build`]), rendered as JSON (the stable contract), Graphviz dot or Mermaid.

pub mod address;
pub mod build;
pub mod datastore;
pub mod model;
pub mod render;

pub use build::build;
pub use model::*;

#[cfg(test)]
mod tests;
