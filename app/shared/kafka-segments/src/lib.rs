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

/// Bytes of a batch the checks read: the overhead and the fixed header.
const HEAD: usize = LOG_OVERHEAD + MIN_BATCH_LENGTH;
/// Read size: large enough that a read costs little next to its CRC.
const CHUNK: usize = 4 << 20;

/// Verifies the segment file at `path`. One thread reads the next chunk
/// while this one checks the last (two buffers), so reading and CRC-32C
/// overlap on two cores; no batch is copied: the CRC runs over the read
/// buffer in place, a batch split between two reads is summed in two parts.
pub fn verify_file(path: &std::path::Path) -> std::io::Result<FileReport> {
    let mut file = std::fs::File::open(path)?;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    for _ in 0..2 {
        // Cannot fail: the receiver is alive and the channel has room.
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    let report = std::thread::scope(|scope| -> std::io::Result<Report> {
        scope.spawn(move || {
            // Ends when the file ends, a read fails, or the checker is gone.
            while let Ok(mut buf) = empty_rx.recv() {
                buf.resize(CHUNK, 0);
                let read = read_full(&mut file, &mut buf).map(|n| {
                    buf.truncate(n);
                    buf
                });
                let last = matches!(&read, Ok(b) if b.is_empty()) || read.is_err();
                if full_tx.send(read).is_err() || last {
                    break;
                }
            }
        });
        let mut verifier = Verifier::new();
        while let Ok(chunk) = full_rx.recv() {
            let chunk = chunk?;
            if chunk.is_empty() {
                break;
            }
            verifier.feed(&chunk);
            if empty_tx.send(chunk).is_err() {
                break;
            }
        }
        Ok(verifier.finish())
    })?;
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

/// Verifies a segment read from `reader`, in 4 MiB reads (any reader: a
/// file, a pipe, a slice).
pub fn verify(mut reader: impl Read) -> std::io::Result<Report> {
    let mut verifier = Verifier::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        verifier.feed(&buf[..n]);
    }
    Ok(verifier.finish())
}

/// The verifier as a state machine over the bytes in order, fed in pieces
/// of any size: the result does not depend on where the input is split.
/// Only a batch's first [`HEAD`] bytes are copied (to read its header when
/// it spans two pieces); the CRC runs over the pieces themselves.
#[derive(Debug)]
pub struct Verifier {
    report: Report,
    /// Bytes fed so far.
    total: u64,
    /// Where the current batch starts.
    position: u64,
    head: [u8; HEAD],
    /// Bytes of the current batch seen so far.
    have: usize,
    /// The current batch's `batchLength`, once its header is in.
    length: usize,
    /// The running CRC-32C of the current batch from `attributes` on.
    crc: u32,
    /// A malformed batch was met: the rest is only counted.
    stopped: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            report: Report {
                bytes: 0,
                batches: 0,
                records: 0,
                first_offset: None,
                last_offset: None,
                valid_bytes: 0,
                invalid_tail_bytes: 0,
                problems: Vec::new(),
            },
            total: 0,
            position: 0,
            head: [0u8; HEAD],
            have: 0,
            length: 0,
            crc: 0,
            stopped: false,
        }
    }

    fn malformed(&mut self, detail: String) {
        self.report.problems.push(Problem {
            position: self.position,
            kind: ProblemKind::Malformed,
            detail,
        });
        self.stopped = true;
    }

    /// Checks the next bytes of the segment.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() && !self.stopped {
            if self.have < HEAD {
                let want = if self.have < LOG_OVERHEAD {
                    LOG_OVERHEAD
                } else {
                    HEAD
                };
                let take = (want - self.have).min(data.len());
                self.head[self.have..self.have + take].copy_from_slice(&data[..take]);
                self.have += take;
                data = &data[take..];
                if self.have == LOG_OVERHEAD && want == LOG_OVERHEAD {
                    let length = be_i32(&self.head[8..]);
                    if length < 0
                        || (length as usize) < MIN_BATCH_LENGTH
                        || length as usize > MAX_BATCH_LENGTH
                    {
                        let detail = if self.report.batches == 0 {
                            format!("batch length {length} is impossible: not a Kafka log segment (record batch v2)")
                        } else {
                            format!("batch length {length} is impossible; the rest of the file cannot be read")
                        };
                        self.malformed(detail);
                        return;
                    }
                    self.length = length as usize;
                }
                if self.have < HEAD {
                    continue;
                }
                self.crc = crc32c::crc32c(&self.head[LOG_OVERHEAD + CRC_START..]);
            }
            let end = LOG_OVERHEAD + self.length;
            let take = (end - self.have).min(data.len());
            self.crc = crc32c::crc32c_append(self.crc, &data[..take]);
            self.have += take;
            data = &data[take..];
            if self.have == end {
                self.batch_done();
            }
        }
    }

    /// The current batch is whole: its checks, then the next one.
    fn batch_done(&mut self) {
        let body = &self.head[LOG_OVERHEAD..];
        let magic = body[4] as i8;
        if magic != 2 {
            self.malformed(format!(
                "magic byte {magic}: only record batch v2 (magic 2) is supported"
            ));
            return;
        }
        let stored = be_u32(&body[5..]);
        let last_delta = be_i32(&body[11..]);
        let count = be_i32(&body[45..]);
        let base_offset = be_i64(&self.head[..8]);
        if stored != self.crc {
            self.report.problems.push(Problem {
                position: self.position,
                kind: ProblemKind::Crc,
                detail: format!("CRC-32C stored {stored:#010x}, computed {:#010x}", self.crc),
            });
        }
        if last_delta < 0 || count < 0 {
            self.malformed(format!(
                "last offset delta {last_delta} / record count {count} are impossible"
            ));
            return;
        }
        let report = &mut self.report;
        if let Some(last) = report.last_offset {
            if base_offset <= last {
                report.problems.push(Problem {
                    position: self.position,
                    kind: ProblemKind::OffsetOrder,
                    detail: format!("base offset {base_offset} is not after the previous batch's last offset {last}"),
                });
            }
        }
        report.first_offset.get_or_insert(base_offset);
        report.last_offset = Some(base_offset.saturating_add(i64::from(last_delta)));
        report.batches += 1;
        report.records += count as u64;
        self.position += (LOG_OVERHEAD + self.length) as u64;
        report.valid_bytes = self.position;
        self.have = 0;
        self.length = 0;
    }

    /// The report, once the input has ended.
    pub fn finish(mut self) -> Report {
        if !self.stopped && self.have > 0 {
            let detail = if self.have < LOG_OVERHEAD {
                format!(
                    "{} byte(s) at the end are not a whole batch header",
                    self.have
                )
            } else {
                format!(
                    "the last batch is cut short: {} of {} byte(s)",
                    self.have,
                    LOG_OVERHEAD + self.length
                )
            };
            self.report.problems.push(Problem {
                position: self.position,
                kind: ProblemKind::TornTail,
                detail,
            });
        }
        self.report.bytes = self.total;
        self.report.invalid_tail_bytes = self.total - self.report.valid_bytes;
        self.report
    }
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

    /// One-shot and piecewise feeding give the same report, wherever the
    /// input is split: clean, corrupt, torn at every length, malformed.
    #[test]
    fn the_report_does_not_depend_on_where_the_input_is_split() {
        let mut clean = empty_batch(0);
        clean.extend(empty_batch(1));
        clean.extend(empty_batch(2));
        let mut corrupt = clean.clone();
        corrupt[70] ^= 0x10;
        let mut bad_magic = clean.clone();
        bad_magic[61 + 16] = 1;
        let mut inputs = vec![clean.clone(), corrupt, bad_magic];
        for cut in 1..clean.len() {
            inputs.push(clean[..cut].to_vec());
        }
        for input in &inputs {
            let whole = {
                let mut v = Verifier::new();
                v.feed(input);
                v.finish()
            };
            assert_eq!(whole, verify(&input[..]).expect("verify"));
            for split in 0..=input.len() {
                let mut v = Verifier::new();
                v.feed(&input[..split]);
                v.feed(&input[split..]);
                assert_eq!(v.finish(), whole, "split at {split} of {}", input.len());
            }
            // Byte by byte.
            let mut v = Verifier::new();
            for b in input.chunks(1) {
                v.feed(b);
            }
            assert_eq!(v.finish(), whole);
        }
    }

    #[test]
    fn a_torn_tail_is_counted_and_the_whole_batches_before_it_are_valid() {
        let mut seg = empty_batch(0);
        let whole = seg.len() as u64;
        seg.extend(&empty_batch(1)[..30]);
        let r = verify(&seg[..]).expect("verify");
        assert_eq!(r.batches, 1);
        assert_eq!(r.valid_bytes, whole);
        assert_eq!(r.invalid_tail_bytes, 30);
        assert_eq!(r.problems[0].kind, ProblemKind::TornTail);
        assert!(
            r.problems[0].detail.contains("30 of 61"),
            "{}",
            r.problems[0].detail
        );
        let r = verify(&seg[..whole as usize + 5]).expect("verify");
        assert!(
            r.problems[0].detail.contains("5 byte(s)"),
            "{}",
            r.problems[0].detail
        );
    }
}
