//! Signed, expiring tokens, verifiable without a database lookup.
//!
//! * Access tokens: JWTs (HS256) whose header names the key (`kid`), so a key
//!   can be rotated: new tokens are signed with the current key while tokens
//!   signed with a previous key still verify until they expire.
//! * Reservation tokens `qr_...` (queue-service, on admission): bound to a
//!   user and a performance.
//! * Payment tokens `qp_...` (reservation-service, on a hold): bound to a
//!   user, a reservation and its amount.
//!
//! `qr_`/`qp_` tokens are `<prefix><base64url(claims)>.<base64url(mac)>`,
//! where the MAC is HMAC-SHA256 over the prefix and the encoded claims (the
//! prefix keeps one kind from being accepted as the other) and the claims
//! carry the key id. Signatures are compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ticketing_money::Money;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused. The messages are for the person holding it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the {kind} is missing")]
    Missing { kind: &'static str },
    #[error("the {kind} is malformed ({why})")]
    Malformed {
        kind: &'static str,
        why: &'static str,
    },
    #[error("this is not a {kind} (it should start with `{prefix}`)")]
    WrongKind {
        kind: &'static str,
        prefix: &'static str,
    },
    #[error("the {kind} was signed with a key this service does not know; get a new one")]
    UnknownKey { kind: &'static str },
    #[error("the {kind} signature is invalid (forged or altered)")]
    BadSignature { kind: &'static str },
    #[error("the {kind} expired at {expired_at}; get a new one")]
    Expired {
        kind: &'static str,
        expired_at: DateTime<Utc>,
    },
}

/// One signing key and its id (the first 8 hex digits of its SHA-256).
#[derive(Clone)]
struct Key {
    id: String,
    mac: HmacSha256,
}

impl Key {
    fn new(secret: &SecretString) -> Key {
        let bytes = secret.expose_secret().as_bytes();
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        // HMAC accepts keys of any length; this cannot fail.
        let mac = <HmacSha256 as Mac>::new_from_slice(bytes)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Key { id, mac }
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.verify_slice(signature).is_ok()
    }
}

/// The current signing key and the previous ones still accepted.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: never the keys.
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    pub fn new(current: &SecretString, previous: &[SecretString]) -> Keyring {
        Keyring {
            current: Key::new(current),
            previous: previous.iter().map(Key::new).collect(),
        }
    }

    /// The id of the key new tokens are signed with.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    fn find(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }
}

/// Claims of a prefixed token kind.
pub trait Claims: Serialize + DeserializeOwned {
    const PREFIX: &'static str;
    /// For messages: "reservation token".
    const KIND: &'static str;
    fn expires_at(&self) -> i64;
}

#[derive(Serialize, Deserialize)]
struct Signed<C> {
    kid: String,
    #[serde(flatten)]
    claims: C,
}

/// Issues `<prefix><claims>.<mac>` with the current key.
pub fn issue<C: Claims>(keys: &Keyring, claims: &C) -> String {
    let signed = Signed {
        kid: keys.current.id.clone(),
        claims,
    };
    // Serializing plain claim structs cannot fail.
    let json = serde_json::to_vec(&signed).unwrap_or_default();
    let body = B64.encode(json);
    let mac = keys.current.sign(format!("{}{body}", C::PREFIX).as_bytes());
    format!("{}{body}.{}", C::PREFIX, B64.encode(mac))
}

/// Verifies kind, signature and expiry; returns the claims.
pub fn verify<C: Claims>(keys: &Keyring, token: &str, now: DateTime<Utc>) -> Result<C, TokenError> {
    let kind = C::KIND;
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing { kind });
    }
    let Some(rest) = token.strip_prefix(C::PREFIX) else {
        return Err(TokenError::WrongKind {
            kind,
            prefix: C::PREFIX,
        });
    };
    let (body, mac) = rest.split_once('.').ok_or(TokenError::Malformed {
        kind,
        why: "no signature part",
    })?;
    let mac = B64.decode(mac).map_err(|_| TokenError::Malformed {
        kind,
        why: "the signature is not base64url",
    })?;
    let json = B64.decode(body).map_err(|_| TokenError::Malformed {
        kind,
        why: "the claims are not base64url",
    })?;
    let signed: Signed<C> = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed {
        kind,
        why: "the claims are not what this kind of token holds",
    })?;
    let key = keys
        .find(&signed.kid)
        .ok_or(TokenError::UnknownKey { kind })?;
    if !key.verify(format!("{}{body}", C::PREFIX).as_bytes(), &mac) {
        return Err(TokenError::BadSignature { kind });
    }
    check_expiry(kind, signed.claims.expires_at(), now)?;
    Ok(signed.claims)
}

