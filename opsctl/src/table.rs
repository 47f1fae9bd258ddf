//! A plain table for people (`comfy-table`, borderless), as plans render
//! themselves and commands print them.

/// Columns padded to their widest cell, two spaces apart, no borders.
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

/// Dollars with cents; never `-0.00` (an empty `f64` sum is -0.0, and a
/// rounded tiny negative prints as one).
pub fn usd(x: f64) -> String {
    let cents = (x * 100.0).round() / 100.0 + 0.0;
    format!("{cents:.2}")
}

/// A Markdown table; `|` in a cell is escaped.
pub fn markdown_table(headers: &[&str], align_right: &[bool], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n|", headers.join(" | "));
    for i in 0..headers.len() {
        out.push_str(if align_right.get(i).copied().unwrap_or(false) {
            "---:|"
        } else {
            "---|"
        });
    }
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}
