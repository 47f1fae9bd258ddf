//! `verify-segments` throughput next to a plain read of the same file in the
//! same run.
//!
//! ```text
//! cargo bench -p ticketing-kafka-segments --bench verify_segments            # 1 GiB
//! BENCH_SEGMENT_MB=4096 cargo bench -p ticketing-kafka-segments --bench verify_segments
//! ```
//!
//! The file is written first (valid record batch v2, ~1 MiB batches from the
//! `kafka-protocol` encoder, base offsets patched per copy), so both passes
//! read it from the page cache: the ratio compares the verifier's CPU cost
//! (CRC-32C of every byte, header checks) with the cheapest possible read.
//! Three passes, best of three runs each: a plain read in 1 MiB reads (the
//! baseline), `verify` on one thread (read, then check), and `verify_file`
//! (what `ticketing verify-segments` runs: reads overlap the checks).

use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn one_batch(records: i64) -> anyhow::Result<Vec<u8>> {
    let records: Vec<Record> = (0..records)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: i as i32,
            timestamp: 1_795_000_000_000 + i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'v'; 1000])),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )?;
    Ok(buf.to_vec())
}

fn main() -> anyhow::Result<()> {
    let megabytes: u64 = std::env::var("BENCH_SEGMENT_MB")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(1024);
    let per_batch = 1000_i64;
    let mut batch = one_batch(per_batch)?;
    let path = std::env::temp_dir().join(format!("bench-segment-{}.log", std::process::id()));
    let target = megabytes * 1024 * 1024;
    let mut written = 0u64;
    let mut base = 0i64;
    {
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        while written < target {
            // The base offset is outside the CRC: patch it per copy.
            batch[..8].copy_from_slice(&base.to_be_bytes());
            out.write_all(&batch)?;
            written += batch.len() as u64;
            base += per_batch;
        }
        out.flush()?;
    }
    let mb = written as f64 / (1024.0 * 1024.0);

    let best = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            f()?;
            best = best.min(started.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let plain = best(&mut || {
        let mut file = std::fs::File::open(&path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut read = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            read += n as u64;
        }
        anyhow::ensure!(read == written, "read {read} of {written} bytes");
        Ok(())
    })?;
    let mut report = None;
    let one_thread = best(&mut || {
        let r = ticketing_kafka_segments::verify(std::fs::File::open(&path)?)?;
        report = Some(r);
        Ok(())
    })?;
    let file = best(&mut || {
        let r = ticketing_kafka_segments::verify_file(&path)?;
        anyhow::ensure!(
            r.report.is_clean(),
            "not clean: {:?}",
            r.report.problems.first()
        );
        Ok(())
    })?;
    let report = report.ok_or_else(|| anyhow::anyhow!("no report"))?;
    anyhow::ensure!(
        report.is_clean(),
        "the generated segment is not clean: {:?}",
        report.problems.first()
    );

    println!(
        "segment {mb:.0} MiB, {} batches, {} records",
        report.batches, report.records
    );
    println!("plain read                 {:>8.0} MiB/s", mb / plain);
    println!(
        "verify (one thread)        {:>8.0} MiB/s  ratio {:.2}",
        mb / one_thread,
        plain / one_thread
    );
    println!(
        "verify_file (read-ahead)   {:>8.0} MiB/s  ratio {:.2}  (verify-segments)",
        mb / file,
        plain / file
    );
    let _ = std::fs::remove_file(&path);
    Ok(())
}
