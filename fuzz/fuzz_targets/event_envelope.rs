//! The event envelope decoder reads every Kafka message a consumer gets.
//! On any bytes: no panic; an envelope that parses encodes and parses back
//! to itself; decoding its payload as any event type fails cleanly or
//! succeeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticketing_events::*;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_slice(data) else {
        return;
    };
    let bytes = envelope.to_vec().expect("an envelope that parsed encodes");
    let again = Envelope::from_slice(&bytes).expect("what we encode parses");
    assert_eq!(again, envelope);
    let _ = envelope.decode::<PaymentSucceeded>();
    let _ = envelope.decode::<PaymentFailed>();
    let _ = envelope.decode::<PaymentRefunded>();
    let _ = envelope.decode::<ReservationCreated>();
    let _ = envelope.decode::<ReservationConfirmed>();
    let _ = envelope.decode::<ReservationCancelled>();
    let _ = envelope.decode::<ReservationExpired>();
    let _ = envelope.decode::<SeatsReleased>();
    let _ = envelope.decode::<RefundRequested>();
});
