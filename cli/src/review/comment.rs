//! The pull request comment `review up` prepares: the stack's URL, expiry and plan
//! summary, always under GitHub's 65,536-character limit for a comment body.

use chrono::{DateTime, Utc};

use super::record::timestamp;

/// GitHub rejects comment bodies longer than 65,536 characters; stay clear of it.
pub const MAX_COMMENT_CHARS: usize = 60_000;

/// The first line of every review comment, so a workflow can find and update its own
/// comment instead of adding one per push.
pub const COMMENT_MARKER: &str = "<!-- envctl-review-stack -->";

/// What goes into the comment.
#[derive(Debug, Clone)]
pub struct CommentInput<'a> {
    pub environment: &'a str,
    pub url: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
    pub plan_summary: &'a str,
}

/// The comment body (Markdown). The plan summary is cut at a line boundary when the
/// whole would be too long, with a note saying how much was left out.
pub fn comment(input: &CommentInput<'_>) -> String {
    let url = match input.url {
        Some(url) => format!("<{}>", url.replace('>', "%3E")),
        None => "(no public endpoint)".into(),
    };
    let head = format!(
        "{COMMENT_MARKER}\n### Review stack `{}`\n\n- URL: {url}\n- Expires: {} (pushing again extends it)\n\n<details><summary>Plan summary</summary>\n\n",
        input.environment,
        timestamp(input.expires_at),
    );
    // A fence longer than any backtick run in the summary, so it cannot close early.
    let longest_run = input
        .plan_summary
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let tail = "\n</details>\n";
    let note_room = 120;
    let budget = MAX_COMMENT_CHARS
        .saturating_sub(head.chars().count() + 2 * (fence.len() + 6) + tail.len() + note_room);
    let (summary, cut_lines) = truncate_lines(input.plan_summary.trim_end(), budget);
    let mut body = format!("{head}{fence}text\n{summary}\n{fence}\n");
    if cut_lines > 0 {
        body.push_str(&format!(
            "\n_{cut_lines} more lines not shown (comment size limit); the workflow log has the full plan._\n"
        ));
    }
    body.push_str(tail);
    body
}

/// The longest prefix of whole lines within `max` characters (a single over-long line
/// is cut at a character boundary), and how many lines were left out.
fn truncate_lines(text: &str, max: usize) -> (&str, usize) {
    if text.chars().count() <= max {
        return (text, 0);
    }
    let total_lines = text.lines().count();
    let mut end = 0;
    let mut chars = 0;
    let mut kept_lines = 0;
    for line in text.split_inclusive('\n') {
        let n = line.chars().count();
        if chars + n > max {
            break;
        }
        chars += n;
        end += line.len();
        kept_lines += 1;
    }
    if kept_lines == 0 {
        let end = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
        return (&text[..end], total_lines.saturating_sub(1).max(1));
    }
    (text[..end].trim_end_matches('\n'), total_lines - kept_lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(summary: &str) -> CommentInput<'_> {
        CommentInput {
            environment: "review-pr42-x-abc123",
            url: Some("https://review-pr42.example.com"),
            expires_at: DateTime::parse_from_rfc3339("2030-01-04T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            plan_summary: summary,
        }
    }

    #[test]
    fn short_summaries_are_shown_whole() {
        let body = comment(&input("3 to add, 0 to change, 0 to destroy"));
        assert!(body.starts_with(COMMENT_MARKER));
        assert!(body.contains("https://review-pr42.example.com"));
        assert!(body.contains("3 to add"));
        assert!(body.contains("2030-01-04T00:00:00Z"));
        assert!(!body.contains("not shown"));
    }

    #[test]
    fn huge_summaries_are_cut_under_the_limit_on_a_line_boundary() {
        let summary: String = (0..20_000)
            .map(|i| format!("+ aws_thing.r{i} (create)\n"))
            .collect();
        let body = comment(&input(&summary));
        assert!(
            body.chars().count() <= MAX_COMMENT_CHARS,
            "{}",
            body.chars().count()
        );
        assert!(body.contains("more lines not shown"));
        assert!(body.trim_end().ends_with("</details>"));
        let shown = body
            .lines()
            .filter(|l| l.starts_with("+ aws_thing"))
            .count();
        assert!(shown > 1000);
        assert!(body.contains(&format!("{} more lines", 20_000 - shown)));
    }

    #[test]
    fn multibyte_text_and_one_enormous_line_are_cut_safely() {
        let summary = "é".repeat(200_000);
        let body = comment(&input(&summary));
        assert!(body.chars().count() <= MAX_COMMENT_CHARS);
        let summary = "日本\n".repeat(50_000);
        assert!(comment(&input(&summary)).chars().count() <= MAX_COMMENT_CHARS);
    }

    #[test]
    fn backticks_in_the_summary_cannot_close_the_code_block() {
        let body = comment(&input("name = \"```\"\n````x"));
        assert!(body.contains("`````text\n"), "{body}");
    }
}
