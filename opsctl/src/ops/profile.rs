//! The design's two size profiles: the MVP and ten times its traffic. The
//! CLI lists [`SizeProfile::NAMES`] and parses them here.

use serde::Serialize;
use ticketing_catalog::footprint::{self, Footprint};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizeProfile {
    Mvp,
    #[serde(rename = "scale-10x")]
    Scale10x,
}

impl SizeProfile {
    /// The names, as arguments and the templates' `SizeProfile` take them.
    pub const NAMES: &'static [&'static str] = &["mvp", "scale-10x"];

    pub fn name(self) -> &'static str {
        match self {
            SizeProfile::Mvp => "mvp",
            SizeProfile::Scale10x => "scale-10x",
        }
    }

    /// The instance classes, counts and sizes of this profile.
    pub fn footprint(self) -> Footprint<'static> {
        match self {
            SizeProfile::Mvp => footprint::MVP,
            SizeProfile::Scale10x => footprint::SCALE_10X,
        }
    }
}

impl std::str::FromStr for SizeProfile {
    type Err = String;

    fn from_str(name: &str) -> Result<SizeProfile, String> {
        match name {
            "mvp" => Ok(SizeProfile::Mvp),
            "scale-10x" => Ok(SizeProfile::Scale10x),
            other => Err(format!(
                "`{other}` is not a size profile: one of {}",
                SizeProfile::NAMES.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for SizeProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_parses_to_its_profile_and_back() {
        for name in SizeProfile::NAMES {
            let profile: SizeProfile = name.parse().expect("a profile");
            assert_eq!(profile.name(), *name);
            assert_eq!(
                serde_json::to_value(profile).expect("json"),
                serde_json::json!(name)
            );
        }
        assert!("10x".parse::<SizeProfile>().is_err());
    }
}
