//! Runtime traffic evidence: calls observed in trace files ([`traces`]) and in mesh and
//! service-graph metrics ([`prometheus`], which also measures the baselines steady states use),
//! aggregated per (caller, callee, origin) so that a map gets one `traffic` evidence per observed
//! edge and source, never one per request. Names stay as the telemetry spelled them
//! ([`NameHints`]); matching them to nodes is [`servicemap::attach`]'s job, with exact matching.
//!
//! [`servicemap::attach`]: crate::servicemap::attach

pub mod prometheus;
pub mod traces;

use crate::servicemap::{Evidence, NameHints, NamedCall, TrafficEvidence};

/// Calls from one named caller to one named callee seen in one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCall {
    pub caller: NameHints,
    pub callee: NameHints,
    /// Where the calls were seen: a trace file, or a metric name.
    pub origin: String,
    /// Length of the observed window in seconds, when the source has one.
    pub window_seconds: Option<u64>,
    pub requests: u64,
    pub errors: u64,
    pub p50_micros: Option<u64>,
    pub p99_micros: Option<u64>,
}

impl ObservedCall {
    /// The call as [`crate::servicemap::attach`] takes it, with `traffic` evidence.
    pub fn into_named_call(self) -> NamedCall {
        NamedCall {
            caller: self.caller,
            callee: self.callee,
            evidence: Evidence::Traffic(TrafficEvidence {
                origin: self.origin,
                window_seconds: self.window_seconds,
                requests: self.requests,
                errors: self.errors,
                p50_micros: self.p50_micros,
                p99_micros: self.p99_micros,
            }),
        }
    }
}

/// Request and error counts with a latency histogram of fixed size: memory does not grow with
/// the number of calls.
#[derive(Clone, Debug, Default)]
pub struct CallStats {
    pub requests: u64,
    pub errors: u64,
    latency: LatencyHistogram,
}

impl CallStats {
    /// Counts one call of `duration_micros` (None when the source has no duration).
    pub fn record(&mut self, duration_micros: Option<u64>, failed: bool) {
        self.requests += 1;
        if failed {
            self.errors += 1;
        }
        if let Some(micros) = duration_micros {
            self.latency.record(micros);
        }
    }

    /// The latency at quantile `q` (0.0 to 1.0), None without durations.
    pub fn quantile_micros(&self, q: f64) -> Option<u64> {
        self.latency.quantile(q)
    }
}

/// A log-linear histogram: for each power of two, [`SUB_BUCKETS`] equal sub-buckets, so a
/// quantile is within 1/SUB_BUCKETS (12.5 %) of the true value, in 64 × 8 counters.
#[derive(Clone, Debug)]
struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB_BUCKETS: u64 = 8;
const SUB_BITS: u32 = 3;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; (64 * SUB_BUCKETS) as usize],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket(value: u64) -> usize {
        if value < SUB_BUCKETS {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros(); // ≥ SUB_BITS
        let sub = (value >> (exponent - SUB_BITS)) & (SUB_BUCKETS - 1);
        ((exponent - SUB_BITS + 1) as u64 * SUB_BUCKETS + sub) as usize
    }

    /// The middle of a bucket's range, as its representative value.
    fn value_of(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < SUB_BUCKETS {
            return bucket;
        }
        let exponent = bucket / SUB_BUCKETS + u64::from(SUB_BITS) - 1;
        let sub = bucket % SUB_BUCKETS;
        let width = 1u64 << (exponent - u64::from(SUB_BITS));
        let low = (1u64 << exponent) + sub * width;
        low + width / 2
    }

    fn record(&mut self, value: u64) {
        let bucket = Self::bucket(value);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
            self.total += 1;
        }
    }

    fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: the smallest value with at least q of calls at or
        // below it.
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::value_of(bucket));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_bucket_precision() {
        let mut stats = CallStats::default();
        for micros in 1..=1000u64 {
            stats.record(Some(micros * 100), micros % 100 == 0);
        }
        assert_eq!(stats.requests, 1000);
        assert_eq!(stats.errors, 10);
        let p50 = stats.quantile_micros(0.5).unwrap() as f64;
        let p99 = stats.quantile_micros(0.99).unwrap() as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.125, "p50 {p50}");
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.125, "p99 {p99}");
        assert_eq!(CallStats::default().quantile_micros(0.5), None);
    }

    #[test]
    fn small_and_huge_values_have_buckets() {
        let mut histogram = LatencyHistogram::default();
        for value in [0, 1, 7, 8, 9, u64::MAX] {
            histogram.record(value);
        }
        assert_eq!(histogram.total, 6);
        assert_eq!(histogram.quantile(0.0), Some(0));
        assert!(histogram.quantile(1.0).unwrap() > u64::MAX / 2);
    }
}
