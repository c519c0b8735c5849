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

/// A line (CSV record or NDJSON line) longer than this is refused: no valid row
/// comes close, and it bounds the memory one malformed line can take (an
/// unterminated CSV quote would otherwise swallow the rest of the payload).
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

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
    },
    Ndjson {
        reader: BufReader<LineLimit<R>>,
        buf: Vec<u8>,
        line: u64,
        boundary: Arc<AtomicU64>,
    },
}

impl<R: AsyncRead + Unpin + Send> PayloadParser<R> {
    pub fn new(format: Format, source: R) -> Self {
        let boundary = Arc::new(AtomicU64::new(0));
        let limited = LineLimit {
            inner: source,
            fed: 0,
            boundary: boundary.clone(),
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
            },
            Format::Ndjson => Inner::Ndjson {
                reader: BufReader::with_capacity(64 * 1024, limited),
                buf: Vec::with_capacity(256),
                line: 0,
                boundary,
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
            } => next_csv(reader, record, order, boundary).await,
            Inner::Ndjson {
                reader,
                buf,
                line,
                boundary,
            } => next_ndjson(reader, buf, line, boundary).await,
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
        format!("line is longer than {MAX_LINE_BYTES} bytes (an unterminated quote?); the rest of the payload was not read"),
    )
}

fn is_too_long(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LineTooLong>())
}

async fn next_csv<R: AsyncRead + Unpin + Send>(
    reader: &mut csv_async::AsyncReader<LineLimit<R>>,
    record: &mut csv_async::ByteRecord,
    order: &mut Option<[usize; 4]>,
    boundary: &AtomicU64,
) -> io::Result<Step> {
    loop {
        let more = match reader.read_byte_record(record).await {
            Ok(more) => more,
            Err(e) => {
                let line = reader.position().line() + 1;
                return match e.into_kind() {
                    csv_async::ErrorKind::Io(io) if is_too_long(&io) => {
                        Ok(Step::Fatal(too_long(line)))
                    }
                    csv_async::ErrorKind::Io(io) => Err(io),
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
) -> io::Result<Step> {
    loop {
        buf.clear();
        let read = match reader.read_until(b'\n', buf).await {
            Ok(n) => n,
            Err(e) if is_too_long(&e) => return Ok(Step::Fatal(too_long(*line + 1))),
            Err(e) => return Err(e),
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

/// The marker error [`LineLimit`] raises.
#[derive(Debug)]
struct LineTooLong;

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line longer than {MAX_LINE_BYTES} bytes")
    }
}

impl std::error::Error for LineTooLong {}

/// Fails reads once the parser has been fed more than [`MAX_LINE_BYTES`] past
/// the end of the last complete line, so no single line can grow without bound.
struct LineLimit<R> {
    inner: R,
    fed: u64,
    boundary: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for LineLimit<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let pending_line = self
            .fed
            .saturating_sub(self.boundary.load(Ordering::Relaxed));
        // Parsers read ahead by at most their buffer (64 KiB), hence the slack.
        if pending_line > 2 * MAX_LINE_BYTES + 64 * 1024 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, LineTooLong)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            this.fed += (buf.filled().len() - before) as u64;
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
