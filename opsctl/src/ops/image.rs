//! The platform's image on its way to ECR: the environment's repository,
//! the registry login ECR hands out, and the push itself with `skopeo` (a
//! maintained OCI copy tool from Debian: it reads the local image store
//! buildah writes, speaks the registry protocol, and reports the digest of
//! the manifest it pushed, so the task definition can name the image by
//! digest rather than by a moving tag).
//!
//! ECR's `GetAuthorizationToken` returns `authorizationToken`, base64 of
//! `AWS:<password>`, valid for 12 hours, and the registry's
//! `proxyEndpoint` (Amazon ECR API Reference, "AuthorizationData" and
//! "GetAuthorizationToken"). The token goes to skopeo in an auth file
//! readable only by this user, never on a command line or in output.
//! Locally, `aws.registry_url` names the OCI registry that stands in for
//! ECR's endpoint (moto serves the ECR API but stores no image bytes).

use std::path::PathBuf;
use std::process::Stdio;

use serde::Serialize;
use tokio::process::Command;

use crate::aws::failed;
use crate::error::OpsError;

/// Where images are pushed, with the login for it.
pub struct Registry {
    /// `host[:port]`, as image references name it.
    pub host: String,
    /// Plain HTTP on loopback (the local stand-in); ECR is always HTTPS.
    pub plain_http: bool,
    /// base64 of `user:password`; never printed.
    auth: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .field("plain_http", &self.plain_http)
            .field("auth", &"<redacted>")
            .finish()
    }
}

/// What the plan says about the image to push.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Source {
    /// As skopeo reads it (`containers-storage:ticketing:latest`).
    pub reference: String,
    /// The digest of the manifest in the local store.
    pub digest: String,
    /// The `org.opencontainers.image.revision` label, when the build set it.
    pub revision: Option<String>,
}

/// A `--image` value as skopeo reads it: a reference with a transport
/// (`containers-storage:`, `oci-archive:`, `docker://`, ...) is taken as
/// it is; a bare name is an image in the local store buildah builds into
/// (an unqualified one under `localhost/`, where buildah puts it).
pub fn source_reference(image: &str) -> String {
    const TRANSPORTS: [&str; 7] = [
        "containers-storage:",
        "oci:",
        "oci-archive:",
        "docker://",
        "docker-archive:",
        "dir:",
        "docker-daemon:",
    ];
    if TRANSPORTS.iter().any(|t| image.starts_with(t)) {
        return image.to_owned();
    }
    // An unqualified name is what buildah stored as `localhost/<name>`
    // (skopeo would read it as `docker.io/library/<name>`).
    let first = image.split('/').next().unwrap_or_default();
    let qualified =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if qualified {
        format!("containers-storage:{image}")
    } else {
        format!("containers-storage:localhost/{image}")
    }
}

/// The ECR repository's URI (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`),
/// or a usage error naming the template that creates it.
pub async fn repository_uri(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<String, OpsError> {
    let found = ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .map_err(|e| {
            let e = crate::aws::sdk_error(&e);
            if e.to_string().contains("RepositoryNotFoundException") {
                OpsError::usage(
                    format!("there is no ECR repository {name}"),
                    "the network layer creates it: opsctl infra deploy network --execute; nothing was changed",
                )
            } else {
                failed("ECR DescribeRepositories failed", e)
            }
        })?;
    found
        .repositories()
        .first()
        .and_then(|r| r.repository_uri())
        .map(str::to_owned)
        .ok_or_else(|| failed("ECR DescribeRepositories", "no repository URI returned"))
}

/// The registry's `host[:port]` and whether it speaks plain HTTP: ECR's
/// (the repository URI's host, HTTPS), or `registry_url` standing in for it.
pub fn registry_host(repository_uri: &str, registry_url: Option<&url::Url>) -> (String, bool) {
    match registry_url {
        Some(url) => (
            format!(
                "{}{}",
                url.host_str().unwrap_or("127.0.0.1"),
                url.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            url.scheme() == "http",
        ),
        None => (
            repository_uri
                .split('/')
                .next()
                .unwrap_or(repository_uri)
                .to_owned(),
            false,
        ),
    }
}

/// The registry to push to: ECR's (the repository URI's host) with the
/// token GetAuthorizationToken returns, or `registry_url` standing in for
/// it, with the same token.
pub async fn registry(
    ecr: &aws_sdk_ecr::Client,
    repository_uri: &str,
    registry_url: Option<&url::Url>,
) -> Result<Registry, OpsError> {
    let token = ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(crate::aws::call("ECR GetAuthorizationToken failed"))?;
    let auth = token
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .map(str::to_owned)
        .ok_or_else(|| {
            failed(
                "ECR GetAuthorizationToken",
                "no authorization data returned",
            )
        })?;
    let (host, plain_http) = registry_host(repository_uri, registry_url);
    Ok(Registry {
        host,
        plain_http,
        auth,
    })
}

async fn skopeo(args: &[String]) -> Result<String, String> {
    let out = Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            format!("skopeo cannot be run ({e}); install it (infra/local/install-tools.sh, or apt-get install skopeo)")
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "skopeo {} failed: {}",
            args.first().map(String::as_str).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether `reference` (as skopeo reads it) names an image in `registry`:
/// a rollback by digest reads from the environment's own repository.
pub fn in_registry(reference: &str, host: &str) -> bool {
    reference
        .strip_prefix("docker://")
        .is_some_and(|r| r.starts_with(&format!("{host}/")))
}

/// Reads the image to push (read-only: the plan shows what it found). An
/// image in the environment's own registry (`login`) is read with its
/// login: ECR answers an anonymous read with 401.
pub async fn inspect(reference: &str, login: Option<&Registry>) -> Result<Source, OpsError> {
    let mut args: Vec<String> = vec!["inspect".into()];
    let auth = match login {
        Some(registry) => {
            let file = AuthFile::write(registry).map_err(|e| failed("reading the image", e))?;
            args.push("--authfile".into());
            args.push(file.0.display().to_string());
            if registry.plain_http {
                args.push("--tls-verify=false".into());
            }
            Some(file)
        }
        None => None,
    };
    args.push(reference.into());
    let text = skopeo(&args)
        .await
        .map_err(|e| {
            OpsError::usage(
                format!("the image {reference} cannot be read: {e}"),
                "build it first (infra/image/build.sh) or name it with its transport, e.g. --image containers-storage:ticketing:latest",
            )
        })?;
    drop(auth);
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| failed("reading skopeo inspect's output", e))?;
    Ok(Source {
        reference: reference.to_owned(),
        digest: json["Digest"].as_str().unwrap_or_default().to_owned(),
        revision: json["Labels"]["org.opencontainers.image.revision"]
            .as_str()
            .map(str::to_owned),
    })
}

/// An auth file holding the login, readable only by this user, removed
/// when dropped.
struct AuthFile(PathBuf);

impl AuthFile {
    fn write(registry: &Registry) -> Result<AuthFile, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::env::temp_dir().join(format!("opsctl-auth-{}.json", uuid::Uuid::new_v4()));
        let body = serde_json::json!({"auths": {registry.host.as_str(): {"auth": registry.auth}}});
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                format!(
                    "the registry login cannot be written to {}: {e}",
                    path.display()
                )
            })?;
        file.write_all(body.to_string().as_bytes())
            .map_err(|e| format!("the registry login cannot be written: {e}"))?;
        Ok(AuthFile(path))
    }
}

