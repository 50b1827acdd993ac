//! Alertmanager time intervals (`time_intervals:` for mute and active intervals) and nines'
//! recurring weekly maintenance windows, evaluated in their time zone with jiff (DST-correct).

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::Value;

use crate::reader::{Issues, Obj};

/// A named set of intervals; active when any of them contains the instant.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTimeInterval {
    pub name: String,
    pub intervals: Vec<TimeInterval>,
}

impl NamedTimeInterval {
    pub fn is_active(&self, at: Timestamp) -> bool {
        self.intervals.iter().any(|i| i.is_active(at))
    }
}

/// One interval: every non-empty field must match (an empty field matches everything).
/// Ranges are inclusive except `times`, whose end minute is exclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    /// Minute-of-day ranges `[start, end)`.
    pub times: Vec<(u16, u16)>,
    /// Weekday ranges, Sunday = 0 (as Alertmanager numbers them).
    pub weekdays: Vec<(u8, u8)>,
    /// Day-of-month ranges; negative counts from the month's end (-1 = last day).
    pub days_of_month: Vec<(i8, i8)>,
    pub months: Vec<(u8, u8)>,
    pub years: Vec<(i32, i32)>,
    /// The zone the fields are read in (UTC when not given).
    pub location: TimeZone,
}

impl Default for TimeInterval {
    fn default() -> Self {
        TimeInterval {
            times: Vec::new(),
            weekdays: Vec::new(),
            days_of_month: Vec::new(),
            months: Vec::new(),
            years: Vec::new(),
            location: TimeZone::UTC,
        }
    }
}

