//! Verifies Kafka log segment files (`*.log`, record batch format v2) by
//! streaming them: each batch's CRC-32C (the bytes from `attributes` to the
//! end of the batch), offsets that only increase, sane sizes, and a torn tail
//! (a partial batch at the end, as a crash mid-write leaves) reported as
//! invalid bytes at the end.
//!
//! Batch layout (big endian): baseOffset i64, batchLength i32 (bytes after
//! this field), partitionLeaderEpoch i32, magic i8 (= 2), crc u32,
//! attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64,
//! producerId i64, producerEpoch i16, baseSequence i32, records count i32,
//! records.

use std::io::{ErrorKind, Read};

use serde::{Deserialize, Serialize};

/// Bytes before `batchLength` counts: baseOffset and batchLength.
const LOG_OVERHEAD: usize = 12;
/// Smallest `batchLength` of a v2 batch (its fixed header after the length).
const MIN_BATCH_LENGTH: usize = 49;
/// Offset of `attributes` within the bytes after `batchLength`.
const CRC_START: usize = 9;
/// Larger batches are taken for garbage (Kafka's own limit is far lower).
pub const MAX_BATCH_LENGTH: usize = 256 * 1024 * 1024;

/// One thing wrong with a segment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Problem {
    /// Byte position of the batch in the file.
    pub position: u64,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The stored CRC does not match the batch's bytes.
    Crc,
    /// A base offset at or below the previous batch's last offset.
    OffsetOrder,
    /// A length, magic byte or count no v2 batch can have; scanning stops,
    /// as the next batch's position is unknown.
    Malformed,
    /// Bytes at the end that do not form a whole batch.
    TornTail,
}

/// What verifying one segment found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub bytes: u64,
    pub batches: u64,
    pub records: u64,
    pub first_offset: Option<i64>,
    pub last_offset: Option<i64>,
    /// Bytes up to the end of the last whole batch.
    pub valid_bytes: u64,
    /// Bytes after that (a torn tail or what follows a malformed batch).
    pub invalid_tail_bytes: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One file's report, as `ticketing verify-segments --json` prints it and
/// `opsctl kafka verify-segments` (locally or `--on-broker`) reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileReport {
    pub path: String,
    #[serde(flatten)]
    pub report: Report,
}

/// Verifies the segment file at `path`, read in 1 MiB chunks.
pub fn verify_file(path: &std::path::Path) -> std::io::Result<FileReport> {
    let file = std::fs::File::open(path)?;
    let report = verify(std::io::BufReader::with_capacity(1 << 20, file))?;
    Ok(FileReport {
        path: path.display().to_string(),
        report,
    })
}