impl Drop for AuthFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Pushes `source` to `<registry>/<repository>:<tag>` and returns the
/// reference by digest (`<registry>/<repository>@sha256:...`): the digest
/// of the manifest as the registry stored it.
pub async fn push(
    source: &str,
    registry: &Registry,
    repository: &str,
    tag: &str,
) -> Result<String, String> {
    let auth = AuthFile::write(registry)?;
    let digest_file = std::env::temp_dir().join(format!("opsctl-digest-{}", uuid::Uuid::new_v4()));
    let destination = format!("docker://{}/{repository}:{tag}", registry.host);
    let mut args: Vec<String> = vec![
        "copy".into(),
        "--quiet".into(),
        "--dest-authfile".into(),
        auth.0.display().to_string(),
        "--digestfile".into(),
        digest_file.display().to_string(),
    ];
    if registry.plain_http {
        args.push("--dest-tls-verify=false".into());
    }
    // A rollback by digest copies from the same registry: read it with the
    // same login.
    if in_registry(source, &registry.host) {
        args.push("--src-authfile".into());
        args.push(auth.0.display().to_string());
        if registry.plain_http {
            args.push("--src-tls-verify=false".into());
        }
    }
    args.push(source.to_owned());
    args.push(destination);
    let result = skopeo(&args).await;
    let digest = std::fs::read_to_string(&digest_file);
    let _ = std::fs::remove_file(&digest_file);
    result?;
    let digest = digest.map_err(|e| format!("skopeo wrote no digest: {e}"))?;
    let digest = digest.trim();
    if !digest.starts_with("sha256:") {
        return Err(format!("skopeo reported an unexpected digest `{digest}`"));
    }
    Ok(format!("{}/{repository}@{digest}", registry.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_read_from_the_local_store() {
        assert_eq!(
            source_reference("ticketing:latest"),
            "containers-storage:localhost/ticketing:latest",
            "buildah stores unqualified names under localhost/"
        );
        assert_eq!(
            source_reference("localhost/ticketing:v1"),
            "containers-storage:localhost/ticketing:v1"
        );
        assert_eq!(
            source_reference("registry.example:5000/team/ticketing:v1"),
            "containers-storage:registry.example:5000/team/ticketing:v1"
        );
        assert_eq!(
            source_reference("oci-archive:/tmp/x.tar"),
            "oci-archive:/tmp/x.tar"
        );
        assert_eq!(
            source_reference("docker://registry.example/t:1"),
            "docker://registry.example/t:1"
        );
    }

    #[test]
    fn an_image_in_the_environment_s_registry_is_read_with_its_login() {
        let host = "1.dkr.ecr.us-east-1.amazonaws.com";
        assert!(in_registry(
            &format!("docker://{host}/ticketing-prod@sha256:aa"),
            host
        ));
        assert!(!in_registry("docker://docker.io/library/x:1", host));
        assert!(!in_registry("containers-storage:ticketing:latest", host));
        assert!(!in_registry(&format!("docker://{host}.evil/x"), host));
    }

    #[test]
    fn the_login_is_never_in_debug_output() {
        let r = Registry {
            host: "h".into(),
            plain_http: false,
            auth: "QVdTOnNlY3JldA==".into(),
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("QVdT"), "{shown}");
    }
}
