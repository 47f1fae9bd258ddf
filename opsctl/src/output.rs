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

/// Renders rows under headers with columns padded to fit.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            if last {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
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
    }
}

/// How results are printed: tables for people, JSON for CI.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}
