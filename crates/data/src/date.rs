//! Calendar dates of acquisitions (proleptic Gregorian, no time zone).

use std::fmt;

/// An acquisition date. Ordered chronologically; displayed as `YYYY-MM-DD`.
///
/// # Examples
/// ```
/// use chronomap_data::Date;
/// let d = Date::parse("2016-03-01").unwrap();
/// assert_eq!(d.day_of_year(), 61); // 2016 is a leap year
/// assert_eq!(d.to_string(), "2016-03-01");
/// assert_eq!(Date::parse("20160301"), Some(d));
/// assert_eq!(Date::parse("2016-02-30"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, e.g. 2016.
    pub year: i32,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, 1-31.
    pub day: u8,
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date, or `None` if it is not on the calendar.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let ok = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        ok.then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD` or `YYYYMMDD` (surrounding whitespace allowed).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        let (y, m, d) = match b.len() {
            10 if b[4] == b'-' && b[7] == b'-' => (digits(0..4)?, digits(5..7)?, digits(8..10)?),
            8 => (digits(0..4)?, digits(4..6)?, digits(6..8)?),
            _ => return None,
        };
        Date::new(y as i32, m as u8, d as u8)
    }

    /// The date from a day of the year (1 = January 1st), `None` past the year's end.
    pub fn from_day_of_year(year: i32, doy: u32) -> Option<Self> {
        let mut left = doy;
        for month in 1..=12u8 {
            let n = days_in_month(year, month) as u32;
            if left >= 1 && left <= n {
                return Date::new(year, month, left as u8);
            }
            left = left.checked_sub(n)?;
        }
        None
    }

    /// Day of the year, 1 = January 1st.
    pub fn day_of_year(&self) -> u32 {
        (1..self.month)
            .map(|m| days_in_month(self.year, m) as u32)
            .sum::<u32>()
            + self.day as u32
    }

    /// Whether the year has 366 days.
    pub fn is_leap_year(&self) -> bool {
        is_leap(self.year)
    }

    /// Finds the first date written as `YYYYMMDD` or `YYYY-MM-DD` inside a longer string,
    /// e.g. a Sentinel-2 product name `S2A_MSIL2A_20200115T112451_...` (digits must not be
    /// part of a longer run of digits).
    pub fn find_in(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let is_d = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_digit());
        for start in 0..b.len() {
            if !is_d(start) || (start > 0 && is_d(start - 1)) {
                continue;
            }
            for len in [10, 8] {
                if start + len > b.len() || is_d(start + len) {
                    continue;
                }
                if let Some(d) = s.get(start..start + len).and_then(Date::parse) {
                    return Some(d);
                }
            }
        }
        None
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_of_year_round_trips() {
        for year in [2015, 2016, 2000, 1900] {
            let n = if is_leap(year) { 366 } else { 365 };
            for doy in 1..=n {
                let d = Date::from_day_of_year(year, doy).unwrap();
                assert_eq!(d.day_of_year(), doy);
            }
            assert_eq!(Date::from_day_of_year(year, n + 1), None);
        }
        assert!(!Date::new(1900, 1, 1).unwrap().is_leap_year());
    }

    #[test]
    fn finds_dates_in_file_names() {
        let d = Date::find_in("S2A_MSIL2A_20200115T112451_N0213_R037_T28QCD_20200116T1").unwrap();
        assert_eq!(d, Date::new(2020, 1, 15).unwrap());
        assert_eq!(
            Date::find_in("scene_2016-07-04_B02.tif"),
            Date::new(2016, 7, 4)
        );
        // A 9-digit run is not a date, and neither is month 13.
        assert_eq!(Date::find_in("id_201601151_x"), None);
        assert_eq!(Date::find_in("x_20161301"), None);
    }
}
