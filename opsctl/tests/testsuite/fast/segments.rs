//! `opsctl kafka verify-segments` on segment files written with a real
//! encoder (the `kafka-protocol` crate's record batch v2 encoder, as Kafka
//! clients and brokers write them), and on corrupted copies of them.

use crate::common;

use std::path::{Path, PathBuf};

use common::segment;

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
}

fn verify(paths: &[&Path]) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(["kafka", "verify-segments", "--output", "json"])
        .args(paths)
        .output()
        .expect("opsctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn clean_segments_pass_and_every_planted_corruption_is_found() {
    let dir = std::env::temp_dir().join(format!("segments-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (clean, starts) = segment(5, 20);

    let ok = write(&dir, "00000000000000000000.log", &clean);
    let empty = write(&dir, "empty.log", b"");
    let run = verify(&[&ok, &empty]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json[0]["batches"], 5);
    assert_eq!(run.json[0]["records"], 100);
    assert_eq!(run.json[0]["first_offset"], 0);
    assert_eq!(run.json[0]["last_offset"], 99);
    assert_eq!(run.json[0]["valid_bytes"], clean.len());
    assert_eq!(run.json[1]["batches"], 0);

    // A flipped bit inside the third batch's records.
    let mut flipped = clean.clone();
    flipped[starts[2] + 80] ^= 0x10;
    let flipped = write(&dir, "flipped.log", &flipped);
    // A torn tail: the last batch cut short.
    let torn = write(&dir, "torn.log", &clean[..clean.len() - 25]);
    // Batches out of order.
    let mut swapped = clean[..starts[1]].to_vec();
    swapped.extend_from_slice(&clean[starts[2]..starts[3]]);
    swapped.extend_from_slice(&clean[starts[1]..starts[2]]);
    let swapped = write(&dir, "swapped.log", &swapped);
    // Not a segment at all.
    let text = write(
        &dir,
        "notes.log",
        b"this file is a note, not a Kafka log segment at all",
    );

    let run = verify(&[&flipped, &torn, &swapped, &text]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let problem = |i: usize| run.json[i]["problems"][0].clone();
    assert_eq!(problem(0)["kind"], "crc");
    assert_eq!(problem(0)["position"], starts[2]);
    assert_eq!(run.json[0]["problems"].as_array().map(Vec::len), Some(1));
    assert_eq!(problem(1)["kind"], "torn_tail");
    assert_eq!(run.json[1]["valid_bytes"], starts[4]);
    assert_eq!(
        run.json[1]["invalid_tail_bytes"],
        clean.len() - 25 - starts[4]
    );
    assert_eq!(problem(2)["kind"], "offset_order");
    assert_eq!(problem(3)["kind"], "malformed");
    assert!(problem(3)["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("not a Kafka log segment"));

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_opsctl"))
        .args(["kafka", "verify-segments"])
        .arg(dir.join("nope.log"))
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot be read"));
    let _ = std::fs::remove_dir_all(&dir);
}
