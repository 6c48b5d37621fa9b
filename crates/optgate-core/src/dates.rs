//! Calendar arithmetic for the age rule, on days since 1970-01-01 (UTC).

use chrono::{Datelike, NaiveDate};

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_FROM_CE)?)
}

pub fn days_from_date(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_FROM_CE
}

/// The first day (days since the epoch) on which someone born on `birth_day`
/// has reached `years`. A 29 February birthday comes of age on 1 March in
/// non-leap years. `None` if the date is out of the calendar's range.
pub fn coming_of_age_day(birth_day: i32, years: u16) -> Option<i32> {
    let birth = date_from_days(birth_day)?;
    let year = birth.year().checked_add(i32::from(years))?;
    let date = NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))?;
    Some(days_from_date(date))
}

/// The UTC day (days since the epoch) of a timestamp given in `units_per_day`.
#[inline]
pub fn utc_day(timestamp: i64, units_per_day: i64) -> i32 {
    // Saturate: timestamps beyond ±5.8 million years are not real dates, and
    // saturating keeps them on the right side of any birthday.
    let day = timestamp.div_euclid(units_per_day);
    day.clamp(i64::from(i32::MIN + 1), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> i32 {
        days_from_date(NaiveDate::from_ymd_opt(y, m, day).expect("valid date"))
    }

    #[test]
    fn epoch_is_day_zero() {
        assert_eq!(d(1970, 1, 1), 0);
        assert_eq!(date_from_days(0), NaiveDate::from_ymd_opt(1970, 1, 1));
        assert_eq!(d(1969, 12, 31), -1);
    }

    #[test]
    fn coming_of_age_is_the_birthday() {
        assert_eq!(coming_of_age_day(d(2006, 6, 15), 18), Some(d(2024, 6, 15)));
        assert_eq!(coming_of_age_day(d(1950, 1, 1), 18), Some(d(1968, 1, 1)));
    }

    #[test]
    fn leap_day_birthday_comes_of_age_on_first_of_march_in_non_leap_years() {
        assert_eq!(coming_of_age_day(d(2004, 2, 29), 18), Some(d(2022, 3, 1)));
        // 2008 + 16 = 2024 is a leap year: the birthday exists.
        assert_eq!(coming_of_age_day(d(2008, 2, 29), 16), Some(d(2024, 2, 29)));
    }

    #[test]
    fn utc_day_floors_negative_timestamps() {
        assert_eq!(utc_day(0, 86_400), 0);
        assert_eq!(utc_day(86_399, 86_400), 0);
        assert_eq!(utc_day(86_400, 86_400), 1);
        assert_eq!(utc_day(-1, 86_400), -1);
        assert_eq!(utc_day(i64::MIN, 86_400), i32::MIN + 1);
    }
}
