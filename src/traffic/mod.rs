//! Runtime evidence: calls observed in telemetry (Prometheus metrics), turned into
//! [`crate::servicemap::NamedCall`]s for [`crate::servicemap::attach`], and the measured baselines the
//! steady-state stage sets its thresholds from. This is the I/O shell; matching and analysis stay
//! pure.

pub mod prometheus;
