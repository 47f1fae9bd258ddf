//! Secrets, read from the environment only (on ECS the task definition fills
//! them from Secrets Manager). Their `Debug` output is redacted.

use secrecy::ExposeSecret;
pub use secrecy::SecretString;

use crate::{ConfigError, Profile};

/// Development-only values used in the `local` profile when a variable is
/// unset. They are public, so `dev` and `prod` refuse to start without the
/// real variables.
const LOCAL_ONLY: &str = "local-development-only-not-a-secret-0123456789";

/// Minimum length of signing keys outside `local`.
const MIN_KEY_BYTES: usize = 32;

/// All secrets a service process may need.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// `TICKETING_DATABASE_PASSWORD`: PostgreSQL password (none on the local stack).
    pub database_password: Option<SecretString>,
    /// `JWT_SIGNING_KEY`: HMAC key for access tokens.
    pub jwt_signing_key: SecretString,
    /// `QUEUE_TOKEN_SIGNING_KEY`: HMAC key for `qr_`/`qp_` tokens.
    pub queue_token_signing_key: SecretString,
    /// `IDENTITY_HASH_KEY`: key for the keyed hashes of CI/DI.
    pub identity_hash_key: SecretString,
    /// `PORTONE_API_KEY` / `PORTONE_API_SECRET`: PortOne V1 REST credentials
    /// (`imp_key`/`imp_secret`), from `ticketing/<env>/portone`. Only the
    /// services that call PortOne get them (user-service for identity
    /// verifications, payment-service), so they are optional here and
    /// required by [`Secrets::portone_keys`].
    pub portone_api_key: Option<SecretString>,
    pub portone_api_secret: Option<SecretString>,
    /// `RECAPTCHA_SECRET`: Google siteverify secret (unused in test mode).
    pub recaptcha_secret: SecretString,
}

struct Spec {
    var: &'static str,
    purpose: &'static str,
    min_len: usize,
}

fn lookup(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.clone())
}

/// One secret: in `local`, an unset variable falls back to a public
/// development value; elsewhere it is an error, and so is a value too short
/// to be a key.
fn read_secret(
    profile: Profile,
    vars: &[(String, String)],
    spec: &Spec,
) -> Result<SecretString, ConfigError> {
    match (lookup(vars, spec.var), profile) {
        (Some(v), Profile::Local) => Ok(SecretString::from(v)),
        (Some(v), _) if v.len() < spec.min_len || v == LOCAL_ONLY => Err(ConfigError::WeakSecret {
            var: spec.var,
            min: spec.min_len,
            profile,
        }),
        (Some(v), _) => Ok(SecretString::from(v)),
        (None, Profile::Local) => Ok(SecretString::from(LOCAL_ONLY)),
        (None, _) => Err(ConfigError::MissingSecret {
            var: spec.var,
            purpose: spec.purpose,
        }),
    }
}

/// A secret only some services need: absent is `None` (outside `local`),
/// present is held to the same rules as any other.
fn optional(
    profile: Profile,
    vars: &[(String, String)],
    spec: &Spec,
) -> Result<Option<SecretString>, ConfigError> {
    match (lookup(vars, spec.var), profile) {
        (None, Profile::Dev | Profile::Prod) => Ok(None),
        _ => read_secret(profile, vars, spec).map(Some),
    }
}

