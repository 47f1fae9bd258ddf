//! The one place that knows `--output table|json`.

use serde::Serialize;

use clap::ValueEnum;

/// Prints `value` as pretty JSON, or `table` for people.
pub fn emit<T: Serialize>(format: OutputFormat, value: &T, table: impl FnOnce() -> String) {
    match format {
        OutputFormat::Json => match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: output could not be encoded as JSON: {e}"),
        },
        OutputFormat::Table => print!("{}", table()),
    }
}

/// Renders rows under headers, columns aligned, no borders (as `kubectl`
/// and `docker ps` print), with `comfy-table` doing the layout: it measures
/// wide (CJK) characters in terminal columns, which notices and PortOne's
/// Korean messages need.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(headers.to_vec());
    for row in rows {
        table.add_row(row.clone());
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

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

#[cfg(test)]
mod tests {
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
}
