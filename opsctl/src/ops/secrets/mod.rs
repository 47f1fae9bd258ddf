//! The secrets the tasks read before they can start (`ticketing/<env>/app`
//! and `ticketing/<env>/portone`): what `opsctl secrets` found and what it
//! would do about it, as a pure plan. Values are never part of a plan.

mod store;
pub use store::{create, observe, read, Observed};

use serde::Serialize;
use ticketing_catalog::{portone, secrets};

/// A secret as found in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Found {
    Missing,
    /// It exists; these of the keys the tasks read are absent or empty.
    Present {
        missing_keys: Vec<String>,
    },
    /// It exists but is not a JSON object of strings.
    Unreadable {
        reason: String,
    },
}

impl Found {
    /// What a secret's value holds of `wanted` (the value is dropped here).
    pub fn of_value(value: &str, wanted: &[&str]) -> Found {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(value) else {
            return Found::Unreadable {
                reason: "its value is not a JSON object".into(),
            };
        };
        let missing_keys = wanted
            .iter()
            .filter(|k| {
                map.get(**k)
                    .and_then(|v| v.as_str())
                    .is_none_or(str::is_empty)
            })
            .map(|k| (*k).to_owned())
            .collect();
        Found::Present { missing_keys }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Complete: nothing to do.
    Keep,
    Create,
    /// Cannot be done from here; `note` says what a person must do.
    Blocked,
    /// Not there, and not needed for the tasks to start (the test keys a
    /// rollback may switch to): `note` says how to make it.
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretPlan {
    pub name: String,
    pub found: Found,
    pub action: Action,
    pub note: String,
}

/// Every key of the app secret.
pub fn app_keys() -> Vec<&'static str> {
    secrets::GENERATED_APP_KEYS
        .iter()
        .chain(secrets::PROVIDED_APP_KEYS.iter())
        .copied()
        .collect()
}

/// Every key of the PortOne secret (the test keys' secret has the same).
pub fn portone_keys() -> Vec<&'static str> {
    secrets::PORTONE_KEYS.iter().map(|(k, _)| *k).collect()
}

/// The plan for a secret that exists (`None` when it does not): complete
/// is kept; anything else needs a person, since opsctl never rewrites a
/// secret (its keys sign tokens already issued).
fn existing(name: &str, found: &Found) -> Option<SecretPlan> {
    let (action, note) = match found {
        Found::Missing => return None,
        Found::Present { missing_keys } if missing_keys.is_empty() => {
            (Action::Keep, "complete".to_owned())
        }
        Found::Present { missing_keys } => (
            Action::Blocked,
            format!(
                "lacks {}: the tasks will not start; add the keys to the secret by hand (opsctl never rewrites an existing secret)",
                missing_keys.join(", ")
            ),
        ),
        Found::Unreadable { reason } => (
            Action::Blocked,
            format!("{reason}: fix its value by hand; opsctl never rewrites an existing secret"),
        ),
    };
    Some(SecretPlan {
        name: name.to_owned(),
        found: found.clone(),
        action,
        note,
    })
}

/// The app secret: made when missing (random signing keys; the provided
/// keys from the environment, named in `unset` when they are not there).
pub fn plan_app(env: &str, found: Found, unset: &[&str]) -> SecretPlan {
    let name = secrets::app_secret_name(env);
    if let Some(plan) = existing(&name, &found) {
        return plan;
    }
    if unset.is_empty() {
        SecretPlan {
            name,
            found,
            action: Action::Create,
            note: format!(
                "create: {} random ({} characters, from Secrets Manager's GetRandomPassword), {} from the environment",
                secrets::GENERATED_APP_KEYS.join(", "),
                secrets::GENERATED_KEY_LENGTH,
                secrets::PROVIDED_APP_KEYS.join(", ")
            ),
        }
    } else {
        SecretPlan {
            name,
            found,
            action: Action::Blocked,
            note: format!(
                "missing; set {} in the environment (issued by Google reCAPTCHA for this site) and run again",
                unset.join(", ")
            ),
        }
    }
}

/// The PortOne secret: made when missing from the environment's
/// `PORTONE_*` variables (`unset` names the ones that are not there);
/// `mode` is the mode the given api_key is for.
pub fn plan_portone(env: &str, found: Found, unset: &[&str], mode: Option<&str>) -> SecretPlan {
    let name = portone::secret_name(env);
    if let Some(plan) = existing(&name, &found) {
        return plan;
    }
    match (unset.is_empty(), mode) {
        (true, Some(mode)) => SecretPlan {
            name,
            found,
            action: Action::Create,
            note: format!("create from the PORTONE_* variables ({mode}-mode keys, as PORTONE_MODE says)"),
        },
        (true, None) => SecretPlan {
            name,
            found,
            action: Action::Blocked,
            note: format!(
                "missing; PORTONE_MODE must be one of {} (the mode of the PortOne channel these keys pay through: PortOne's keys do not say it)",
                portone::MODES.join(", ")
            ),
        },
        (false, _) => SecretPlan {
            name,
            found,
            action: Action::Blocked,
            note: format!(
                "missing; set {} in the environment (the PortOne console's keys for this environment) and run again",
                unset.join(", ")
            ),
        },
    }
}

