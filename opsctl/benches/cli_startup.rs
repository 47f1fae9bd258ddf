//! Time from starting `opsctl` to its first byte of output, next to the
//! cheapest process start measured in the same run.
//!
//! ```text
//! cargo bench -p opsctl --bench cli_startup
//! BENCH_RUNS=200 cargo bench -p opsctl --bench cli_startup
//! ```
//!
//! Each command runs `BENCH_RUNS` times (default 50) as a real process
//! (the release binary cargo built for this bench), stdout on a pipe: the
//! clock stops at the first byte read, and the process is then drained and
//! waited for. The baseline is `true` (a process that does nothing): what
//! any command costs before its own code runs. The aim (issue 20): under
//! 50 ms to first output for `--help` and `cost model`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn first_output(program: &str, args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut first = [0u8; 1];
    let n = out.read(&mut first)?;
    let elapsed = started.elapsed();
    std::io::copy(&mut out, &mut std::io::sink())?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "{program} {args:?} failed: {status}");
    // `true` prints nothing: its time is to exit, which is later than a
    // first byte would be, so the baseline is if anything generous.
    anyhow::ensure!(
        n == 1 || program == "true",
        "{program} {args:?} printed nothing"
    );
    Ok(elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(50);
    anyhow::ensure!(runs > 0, "BENCH_RUNS must be at least 1");
    let opsctl = env!("CARGO_BIN_EXE_opsctl");
    let cases: [(&str, &str, Vec<&str>); 4] = [
        ("baseline: true", "true", vec![]),
        ("opsctl --version", opsctl, vec!["--version"]),
        ("opsctl --help", opsctl, vec!["--help"]),
        ("opsctl cost model", opsctl, vec!["cost", "model"]),
    ];
    let mut baseline = Duration::ZERO;
    println!("{runs} runs each, time to first byte of stdout");
    println!(
        "{:<20} {:>9} {:>9} {:>8}",
        "command", "p50 ms", "p95 ms", "x base"
    );
    for (name, program, args) in &cases {
        // One unmeasured run: the binary into the page cache.
        first_output(program, args)?;
        let mut times = (0..runs)
            .map(|_| first_output(program, args))
            .collect::<anyhow::Result<Vec<_>>>()?;
        times.sort();
        let p50 = percentile(&times, 0.5);
        if baseline.is_zero() {
            baseline = p50;
        }
        println!(
            "{name:<20} {:>9.2} {:>9.2} {:>8.1}{}",
            p50.as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            p50.as_secs_f64() / baseline.as_secs_f64(),
            if *program != "true" && percentile(&times, 0.95) > Duration::from_millis(50) {
                "  above the 50 ms aim"
            } else {
                ""
            }
        );
    }
    Ok(())
}