fn check_expiry(kind: &'static str, exp: i64, now: DateTime<Utc>) -> Result<(), TokenError> {
    if now.timestamp() >= exp {
        return Err(TokenError::Expired {
            kind,
            expired_at: DateTime::from_timestamp(exp, 0).unwrap_or(DateTime::UNIX_EPOCH),
        });
    }
    Ok(())
}

/// A reservation token `qr_...`: its holder was admitted from the waiting
/// room of `performance_id` and may hold seats there until `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationClaims {
    /// The user.
    pub sub: Uuid,
    pub performance_id: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// Unique per admission.
    pub jti: Uuid,
}

impl Claims for ReservationClaims {
    const PREFIX: &'static str = "qr_";
    const KIND: &'static str = "reservation token";
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

impl ReservationClaims {
    pub fn new(user: Uuid, performance_id: Uuid, now: DateTime<Utc>, ttl: Duration) -> Self {
        ReservationClaims {
            sub: user,
            performance_id,
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: Uuid::now_v7(),
        }
    }
}

/// A payment token `qp_...`: its holder may pay `amount` for `reservation_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentClaims {
    /// The user.
    pub sub: Uuid,
    pub reservation_id: Uuid,
    pub amount: Money,
    pub iat: i64,
    pub exp: i64,
}

impl Claims for PaymentClaims {
    const PREFIX: &'static str = "qp_";
    const KIND: &'static str = "payment token";
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// What an access token may do beyond a customer's own bookings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The platform's operators: minted by `opsctl` with the signing key for
    /// a few minutes, never by sign-up or login.
    Operator,
    /// A user who may create performances: the role is on the account
    /// (set by `opsctl users grant-organiser`), and login puts it here.
    Organiser,
}

/// Claims of an access token (JWT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user.
    pub sub: Uuid,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Absent for customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Serialize, Deserialize)]
struct JwtHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

const ACCESS: &str = "access token";

/// Issues a JWT (HS256, `kid` = the current key id).
pub fn issue_access(keys: &Keyring, claims: &AccessClaims) -> String {
    let header = JwtHeader {
        alg: "HS256".into(),
        typ: Some("JWT".into()),
        kid: Some(keys.current.id.clone()),
    };
    let head = B64.encode(serde_json::to_vec(&header).unwrap_or_default());
    let body = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{head}.{body}");
    let mac = keys.current.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(mac))
}

