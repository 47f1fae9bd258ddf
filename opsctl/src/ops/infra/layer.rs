//! The CloudFormation layers: their names and order. `Layer` parses from
//! its name (the CLI lists [`Layer::NAMES`]), so nothing in ops knows the
//! CLI.

use serde::Serialize;

/// The layers, in the order they must be deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Network,
    Data,
    Kafka,
    Observability,
    Compute,
    /// GitHub's OIDC provider and the CI pipeline's roles: deployed once by
    /// an administrator, only when named (never part of the default run).
    Pipeline,
}

impl Layer {
    pub const ORDER: [Layer; 5] = [
        Layer::Network,
        Layer::Data,
        Layer::Kafka,
        Layer::Observability,
        Layer::Compute,
    ];

    /// Every layer a command may name: the platform's, then the pipeline's.
    pub const ALL: [Layer; 6] = [
        Layer::Network,
        Layer::Data,
        Layer::Kafka,
        Layer::Observability,
        Layer::Compute,
        Layer::Pipeline,
    ];

    /// The names a command may give, as [`Layer::ALL`].
    pub const NAMES: [&'static str; 6] = [
        "network",
        "data",
        "kafka",
        "observability",
        "compute",
        "pipeline",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Network => "network",
            Layer::Data => "data",
            Layer::Kafka => "kafka",
            Layer::Observability => "observability",
            Layer::Compute => "compute",
            Layer::Pipeline => "pipeline",
        }
    }
}

impl std::str::FromStr for Layer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layer::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a layer; expected one of {}",
                    Layer::NAMES.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_parses_from_its_listed_name_and_others_are_refused() {
        for (name, layer) in Layer::NAMES.iter().zip(Layer::ALL) {
            assert_eq!(name.parse::<Layer>(), Ok(layer));
            assert_eq!(layer.name(), *name);
        }
        let err = "networks".parse::<Layer>().unwrap_err();
        assert!(err.contains("observability"), "{err}");
    }
}
