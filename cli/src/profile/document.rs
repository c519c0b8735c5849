//! A profile file parsed into a YAML tree that remembers, for every node, the file and
//! line it came from, so that errors found after merging `extends:` chains can still point
//! at the line a person has to change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::{Error, Result};

/// Where a node was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<PathBuf>,
    /// 1-based line.
    pub line: usize,
}

/// A YAML node with its origin.
#[derive(Debug, Clone)]
pub struct Node {
    pub origin: Origin,
    pub kind: NodeKind,
}

/// The YAML shapes a profile uses. Scalars are resolved like serde_yaml resolves them
/// (YAML 1.2 core schema for plain scalars; quoted scalars are strings).
#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar(serde_yaml::Value),
    Seq(Vec<Node>),
    /// Keys in file order; a key's own line is kept for "unknown key" errors.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_origin: Origin,
    pub value: Node,
}

impl Node {
    /// Parses one profile file. Syntax errors name the file and line.
    pub fn parse_file(path: &Path) -> Result<Node> {
        let text = std::fs::read_to_string(path)
            .map_err(Error::io(format!("reading profile {}", path.display())))?;
        Node::parse_str(path, &text)
    }

    /// Parses profile text as if read from `path`.
    pub fn parse_str(path: &Path, text: &str) -> Result<Node> {
        let file = Arc::new(path.to_path_buf());
        let mut builder = Builder {
            file: file.clone(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            error: None,
            documents: 0,
        };
        let mut parser = Parser::new_from_str(text);
        parser
            .load(&mut builder, true)
            .map_err(|e| Error::Profile {
                file: path.to_path_buf(),
                line: e.marker().line(),
                key: "(syntax)".into(),
                message: format!("not valid YAML: {}", e.info()),
                help: Some(
                    "check the indentation and quoting on this line or the one before it".into(),
                ),
            })?;
        if let Some(err) = builder.error {
            return Err(err);
        }
        match builder.root {
            Some(root) if matches!(root.kind, NodeKind::Map(_)) => Ok(root),
            Some(root) => Err(Error::Profile {
                file: path.to_path_buf(),
                line: root.origin.line,
                key: "(document)".into(),
                message: "a profile must be a mapping of keys to values".into(),
                help: Some(
                    "start the file with keys such as `extends: base` and `target: aws`".into(),
                ),
            }),
            None => Err(Error::Profile {
                file: path.to_path_buf(),
                line: 1,
                key: "(document)".into(),
                message: "the profile is empty".into(),
                help: Some("a profile needs at least `extends: base` or a `target:`".into()),
            }),
        }
    }

    /// The child at `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The entry (with its key's origin) at `key` of a mapping node.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Removes and returns the entry at `key` of a mapping node.
    pub fn take(&mut self, key: &str) -> Option<Entry> {
        match &mut self.kind {
            NodeKind::Map(entries) => {
                let at = entries.iter().position(|e| e.key == key)?;
                Some(entries.remove(at))
            }
            _ => None,
        }
    }

    /// Deep merge: mappings merge key by key, everything else (scalars and lists) in
    /// `overlay` replaces what `self` had, keeping the overlay's origin.
    pub fn merge(&mut self, overlay: Node) {
        match (&mut self.kind, overlay.kind) {
            (NodeKind::Map(base), NodeKind::Map(over)) => {
                for entry in over {
                    match base.iter_mut().find(|e| e.key == entry.key) {
                        Some(existing) => {
                            existing.key_origin = entry.key_origin;
                            existing.value.merge(entry.value);
                        }
                        None => base.push(entry),
                    }
                }
            }
            (_, kind) => {
                self.kind = kind;
                self.origin = overlay.origin;
            }
        }
    }

    /// The origin of the node at a dotted path (`database.multi_az`, `eks.node_groups[1].max`),
    /// or of its nearest existing ancestor.
    pub fn locate(&self, path: &[PathSegment]) -> Origin {
        let mut node = self;
        let mut origin = self.origin.clone();
        for segment in path {
            let next = match (segment, &node.kind) {
                (PathSegment::Key(key), NodeKind::Map(entries)) => {
                    entries.iter().find(|e| &e.key == key).map(|e| {
                        // A key that is present: its value's line, except for nested
                        // mappings and lists whose useful line is the key's.
                        match e.value.kind {
                            NodeKind::Scalar(_) => (&e.value, e.value.origin.clone()),
                            _ => (&e.value, e.key_origin.clone()),
                        }
                    })
                }
                (PathSegment::Index(i), NodeKind::Seq(items)) => {
                    items.get(*i).map(|n| (n, n.origin.clone()))
                }
                _ => None,
            };
            match next {
                Some((n, o)) => {
                    node = n;
                    origin = o;
                }
                None => break,
            }
        }
        origin
    }

    /// Converts to a plain serde_yaml value (origins dropped) for typed deserialization.
    pub fn to_value(&self) -> serde_yaml::Value {
        match &self.kind {
            NodeKind::Scalar(v) => v.clone(),
            NodeKind::Seq(items) => {
                serde_yaml::Value::Sequence(items.iter().map(Node::to_value).collect())
            }
            NodeKind::Map(entries) => {
                let mut map = serde_yaml::Mapping::new();
                for e in entries {
                    map.insert(serde_yaml::Value::String(e.key.clone()), e.value.to_value());
                }
                serde_yaml::Value::Mapping(map)
            }
        }
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// Renders a key path the way people write it: `eks.node_groups[0].max`.
pub fn display_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "(document)".into()
    } else {
        out
    }
}

/// Parses `a.b[2].c` into segments (used by validation code that names its keys).
pub(super) fn parse_path(path: &str) -> Vec<PathSegment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(PathSegment::Key(name.to_string()));
        }
        for index in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
            if let Ok(i) = index.parse() {
                out.push(PathSegment::Index(i));
            }
        }
    }
    out
}

