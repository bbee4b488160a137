//! Pipeline-level tests.
