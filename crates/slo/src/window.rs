//! Where an SLO window starts and ends at a given evaluation time.

use crate::{CalendarUnit, Error, Window};
use jiff::{Span, Timestamp, ZonedDateTime};

/// The span of an SLO window at one evaluation time, in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRange {
    /// First second of the window.
    pub from: i64,
    /// Evaluation time; the window is `[from, to)`.
    pub to: i64,
    /// Length of the whole period: the rolling length, or the whole calendar period
    /// (a 31-day month, a 23-hour DST day inside it, ...). Budgets in minutes use it.
    pub period_seconds: i64,
}

/// Resolves `window` at time `at` (unix seconds).
pub fn window_range(window: &Window, at: i64) -> Result<WindowRange, Error> {
    match window {
        Window::Rolling { seconds } => Ok(WindowRange {
            from: at - seconds,
            to: at,
            period_seconds: *seconds,
        }),
        Window::Calendar { unit, timezone } => {
            let (start, end) = calendar_period(*unit, timezone, at)?;
            Ok(WindowRange {
                from: start,
                to: at,
                period_seconds: end - start,
            })
        }
    }
}

/// The calendar period `[start, end)` containing `at`, in the time zone's local calendar:
/// weeks start on Monday, quarters in January, April, July and October.
pub fn calendar_period(
    unit: CalendarUnit,
    timezone: &jiff::tz::TimeZone,
    at: i64,
) -> Result<(i64, i64), Error> {
    let calendar = |e: jiff::Error| Error::Calendar(e.to_string());
    let now: ZonedDateTime = Timestamp::from_second(at)
        .map_err(calendar)?
        .to_zoned_datetime(timezone.clone());
    let day = now.start_of_day().map_err(calendar)?;
    let (start, step) = match unit {
        CalendarUnit::Week => {
            let back = i64::from(now.weekday().to_monday_zero_offset());
            let start = day
                .checked_sub(Span::new().days(back))
                .map_err(calendar)?
                .start_of_day()
                .map_err(calendar)?;
            (start, Span::new().weeks(1))
        }
        CalendarUnit::Month => (
            day.first_of_month()
                .map_err(calendar)?
                .start_of_day()
                .map_err(calendar)?,
            Span::new().months(1),
        ),
        CalendarUnit::Quarter => {
            let first_month = (now.month() - 1) / 3 * 3 + 1;
            let start = day
                .with()
                .month(first_month)
                .day(1)
                .build()
                .map_err(calendar)?
                .start_of_day()
                .map_err(calendar)?;
            (start, Span::new().months(3))
        }
    };
    let end = start.checked_add(step).map_err(calendar)?;
    Ok((start.timestamp().as_second(), end.timestamp().as_second()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>()
            .map(|t| t.as_second())
            .unwrap_or(i64::MIN)
    }

    #[test]
    fn rolling_window_ends_at_evaluation_time() {
        let r = window_range(&Window::Rolling { seconds: 3600 }, 10_000).ok();
        assert_eq!(
            r,
            Some(WindowRange {
                from: 6400,
                to: 10_000,
                period_seconds: 3600
            })
        );
    }

    #[test]
    fn month_in_berlin_starts_at_local_midnight() {
        let tz = TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC);
        let (start, end) =
            calendar_period(CalendarUnit::Month, &tz, ts("2023-11-15T00:00:00Z")).unwrap_or((0, 0));
        assert_eq!(start, ts("2023-10-31T23:00:00Z"));
        assert_eq!(end, ts("2023-11-30T23:00:00Z"));
    }

    #[test]
    fn month_containing_dst_change_is_an_hour_longer() {
        // Berlin leaves summer time on 2023-10-29: October has 31 days and one extra hour.
        let tz = TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC);
        let (start, end) =
            calendar_period(CalendarUnit::Month, &tz, ts("2023-10-15T12:00:00Z")).unwrap_or((0, 0));
        assert_eq!(end - start, 31 * 86_400 + 3600);
    }

    #[test]
    fn week_starts_on_monday_and_quarter_in_january() {
        let utc = TimeZone::UTC;
        // 2023-11-15 is a Wednesday.
        let (start, end) =
            calendar_period(CalendarUnit::Week, &utc, ts("2023-11-15T10:00:00Z")).unwrap_or((0, 0));
        assert_eq!(start, ts("2023-11-13T00:00:00Z"));
        assert_eq!(end - start, 7 * 86_400);
        let (q, qend) = calendar_period(CalendarUnit::Quarter, &utc, ts("2023-11-15T10:00:00Z"))
            .unwrap_or((0, 0));
        assert_eq!(q, ts("2023-10-01T00:00:00Z"));
        assert_eq!(qend, ts("2024-01-01T00:00:00Z"));
        let (q1, _) = calendar_period(CalendarUnit::Quarter, &utc, ts("2024-02-29T23:59:59Z"))
            .unwrap_or((0, 0));
        assert_eq!(q1, ts("2024-01-01T00:00:00Z"));
    }
}