/// Reads until `buf` is full or the input ends; returns how many bytes came.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_be_bytes(a)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// Verifies a segment read from `reader` (wrap files in a `BufReader` or
/// read them in large chunks; this reads header and batch per call).
pub fn verify(mut reader: impl Read) -> std::io::Result<Report> {
    let mut report = Report {
        bytes: 0,
        batches: 0,
        records: 0,
        first_offset: None,
        last_offset: None,
        valid_bytes: 0,
        invalid_tail_bytes: 0,
        problems: Vec::new(),
    };
    let mut header = [0u8; LOG_OVERHEAD];
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut position: u64 = 0;
    loop {
        let got = read_full(&mut reader, &mut header)?;
        if got == 0 {
            break;
        }
        if got < LOG_OVERHEAD {
            report.bytes = position + got as u64;
            report.problems.push(Problem {
                position,
                kind: ProblemKind::TornTail,
                detail: format!("{got} byte(s) at the end are not a whole batch header"),
            });
            break;
        }
        let base_offset = be_i64(&header[..8]);
        let length = be_i32(&header[8..]);
        if length < 0 || (length as usize) < MIN_BATCH_LENGTH || length as usize > MAX_BATCH_LENGTH
        {
            let rest = drain(&mut reader)?;
            report.bytes = position + LOG_OVERHEAD as u64 + rest;
            report.problems.push(Problem {
                position,
                kind: ProblemKind::Malformed,
                detail: if report.batches == 0 {
                    format!("batch length {length} is impossible: not a Kafka log segment (record batch v2)")
                } else {
                    format!("batch length {length} is impossible; the rest of the file cannot be read")
                },
            });
            break;
        }
        let length = length as usize;
        batch.resize(length, 0);
        let got = read_full(&mut reader, &mut batch)?;
        if got < length {
            report.bytes = position + (LOG_OVERHEAD + got) as u64;
            report.problems.push(Problem {
                position,
                kind: ProblemKind::TornTail,
                detail: format!(
                    "the last batch is cut short: {} of {} byte(s)",
                    LOG_OVERHEAD + got,
                    LOG_OVERHEAD + length
                ),
            });
            break;
        }
        let magic = batch[4] as i8;
        if magic != 2 {
            let rest = drain(&mut reader)?;
            report.bytes = position + (LOG_OVERHEAD + length) as u64 + rest;
            report.problems.push(Problem {
                position,
                kind: ProblemKind::Malformed,
                detail: format!("magic byte {magic}: only record batch v2 (magic 2) is supported"),
            });
            break;
        }
        let stored = be_u32(&batch[5..]);
        let computed = crc32c::crc32c(&batch[CRC_START..]);
        if stored != computed {
            report.problems.push(Problem {
                position,
                kind: ProblemKind::Crc,
                detail: format!("CRC-32C stored {stored:#010x}, computed {computed:#010x}"),
            });
        }
        let last_delta = be_i32(&batch[11..]);
        let count = be_i32(&batch[45..]);
        if last_delta < 0 || count < 0 {
            let rest = drain(&mut reader)?;
            report.bytes = position + (LOG_OVERHEAD + length) as u64 + rest;
            report.problems.push(Problem {
                position,
                kind: ProblemKind::Malformed,
                detail: format!(
                    "last offset delta {last_delta} / record count {count} are impossible"
                ),
            });
            break;
        }
        if let Some(last) = report.last_offset {
            if base_offset <= last {
                report.problems.push(Problem {
                    position,
                    kind: ProblemKind::OffsetOrder,
                    detail: format!("base offset {base_offset} is not after the previous batch's last offset {last}"),
                });
            }
        }
        report.first_offset.get_or_insert(base_offset);
        report.last_offset = Some(base_offset + i64::from(last_delta));
        report.batches += 1;
        report.records += count as u64;
        position += (LOG_OVERHEAD + length) as u64;
        report.valid_bytes = position;
        report.bytes = position;
    }
    report.invalid_tail_bytes = report.bytes - report.valid_bytes;
    Ok(report)
}

/// Reads the rest of the input; returns how many bytes there were.
fn drain(reader: &mut impl Read) -> std::io::Result<u64> {
    std::io::copy(reader, &mut std::io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid v2 batch without records, built by hand (the
    /// integration tests use a real encoder).
    fn empty_batch(base_offset: i64) -> Vec<u8> {
        let mut after_crc = Vec::new();
        after_crc.extend_from_slice(&0i16.to_be_bytes()); // attributes
        after_crc.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        after_crc.extend_from_slice(&0i64.to_be_bytes()); // base timestamp
        after_crc.extend_from_slice(&0i64.to_be_bytes()); // max timestamp
        after_crc.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        after_crc.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        after_crc.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        after_crc.extend_from_slice(&0i32.to_be_bytes()); // record count
        let crc = crc32c::crc32c(&after_crc);
        let mut body = Vec::new();
        body.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
        body.push(2); // magic
        body.extend_from_slice(&crc.to_be_bytes());
        body.extend_from_slice(&after_crc);
        let mut out = Vec::new();
        out.extend_from_slice(&base_offset.to_be_bytes());
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn an_empty_input_is_a_clean_empty_segment() {
        let r = verify(&[][..]).expect("verify");
        assert!(r.is_clean());
        assert_eq!(r.batches, 0);
    }

    #[test]
    fn hand_built_batches_verify_and_a_flipped_bit_does_not() {
        let mut seg = empty_batch(0);
        seg.extend(empty_batch(1));
        assert!(verify(&seg[..]).expect("verify").is_clean());
        let last = seg.len() - 1;
        seg[last] ^= 1;
        let r = verify(&seg[..]).expect("verify");
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].kind, ProblemKind::Crc);
        assert_eq!(r.problems[0].position, 61);
    }

    #[test]
    fn text_is_not_a_segment() {
        let r = verify(&b"hello, this is certainly not a kafka segment file"[..]).expect("verify");
        assert_eq!(r.problems[0].kind, ProblemKind::Malformed);
        assert!(r.problems[0].detail.contains("not a Kafka log segment"));
    }
}