impl TimeInterval {
    /// Whether the instant `at` falls in this interval, in its location.
    pub fn is_active(&self, at: Timestamp) -> bool {
        let z = at.to_zoned_datetime(self.location.clone());
        if !self.times.is_empty() {
            let minute = (z.hour() as u16) * 60 + z.minute() as u16;
            if !self.times.iter().any(|&(s, e)| minute >= s && minute < e) {
                return false;
            }
        }
        if !self.weekdays.is_empty() {
            let wd = z.weekday().to_sunday_zero_offset() as u8;
            if !self.weekdays.iter().any(|&(b, e)| wd >= b && wd <= e) {
                return false;
            }
        }
        if !self.days_of_month.is_empty() {
            let days = i32::from(z.days_in_month());
            let day = i32::from(z.day());
            let hit = self.days_of_month.iter().any(|&(b, e)| {
                let resolve = |d: i8| {
                    let d = i32::from(d);
                    if d < 0 {
                        days + d + 1
                    } else {
                        d
                    }
                };
                let (begin, end) = (resolve(b), resolve(e));
                if begin > days {
                    return false;
                }
                let end = end.min(days);
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        if !self.months.is_empty() {
            let m = z.month() as u8;
            if !self.months.iter().any(|&(b, e)| m >= b && m <= e) {
                return false;
            }
        }
        if !self.years.is_empty() {
            let y = i32::from(z.year());
            if !self.years.iter().any(|&(b, e)| y >= b && y <= e) {
                return false;
            }
        }
        true
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `HH:MM` with 00:00..=24:00 → minute of day.
fn parse_clock(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Reads a zone by IANA name; `Local` is refused (it would depend on the host).
pub fn parse_location(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("local") {
        return Err("\"Local\" depends on the host: use an IANA zone such as Europe/Berlin".into());
    }
    TimeZone::get(name).map_err(|_| format!("unknown time zone {name:?}"))
}

fn split_range(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    }
}

/// Reads one interval of a `time_intervals[].time_intervals` list.
pub(crate) fn read_interval(value: &Value, path: &str, issues: &mut Issues) -> TimeInterval {
    let o = Obj::new(
        value,
        path,
        &[
            "times",
            "weekdays",
            "days_of_month",
            "months",
            "years",
            "location",
        ],
        issues,
    );
    let mut ti = TimeInterval::default();
    for (item, p) in o.list("times", issues) {
        let t = Obj::new(item, &p, &["start_time", "end_time"], issues);
        let start = t.str("start_time", issues);
        let end = t.str("end_time", issues);
        let (Some(start), Some(end)) = (start, end) else {
            issues.push(&p, "both start_time and end_time are required");
            continue;
        };
        match (parse_clock(&start), parse_clock(&end)) {
            (Some(s), Some(e)) if s < e => ti.times.push((s, e)),
            (Some(_), Some(_)) => issues.push(&p, "start_time must be before end_time"),
            (None, _) => issues.push(
                &t.path("start_time"),
                format!("invalid time {start:?}: expected HH:MM"),
            ),
            (_, None) => issues.push(
                &t.path("end_time"),
                format!("invalid time {end:?}: expected HH:MM"),
            ),
        }
    }
    for (s, p) in o.str_list("weekdays", issues) {
        let (a, b) = split_range(&s);
        let find = |x: &str| {
            WEEKDAYS
                .iter()
                .position(|w| w.eq_ignore_ascii_case(x))
                .map(|i| i as u8)
        };
        match (find(a), find(b)) {
            (Some(a), Some(b)) if a <= b => ti.weekdays.push((a, b)),
            (Some(_), Some(_)) => {
                issues.push(&p, format!("start day cannot be after end day in {s:?}"))
            }
            _ => issues.push(&p, format!("invalid weekday range {s:?}")),
        }
    }
    for (s, p) in o.str_list("days_of_month", issues) {
        let (a, b) = split_range(&s);
        match (a.parse::<i8>(), b.parse::<i8>()) {
            (Ok(a), Ok(b))
                if a != 0 && b != 0 && (-31..=31).contains(&a) && (-31..=31).contains(&b) =>
            {
                // As Alertmanager: a negative start needs a negative end, and a range that is
                // empty even in the shortest month (28 days) is refused.
                let norm = |d: i8| {
                    if d < 0 {
                        28 + i16::from(d)
                    } else {
                        i16::from(d)
                    }
                };
                if a < 0 && b > 0 {
                    issues.push(
                        &p,
                        format!("end day must be negative if start day is negative in {s:?}"),
                    );
                } else if norm(a) > norm(b) {
                    issues.push(&p, format!("start day cannot be after end day in {s:?}"));
                } else {
                    ti.days_of_month.push((a, b));
                }
            }
            _ => issues.push(
                &p,
                format!("invalid day of month range {s:?}: days are 1..31 or -31..-1"),
            ),
        }
    }
    for (s, p) in o.str_list("months", issues) {
        let (a, b) = split_range(&s);
        let find = |x: &str| {
            MONTHS
                .iter()
                .position(|m| m.eq_ignore_ascii_case(x))
                .map(|i| i as u8 + 1)
                .or_else(|| x.parse::<u8>().ok().filter(|m| (1..=12).contains(m)))
        };
        match (find(a), find(b)) {
            (Some(a), Some(b)) if a <= b => ti.months.push((a, b)),
            (Some(_), Some(_)) => issues.push(
                &p,
                format!("start month cannot be after end month in {s:?}"),
            ),
            _ => issues.push(&p, format!("invalid month range {s:?}")),
        }
    }
    for (s, p) in o.str_list("years", issues) {
        let (a, b) = split_range(&s);
        match (a.parse::<i32>(), b.parse::<i32>()) {
            (Ok(a), Ok(b)) if a > 0 && b > 0 && a <= b => ti.years.push((a, b)),
            _ => issues.push(&p, format!("invalid year range {s:?}")),
        }
    }
    if let Some(loc) = o.str("location", issues) {
        match parse_location(&loc) {
            Ok(tz) => ti.location = tz,
            Err(e) => issues.push(&o.path("location"), e),
        }
    }
    ti
}

/// A recurring weekly window (nines' maintenance windows): starts every `weekday` at
/// `start_minute` local time in `location`, lasts `duration` of real time (so a window over a
/// DST change still lasts exactly that long), and may cross midnight.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyWindow {
    pub weekday: Weekday,
    pub start_minute: u16,
    pub duration: SignedDuration,
    pub location: TimeZone,
}

impl WeeklyWindow {
    /// Whether `at` falls in an occurrence `[start, start + duration)`.
    pub fn is_active(&self, at: Timestamp) -> bool {
        self.occurrence_containing(at).is_some()
    }

    /// The start of the occurrence containing `at`, if any.
    pub fn occurrence_containing(&self, at: Timestamp) -> Option<Timestamp> {
        let today = at.to_zoned_datetime(self.location.clone()).date();
        let span_days = self.duration.as_secs() / 86_400 + 2;
        (0..=span_days.min(3700)).find_map(|back| {
            let date = today.checked_sub(back.days()).ok()?;
            let start = self.start_on(date)?;
            let end = start.checked_add(self.duration).ok()?;
            (date.weekday() == self.weekday && start <= at && at < end).then_some(start)
        })
    }

    /// The instant the window starts on `date` (a time in a DST gap moves forward).
    fn start_on(&self, date: Date) -> Option<Timestamp> {
        let h = i8::try_from(self.start_minute / 60).ok()?;
        let m = i8::try_from(self.start_minute % 60).ok()?;
        let time = jiff::civil::Time::new(h, m, 0, 0).ok()?;
        self.location
            .to_ambiguous_timestamp(date.to_datetime(time))
            .compatible()
            .ok()
    }
}

/// Reads `{weekday, start_time, duration, location}`.
pub(crate) fn read_weekly(value: &Value, path: &str, issues: &mut Issues) -> Option<WeeklyWindow> {
    let o = Obj::new(
        value,
        path,
        &["weekday", "start_time", "duration", "location"],
        issues,
    );
    let before = issues.0.len();
    let weekday = o.str("weekday", issues).and_then(|s| {
        let found = WEEKDAYS.iter().position(|w| w.eq_ignore_ascii_case(&s));
        if found.is_none() {
            issues.push(&o.path("weekday"), format!("invalid weekday {s:?}"));
        }
        found.and_then(|i| Weekday::from_sunday_zero_offset(i as i8).ok())
    });
    let start = o.str("start_time", issues).and_then(|s| {
        let m = parse_clock(&s).filter(|m| *m < 24 * 60);
        if m.is_none() {
            issues.push(
                &o.path("start_time"),
                format!("invalid time {s:?}: expected HH:MM"),
            );
        }
        m
    });
    let duration = o.duration("duration", issues);
    if let Some(d) = duration {
        if d <= SignedDuration::ZERO || d > SignedDuration::from_hours(7 * 24) {
            issues.push(&o.path("duration"), "must be more than 0 and at most 1w");
        }
    }
    let location = match o.str("location", issues) {
        None => Some(TimeZone::UTC),
        Some(name) => parse_location(&name)
            .map_err(|e| issues.push(&o.path("location"), e))
            .ok(),
    };
    for required in ["weekday", "start_time", "duration"] {
        if !o.has(required) {
            issues.push(&o.path(required), "required");
        }
    }
    if issues.0.len() != before {
        return None;
    }
    Some(WeeklyWindow {
        weekday: weekday?,
        start_minute: start?,
        duration: duration?,
        location: location?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn interval(yaml: &str) -> TimeInterval {
        let v: Value = serde_saphyr::from_str(yaml).unwrap();
        let mut issues = Issues::default();
        let ti = read_interval(&v, "t", &mut issues);
        assert!(issues.0.is_empty(), "{:?}", issues.0);
        ti
    }

    fn issues_of(yaml: &str) -> Vec<String> {
        let v: Value = serde_saphyr::from_str(yaml).unwrap();
        let mut issues = Issues::default();
        read_interval(&v, "t", &mut issues);
        issues.0.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn office_hours_in_berlin() {
        let ti = interval(
            "times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']\nlocation: Europe/Berlin\n",
        );
        // Wednesday 2024-01-10: Berlin is UTC+1.
        assert!(ti.is_active(ts("2024-01-10T08:00:00Z"))); // 09:00 local
        assert!(!ti.is_active(ts("2024-01-10T07:59:59Z")));
        assert!(ti.is_active(ts("2024-01-10T15:59:59Z"))); // 16:59:59 local
        assert!(!ti.is_active(ts("2024-01-10T16:00:00Z"))); // 17:00 local: end is exclusive
                                                            // Saturday.
        assert!(!ti.is_active(ts("2024-01-13T10:00:00Z")));
        // Summer (UTC+2): 09:00 local is 07:00Z.
        assert!(ti.is_active(ts("2024-07-10T07:00:00Z")));
        assert!(!ti.is_active(ts("2024-07-10T15:00:00Z")));
    }

    #[test]
    fn unquoted_clock_times_and_24_00() {
        let ti = interval("times:\n  - start_time: 17:00\n    end_time: 24:00\n");
        assert!(ti.is_active(ts("2024-01-10T23:59:00Z")));
        assert!(!ti.is_active(ts("2024-01-10T16:59:00Z")));
    }

    #[test]
    fn negative_days_of_month_count_from_the_end() {
        let ti = interval("days_of_month: ['-1']\n");
        assert!(ti.is_active(ts("2024-02-29T12:00:00Z"))); // leap year
        assert!(!ti.is_active(ts("2024-02-28T12:00:00Z")));
        assert!(ti.is_active(ts("2023-02-28T12:00:00Z")));
        let range = interval("days_of_month: ['1:5', '-3:-1']\n");
        assert!(range.is_active(ts("2024-04-28T00:00:00Z"))); // 30-day month: 28..30
        assert!(!range.is_active(ts("2024-04-27T00:00:00Z")));
        assert!(range.is_active(ts("2024-04-05T00:00:00Z")));
        // A range starting after the month's end never matches that month.
        let late = interval("days_of_month: ['31']\n");
        assert!(!late.is_active(ts("2024-04-30T00:00:00Z")));
    }

    #[test]
    fn months_and_years() {
        let ti = interval("months: ['january:march', '12']\nyears: ['2024:2025']\n");
        assert!(ti.is_active(ts("2024-02-01T00:00:00Z")));
        assert!(ti.is_active(ts("2025-12-31T00:00:00Z")));
        assert!(!ti.is_active(ts("2024-04-01T00:00:00Z")));
        assert!(!ti.is_active(ts("2026-01-01T00:00:00Z")));
    }

    #[test]
    fn validation_messages_have_paths() {
        assert_eq!(
            issues_of("times: [{start_time: '10:00', end_time: '09:00'}]\n"),
            ["t.times[0]: start_time must be before end_time"]
        );
        assert_eq!(
            issues_of("weekdays: ['friday:monday']\n"),
            ["t.weekdays[0]: start day cannot be after end day in \"friday:monday\""]
        );
        assert_eq!(issues_of("days_of_month: ['0']\n").len(), 1);
        assert_eq!(
            issues_of("days_of_month: ['-1:5']\n"),
            ["t.days_of_month[0]: end day must be negative if start day is negative in \"-1:5\""]
        );
        assert_eq!(issues_of("days_of_month: ['1:-1', '-3:-1']\n").len(), 0);
        assert_eq!(issues_of("days_of_month: ['27:-3']\n").len(), 1);
        assert_eq!(
            issues_of("times: [{start_time: '9:00', end_time: '17:00'}]\n"),
            ["t.times[0].start_time: invalid time \"9:00\": expected HH:MM"]
        );
        assert_eq!(
            issues_of("location: Mars/Base\n"),
            ["t.location: unknown time zone \"Mars/Base\""]
        );
        assert_eq!(issues_of("hours: [1]\n"), ["t.hours: unknown field"]);
        assert_eq!(
            issues_of("times: [{start_time: '25:00', end_time: '26:00'}]\n").len(),
            1
        );
    }

    fn weekly(yaml: &str) -> WeeklyWindow {
        let v: Value = serde_saphyr::from_str(yaml).unwrap();
        let mut issues = Issues::default();
        let w = read_weekly(&v, "w", &mut issues);
        assert!(issues.0.is_empty(), "{:?}", issues.0);
        w.unwrap()
    }

    #[test]
    fn weekly_window_crosses_midnight() {
        let w = weekly(
            "weekday: saturday\nstart_time: '22:00'\nduration: 4h\nlocation: Europe/Berlin\n",
        );
        // Saturday 2024-01-13 22:00 Berlin = 21:00Z, until Sunday 02:00 local = 01:00Z.
        assert!(!w.is_active(ts("2024-01-13T20:59:59Z")));
        assert!(w.is_active(ts("2024-01-13T21:00:00Z")));
        assert!(w.is_active(ts("2024-01-14T00:59:59Z")));
        assert!(!w.is_active(ts("2024-01-14T01:00:00Z")));
        assert_eq!(
            w.occurrence_containing(ts("2024-01-14T00:00:00Z")),
            Some(ts("2024-01-13T21:00:00Z"))
        );
        // A week later too.
        assert!(w.is_active(ts("2024-01-20T21:30:00Z")));
    }

    #[test]
    fn weekly_window_is_dst_correct() {
        // Berlin springs forward on Sunday 2024-03-31 at 02:00 (to 03:00).
        let w =
            weekly("weekday: sunday\nstart_time: '01:00'\nduration: 3h\nlocation: Europe/Berlin\n");
        // 01:00 CET = 00:00Z; three real hours later is 03:00Z (05:00 CEST local).
        assert!(w.is_active(ts("2024-03-31T00:00:00Z")));
        assert!(w.is_active(ts("2024-03-31T02:59:59Z")));
        assert!(!w.is_active(ts("2024-03-31T03:00:00Z")));
        // The next Sunday the window starts at 01:00 CEST = 23:00Z on Saturday.
        assert!(w.is_active(ts("2024-04-06T23:00:00Z")));
        assert!(!w.is_active(ts("2024-04-06T22:59:59Z")));
        // A start inside the DST gap (02:30 does not exist that day) moves to 03:30 CEST.
        let gap =
            weekly("weekday: sunday\nstart_time: '02:30'\nduration: 1h\nlocation: Europe/Berlin\n");
        assert!(gap.is_active(ts("2024-03-31T01:30:00Z")));
        assert!(!gap.is_active(ts("2024-03-31T01:29:59Z")));
    }

    #[test]
    fn weekly_window_requires_its_fields() {
        let v: Value = serde_saphyr::from_str("weekday: funday\nduration: 0s\n").unwrap();
        let mut issues = Issues::default();
        assert!(read_weekly(&v, "w", &mut issues).is_none());
        let msgs: Vec<String> = issues.0.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "w.weekday: invalid weekday \"funday\"",
                "w.duration: must be more than 0 and at most 1w",
                "w.start_time: required"
            ]
        );
    }
}
