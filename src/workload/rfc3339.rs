//! RFC 3339 §5.6 `date-time` to Unix seconds, for the TokenRequest's
//! `status.expirationTimestamp` (Kubernetes writes `metav1.Time` as RFC 3339 in UTC). Strict:
//! four-digit year, two-digit fields in range, optional fraction (dropped), `Z` or a
//! `±HH:MM` offset; anything else is `None`.

/// Seconds since the Unix epoch; `None` for anything but a valid RFC 3339 date-time at or
/// after 1970.
pub(super) fn parse(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = text.get(from..to)?;
        if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || separators.iter().any(|&(at, sep)| bytes[at] != sep)
        || !matches!(bytes[10], b'T' | b't')
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    // A leap second (60) is allowed by §5.6; it counts as the last second of its minute.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (
                number(text.len() - 5, text.len() - 3)?,
                number(text.len() - 2, text.len())?,
            );
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset;
    u64::try_from(seconds).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn valid_date_times() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2025-11-28T00:00:00Z"), Some(1_764_288_000));
        assert_eq!(parse("2024-02-29T23:59:59.123456Z"), Some(1_709_251_199));
        assert_eq!(parse("2026-01-01T01:30:00+01:30"), Some(1_767_225_600));
        assert_eq!(parse("2025-12-31T22:30:00-01:30"), Some(1_767_225_600));
        assert_eq!(parse("2025-11-28t00:00:00z"), Some(1_764_288_000));
    }

    #[test]
    fn invalid_date_times() {
        for text in [
            "",
            "2025-11-28",
            "2025-11-28T00:00:00",
            "2025-11-28 00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-11-28T24:00:00Z",
            "2025-11-28T00:00:00.Z",
            "2025-11-28T00:00:00+0100",
            "2025-11-28T00:00:00+24:00",
            "+025-11-28T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2025-11-28T00:00:00Zjunk",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
