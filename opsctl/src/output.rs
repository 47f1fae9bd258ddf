//! The one place that knows `--output table|json|markdown`.

use serde::Serialize;

use clap::ValueEnum;

/// Prints `value` as pretty JSON, or `table` for people (in a fenced
/// `text` block for `--output markdown`).
pub fn emit<T: Serialize>(format: OutputFormat, value: &T, table: impl FnOnce() -> String) {
    match format {
        OutputFormat::Json => match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: output could not be encoded as JSON: {e}"),
        },
        OutputFormat::Table => print!("{}", table()),
        OutputFormat::Markdown => print!("{}", fenced(&table())),
    }
}

/// [`emit`] for a command with its own Markdown (a pull-request comment:
/// `cost diff`, `infra plan`).
pub fn emit_or_markdown<T: Serialize>(
    format: OutputFormat,
    value: &T,
    table: impl FnOnce() -> String,
    markdown: impl FnOnce() -> String,
) {
    match format {
        OutputFormat::Markdown => print!("{}", markdown()),
        _ => emit(format, value, table),
    }
}

/// A table as a Markdown code block (columns stay aligned).
pub fn fenced(text: &str) -> String {
    format!(
        "```text\n{}{}```\n",
        text,
        if text.ends_with('\n') { "" } else { "\n" }
    )
}

/// Renders rows under headers, columns aligned, no borders (as `kubectl`
/// and `docker ps` print), with `comfy-table` doing the layout: it measures
/// wide (CJK) characters in terminal columns, which notices and PortOne's
/// Korean messages need.
pub use crate::table::{markdown_table, table, usd};

/// A progress bar on stderr for `total` items of `label` (`indicatif`: it
/// redraws in place on a terminal and stays silent when stderr is not one).
pub fn progress_bar(label: &str, total: u64) -> indicatif::ProgressBar {
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:<20} [{bar:30}] {pos:>8}/{len:<8} {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    indicatif::ProgressBar::new(total)
        .with_style(style)
        .with_prefix(label.to_owned())
}

/// A spinner on stderr for a wait: what is awaited, for how long so far,
/// and (with `limit`) at most how long. Drawn only on a terminal (indicatif
/// hides it otherwise), so CI logs and JSON readers never see it.
pub fn spinner(what: &str, limit: Option<std::time::Duration>) -> indicatif::ProgressBar {
    let template = match limit {
        Some(l) => format!(
            "{{spinner}} {{msg}} ({{elapsed}} of at most {} s)",
            l.as_secs()
        ),
        None => "{spinner} {msg} ({elapsed})".to_owned(),
    };
    let style = indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let bar = indicatif::ProgressBar::new_spinner()
        .with_style(style)
        .with_message(what.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_dollar_amount_is_negative_zero() {
        let nothing: f64 = Vec::<f64>::new().into_iter().sum();
        assert_eq!(super::usd(nothing), "0.00");
        assert_eq!(super::usd(-0.001), "0.00");
        assert_eq!(super::usd(12.345), "12.35");
    }

    use super::*;

    #[test]
    fn columns_line_up() {
        let t = table(
            &["NAME", "STATUS"],
            &[
                vec!["postgres".into(), "up".into()],
                vec!["kafka".into(), "down".into()],
            ],
        );
        assert_eq!(t, "NAME      STATUS\npostgres  up\nkafka     down\n");
        let md = markdown_table(
            &["A", "B"],
            &[false, true],
            &[vec!["x|y".into(), "1".into()]],
        );
        assert_eq!(md, "| A | B |\n|---|---:|\n| x\\|y | 1 |\n");
        assert_eq!(fenced("a\n"), "```text\na\n```\n");
        let wide = table(&["WHO", "NOTE"], &[vec!["운영".into(), "x".into()]]);
        assert_eq!(
            wide, "WHO   NOTE\n운영  x\n",
            "wide characters take two columns"
        );
    }
}

/// How results are printed: tables for people, JSON for CI.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    /// Markdown for a pull-request comment: `cost diff` and `infra plan`
    /// write their own; other commands their table in a code block.
    Markdown,
}
