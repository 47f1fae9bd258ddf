//! Every service's API, fuzzed through the gateway by schemathesis (PyPI,
//! property-based: it generates requests from each `openapi.json` --
//! examples, boundary values, wrong types, missing fields -- and checks
//! every answer): no 5xx, every status code and content type documented,
//! every body matching its documented schema (errors are problem+json).
//! A customer's access token rides along, so the authenticated operations
//! are reached too. The operational endpoints (`/health`, `/ready`,
//! `/metrics`) are not routed through the gateway (see gateway_paths.rs);
//! the gateway's own are fuzzed with its schema.
//!
//! Every check schemathesis has (`--checks all`: besides the above, a
//! request the schema allows is accepted and one it forbids is refused with
//! a 4xx, so the documents say exactly what the code takes) and every phase,
//! the stateful one among them.
//!
//! schemathesis is installed by infra/local/install-tools.sh into
//! `$TICKETING_HOME/venv-api-fuzz`. Deterministic: a fixed seed and example
//! count, so a failure reproduces with the command it prints; another seed
//! or more examples with `API_FUZZ_SEED` / `API_FUZZ_EXAMPLES`.

use std::path::{Path, PathBuf};

use ticketing_catalog::ServiceName;
use ticketing_e2e::Stack;

fn schemathesis() -> PathBuf {
    let home = std::env::var_os("TICKETING_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/ticketing")))
        .expect("TICKETING_HOME or HOME");
    let bin = home.join("venv-api-fuzz/bin/schemathesis");
    assert!(
        bin.is_file(),
        "{} is missing: run infra/local/install-tools.sh",
        bin.display()
    );
    bin
}

fn schema(service: ServiceName) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("app")
        .join(service.as_str())
        .join("openapi.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_api_answers_fuzzed_requests_as_documented_without_a_server_error() {
    // The gateway's rate limit is documented (429 on every operation) but
    // raised here, so the fuzzer reaches the logic behind it.
    let stack = Stack::start(|s| s.booking.rate_limit_per_second = 10_000).await;
    let token = stack.user("fuzzer").await;
    let bin = schemathesis();
    // schemathesis keeps a cache (`.schemathesis/`) in its working
    // directory: a directory of this run's own, removed after, so the run
    // leaves nothing in the clone.
    let workdir = std::env::temp_dir().join(format!("api-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).expect("a working directory for schemathesis");
    let seed = std::env::var("API_FUZZ_SEED").unwrap_or_else(|_| "20261205".to_owned());
    let examples = std::env::var("API_FUZZ_EXAMPLES").unwrap_or_else(|_| "20".to_owned());
    let mut failures = Vec::new();
    for service in ServiceName::ALL {
        let mut args: Vec<String> = vec![
            "run".into(),
            schema(service).display().to_string(),
            "--url".into(),
            stack.gateway.clone(),
            "--header".into(),
            format!("Authorization: Bearer {token}"),
            "--checks".into(),
            "all".into(),
            "--phases".into(),
            "examples,coverage,fuzzing,stateful".into(),
            "--max-examples".into(),
            examples.clone(),
            "--seed".into(),
            seed.clone(),
            "--workers".into(),
            "1".into(),
            "--no-color".into(),
        ];
        if service != ServiceName::ApiGateway {
            // A service's operational endpoints are its own, not the gateway's.
            args.push("--exclude-path-regex".into());
            args.push("^/(health|ready|metrics|openapi\\.json)$".into());
        }
        let out = tokio::process::Command::new(&bin)
            .args(&args)
            .current_dir(&workdir)
            .output()
            .await
            .expect("schemathesis runs");
        if !out.status.success() {
            failures.push(format!(
                "== {} (schemathesis {})\n{}\n{}",
                service.as_str(),
                // The token is a credential, even a test's: not in the log.
                args.join(" ").replace(&token, "<token>"),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&workdir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
