//! Label and field selectors as the API server parses them (apimachinery's labels.Parse
//! and fields.ParseSelector): equality (`k=v`, `k==v`, `k!=v`), set-based (`k in (a,b)`,
//! `k notin (a)`), existence (`k`, `!k`) and `k>n` / `k<n`; keys and values validated like
//! label keys and values. An unparseable selector is the caller's 400.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    In,
    NotIn,
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Tok {
    fn literal(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Bang => "!".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::End => String::new(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(input: &str) -> Vec<Tok> {
    let chars: Vec<char> = input.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_special(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (tok, len) = match two.as_str() {
                "==" => (Tok::DoubleEq, 2),
                "!=" => (Tok::NotEq, 2),
                _ => (
                    match c {
                        '=' => Tok::Eq,
                        '!' => Tok::Bang,
                        '(' => Tok::Open,
                        ')' => Tok::Close,
                        ',' => Tok::Comma,
                        '>' => Tok::Gt,
                        _ => Tok::Lt,
                    },
                    1,
                ),
            };
            toks.push(tok);
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !is_special(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        toks.push(match word.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident(word),
        });
    }
    toks.push(Tok::End);
    toks
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    Exists,
    DoesNotExist,
    Equals,
    NotEquals,
    In,
    NotIn,
    Gt,
    Lt,
}

#[derive(Debug, Clone)]
pub(super) struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    /// The next token; in a value position `in`/`notin` are plain identifiers.
    fn peek(&self, values: bool) -> Tok {
        match &self.toks[self.pos] {
            Tok::In if values => Tok::Ident("in".into()),
            Tok::NotIn if values => Tok::Ident("notin".into()),
            t => t.clone(),
        }
    }

    fn next(&mut self, values: bool) -> Tok {
        let t = self.peek(values);
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
}

/// Parses a label selector; `Err` carries the API server's message.
pub(super) fn parse_labels(input: &str) -> Result<Vec<Requirement>, String> {
    let mut p = Parser {
        toks: lex(input),
        pos: 0,
    };
    let mut reqs = Vec::new();
    loop {
        match p.peek(true) {
            Tok::Ident(_) | Tok::Bang => {
                let r =
                    requirement(&mut p).map_err(|e| format!("unable to parse requirement: {e}"))?;
                reqs.push(r);
                match p.next(true) {
                    Tok::End => return Ok(reqs),
                    Tok::Comma => {
                        let t = p.peek(true);
                        if !matches!(t, Tok::Ident(_) | Tok::Bang) {
                            return Err(format!(
                                "found '{}', expected: identifier after ','",
                                t.literal()
                            ));
                        }
                    }
                    t => {
                        return Err(format!(
                            "found '{}', expected: ',' or 'end of string'",
                            t.literal()
                        ))
                    }
                }
            }
            Tok::End => return Ok(reqs),
            t => {
                return Err(format!(
                    "found '{}', expected: !, identifier, or 'end of string'",
                    t.literal()
                ))
            }
        }
    }
}

fn requirement(p: &mut Parser) -> Result<Requirement, String> {
    let mut op = None;
    let mut tok = p.next(true);
    if tok == Tok::Bang {
        op = Some(Op::DoesNotExist);
        tok = p.next(true);
    }
    let Tok::Ident(key) = tok else {
        return Err(format!("found '{}', expected: identifier", tok.literal()));
    };
    validate_key(&key)?;
    // `!key` takes no operator: whatever follows is the caller's to refuse.
    if op.is_some() || matches!(p.peek(true), Tok::End | Tok::Comma) {
        return Ok(Requirement {
            key,
            op: op.unwrap_or(Op::Exists),
            values: Vec::new(),
        });
    }
    let op = match p.next(false) {
        Tok::In => Op::In,
        Tok::NotIn => Op::NotIn,
        Tok::Eq | Tok::DoubleEq => Op::Equals,
        Tok::NotEq => Op::NotEquals,
        Tok::Gt => Op::Gt,
        Tok::Lt => Op::Lt,
        t => {
            return Err(format!(
                "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                t.literal()
            ))
        }
    };
    let mut values = match op {
        Op::In | Op::NotIn => set_values(p)?,
        _ => exact_value(p)?,
    };
    values.sort();
    values.dedup();
    match op {
        Op::In | Op::NotIn if values.is_empty() => {
            return Err("for 'in', 'notin' operators, values set can't be empty".into())
        }
        Op::Gt | Op::Lt if values[0].parse::<i64>().is_err() => {
            return Err(format!(
                "for 'Gt', 'Lt' operators, the value must be an integer: {:?}",
                values[0]
            ))
        }
        _ => {}
    }
    for v in &values {
        validate_value(&key, v)?;
    }
    Ok(Requirement { key, op, values })
}

fn set_values(p: &mut Parser) -> Result<Vec<String>, String> {
    let t = p.next(true);
    if t != Tok::Open {
        return Err(format!("found '{}' expected: '('", t.literal()));
    }
    match p.peek(true) {
        Tok::Close => {
            p.next(true);
            return Ok(vec![String::new()]);
        }
        Tok::Ident(_) | Tok::Comma => {}
        t => {
            return Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.literal()
            ))
        }
    }
    let mut values = Vec::new();
    loop {
        match p.next(true) {
            Tok::Ident(v) => {
                values.push(v);
                match p.peek(true) {
                    Tok::Comma => {}
                    Tok::Close => {
                        p.next(true);
                        return Ok(values);
                    }
                    t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                }
            }
            Tok::Comma => {
                if values.is_empty() {
                    values.push(String::new());
                }
                match p.peek(true) {
                    Tok::Close => {
                        p.next(true);
                        values.push(String::new());
                        return Ok(values);
                    }
                    Tok::Comma => values.push(String::new()),
                    _ => {}
                }
            }
            t => {
                return Err(format!(
                    "found '{}', expected: ',', or identifier",
                    t.literal()
                ))
            }
        }
    }
}

fn exact_value(p: &mut Parser) -> Result<Vec<String>, String> {
    if matches!(p.peek(true), Tok::End | Tok::Comma) {
        return Ok(vec![String::new()]);
    }
    match p.next(true) {
        Tok::Ident(v) => Ok(vec![v]),
        t => Err(format!("found '{}', expected: identifier", t.literal())),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A qualified name's name part: at most 63 characters, alphanumeric at both ends.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(is_name_char)
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn validate_key(key: &str) -> Result<(), String> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => valid_dns_subdomain(prefix) && valid_name(name),
        None => valid_name(key),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key: Invalid value: {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

fn validate_value(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || valid_name(v) {
        Ok(())
    } else {
        Err(format!(
            "values[0][{key}]: Invalid value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

/// Whether an object's labels satisfy every requirement.
pub(super) fn matches(reqs: &[Requirement], labels: &Value) -> bool {
    reqs.iter().all(|r| {
        let value = labels.get(&r.key).and_then(Value::as_str);
        match r.op {
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Equals | Op::In => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| !r.values.iter().any(|x| x == v)),
            Op::Gt | Op::Lt => {
                let (Some(v), Ok(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    r.values[0].parse::<i64>(),
                ) else {
                    return false;
                };
                if r.op == Op::Gt {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    })
}

/// One field selector term: the field, whether it must equal (or differ from) the value.
#[derive(Debug, Clone)]
pub(super) struct FieldTerm {
    pub field: String,
    pub equal: bool,
    pub value: String,
}

/// Splits on a separator that is not backslash-escaped.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            parts.last_mut().unwrap().push('\\');
            parts.last_mut().unwrap().push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a field selector (`a=b,c!=d`) and checks each field is one the kind supports.
pub(super) fn parse_fields(input: &str, kind: &str) -> Result<Vec<FieldTerm>, String> {
    let mut terms = Vec::new();
    if input.is_empty() {
        return Ok(terms);
    }
    for part in split_unescaped(input, ',') {
        let found = ["!=", "==", "="]
            .iter()
            .find_map(|op| part.find(op).map(|i| (i, *op)));
        let Some((i, op)) = found else {
            return Err(format!(
                "invalid selector: '{input}'; can't understand '{part}'"
            ));
        };
        let field = part[..i].to_string();
        if !field_supported(kind, &field) {
            return Err(format!("field label not supported: {field}"));
        }
        terms.push(FieldTerm {
            field,
            equal: op != "!=",
            value: unescape(&part[i + op.len()..]),
        });
    }
    Ok(terms)
}

/// The field labels each kind's registry supports (besides metadata.name/namespace).
fn field_supported(kind: &str, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match kind {
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Job" => &["status.successful"],
        "Service" => &["spec.clusterIP", "spec.type"],
        _ => &[],
    };
    extra.contains(&field)
}

pub(super) fn fields_match(terms: &[FieldTerm], object: &Value) -> bool {
    terms.iter().all(|t| {
        let mut at = object;
        for part in t.field.split('.') {
            at = &at[part];
        }
        let actual = match at {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        (actual == t.value) == t.equal
    })
}
