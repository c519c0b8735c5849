//! `envctl logs local`: the last lines of the api, worker and database logs, and `-f` to follow them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::layout::Layout;
use crate::cli::{LogComponent, LogsArgs};
use crate::context::Context;
use crate::profile::Profile;
use crate::ui::stdout_line;
use crate::{Error, Result};

/// One log file and the label its lines are shown with.
#[derive(Debug, Clone)]
struct Source {
    label: String,
    path: PathBuf,
    /// Bytes already shown.
    offset: u64,
    /// A last line not yet terminated by a newline (shown once it is complete).
    partial: Vec<u8>,
}

/// Prints the last `-n` lines of the chosen logs (all by default), then follows them with `-f`.
pub fn logs(ctx: &Context, profile: &Profile, args: &LogsArgs) -> Result<ExitCode> {
    let layout = Layout::new(ctx, profile.name.as_str());
    let mut sources = discover(&layout, args.component);
    if sources.is_empty() {
        let which = match args.component {
            Some(LogComponent::Api) => "the api has",
            Some(LogComponent::Worker) => "no worker has",
            Some(LogComponent::Db) => "the database has",
            None => "nothing has",
        };
        return Err(Error::Local {
            message: format!(
                "no logs under {}: {which} not been started",
                layout.dir().display()
            ),
            help: Some(format!(
                "start the environment with `envctl up {}`",
                profile.name
            )),
        });
    }
    // Lines are labelled with their process unless there is only ever one (api, db).
    let labelled = !matches!(args.component, Some(LogComponent::Api | LogComponent::Db));
    for source in &mut sources {
        let file = File::open(&source.path)
            .map_err(Error::io(format!("opening {}", source.path.display())))?;
        let len = file
            .metadata()
            .map_err(Error::io(format!("reading {}", source.path.display())))?
            .len();
        for line in tail_lines(file, args.lines)
            .map_err(Error::io(format!("reading {}", source.path.display())))?
        {
            print_line(ctx, labelled, &source.label, &line);
        }
        source.offset = len;
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        // Workers started after `logs -f` began get followed too.
        for found in discover(&layout, args.component) {
            if !sources.iter().any(|s| s.path == found.path) {
                sources.push(found);
            }
        }
        for source in &mut sources {
            for line in read_new_lines(source)
                .map_err(Error::io(format!("reading {}", source.path.display())))?
            {
                print_line(ctx, labelled, &source.label, &line);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn discover(layout: &Layout, component: Option<LogComponent>) -> Vec<Source> {
    let mut found = Vec::new();
    let wants = |c: LogComponent| component.is_none() || component == Some(c);
    if wants(LogComponent::Db) {
        found.push(("db".to_string(), layout.db_log()));
    }
    if wants(LogComponent::Api) {
        found.push(("api".to_string(), layout.log_file("api")));
    }
    if wants(LogComponent::Worker) {
        for path in layout.worker_logs() {
            let label = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "worker".into());
            found.push((label, path));
        }
    }
    found
        .into_iter()
        .filter(|(_, path)| path.is_file())
        .map(|(label, path)| Source {
            label,
            path,
            offset: 0,
            partial: Vec::new(),
        })
        .collect()
}

fn print_line(ctx: &Context, labelled: bool, label: &str, line: &str) {
    if ctx.ui.json() {
        stdout_line(&json!({ "process": label, "line": line }).to_string());
    } else if labelled {
        stdout_line(&format!("[{label}] {line}"));
    } else {
        stdout_line(line);
    }
}

/// Lines appended to `source` since its offset (a truncated file is read from its start).
fn read_new_lines(source: &mut Source) -> std::io::Result<Vec<String>> {
    let mut file = match File::open(&source.path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len < source.offset {
        source.offset = 0;
        source.partial.clear();
    }
    if len == source.offset {
        return Ok(Vec::new());
    }
    file.seek(SeekFrom::Start(source.offset))?;
    let mut buf = Vec::new();
    file.by_ref()
        .take(len - source.offset)
        .read_to_end(&mut buf)?;
    source.offset += buf.len() as u64;
    source.partial.extend_from_slice(&buf);
    let Some(last_newline) = source.partial.iter().rposition(|b| *b == b'\n') else {
        return Ok(Vec::new());
    };
    let complete: Vec<u8> = source.partial.drain(..=last_newline).collect();
    Ok(String::from_utf8_lossy(&complete)
        .lines()
        .map(str::to_string)
        .collect())
}

/// The last `n` lines of a file, read backwards from its end so a large log costs little.
pub(super) fn tail_lines(mut file: File, n: usize) -> std::io::Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Count line ends, ignoring a trailing newline that ends the last line.
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if start == 0 || body.iter().filter(|b| **b == b'\n').count() >= n {
            break;
        }
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        start = from;
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &str) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(content.as_bytes()).unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn tail_gives_the_last_lines_with_or_without_a_final_newline() {
        let (_t, f) = file_with("a\nb\nc\n");
        assert_eq!(tail_lines(f, 2).unwrap(), ["b", "c"]);
        let (_t, f) = file_with("a\nb\nc");
        assert_eq!(tail_lines(f, 2).unwrap(), ["b", "c"]);
        let (_t, f) = file_with("a\nb\n");
        assert_eq!(tail_lines(f, 10).unwrap(), ["a", "b"]);
        let (_t, f) = file_with("");
        assert!(tail_lines(f, 3).unwrap().is_empty());
    }

    #[test]
    fn tail_reads_across_chunks() {
        let content: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        let (_t, f) = file_with(&content);
        assert_eq!(
            tail_lines(f, 3).unwrap(),
            ["line 49997", "line 49998", "line 49999"]
        );
    }

    #[test]
    fn follow_keeps_an_unfinished_line_until_it_ends() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let mut source = Source {
            label: "api".into(),
            path: tmp.path().to_path_buf(),
            offset: 0,
            partial: Vec::new(),
        };
        tmp.write_all(b"one\ntw").unwrap();
        assert_eq!(read_new_lines(&mut source).unwrap(), ["one"]);
        tmp.write_all(b"o\n").unwrap();
        assert_eq!(read_new_lines(&mut source).unwrap(), ["two"]);
        // Truncation (a new log) starts over.
        tmp.as_file().set_len(0).unwrap();
        std::fs::write(tmp.path(), "new\n").unwrap();
        assert_eq!(read_new_lines(&mut source).unwrap(), ["new"]);
    }
}
