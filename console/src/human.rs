//! Times and durations for people: "3 min ago", "in 2 h", "15 min", "8 h", "30 days".
//!
//! Pure functions without the browser, so they are unit-tested on the host
//! (`cargo test -p portcullis-console`, or `rustc --edition 2024 --test console/src/human.rs`).
//! The browser side (parsing RFC 3339, the local time) is in `ui::Time`.

/// The units a duration is written in, largest first: seconds, the name for one, for several.
const UNITS: [(i64, &str, &str); 4] = [
    (86_400, "day", "days"),
    (3_600, "h", "h"),
    (60, "min", "min"),
    (1, "s", "s"),
];

/// A duration in seconds as people write it: "15 min", "8 h", "30 days", "1 h 30 min".
/// Exact: every non-zero unit is shown, so [`parse_duration`] reads it back unchanged.
pub fn format_duration(secs: i64) -> String {
    if secs <= 0 {
        return format!("{} s", secs.max(0));
    }
    let mut rest = secs;
    let mut parts = Vec::new();
    for (size, one, many) in UNITS {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    parts.join(" ")
}

/// The seconds of a unit's name ("min", "minutes", "h", "d", "weeks"...).
fn unit_secs(unit: &str) -> Option<i64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    })
}

const DURATION_HELP: &str =
    "write a duration with its unit, like 15 min, 8 h, 30 days or 1 h 30 min";

/// Reads a duration the admin typed ("15 min", "8h", "30 days", "1 h 30 min") as seconds.
/// A bare number is refused: minutes or seconds would be a guess.
pub fn parse_duration(raw: &str) -> Result<i64, String> {
    let text = raw.trim().to_lowercase();
    if text.is_empty() {
        return Err(DURATION_HELP.into());
    }
    let mut total: i64 = 0;
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Ok(total);
        }
        let mut digits = String::new();
        while let Some(c) = chars.next_if(char::is_ascii_digit) {
            digits.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut unit = String::new();
        while let Some(c) = chars.next_if(char::is_ascii_alphabetic) {
            unit.push(c);
        }
        if digits.is_empty() || unit.is_empty() {
            return Err(format!("'{}': {DURATION_HELP}", raw.trim()));
        }
        let size =
            unit_secs(&unit).ok_or_else(|| format!("'{unit}' is not a unit: {DURATION_HELP}"))?;
        total = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(size))
            .and_then(|n| total.checked_add(n))
            .ok_or("that duration is too long")?;
    }
}

/// How far a moment is from now, `delta_secs` = then − now: "just now", "3 min ago",
/// "in 2 h", "5 days ago", "in 2 years".
pub fn relative(delta_secs: i64) -> String {
    let d = delta_secs.unsigned_abs();
    if d < 45 {
        return "just now".into();
    }
    let amount = match d {
        0..3_600 => format!("{} min", (d / 60).max(1)),
        3_600..172_800 => format!("{} h", d / 3_600),
        172_800..31_536_000 => format!("{} days", d / 86_400),
        _ => match d / 31_536_000 {
            1 => "1 year".to_owned(),
            n => format!("{n} years"),
        },
    };
    if delta_secs < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_in_their_largest_units() {
        assert_eq!(format_duration(900), "15 min");
        assert_eq!(format_duration(8 * 3600), "8 h");
        assert_eq!(format_duration(30 * 86_400), "30 days");
        assert_eq!(format_duration(86_400), "1 day");
        assert_eq!(format_duration(5_400), "1 h 30 min");
        assert_eq!(format_duration(90), "1 min 30 s");
        assert_eq!(format_duration(45), "45 s");
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(-5), "0 s");
    }

    #[test]
    fn durations_are_read_with_their_units() {
        assert_eq!(parse_duration("15 min"), Ok(900));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration(" 8 h "), Ok(8 * 3600));
        assert_eq!(parse_duration("8 Hours"), Ok(8 * 3600));
        assert_eq!(parse_duration("30 days"), Ok(30 * 86_400));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert_eq!(parse_duration("2 weeks"), Ok(14 * 86_400));
        assert_eq!(parse_duration("1 h 30 min"), Ok(5_400));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("1 day, 2 h"), Ok(93_600));
        assert_eq!(parse_duration("90 s"), Ok(90));
    }

    #[test]
    fn unclear_durations_are_refused() {
        // A bare number: minutes or seconds would be a guess.
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("   ").is_err());
        assert!(
            parse_duration("15 fortnights")
                .unwrap_err()
                .contains("fortnights")
        );
        assert!(parse_duration("min").is_err());
        assert!(parse_duration("-5 min").is_err());
        assert!(parse_duration("1.5 h").is_err());
        assert!(parse_duration("1 h 30").is_err());
        assert_eq!(
            parse_duration("99999999999999999 days"),
            Err("that duration is too long".into())
        );
    }

    #[test]
    fn written_durations_read_back_unchanged() {
        for secs in [
            1, 59, 60, 61, 900, 3_599, 3_600, 5_400, 86_399, 86_400, 93_600, 2_592_000,
        ] {
            assert_eq!(parse_duration(&format_duration(secs)), Ok(secs), "{secs}");
        }
    }

    #[test]
    fn moments_are_told_relative_to_now() {
        assert_eq!(relative(0), "just now");
        assert_eq!(relative(-44), "just now");
        assert_eq!(relative(44), "just now");
        assert_eq!(relative(-45), "1 min ago");
        assert_eq!(relative(-180), "3 min ago");
        assert_eq!(relative(-219), "3 min ago");
        assert_eq!(relative(7_200), "in 2 h");
        assert_eq!(relative(-3_600), "1 h ago");
        assert_eq!(relative(-172_799), "47 h ago");
        assert_eq!(relative(-172_800), "2 days ago");
        assert_eq!(relative(30 * 86_400), "in 30 days");
        assert_eq!(relative(-31_536_000), "1 year ago");
        assert_eq!(relative(3 * 31_536_000), "in 3 years");
    }
}
