//! Helpers the platform's benches share (a directory, so cargo does not
//! take it for a bench of its own).

use std::time::Duration;

use anyhow::Context;

/// A whole-number knob from the environment, or its default.
pub fn knob(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// The `p` percentile of sorted latencies, in milliseconds (NaN when none).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}
