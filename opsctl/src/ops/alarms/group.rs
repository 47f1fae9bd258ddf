//! Which alarms a command names: parsed from its name (the CLI lists
//! [`Group::NAMES`]), so nothing in ops knows the CLI.

/// A group of the catalog's alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Billing,
    Payment,
    Kafka,
    All,
}

impl Group {
    /// The names a command may give, one per group.
    pub const NAMES: [&'static str; 4] = ["billing", "payment", "kafka", "all"];
    const EACH: [Group; 4] = [Group::Billing, Group::Payment, Group::Kafka, Group::All];

    pub fn name(self) -> &'static str {
        match self {
            Group::Billing => "billing",
            Group::Payment => "payment",
            Group::Kafka => "kafka",
            Group::All => "all",
        }
    }
}

impl std::str::FromStr for Group {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Group::EACH
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not an alarm group; expected one of {}",
                    Group::NAMES.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_parses_from_its_listed_name_and_others_are_refused() {
        for (name, group) in Group::NAMES.iter().zip(Group::EACH) {
            assert_eq!(name.parse::<Group>(), Ok(group));
            assert_eq!(group.name(), *name);
        }
        let err = "bills".parse::<Group>().unwrap_err();
        assert!(err.contains("billing, payment, kafka, all"), "{err}");
    }
}
