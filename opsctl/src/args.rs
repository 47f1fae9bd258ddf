//! Argument types and parsers more than one command uses.

pub use crate::ops::profile::SizeProfile;

use std::time::Duration;

/// `30s`, `15m`, `2h`, `1d`.
pub fn parse_age(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not an age like 30s, 15m, 2h or 1d"))?;
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{raw}` is not an age like 30s, 15m, 2h or 1d")),
    };
    n.checked_mul(unit_seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{raw}` is too long an age"))
}

/// A folder of the repository (`infra/templates`, `dashboards`) as a
/// command names it: as given when it exists or is absolute; a relative one
/// that does not exist here is looked for in each folder above, so the
/// commands work from anywhere inside the repository, not only its root.
pub fn in_repository(dir: &std::path::Path) -> Result<std::path::PathBuf, crate::error::OpsError> {
    if dir.is_absolute() || dir.exists() {
        return Ok(dir.to_path_buf());
    }
    let here = std::env::current_dir().map_err(|e| crate::error::OpsError::Failed(e.into()))?;
    here.ancestors()
        .map(|a| a.join(dir))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| {
            crate::error::OpsError::usage(
                format!(
                    "there is no `{}` in {} or any folder above it",
                    dir.display(),
                    here.display()
                ),
                format!(
                    "run it inside the repository, or pass --dir with the path to `{}`",
                    dir.display()
                ),
            )
        })
}

/// A parser for a value that must be one of `names`, each parsed into
/// `T` (an ops type that knows its names, so ops need not know clap);
/// `--help` and errors list the names.
pub fn one_of<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_folder_is_found_from_below_and_a_missing_one_says_so() {
        // The tests run in opsctl/: the repository's dashboards are one up.
        let found = in_repository(std::path::Path::new("dashboards")).expect("found");
        assert!(
            found.join("kafka-outbox.json").is_file(),
            "{}",
            found.display()
        );
        let missing = in_repository(std::path::Path::new("no-such-folder")).unwrap_err();
        assert!(missing.to_string().contains("no-such-folder"), "{missing}");
    }

    #[test]
    fn ages_parse_and_nonsense_is_refused() {
        assert_eq!(parse_age("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_age("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_age("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert!(parse_age("15").is_err());
        assert!(parse_age("m").is_err());
        assert!(parse_age("-5m").is_err());
    }
}
