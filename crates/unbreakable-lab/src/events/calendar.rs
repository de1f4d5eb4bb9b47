//! Dates as milliseconds since the UNIX epoch (UTC), without a date crate.

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// Midnight UTC at the start of `year-month-day`, in milliseconds since the UNIX epoch
/// (dates before 1970 give 0). Howard Hinnant's `days_from_civil`.
pub fn date(year: i64, month: u32, day: u32) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).unwrap_or(0) * DAY_MS
}

/// The last millisecond of `year-month-day`: "as of the end of that day".
pub fn end_of(year: i64, month: u32, day: u32) -> u64 {
    date(year, month, day) + DAY_MS - 1
}

/// `ms` as `YYYY-MM-DD hh:mm` (UTC), the inverse of [`date`] to the minute. Howard
/// Hinnant's `civil_from_days`.
pub fn format(ms: u64) -> String {
    let days = i64::try_from(ms / DAY_MS).unwrap_or(i64::MAX / 2) + 719_468;
    let minutes = (ms % DAY_MS) / 60_000;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(date(1970, 1, 1), 0);
        assert_eq!(date(2000, 3, 1), 951_868_800_000);
        assert_eq!(date(2026, 3, 1) - date(2026, 2, 28), DAY_MS);
        assert_eq!(date(2024, 3, 1) - date(2024, 2, 28), 2 * DAY_MS, "2024 is a leap year");
    }

    #[test]
    fn format_inverts_date() {
        assert_eq!(format(0), "1970-01-01 00:00");
        assert_eq!(format(date(2026, 3, 1) + 11 * 3_600_000 + 30 * 60_000), "2026-03-01 11:30");
        assert_eq!(format(end_of(2024, 2, 29)), "2024-02-29 23:59");
        assert_eq!(format(date(2000, 12, 31)), "2000-12-31 00:00");
    }
}
