//! Streaming parsers for batch payloads (CSV and NDJSON): bytes in, one
//! [`Parsed`] per data line out, never the whole payload in memory.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, ReadBuf};

use super::price_row::{PriceRow, RawPrice, RowError, COLUMNS};

/// The payload formats a batch can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/csv` with the header `orig_code,dest_code,day,price` (any order).
    Csv,
    /// `application/x-ndjson`: one JSON object per line.
    Ndjson,
}

impl Format {
    /// The format for a `Content-Type` value (parameters such as
    /// `charset=utf-8` are allowed; other charsets are not).
    pub fn from_content_type(value: &str) -> Option<Format> {
        let mut parts = value.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        for param in parts {
            let (name, val) = param.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("charset")
                && !val.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            {
                return None;
            }
        }
        match essence.as_str() {
            "text/csv" => Some(Format::Csv),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                Some(Format::Ndjson)
            }
            _ => None,
        }
    }

    /// The format of a dropped object, from its file name.
    pub fn from_object_key(key: &str) -> Option<Format> {
        let lower = key.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            Some(Format::Ndjson)
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    pub fn parse(value: &str) -> Option<Format> {
        match value {
            "csv" => Some(Format::Csv),
            "ndjson" => Some(Format::Ndjson),
            _ => None,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// One data line of a payload: a row, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Row { line: u64, row: PriceRow },
    Invalid(RowError),
}

/// A line longer than this is refused: 65,536 bytes, its terminator (`\n`, or `\r\n`)
/// not counted. It applies to every physical line, in CSV too (no valid row comes close).
/// The batch is rejected at that line and nothing after it is read.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;
/// A CSV record whose quoted fields span lines may hold at most this much in all: it
/// bounds the memory an unterminated quote can take, which would otherwise swallow the
/// rest of the payload one short line at a time. Refused at the line the record starts.
pub const MAX_RECORD_BYTES: u64 = 3 * MAX_LINE_BYTES;

/// Reads a payload, one data line at a time.
pub struct PayloadParser<R: AsyncRead + Unpin + Send> {
    inner: Inner<R>,
    /// Set once a fatal problem (bad header, overlong line) ended the parse.
    finished: bool,
}

enum Inner<R: AsyncRead + Unpin + Send> {
    Csv {
        reader: csv_async::AsyncReader<LineLimit<R>>,
        record: csv_async::ByteRecord,
        // Field index of orig_code, dest_code, day, price; None until the header is read.
        order: Option<[usize; 4]>,
        boundary: Arc<AtomicU64>,
        long_line: Arc<AtomicU64>,
        /// The line the next record starts on.
        record_line: u64,
    },
    Ndjson {
        reader: BufReader<LineLimit<R>>,
        buf: Vec<u8>,
        line: u64,
        boundary: Arc<AtomicU64>,
        long_line: Arc<AtomicU64>,
    },
}

impl<R: AsyncRead + Unpin + Send> PayloadParser<R> {
    pub fn new(format: Format, source: R) -> Self {
        let boundary = Arc::new(AtomicU64::new(0));
        let long_line = Arc::new(AtomicU64::new(0));
        let limited = LineLimit {
            inner: source,
            fed: 0,
            boundary: boundary.clone(),
            line: 1,
            line_len: 0,
            prev_cr: false,
            failed: None,
            long_line: long_line.clone(),
        };
        let inner = match format {
            Format::Csv => Inner::Csv {
                reader: csv_async::AsyncReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    // `\n` only: csv's CRLF mode miscounts lines after a `\r\n`;
                    // a trailing `\r` is stripped from the last field instead.
                    .terminator(csv_async::Terminator::Any(b'\n'))
                    .buffer_capacity(64 * 1024)
                    .create_reader(limited),
                record: csv_async::ByteRecord::new(),
                order: None,
                boundary,
                long_line,
                record_line: 1,
            },
            Format::Ndjson => Inner::Ndjson {
                reader: BufReader::with_capacity(64 * 1024, limited),
                buf: Vec::with_capacity(256),
                line: 0,
                boundary,
                long_line,
            },
        };
        PayloadParser {
            inner,
            finished: false,
        }
    }

    /// The next data line, or None at the end. An `Err` is a failure to read
    /// the payload itself (storage, network), not a problem with its content.
    pub async fn next(&mut self) -> io::Result<Option<Parsed>> {
        if self.finished {
            return Ok(None);
        }
        let result = match &mut self.inner {
            Inner::Csv {
                reader,
                record,
                order,
                boundary,
                long_line,
                record_line,
            } => next_csv(reader, record, order, boundary, long_line, record_line).await,
            Inner::Ndjson {
                reader,
                buf,
                line,
                boundary,
                long_line,
            } => next_ndjson(reader, buf, line, boundary, long_line).await,
        };
        match result {
            Ok(Step::Fatal(error)) => {
                self.finished = true;
                Ok(Some(Parsed::Invalid(error)))
            }
            Ok(Step::Item(item)) => Ok(Some(item)),
            Ok(Step::End) => {
                self.finished = true;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

enum Step {
    Item(Parsed),
    /// A problem after which the rest of the payload cannot be read sensibly.
    Fatal(RowError),
    End,
}

fn too_long(line: u64) -> RowError {
    RowError::new(
        line,
        "row",
        "",
        format!("line is longer than {MAX_LINE_BYTES} bytes (not counting its line break); the rest of the payload was not read"),
    )
}

fn record_too_long(line: u64) -> RowError {
    RowError::new(
        line,
        "row",
        "",
        format!("the CSV record starting on this line runs past {MAX_RECORD_BYTES} bytes (an unterminated quote?); the rest of the payload was not read"),
    )
}

/// The error the limit raised, if `e` is one: the line to report.
fn limit_error(e: &io::Error, long_line: &AtomicU64, record_line: u64) -> Option<RowError> {
    match e.get_ref()?.downcast_ref::<Limit>()? {
        Limit::Line => Some(too_long(long_line.load(Ordering::Relaxed))),
        Limit::Record => Some(record_too_long(record_line)),
    }
}

async fn next_csv<R: AsyncRead + Unpin + Send>(
    reader: &mut csv_async::AsyncReader<LineLimit<R>>,
    record: &mut csv_async::ByteRecord,
    order: &mut Option<[usize; 4]>,
    boundary: &AtomicU64,
    long_line: &AtomicU64,
    record_line: &mut u64,
) -> io::Result<Step> {
    loop {
        let more = match reader.read_byte_record(record).await {
            Ok(more) => more,
            Err(e) => {
                let line = *record_line;
                return match e.into_kind() {
                    csv_async::ErrorKind::Io(io) => match limit_error(&io, long_line, line) {
                        Some(error) => Ok(Step::Fatal(error)),
                        None => Err(io),
                    },
                    other => Ok(Step::Fatal(RowError::new(
                        line,
                        "row",
                        "",
                        format!("malformed CSV: {other:?}"),
                    ))),
                };
            }
        };
        boundary.store(reader.position().byte(), Ordering::Relaxed);
        *record_line = reader.position().line();
        if !more {
            return Ok(match order {
                None => Step::Fatal(RowError::new(
                    1,
                    "header",
                    "",
                    format!(
                        "the payload is empty; a CSV batch starts with the header `{}`",
                        COLUMNS.join(",")
                    ),
                )),
                Some(_) => Step::End,
            });
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() == 1 && record[0].trim_ascii().is_empty() {
            // A blank line (`\r\n` included).
            continue;
        }
        let Some(order) = order else {
            match header_order(record) {
                Ok(found) => {
                    *order = Some(found);
                    continue;
                }
                Err(reason) => {
                    let value = String::from_utf8_lossy(record.as_slice()).into_owned();
                    return Ok(Step::Fatal(RowError::new(line, "header", &value, reason)));
                }
            }
        };
        if record.len() != 4 {
            let fields: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
            return Ok(Step::Item(Parsed::Invalid(RowError::new(
                line,
                "row",
                &fields.join(","),
                format!(
                    "expected 4 fields ({}), found {}",
                    COLUMNS.join(","),
                    record.len()
                ),
            ))));
        }
        let mut fields = [""; 4];
        for (column, (slot, &index)) in fields.iter_mut().zip(order.iter()).enumerate() {
            let mut raw = &record[index];
            if index + 1 == record.len() {
                raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            }
            match std::str::from_utf8(raw) {
                Ok(text) => *slot = text,
                Err(_) => {
                    let column = COLUMNS[column];
                    return Ok(Step::Item(Parsed::Invalid(RowError::new(
                        line,
                        column,
                        &String::from_utf8_lossy(raw),
                        "not valid UTF-8",
                    ))));
                }
            }
        }
        let parsed = PriceRow::parse(
            line,
            fields[0],
            fields[1],
            fields[2],
            RawPrice::Text(fields[3]),
        );
        return Ok(Step::Item(match parsed {
            Ok(row) => Parsed::Row { line, row },
            Err(error) => Parsed::Invalid(error),
        }));
    }
}

/// Where each expected column sits in the header; any order, no extras.
fn header_order(record: &csv_async::ByteRecord) -> Result<[usize; 4], String> {
    let mut order = [usize::MAX; 4];
    for (index, raw) in record.iter().enumerate() {
        // A UTF-8 byte order mark may precede the first name.
        let raw = if index == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        let name = std::str::from_utf8(raw)
            .map_err(|_| "the header is not valid UTF-8".to_string())?
            .trim();
        let Some(column) = COLUMNS.iter().position(|c| *c == name) else {
            return Err(format!(
                "unknown column `{name}`; the header is `{}`",
                COLUMNS.join(",")
            ));
        };
        if order[column] != usize::MAX {
            return Err(format!("column `{name}` appears twice"));
        }
        order[column] = index;
    }
    if let Some(missing) = order.iter().position(|&i| i == usize::MAX) {
        return Err(format!(
            "column `{}` is missing; the header is `{}`",
            COLUMNS[missing],
            COLUMNS.join(",")
        ));
    }
    Ok(order)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow<'a> {
    #[serde(borrow)]
    orig_code: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    dest_code: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    day: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    price: Option<serde_json::Value>,
}

async fn next_ndjson<R: AsyncRead + Unpin + Send>(
    reader: &mut BufReader<LineLimit<R>>,
    buf: &mut Vec<u8>,
    line: &mut u64,
    boundary: &AtomicU64,
    long_line: &AtomicU64,
) -> io::Result<Step> {
    loop {
        buf.clear();
        let read = match reader.read_until(b'\n', buf).await {
            Ok(n) => n,
            Err(e) => {
                return match limit_error(&e, long_line, *line + 1) {
                    Some(error) => Ok(Step::Fatal(error)),
                    None => Err(e),
                }
            }
        };
        if read == 0 {
            return Ok(Step::End);
        }
        *line += 1;
        let consumed = boundary.load(Ordering::Relaxed) + read as u64;
        boundary.store(consumed, Ordering::Relaxed);
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if std::str::from_utf8(text).is_err() {
            return Ok(Step::Item(Parsed::Invalid(RowError::new(
                *line,
                "row",
                &String::from_utf8_lossy(text),
                "not valid UTF-8",
            ))));
        }
        let row: JsonRow = match serde_json::from_slice(text) {
            Ok(row) => row,
            Err(e) => {
                return Ok(Step::Item(Parsed::Invalid(RowError::new(
                    *line,
                    "row",
                    &String::from_utf8_lossy(text),
                    format!("not a JSON object with fields {}: {e}", COLUMNS.join(", ")),
                ))))
            }
        };
        let missing =
            |column: &str| Step::Item(Parsed::Invalid(RowError::new(*line, column, "", "missing")));
        let (Some(orig), Some(dest), Some(day)) = (&row.orig_code, &row.dest_code, &row.day) else {
            let column = if row.orig_code.is_none() {
                "orig_code"
            } else if row.dest_code.is_none() {
                "dest_code"
            } else {
                "day"
            };
            return Ok(missing(column));
        };
        let Some(price) = &row.price else {
            return Ok(missing("price"));
        };
        let parsed = PriceRow::parse(*line, orig, dest, day, RawPrice::Json(price));
        return Ok(Step::Item(match parsed {
            Ok(row) => Parsed::Row { line: *line, row },
            Err(error) => Parsed::Invalid(error),
        }));
    }
}

/// The errors [`LineLimit`] raises.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// A physical line over [`MAX_LINE_BYTES`] (its number is in `long_line`).
    Line,
    /// More than [`MAX_RECORD_BYTES`] past the end of the last complete record.
    Record,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Line => write!(f, "a line longer than {MAX_LINE_BYTES} bytes"),
            Limit::Record => write!(f, "a CSV record longer than {MAX_RECORD_BYTES} bytes"),
        }
    }
}

impl std::error::Error for Limit {}

/// Counts every physical line as its bytes pass to the parser and fails the read that
/// would hand over a line longer than [`MAX_LINE_BYTES`]: the parser first gets every
/// byte before that line (so the complete rows before it parse), then the error, with
/// the line's number in `long_line`. It also fails once more than [`MAX_RECORD_BYTES`]
/// have been fed past the end of the last complete record (the parser stores that in
/// `boundary`), which bounds a CSV record whose quote never closes. One pass over the
/// bytes with `memchr`.
struct LineLimit<R> {
    inner: R,
    fed: u64,
    boundary: Arc<AtomicU64>,
    /// The physical line being read (1-based) and its bytes so far.
    line: u64,
    line_len: u64,
    /// Whether the last byte of the current line so far is `\r`.
    prev_cr: bool,
    /// An error already decided, raised by the next read.
    failed: Option<Limit>,
    long_line: Arc<AtomicU64>,
}

impl<R> LineLimit<R> {
    /// Scans `bytes` (just read); returns the length of the prefix that may go to the
    /// parser and the error to raise after it, if any.
    fn scan(&mut self, bytes: &[u8]) -> (usize, Option<Limit>) {
        // Where the current line started within `bytes` (0 if in an earlier read).
        let mut line_start = 0;
        let mut rest = bytes;
        let mut offset = 0;
        loop {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    let len = self.line_len + i as u64;
                    let cr = if i > 0 {
                        rest[i - 1] == b'\r'
                    } else {
                        self.prev_cr
                    };
                    if len - u64::from(cr) > MAX_LINE_BYTES {
                        self.long_line.store(self.line, Ordering::Relaxed);
                        return (line_start, Some(Limit::Line));
                    }
                    self.line += 1;
                    self.line_len = 0;
                    self.prev_cr = false;
                    offset += i + 1;
                    line_start = offset;
                    rest = &rest[i + 1..];
                }
                None => {
                    self.line_len += rest.len() as u64;
                    if let Some(&last) = rest.last() {
                        self.prev_cr = last == b'\r';
                    }
                    // One more byte may still be a `\r` before the line break.
                    if self.line_len > MAX_LINE_BYTES + 1 {
                        self.long_line.store(self.line, Ordering::Relaxed);
                        return (line_start, Some(Limit::Line));
                    }
                    return (bytes.len(), None);
                }
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LineLimit<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let fail =
            |limit: Limit| Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, limit)));
        if let Some(limit) = self.failed {
            return fail(limit);
        }
        let pending_record = self
            .fed
            .saturating_sub(self.boundary.load(Ordering::Relaxed));
        if pending_record > MAX_RECORD_BYTES {
            self.failed = Some(Limit::Record);
            return fail(Limit::Record);
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            let (keep, limit) = this.scan(&buf.filled()[before..]);
            if let Some(limit) = limit {
                this.failed = Some(limit);
                if keep == 0 {
                    // Nothing to hand over first (an empty read would read as the end).
                    buf.set_filled(before);
                    return fail(limit);
                }
                buf.set_filled(before + keep);
            }
            this.fed += keep as u64;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse_all(format: Format, payload: &[u8]) -> Vec<Parsed> {
        let mut parser = PayloadParser::new(format, payload);
        let mut out = Vec::new();
        while let Some(item) = parser.next().await.unwrap() {
            out.push(item);
        }
        out
    }

    fn errors(items: &[Parsed]) -> Vec<(u64, String)> {
        items
            .iter()
            .filter_map(|p| match p {
                Parsed::Invalid(e) => Some((e.line, e.column.clone())),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn csv_rows_carry_their_line_numbers() {
        let payload = b"orig_code,dest_code,day,price\r\nCNSHA,NLRTM,2016-01-01,100\r\n\r\nCNSHA,NLRTM,2016-01-02,\"200\"\n";
        let items = parse_all(Format::Csv, payload).await;
        assert_eq!(items.len(), 2);
        assert!(
            matches!(&items[0], Parsed::Row { line: 2, row } if row.price == 100),
            "{items:?}"
        );
        assert!(matches!(&items[1], Parsed::Row { line: 4, row } if row.price == 200));
    }

    #[tokio::test]
    async fn csv_header_may_reorder_columns_but_not_rename_them() {
        let items = parse_all(
            Format::Csv,
            b"\xEF\xBB\xBFprice,day,dest_code,orig_code\n5,2016-01-01,NLRTM,CNSHA\n",
        )
        .await;
        assert!(
            matches!(&items[0], Parsed::Row { row, .. } if row.price == 5 && row.orig_code.as_str() == "CNSHA")
        );
        let items = parse_all(
            Format::Csv,
            b"orig,dest_code,day,price\nCNSHA,NLRTM,2016-01-01,1\n",
        )
        .await;
        assert_eq!(errors(&items), vec![(1, "header".to_string())]);
    }

    #[tokio::test]
    async fn csv_errors_name_line_and_column() {
        let payload = "orig_code,dest_code,day,price\nCNSHA,NLRTM,2016-01-01\nCNSHA,NLRTM,2016-13-01,1\nCNSHA,NLR\u{e9}M,2016-01-01,1\n";
        let mut bytes = payload.as_bytes().to_vec();
        bytes.extend_from_slice(b"CNSHA,\xff\xfeRTM,2016-01-01,1\n");
        let items = parse_all(Format::Csv, &bytes).await;
        assert_eq!(
            errors(&items),
            vec![
                (2, "row".to_string()),
                (3, "day".to_string()),
                (4, "dest_code".to_string()),
                (5, "dest_code".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn an_unterminated_quote_stops_with_a_bounded_error() {
        let mut payload = b"orig_code,dest_code,day,price\n\"CNSHA,NLRTM,2016-01-01,1\n".to_vec();
        for _ in 0..20_000 {
            payload.extend_from_slice(b"CNSHA,NLRTM,2016-01-01,1\n");
        }
        let items = parse_all(Format::Csv, &payload).await;
        let errs = errors(&items);
        assert_eq!(errs.len(), 1, "{items:?}");
        assert_eq!(errs[0].1, "row");
    }

    /// A CSV row of exactly `len` bytes (terminator not counted): a valid row whose price
    /// is zero-padded to the length.
    fn csv_row(len: usize) -> String {
        let head = "CNSHA,NLRTM,2016-01-01,";
        format!("{head}{}7", "0".repeat(len - head.len() - 1))
    }

    fn ndjson_row(len: usize) -> String {
        let head = r#"{"orig_code":"CNSHA","dest_code":"NLRTM","day":"2016-01-01","price":7"#;
        format!("{head}{}}}", " ".repeat(len - head.len() - 1))
    }

    fn too_long_at(items: &[Parsed]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|p| match p {
                Parsed::Invalid(e)
                    if e.reason.contains("longer than") || e.reason.contains("runs past") =>
                {
                    Some(e.line)
                }
                _ => None,
            })
            .collect()
    }

    /// The limit: 65,536 bytes per line, its terminator (`\n`, or `\r\n`) not counted;
    /// for CSV per record (a quoted field may span lines). One byte over is refused at
    /// the line where the record starts, and nothing after it is read.
    #[tokio::test]
    async fn a_line_one_byte_over_the_limit_is_refused_at_its_own_line() {
        let max = MAX_LINE_BYTES as usize;
        for (format, header, row) in [
            (
                Format::Csv,
                "orig_code,dest_code,day,price\n",
                csv_row as fn(usize) -> String,
            ),
            (Format::Ndjson, "", ndjson_row),
        ] {
            for eol in ["\n", "\r\n"] {
                let ok = format!("{header}{}{eol}{}{eol}", row(100), row(max));
                let items = parse_all(format, ok.as_bytes()).await;
                assert_eq!(
                    errors(&items),
                    vec![],
                    "{format:?} {eol:?}: {max} bytes pass"
                );
                assert_eq!(items.len(), 2);

                let over = format!(
                    "{header}{}{eol}{}{eol}{}{eol}{}{eol}",
                    row(100),
                    row(100),
                    row(max + 1),
                    row(100)
                );
                let items = parse_all(format, over.as_bytes()).await;
                let line = if header.is_empty() { 3 } else { 4 };
                assert_eq!(
                    too_long_at(&items),
                    vec![line],
                    "{format:?} {eol:?}: {items:?}"
                );
                assert_eq!(
                    items
                        .iter()
                        .filter(|p| matches!(p, Parsed::Row { .. }))
                        .count(),
                    2,
                    "{format:?}: the rows before it parse, nothing after it is read"
                );
            }
        }
        // Far over (the reader's own bound trips before the record ends).
        let huge = format!(
            "orig_code,dest_code,day,price\n{}\n{}\n",
            csv_row(100),
            csv_row(10 * max)
        );
        assert_eq!(
            too_long_at(&parse_all(Format::Csv, huge.as_bytes()).await),
            vec![3]
        );
        let huge = format!("{}\n{}\n", ndjson_row(100), ndjson_row(10 * max));
        assert_eq!(
            too_long_at(&parse_all(Format::Ndjson, huge.as_bytes()).await),
            vec![2]
        );
    }

    /// A quote opened on line 3 and never closed swallows the rest: the error names
    /// line 3, where the record starts, not where the limit tripped.
    #[tokio::test]
    async fn an_unterminated_quote_is_reported_where_it_opened() {
        let mut payload = b"orig_code,dest_code,day,price\nCNSHA,NLRTM,2016-01-01,1\n\"CNSHA,NLRTM,2016-01-01,1\n".to_vec();
        for _ in 0..20_000 {
            payload.extend_from_slice(b"CNSHA,NLRTM,2016-01-01,1\n");
        }
        let items = parse_all(Format::Csv, &payload).await;
        assert_eq!(too_long_at(&items), vec![3], "{:?}", errors(&items));
        // A quoted field spanning lines counts towards its record, and a short one passes.
        let spanning = b"orig_code,dest_code,day,price\n\"CNSHA\",NLRTM,2016-01-01,1\nCNSHA,\"NL\nRTM\",2016-01-01,1\nCNSHA,NLRTM,2016-01-01,2\n";
        let items = parse_all(Format::Csv, spanning).await;
        assert_eq!(
            errors(&items),
            vec![(3, "dest_code".to_string())],
            "{items:?}"
        );
        assert!(
            matches!(&items[2], Parsed::Row { line: 5, .. }),
            "{items:?}"
        );
    }

    #[tokio::test]
    async fn empty_csv_has_no_header() {
        let items = parse_all(Format::Csv, b"").await;
        assert_eq!(errors(&items), vec![(1, "header".to_string())]);
    }

    #[tokio::test]
    async fn ndjson_rows_and_errors() {
        let payload = concat!(
            "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":10}\n",
            "\n",
            "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\"}\n",
            "not json\n",
            "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":1.5}\n",
            "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":3,\"extra\":1}\n",
            "{\"orig_code\":\"CNSHA\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-02\",\"price\":20}"
        );
        let items = parse_all(Format::Ndjson, payload.as_bytes()).await;
        assert!(matches!(&items[0], Parsed::Row { line: 1, row } if row.price == 10));
        assert!(matches!(&items[5], Parsed::Row { line: 7, row } if row.price == 20));
        assert_eq!(
            errors(&items),
            vec![
                (3, "price".to_string()),
                (4, "row".to_string()),
                (5, "price".to_string()),
                (6, "row".to_string())
            ]
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::from_content_type("text/csv"), Some(Format::Csv));
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_content_type("text/csv; charset=latin1"), None);
        assert_eq!(
            Format::from_content_type("application/x-ndjson"),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_content_type("application/json"), None);
    }
}
