//! Verifying log segments where they are: on the broker host, through SSM
//! Run Command. The broker runs the deployed release's own verifier
//! (`ticketing verify-segments`, the same code as `opsctl kafka
//! verify-segments` on local files): the script fetches that image from the
//! registry by digest once (the registry API v2 with ECR's login; ECR
//! answers it: "Amazon ECR registry" in the ECR User Guide), checks each
//! blob's sha256, unpacks it under `BROKER_RELEASE_DIR/<digest>`, and runs
//! the binary with the image's own dynamic loader and libraries (the image
//! is built from scratch; the host's libraries are never used). Pure parts
//! here: the reference, the paths, the script, reading its output.

use ticketing_catalog::aws;
use ticketing_kafka::segments::FileReport;

/// Where the script prints the verifier's exit code (its stdout before
/// that line is the JSON report).
pub const EXIT_MARKER: &str = "ticketing-verify-exit=";

/// The release to verify with: an image by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `host[:port]` of the registry.
    pub registry: String,
    pub repository: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
}

impl Release {
    /// `HOST/REPOSITORY@sha256:HEX` (how `opsctl deploy` pins task
    /// definitions); anything else is refused.
    pub fn parse(reference: &str) -> Result<Release, String> {
        let hint = "give the image by digest: HOST/REPOSITORY@sha256:<64 hex> (as the task definitions name it)";
        let (name, digest) = reference
            .split_once('@')
            .ok_or_else(|| format!("{reference} is not by digest; {hint}"))?;
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("{reference}: the digest is not sha256; {hint}"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{reference}: the digest is not 64 hex digits; {hint}"
            ));
        }
        let (registry, repository) = name
            .split_once('/')
            .ok_or_else(|| format!("{reference} names no registry host; {hint}"))?;
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._/:".contains(&b))
        };
        if !safe(registry)
            || !safe(repository)
            || (!registry.contains('.') && !registry.contains(':'))
        {
            return Err(format!("{reference} is not an image reference; {hint}"));
        }
        Ok(Release {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            digest: digest.to_ascii_lowercase(),
        })
    }

    fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// A segment path on the broker: absolute, under the broker's log