/// Builds [`Node`]s from the parser's events.
struct Builder {
    file: Arc<PathBuf>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<Error>,
    documents: usize,
}

enum Frame {
    Seq {
        origin: Origin,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        origin: Origin,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Origin)>,
    },
}

impl Builder {
    fn origin(&self, mark: &Marker) -> Origin {
        Origin {
            file: self.file.clone(),
            line: mark.line().max(1),
        }
    }

    fn fail(&mut self, line: usize, key: &str, message: String, help: &str) {
        if self.error.is_none() {
            self.error = Some(Error::Profile {
                file: self.file.as_ref().clone(),
                line,
                key: key.to_string(),
                message,
                help: Some(help.to_string()),
            });
        }
    }

    /// Hands a finished node to its parent (or makes it the document root).
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let problem = match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                None
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                None
            }
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some((k, key_origin)) => {
                    entries.push(Entry {
                        key: k,
                        key_origin,
                        value: node,
                    });
                    None
                }
                // This node is a key.
                None => {
                    let line = node.origin.line;
                    let name = match &node.kind {
                        NodeKind::Scalar(serde_yaml::Value::String(s)) => Some(s.clone()),
                        NodeKind::Scalar(v) => Some(
                            serde_yaml::to_string(v)
                                .unwrap_or_default()
                                .trim()
                                .to_string(),
                        ),
                        _ => None,
                    };
                    match name {
                        Some(s) if entries.iter().any(|e| e.key == s) => Some((
                            line,
                            s.clone(),
                            format!("the key `{s}` appears twice in this mapping"),
                            "keep one of them",
                        )),
                        Some(s) => {
                            *key = Some((s, node.origin));
                            None
                        }
                        None => Some((
                            line,
                            "(key)".to_string(),
                            "mapping keys must be plain words".to_string(),
                            "write keys as `name: value`",
                        )),
                    }
                }
            },
        };
        if let Some((line, key, message, help)) = problem {
            self.fail(line, &key, message, help);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    let line = mark.line();
                    self.fail(
                        line,
                        "(document)",
                        "a profile holds one YAML document; found a second `---`".into(),
                        "split it into two profile files",
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = match style {
                    TScalarStyle::Plain if tag.is_none() => resolve_plain(&text),
                    _ => serde_yaml::Value::String(text),
                };
                let node = Node {
                    origin: self.origin(&mark),
                    kind: NodeKind::Scalar(value),
                };
                self.push(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.origin = self.origin(&mark);
                    self.push(node, 0);
                }
                None => {
                    let line = mark.line();
                    self.fail(
                        line,
                        "(alias)",
                        "unknown alias".into(),
                        "define the anchor first",
                    );
                }
            },
            Event::SequenceStart(anchor, _) => {
                let origin = self.origin(&mark);
                self.stack.push(Frame::Seq {
                    origin,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, _) => {
                let origin = self.origin(&mark);
                self.stack.push(Frame::Map {
                    origin,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    origin,
                    anchor,
                    items,
                }) = self.stack.pop()
                {
                    self.push(
                        Node {
                            origin,
                            kind: NodeKind::Seq(items),
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    origin,
                    anchor,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    self.push(
                        Node {
                            origin,
                            kind: NodeKind::Map(entries),
                        },
                        anchor,
                    );
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Resolves a plain scalar (`true`, `3`, `1.5`, `~`, `10.0.0.0/16`) the way serde_yaml does.
fn resolve_plain(text: &str) -> serde_yaml::Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => serde_yaml::Value::Null,
        "true" | "True" | "TRUE" => serde_yaml::Value::Bool(true),
        "false" | "False" | "FALSE" => serde_yaml::Value::Bool(false),
        _ => {
            let numeric = text
                .trim_start_matches(['+', '-'])
                .starts_with(|c: char| c.is_ascii_digit() || c == '.');
            if numeric {
                if let Ok(v @ serde_yaml::Value::Number(_)) = serde_yaml::from_str(text) {
                    return v;
                }
            }
            serde_yaml::Value::String(text.to_string())
        }
    }
}
