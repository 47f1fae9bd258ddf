//! The token parsers read what any client sends (queue reservation tokens
//! `qr_`, payment tokens `qp_`, access JWTs). On any text: no panic, and
//! nothing verifies that this key did not sign. A token this key issued
//! verifies, and with one character changed it either fails or (base64's
//! own slack) still carries the very same claims.
#![no_main]

use chrono::{DateTime, Duration};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use ticketing_tokens::*;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let keys = Keyring::new(&SecretString::from("fuzz-signing-key-0123456789abcdef"), &[]);
    let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a valid instant");
    let text = String::from_utf8_lossy(data);
    assert!(verify::<ReservationClaims>(&keys, &text, now).is_err());
    assert!(verify::<PaymentClaims>(&keys, &text, now).is_err());
    assert!(verify_access(&keys, &text, "ticketing", now).is_err());

    let mut ids = [0u8; 32];
    for (i, b) in data.iter().take(32).enumerate() {
        ids[i] = *b;
    }
    let (a, b) = ids.split_at(16);
    let user = Uuid::from_slice(a).expect("16 bytes");
    let performance = Uuid::from_slice(b).expect("16 bytes");
    let claims = ReservationClaims::new(user, performance, now, Duration::minutes(10));
    let token = issue(&keys, &claims);
    assert_eq!(verify::<ReservationClaims>(&keys, &token, now).ok(), Some(claims.clone()));
    if token.is_empty() || data.len() < 34 {
        return;
    }
    let at = (usize::from(data[32]) * 256 + usize::from(data[33])) % token.len();
    let mut tampered = token.into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8_lossy(&tampered).into_owned();
    if let Ok(got) = verify::<ReservationClaims>(&keys, &tampered, now) {
        assert_eq!(got, claims, "a changed token verified with other claims");
    }
});