/// Verifies a JWT: HS256 only (never `none`), a known key, the issuer and
/// the expiry.
pub fn verify_access(
    keys: &Keyring,
    token: &str,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<AccessClaims, TokenError> {
    let kind = ACCESS;
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing { kind });
    }
    let malformed = |why| TokenError::Malformed { kind, why };
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("a JWT has three dot-separated parts"));
    };
    let header: JwtHeader = B64
        .decode(head)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(malformed("the header is not base64url JSON"))?;
    if header.alg != "HS256" {
        return Err(malformed("only HS256 is accepted"));
    }
    let key = match header.kid.as_deref() {
        Some(kid) => keys.find(kid).ok_or(TokenError::UnknownKey { kind })?,
        None => &keys.current,
    };
    let mac = B64
        .decode(mac)
        .map_err(|_| malformed("the signature is not base64url"))?;
    if !key.verify(format!("{head}.{body}").as_bytes(), &mac) {
        return Err(TokenError::BadSignature { kind });
    }
    let claims: AccessClaims = B64
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(malformed("the claims are not what an access token holds"))?;
    if claims.iss != issuer {
        return Err(malformed("issued by someone else"));
    }
    check_expiry(kind, claims.exp, now)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> Keyring {
        Keyring::new(&SecretString::from(secret.to_owned()), &[])
    }

    fn qr(now: DateTime<Utc>) -> ReservationClaims {
        ReservationClaims::new(Uuid::now_v7(), Uuid::now_v7(), now, Duration::minutes(10))
    }

    #[test]
    fn a_reservation_token_round_trips_and_expires() {
        let k = keys("k1");
        let now = Utc::now();
        let claims = qr(now);
        let token = issue(&k, &claims);
        assert!(token.starts_with("qr_"));
        assert_eq!(verify::<ReservationClaims>(&k, &token, now), Ok(claims));
        let later = now + Duration::minutes(11);
        assert!(matches!(
            verify::<ReservationClaims>(&k, &token, later),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn forged_altered_and_foreign_tokens_are_refused() {
        let k = keys("k1");
        let now = Utc::now();
        let token = issue(&k, &qr(now));
        // Signed with another key (whose id is unknown here).
        let other = issue(&keys("attacker"), &qr(now));
        assert_eq!(
            verify::<ReservationClaims>(&k, &other, now),
            Err(TokenError::UnknownKey {
                kind: "reservation token"
            })
        );
        // Claims altered (another performance), signature kept.
        let (body, mac) = token["qr_".len()..].split_once('.').expect("two parts");
        let mut json: serde_json::Value =
            serde_json::from_slice(&B64.decode(body).expect("b64")).expect("json");
        json["performance_id"] = serde_json::json!(Uuid::now_v7());
        let altered = format!("qr_{}.{mac}", B64.encode(json.to_string()));
        assert_eq!(
            verify::<ReservationClaims>(&k, &altered, now),
            Err(TokenError::BadSignature {
                kind: "reservation token"
            })
        );
        // A qr_ token offered as a qp_ token, and the same body relabelled.
        assert!(matches!(
            verify::<PaymentClaims>(&k, &token, now),
            Err(TokenError::WrongKind { prefix: "qp_", .. })
        ));
        let relabelled = format!("qp_{}", &token[3..]);
        assert!(verify::<PaymentClaims>(&k, &relabelled, now).is_err());
        for junk in ["", "qr_", "qr_abc", "qr_!!.??", "qr_e30.AAAA"] {
            assert!(
                verify::<ReservationClaims>(&k, junk, now).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_rotated_key_still_verifies_old_tokens_until_they_expire() {
        let old = SecretString::from("old".to_owned());
        let new = SecretString::from("new".to_owned());
        let before = Keyring::new(&old, &[]);
        let after = Keyring::new(&new, &[old]);
        let now = Utc::now();
        let access = AccessClaims {
            sub: Uuid::now_v7(),
            iss: "ticketing".into(),
            iat: now.timestamp(),
            exp: (now + Duration::minutes(15)).timestamp(),
            role: None,
        };
        let jwt = issue_access(&before, &access);
        assert_eq!(
            verify_access(&after, &jwt, "ticketing", now),
            Ok(access.clone())
        );
        assert_ne!(before.current_id(), after.current_id());
        let fresh = issue_access(&after, &access);
        assert!(matches!(
            verify_access(&before, &fresh, "ticketing", now),
            Err(TokenError::UnknownKey { .. })
        ));
        assert!(verify_access(&after, &jwt, "someone-else", now).is_err());
        assert!(matches!(
            verify_access(&after, &jwt, "ticketing", now + Duration::minutes(16)),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn an_unsigned_jwt_is_refused() {
        let k = keys("k1");
        let head = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = B64.encode(
            serde_json::json!({"sub": Uuid::now_v7(), "iss": "ticketing", "iat": 0, "exp": i64::MAX})
                .to_string(),
        );
        let token = format!("{head}.{body}.");
        assert!(verify_access(&k, &token, "ticketing", Utc::now()).is_err());
    }

    #[test]
    fn the_keyring_never_prints_a_key() {
        let k = keys("super-secret-value");
        assert!(!format!("{k:?}").contains("super-secret-value"));
    }
}
