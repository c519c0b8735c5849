//! The JSON of a rates answer, written straight into one buffer: the same bytes as
//! serde_json gives for `[DayRate]`, without a `DayRate` per day.

use bytes::Bytes;
use chrono::{Datelike, NaiveDate};

/// `[{"day":"YYYY-MM-DD","average_price":N|null},...]` for consecutive days from
/// `from`, one per item of `averages`.
pub fn day_rates(from: NaiveDate, averages: impl ExactSizeIterator<Item = Option<i64>>) -> Bytes {
    let mut out = Vec::with_capacity(2 + averages.len() * 48);
    out.push(b'[');
    let mut day = from;
    for (i, average) in averages.enumerate() {
        if i > 0 {
            out.push(b',');
            day = day.succ_opt().unwrap_or(day);
        }
        out.extend_from_slice(b"{\"day\":\"");
        date(&mut out, day);
        out.extend_from_slice(b"\",\"average_price\":");
        match average {
            Some(v) => integer(&mut out, v),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
    out.push(b']');
    Bytes::from(out)
}

fn date(out: &mut Vec<u8>, day: NaiveDate) {
    let year = day.year();
    if (0..=9999).contains(&year) {
        digits(out, year as u32, 4);
    } else {
        // chrono's own form for years outside 0..=9999 (signed, at least 4 digits).
        out.extend_from_slice(format!("{year:+05}").as_bytes());
    }
    out.push(b'-');
    digits(out, day.month(), 2);
    out.push(b'-');
    digits(out, day.day(), 2);
}

fn digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = value;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

fn integer(out: &mut Vec<u8>, value: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let negative = value < 0;
    let mut v = value.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::DayRate;

    #[test]
    fn the_bytes_are_serde_json_s() {
        let from = NaiveDate::from_ymd_opt(2023, 12, 30).unwrap();
        let averages = [
            Some(0),
            None,
            Some(1112),
            Some(-7),
            Some(i64::MAX),
            Some(i64::MIN),
        ];
        let expected: Vec<DayRate> = averages
            .iter()
            .enumerate()
            .map(|(i, &average_price)| DayRate {
                day: from + chrono::Days::new(i as u64),
                average_price,
            })
            .collect();
        assert_eq!(
            &day_rates(from, averages.into_iter())[..],
            serde_json::to_vec(&expected).unwrap().as_slice()
        );
        assert_eq!(&day_rates(from, std::iter::empty())[..], b"[]");
        for year in [1, 999, 9999, 10000, -1] {
            let day = NaiveDate::from_ymd_opt(year, 2, 3).unwrap();
            let expected = vec![DayRate {
                day,
                average_price: None,
            }];
            assert_eq!(
                &day_rates(day, [None].into_iter())[..],
                serde_json::to_vec(&expected).unwrap().as_slice(),
                "{year}"
            );
        }
    }
}
