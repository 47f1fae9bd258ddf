//! The account's domain: what a valid sign-up is, how identities are kept
//! (keyed hashes only) and how passwords are hashed and checked (argon2).
//! No database, no HTTP routing; unit-tested here.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use ticketing_http::ApiError;

/// Blanks around an address that are ignored (what a form's copy and paste
/// leaves).
const EMAIL_BLANKS: [char; 4] = [' ', '\t', '\n', '\r'];

/// What `is_email` accepts, as user-service's openapi.json states it for
/// sign-up's `email` (with `maxLength` [`EMAIL_MAX_CHARS`]); a test holds the
/// two equal, and the API fuzzer holds the code to the document.
#[cfg(test)]
const EMAIL_PATTERN: &str =
    "^[ \\t\\n\\r]*[^@ \\t\\n\\r\\u0000]+@[^@ \\t\\n\\r\\u0000]+\\.[^@ \\t\\n\\r\\u0000]+[ \\t\\n\\r]*$";
pub(crate) const EMAIL_MAX_CHARS: usize = 254;

/// An address as [`EMAIL_PATTERN`] describes it: blanks around it aside,
/// one `@`, no blank or NUL, and a dot inside the domain (not at its ends).
fn is_email(raw: &str) -> bool {
    let allowed = |c: char| !matches!(c, '@' | ' ' | '\t' | '\n' | '\r' | '\0');
    let email = raw.trim_matches(EMAIL_BLANKS);
    raw.chars().count() <= EMAIL_MAX_CHARS
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.chars().all(allowed)
                && domain.chars().all(allowed)
                && domain
                    .char_indices()
                    .any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len())
        })
}

/// The normalised email of a valid sign-up, or what is wrong with it.
pub(crate) fn validate_credentials(email: &str, password: &str) -> Result<String, ApiError> {
    if !is_email(email) {
        return Err(ApiError::unprocessable(
            "invalid_email",
            "`email` must be an address like name@example.com",
        ));
    }
    let length = password.chars().count();
    if !(10..=128).contains(&length) {
        return Err(ApiError::unprocessable(
            "weak_password",
            "`password` must be 10 to 128 characters long",
        ));
    }
    Ok(email.trim_matches(EMAIL_BLANKS).to_lowercase())
}

/// HMAC-SHA256 of an identity value under `IDENTITY_HASH_KEY`, hex.
pub(crate) fn identity_hash(key: &SecretString, value: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hashes a password with argon2 (off the async threads: it is slow on
/// purpose).
pub(crate) async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?
    .map_err(ApiError::internal)
}

/// A hash of no one's password, made once with the same parameters as every
/// account's: a login for an e-mail without an account checks its password
/// against this, so that it takes as long as one with an account (the
/// answer and its time tell nothing about which e-mails exist).
pub(crate) async fn decoy_hash() -> Result<String, ApiError> {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_try_init(|| hash_password(uuid::Uuid::new_v4().to_string()))
        .await
        .cloned()
}

/// Whether `password` matches the stored argon2 hash (off the async threads).
pub(crate) async fn password_matches(stored: String, password: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked_before_anything_is_written() {
        assert_eq!(
            validate_credentials(" Kim@Example.COM ", "long enough pw").ok(),
            Some("kim@example.com".to_owned())
        );
        assert!(validate_credentials("no-at-sign", "long enough pw").is_err());
        assert!(validate_credentials("a@b", "long enough pw").is_err());
        assert!(validate_credentials("kim@example.com", "short").is_err());
    }

    #[test]
    fn an_email_is_what_the_documented_pattern_says() {
        for good in [
            "a@b.c",
            " kim@example.com\n",
            "k.im@mail.example.co.kr",
            "김@예시.한국",
        ] {
            assert!(is_email(good), "{good:?}");
        }
        for bad in [
            "",
            "@b.c",
            "a@.c",
            "a@c.",
            "a@bc",
            "a b@c.d",
            "a@b@c.d",
            "a\0@b.c",
            "  ",
            "a@b.c\u{a0}x y",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
        let long = format!("{}@example.com", "k".repeat(EMAIL_MAX_CHARS));
        assert!(!is_email(&long));
        // The document says the same (its `email` of sign-up).
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json");
        let email = &doc["paths"]["/api/users/signup"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["properties"]["email"];
        assert_eq!(email["pattern"], EMAIL_PATTERN);
        assert_eq!(email["maxLength"], EMAIL_MAX_CHARS);
    }

    #[tokio::test]
    async fn a_password_matches_only_its_own_hash() {
        let stored = hash_password("correct horse battery".into())
            .await
            .expect("hash");
        assert!(
            password_matches(stored.clone(), "correct horse battery".into())
                .await
                .expect("check")
        );
        assert!(!password_matches(stored, "wrong horse battery".into())
            .await
            .expect("check"));
        assert!(!password_matches("not a hash".into(), "x".into())
            .await
            .expect("check"));
    }

    #[test]
    fn identity_hashes_are_keyed() {
        let a = SecretString::from("key-a".to_owned());
        let b = SecretString::from("key-b".to_owned());
        assert_eq!(identity_hash(&a, "ci"), identity_hash(&a, "ci"));
        assert_ne!(identity_hash(&a, "ci"), identity_hash(&b, "ci"));
        assert_eq!(identity_hash(&a, "ci").len(), 64);
    }
}
