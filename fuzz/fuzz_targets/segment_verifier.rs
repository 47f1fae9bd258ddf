//! The segment verifier reads whatever a broker's disk holds. On any
//! bytes: no panic, the same report whether the input comes whole or split
//! (at a point the input chooses), and its byte accounting adds up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticketing_kafka_segments::Verifier;

fuzz_target!(|data: &[u8]| {
    // `verify` over a reader is this with 4 MiB reads; fed directly, a run
    // costs no buffer.
    let mut one = Verifier::new();
    one.feed(data);
    let whole = one.finish();
    let split = data.first().map_or(0, |b| usize::from(*b) * data.len() / 256);
    let mut pieces = Verifier::new();
    pieces.feed(&data[..split]);
    pieces.feed(&data[split..]);
    assert_eq!(pieces.finish(), whole, "split at {split}");
    assert_eq!(whole.bytes, data.len() as u64);
    assert_eq!(whole.valid_bytes + whole.invalid_tail_bytes, whole.bytes);
    if whole.is_clean() {
        assert_eq!(whole.invalid_tail_bytes, 0);
    }
});
