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
}