const DATABASE_PASSWORD: &str = "TICKETING_DATABASE_PASSWORD";
const JWT: Spec = Spec {
    var: ticketing_catalog::secrets::JWT_SIGNING_KEY,
    purpose: "signs access tokens",
    min_len: MIN_KEY_BYTES,
};
const QUEUE_TOKEN: Spec = Spec {
    var: ticketing_catalog::secrets::QUEUE_TOKEN_SIGNING_KEY,
    purpose: "signs qr_ and qp_ tokens",
    min_len: MIN_KEY_BYTES,
};
const IDENTITY_HASH: Spec = Spec {
    var: ticketing_catalog::secrets::IDENTITY_HASH_KEY,
    purpose: "keys the hashes of CI/DI",
    min_len: MIN_KEY_BYTES,
};
const PORTONE_KEY: Spec = Spec {
    var: "PORTONE_API_KEY",
    purpose: "PortOne imp_key, from ticketing/<env>/portone api_key",
    min_len: 1,
};
const PORTONE_SECRET: Spec = Spec {
    var: "PORTONE_API_SECRET",
    purpose: "PortOne imp_secret, from ticketing/<env>/portone api_secret",
    min_len: 1,
};
const RECAPTCHA: Spec = Spec {
    var: ticketing_catalog::secrets::RECAPTCHA_SECRET,
    purpose: "Google reCAPTCHA siteverify secret",
    min_len: 1,
};

impl Secrets {
    /// Every environment variable a secret is read from (what a task
    /// definition's `Secrets` may set).
    pub const VARS: [&'static str; 7] = [
        DATABASE_PASSWORD,
        JWT.var,
        QUEUE_TOKEN.var,
        IDENTITY_HASH.var,
        PORTONE_KEY.var,
        PORTONE_SECRET.var,
        RECAPTCHA.var,
    ];

    /// Reads the process environment.
    pub fn from_env(profile: Profile) -> Result<Secrets, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Secrets::from_vars(profile, &vars)
    }

    /// Reads secrets from `vars`. In `local`, unset variables fall back to a
    /// public development value; elsewhere they are errors, and so are values
    /// too short to be keys.
    pub fn from_vars(profile: Profile, vars: &[(String, String)]) -> Result<Secrets, ConfigError> {
        let get = |name: &str| lookup(vars, name);
        let read = |spec: &Spec| read_secret(profile, vars, spec);
        Ok(Secrets {
            database_password: get(DATABASE_PASSWORD).map(SecretString::from),
            jwt_signing_key: read(&JWT)?,
            queue_token_signing_key: read(&QUEUE_TOKEN)?,
            identity_hash_key: read(&IDENTITY_HASH)?,
            portone_api_key: optional(profile, vars, &PORTONE_KEY)?,
            portone_api_secret: optional(profile, vars, &PORTONE_SECRET)?,
            recaptcha_secret: read(&RECAPTCHA)?,
        })
    }

    /// The PortOne keys, or the error naming the one that is missing.
    pub fn portone_keys(&self) -> Result<(SecretString, SecretString), ConfigError> {
        let missing = |spec: &Spec| ConfigError::MissingSecret {
            var: spec.var,
            purpose: spec.purpose,
        };
        Ok((
            self.portone_api_key
                .clone()
                .ok_or_else(|| missing(&PORTONE_KEY))?,
            self.portone_api_secret
                .clone()
                .ok_or_else(|| missing(&PORTONE_SECRET))?,
        ))
    }

    /// Only the PortOne keys (`imp_key`, `imp_secret`), for tools such as
    /// opsctl that need no other secret; the same rules as [`Secrets::from_env`].
    pub fn portone_from_env(profile: Profile) -> Result<(SecretString, SecretString), ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Ok((
            read_secret(profile, &vars, &PORTONE_KEY)?,
            read_secret(profile, &vars, &PORTONE_SECRET)?,
        ))
    }

    /// Only the access-token signing key, for tools such as opsctl that mint
    /// a short-lived operator token; the same rules as [`Secrets::from_env`].
    pub fn jwt_signing_key_from_env(profile: Profile) -> Result<SecretString, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        read_secret(profile, &vars, &JWT)
    }

    /// Only the database password, for tools such as opsctl that need no
    /// other secret.
    pub fn database_password_from_env() -> Option<SecretString> {
        std::env::var(DATABASE_PASSWORD)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    }

    /// Whether a secret is the public local-development value.
    pub fn is_local_placeholder(secret: &SecretString) -> bool {
        secret.expose_secret() == LOCAL_ONLY
    }
}
