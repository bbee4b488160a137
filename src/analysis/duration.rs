//! Go durations (`30s`, `5m`, `1h30m`, `1.5h`), as Chaos Mesh and the CRD's guardrails spell them.
//!
//! A small parser of our own: the values come from users and models, and the guardrails compare
//! them exactly, so milliseconds as an integer are the unit everywhere.

/// A Go duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative duration {0:?}: experiments cannot last less than nothing")]
    Negative(String),
    #[error("invalid duration {input:?}: {problem}")]
    Invalid {
        input: String,
        problem: &'static str,
    },
    #[error("duration {0:?} is too long to represent")]
    Overflow(String),
}

/// Milliseconds in one unit of each suffix Go accepts, smallest first (`ns` and `us` round down).
fn unit_nanos(unit: &str) -> Option<u128> {
    match unit {
        "ns" => Some(1),
        "us" | "µs" | "μs" => Some(1_000),
        "ms" => Some(1_000_000),
        "s" => Some(1_000_000_000),
        "m" => Some(60 * 1_000_000_000),
        "h" => Some(3_600 * 1_000_000_000),
        _ => None,
    }
}

/// Parses a Go duration into whole milliseconds (sub-millisecond parts are rounded down).
///
/// Accepts what Go's `time.ParseDuration` accepts except negative values: a sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), and
/// the bare `0`.
pub fn parse_go_duration(input: &str) -> Result<u64, DurationError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = |problem| DurationError::Invalid {
        input: input.to_string(),
        problem,
    };
    let text = match text.strip_prefix('+') {
        Some(rest) => rest,
        None if text.starts_with('-') => {
            // "-0" is zero in Go; anything else negative is refused.
            if text.trim_start_matches('-').chars().all(|c| c == '0') {
                return Ok(0);
            }
            return Err(DurationError::Negative(input.to_string()));
        }
        None => text,
    };
    if text == "0" {
        return Ok(0);
    }
    let mut total_nanos: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after_dot.len());
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid("expected a number"));
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(invalid("missing unit (ms, s, m or h)"));
        }
        let nanos_per_unit = unit_nanos(unit).ok_or_else(|| invalid("unknown unit"))?;
        let overflow = || DurationError::Overflow(input.to_string());
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut value = whole.checked_mul(nanos_per_unit).ok_or_else(overflow)?;
        // The fraction: digits beyond nanosecond precision cannot change the result.
        let mut scale = nanos_per_unit;
        for digit in frac_part.chars().take(20) {
            scale /= 10;
            let d = u128::from(digit.to_digit(10).unwrap_or(0));
            value = value.checked_add(d * scale).ok_or_else(overflow)?;
        }
        total_nanos = total_nanos.checked_add(value).ok_or_else(overflow)?;
        rest = after_unit;
    }
    u64::try_from(total_nanos / 1_000_000).map_err(|_| DurationError::Overflow(input.to_string()))
}

/// Formats milliseconds as the shortest Go duration Chaos Mesh accepts (`1h30m`, `45s`, `250ms`).
pub fn format_go_duration(millis: u64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    let hours = millis / 3_600_000;
    let minutes = (millis % 3_600_000) / 60_000;
    let seconds = (millis % 60_000) / 1_000;
    let rest_millis = millis % 1_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 {
        out.push_str(&format!("{seconds}s"));
    }
    if rest_millis > 0 {
        out.push_str(&format!("{rest_millis}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_go_accepts() {
        assert_eq!(parse_go_duration("30s"), Ok(30_000));
        assert_eq!(parse_go_duration("5m"), Ok(300_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000));
        assert_eq!(parse_go_duration("250ms"), Ok(250));
        assert_eq!(parse_go_duration("2m0.5s"), Ok(120_500));
        assert_eq!(parse_go_duration(".5s"), Ok(500));
        assert_eq!(parse_go_duration("1500us"), Ok(1));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("+10s"), Ok(10_000));
        assert_eq!(parse_go_duration("24h"), Ok(86_400_000));
    }

    #[test]
    fn refuses_what_go_refuses_and_negatives() {
        assert_eq!(parse_go_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_go_duration("10"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_go_duration("10d"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_go_duration("s"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_go_duration("1h 30m"),
            Err(DurationError::Invalid { .. })
        ));
        assert!(matches!(
            parse_go_duration("-5m"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            parse_go_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_shortest_and_round_trips() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(250), "250ms");
        assert_eq!(format_go_duration(60_000), "1m");
        assert_eq!(format_go_duration(5_400_000), "1h30m");
        assert_eq!(format_go_duration(90_500), "1m30s500ms");
        for millis in [1, 999, 1_000, 61_001, 86_400_000, 3_723_004] {
            assert_eq!(parse_go_duration(&format_go_duration(millis)), Ok(millis));
        }
    }
}