/// The test keys `portone rollback --test-keys` switches to: made when
/// missing and every `PORTONE_TEST_*` variable is given; absent otherwise
/// (the tasks do not need them; the rollback refuses without them).
pub fn plan_portone_test(env: &str, found: Found, unset: &[&str]) -> SecretPlan {
    let name = portone::test_keys_secret_name(env);
    if let Some(plan) = existing(&name, &found) {
        return plan;
    }
    let (action, note) = if unset.is_empty() {
        (
            Action::Create,
            "create from the PORTONE_TEST_* variables (test-mode keys)".to_owned(),
        )
    } else {
        (
            Action::Absent,
            format!(
                "not made: `portone rollback --test-keys` needs it; set {} (the PortOne console's test channel keys) and run apply",
                unset.join(", ")
            ),
        )
    };
    SecretPlan {
        name,
        found,
        action,
        note,
    }
}

/// The secrets for people: each one's action and what it lacks.
pub fn render(plans: &[SecretPlan]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                match p.action {
                    Action::Keep => "ok",
                    Action::Create => "CREATE",
                    Action::Blocked => "BLOCKED",
                    Action::Absent => "absent",
                }
                .to_owned(),
                p.note.clone(),
            ]
        })
        .collect();
    crate::table::table(&["secret", "action", "what"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_judged_by_its_keys_and_nothing_else() {
        let wanted = ["A", "B", "C"];
        assert_eq!(
            Found::of_value(r#"{"A":"x","B":"","D":"y"}"#, &wanted),
            Found::Present {
                missing_keys: vec!["B".into(), "C".into()]
            }
        );
        assert!(matches!(
            Found::of_value("not json", &wanted),
            Found::Unreadable { .. }
        ));
        assert!(matches!(
            Found::of_value(r#"["A"]"#, &wanted),
            Found::Unreadable { .. }
        ));
    }

    #[test]
    fn a_missing_app_secret_is_made_only_with_what_the_environment_must_give() {
        let made = plan_app("dev", Found::Missing, &[]);
        assert_eq!(made.action, Action::Create);
        assert_eq!(made.name, "ticketing/dev/app");
        let blocked = plan_app("dev", Found::Missing, &["RECAPTCHA_SECRET"]);
        assert_eq!(blocked.action, Action::Blocked);
        assert!(
            blocked.note.contains("RECAPTCHA_SECRET"),
            "{}",
            blocked.note
        );
    }

    #[test]
    fn an_existing_secret_is_never_rewritten() {
        let complete = plan_app(
            "prod",
            Found::Present {
                missing_keys: vec![],
            },
            &["RECAPTCHA_SECRET"],
        );
        assert_eq!(complete.action, Action::Keep);
        let partial = plan_portone(
            "prod",
            Found::Present {
                missing_keys: vec!["api_secret".into()],
            },
            &[],
            Some("production"),
        );
        assert_eq!(partial.action, Action::Blocked);
        assert!(partial.note.contains("api_secret"), "{}", partial.note);
    }

    #[test]
    fn portone_keys_come_from_the_environment_and_must_name_a_mode() {
        assert_eq!(
            plan_portone("dev", Found::Missing, &[], Some("test")).action,
            Action::Create
        );
        assert_eq!(
            plan_portone("dev", Found::Missing, &[], None).action,
            Action::Blocked
        );
        let unset = plan_portone("dev", Found::Missing, &["PORTONE_API_SECRET"], None);
        assert!(unset.note.contains("PORTONE_API_SECRET"), "{}", unset.note);
    }

    #[test]
    fn the_test_keys_are_made_when_given_and_otherwise_only_noted() {
        let made = plan_portone_test("prod", Found::Missing, &[]);
        assert_eq!(made.action, Action::Create);
        let absent = plan_portone_test("prod", Found::Missing, &["PORTONE_TEST_API_KEY"]);
        assert_eq!(absent.action, Action::Absent);
        assert!(
            absent.note.contains("PORTONE_TEST_API_KEY"),
            "{}",
            absent.note
        );
        let kept = plan_portone_test(
            "prod",
            Found::Present {
                missing_keys: Vec::new(),
            },
            &["PORTONE_TEST_API_KEY"],
        );
        assert_eq!(kept.action, Action::Keep);
    }
}