/// directory, no `..`, and only the characters Kafka's directory and file
/// names use (so it goes into the shell command unquoted-safe).
pub fn broker_path(path: &str) -> Result<String, String> {
    let under = format!("{}/", aws::KAFKA_LOG_DIR);
    if !path.starts_with(&under) {
        return Err(format!(
            "{path} is not under the broker's log directory {}",
            aws::KAFKA_LOG_DIR
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("{path} climbs out with `..`"));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
    {
        return Err(format!(
            "{path} has characters no Kafka segment path has (letters, digits, - . _ /)"
        ));
    }
    Ok(path.to_owned())
}

/// Where the script fetches from and keeps the release.
#[derive(Debug, Clone)]
pub struct Fetch<'a> {
    /// `https` (ECR) or `http` (the local stand-in).
    pub scheme: &'a str,
    /// Where `aws ecr get-login-password` asks.
    pub region: &'a str,
    /// [`aws::BROKER_RELEASE_DIR`] on a broker.
    pub release_dir: &'a str,
}

/// The shell the broker runs (as root). Every value it interpolates is
/// checked here or by [`Release::parse`] and [`broker_path`]: the region
/// (`--region` is the operator's input) must look like one.
pub fn script(release: &Release, fetch: &Fetch<'_>, paths: &[String]) -> Result<String, String> {
    let region_like = !fetch.region.is_empty()
        && fetch
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_like {
        return Err(format!("`{}` is not an AWS Region name", fetch.region));
    }
    if !matches!(fetch.scheme, "https" | "http") {
        return Err(format!("`{}` is not http or https", fetch.scheme));
    }
    let dir = format!("{}/{}", fetch.release_dir, release.hex());
    let (scheme, region) = (fetch.scheme, fetch.region);
    Ok(format!(
        r#"set -eu
release={dir}
if [ ! -x "$release/usr/local/bin/ticketing" ]; then
  password=$(aws ecr get-login-password --region {region})
  api={scheme}://{registry}/v2/{repository}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The login goes to curl on stdin (-K -), never on its command line,
  # where any local user could read it from the process list.
  fetch() {{ printf 'user = "AWS:%s"\n' "$password" | curl -fsSL -K - -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o "$2" "$api/$1"; echo "${{3#sha256:}}  $2" | sha256sum -c --quiet; }}
  fetch manifests/{digest} "$tmp/manifest.json" {digest}
  mkdir "$tmp/root"
  for layer in $(python3 -c 'import json, sys; print(" ".join(l["digest"] for l in json.load(open(sys.argv[1]))["layers"]))' "$tmp/manifest.json"); do
    fetch "blobs/$layer" "$tmp/layer" "$layer"
    tar -xf "$tmp/layer" -C "$tmp/root"
  done
  mkdir -p "$(dirname "$release")"
  mv "$tmp/root" "$release"
fi
set +e
"$release/lib64/ld-linux-x86-64.so.2" --library-path "$release/lib/x86_64-linux-gnu:$release/usr/lib/x86_64-linux-gnu" "$release/usr/local/bin/ticketing" verify-segments {paths}
echo "{EXIT_MARKER}$?"
"#,
        registry = release.registry,
        repository = release.repository,
        digest = release.digest,
        paths = paths.join(" "),
    ))
}

/// What one broker's run printed: the reports, or why there are none.
pub fn read_output(stdout: &str) -> Result<(i32, Vec<FileReport>), String> {
    let Some(at) = stdout.rfind(EXIT_MARKER) else {
        return Err(if stdout.len() >= 24_000 {
            "the output was cut at SSM's 24,000 characters: verify fewer files at a time".into()
        } else {
            "no report (the script did not reach the verifier; see the command's output in the SSM console)".into()
        });
    };
    let code: i32 = stdout[at + EXIT_MARKER.len()..]
        .trim()
        .parse()
        .map_err(|e| format!("the exit code cannot be read: {e}"))?;
    if code == 2 {
        return Err(
            "the verifier could not read a file (does the path exist on this broker?)".into(),
        );
    }
    let json = stdout[..at].trim();
    let reports: Vec<FileReport> = serde_json::from_str(json)
        .map_err(|e| format!("the verifier's report is not the expected JSON: {e}"))?;
    Ok((code, reports))
}

/// The release the platform runs now (api-gateway's image): the one
/// whose verifier a broker fetches.
pub async fn deployed_release(
    ctx: &crate::environment::Environment,
) -> Result<String, crate::error::OpsError> {
    let env = crate::aws::aws_env(ctx)?;
    let ecs = aws_sdk_ecs::Client::new(&crate::aws::sdk_config(ctx).await?);
    crate::ops::ecs::deployed_image(&ecs, env, ticketing_catalog::ServiceName::ApiGateway).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:3f1a5b7c9d0e2f4a6b8c0d1e3f5a7b9c1d2e4f6a8b0c2d4e6f8a0b1c3d5e7f90";

    #[test]
    fn only_an_image_by_digest_is_a_release() {
        let r = Release::parse(&format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/ticketing-prod@{DIGEST}"
        ))
        .expect("by digest");
        assert_eq!(r.registry, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(r.repository, "ticketing-prod");
        for bad in [
            "ticketing:latest",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/ticketing-prod:v1",
            "host.example/ticketing@sha256:abc",
            &format!("host.example/tick$(reboot)@{DIGEST}"),
        ] {
            assert!(Release::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_segment_paths_under_the_log_directory_reach_the_shell() {
        assert!(broker_path("/var/lib/kafka/payment.events-0/00000000000000000000.log").is_ok());
        for bad in [
            "/etc/shadow",
            "/var/lib/kafka/../../etc/shadow",
            "/var/lib/kafka/x-0/a.log; reboot",
            "/var/lib/kafka/x-0/$(id).log",
            "var/lib/kafka/x-0/a.log",
        ] {
            assert!(broker_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_region_that_is_not_one_never_reaches_the_shell() {
        let release =
            Release::parse(&format!("host.example/ticketing-prod@{DIGEST}")).expect("release");
        let fetch = |region| Fetch {
            scheme: "https",
            region,
            release_dir: "/opt/ticketing-release",
        };
        let ok = script(&release, &fetch("us-east-1"), &[]).expect("a region");
        assert!(ok.contains("--region us-east-1"));
        for bad in ["us-east-1; reboot", "$(id)", "", "US-EAST-1"] {
            assert!(script(&release, &fetch(bad), &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_output_is_the_reports_and_the_exit_code() {
        let report = r#"[{"path":"/var/lib/kafka/t-0/0.log","bytes":10,"batches":1,"records":2,"first_offset":0,"last_offset":1,"valid_bytes":10,"invalid_tail_bytes":0,"problems":[]}]"#;
        let (code, reports) = read_output(&format!("{report}\n{EXIT_MARKER}0\n")).expect("read");
        assert_eq!(code, 0);
        assert_eq!(reports[0].report.records, 2);
        assert!(read_output("curl: (22) 404\n").is_err());
        assert!(read_output(&format!("{EXIT_MARKER}2\n"))
            .expect_err("unreadable")
            .contains("could not read"));
        let cut = "x".repeat(24_000);
        assert!(read_output(&cut).expect_err("cut").contains("24,000"));
    }
}
