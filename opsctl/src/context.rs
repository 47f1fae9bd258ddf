//! What every command starts from: the chosen environment's settings and the
//! global flags.

use ticketing_config::{Profile, Settings};

use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::CliError;

pub struct Context {
    pub profile: Profile,
    pub settings: Settings,
    pub region: String,
    /// Whether the `--region` flag chose the region.
    pub region_explicit: bool,
    pub output: OutputFormat,
}

impl Context {
    pub fn load(global: &GlobalArgs) -> Result<Context, CliError> {
        let profile = Profile::from(global.env);
        let settings = ticketing_config::load(profile)?;
        let region = global
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| settings.aws.region.clone());
        Ok(Context {
            profile,
            settings,
            region,
            region_explicit: global.region.is_some(),
            output: global.output,
        })
    }
}
