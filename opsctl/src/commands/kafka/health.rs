//! `opsctl kafka health`: broker reachability, topics and partitions, the
//! KRaft controller quorum (leader, voters, lag, majority: the brokers run
//! KRaft, no ZooKeeper), and ZooKeeper's four-letter words only when one is
//! configured.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use ticketing_catalog::topics;

use crate::context::Context;
use crate::error::{OpsError, EXIT_PROBLEM};
use crate::ops::kafka::unreachable;
use crate::output;

#[derive(Serialize)]
struct Health {
    bootstrap: String,
    latency_ms: f64,
    brokers: Vec<String>,
    topics: Vec<TopicHealth>,
    quorum: QuorumHealth,
    zookeeper: Option<ZooKeeperHealth>,
    healthy: bool,
}

/// The controller quorum as its leader describes it (DescribeQuorum).
#[derive(Serialize)]
struct QuorumHealth {
    #[serde(flatten)]
    described: Option<ticketing_kafka::quorum::Quorum>,
    /// Voters following the leader (the leader, and those caught up within
    /// the last ten seconds).
    following: usize,
    /// Whether they are a majority: without one, no metadata change
    /// commits (no topic change, no partition leader election).
    majority: bool,
    error: Option<String>,
}

async fn quorum_health(bootstrap: &str) -> QuorumHealth {
    match ticketing_kafka::quorum::describe_quorum(bootstrap, Duration::from_secs(5)).await {
        Ok(q) => {
            let (following, majority) = q.majority();
            QuorumHealth {
                described: Some(q),
                following,
                majority,
                error: None,
            }
        }
        Err(e) => QuorumHealth {
            described: None,
            following: 0,
            majority: false,
            error: Some(e.to_string()),
        },
    }
}

fn render_quorum(q: &QuorumHealth) -> String {
    let Some(d) = &q.described else {
        return format!(
            "controller quorum: NO ANSWER: {}\n",
            q.error.as_deref().unwrap_or("unknown")
        );
    };
    let mut out = format!(
        "controller quorum: leader {} (epoch {}), high watermark {}, {} of {} voter(s) following: {}\n",
        d.leader_id,
        d.leader_epoch,
        d.high_watermark,
        q.following,
        d.voters.len(),
        if q.majority { "majority" } else { "NO MAJORITY (metadata changes cannot commit)" }
    );
    let rows: Vec<Vec<String>> = d
        .voters
        .iter()
        .map(|v| ("voter", v))
        .chain(d.observers.iter().map(|o| ("observer", o)))
        .map(|(role, r)| {
            vec![
                r.id.to_string(),
                if r.id == d.leader_id {
                    "leader".to_owned()
                } else {
                    role.to_owned()
                },
                r.log_end_offset.to_string(),
                r.lag.to_string(),
                r.caught_up_ms_ago
                    .map_or("-".to_owned(), |ms| format!("{:.1} s ago", ms as f64 / 1e3)),
                if role == "voter" && !d.in_sync(r) {
                    "NOT FOLLOWING".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    out.push_str(&output::table(
        &["NODE", "ROLE", "LOG END", "LAG", "CAUGHT UP", ""],
        &rows,
    ));
    out
}

#[derive(Serialize)]
struct ZooKeeperHealth {
    address: String,
    /// `ruok` answered `imok`.
    ok: bool,
    mode: Option<String>,
    version: Option<String>,
    latency_ms: f64,
    error: Option<String>,
}

/// One ZooKeeper four-letter word over a fresh connection.
async fn four_letter_word(address: &str, word: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.write_all(word.as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    Ok(answer)
}

async fn zookeeper_health(address: &str) -> ZooKeeperHealth {
    let started = Instant::now();
    let ruok = four_letter_word(address, "ruok").await;
    let stat = four_letter_word(address, "stat").await;
    let line = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
    };
    let (ok, error) = match &ruok {
        Ok(a) if a.trim() == "imok" => (true, None),
        Ok(a) => (false, Some(format!("ruok answered `{}`", a.trim()))),
        Err(e) => (false, Some(format!("ruok: {e}"))),
    };
    let stat = stat.unwrap_or_default();
    ZooKeeperHealth {
        address: address.to_owned(),
        ok,
        mode: line(&stat, "Mode:"),
        version: line(&stat, "Zookeeper version:"),
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
        error,
    }
}

#[derive(Serialize)]
struct TopicHealth {
    topic: String,
    present: bool,
    partitions: usize,
    /// Replicas per partition (the most any partition has).
    replicas: usize,
    /// Partitions whose in-sync replicas are fewer than their replicas.
    under_replicated: usize,
    /// Partitions with no leader (nobody serves them).
    leaderless: usize,
    error: Option<String>,
}

/// Replicas, under-replicated and leaderless partitions of `topic`.
async fn replication(ctx: &Context, topic: &mut TopicHealth) {
    if !topic.present {
        return;
    }
    match ticketing_kafka::partition_leaders(&ctx.settings.kafka, &topic.topic).await {
        Ok((_, partitions)) => {
            topic.replicas = partitions
                .iter()
                .map(|p| p.replicas.len())
                .max()
                .unwrap_or(0);
            topic.under_replicated = partitions
                .iter()
                .filter(|p| p.in_sync.len() < p.replicas.len())
                .count();
            topic.leaderless = partitions.iter().filter(|p| p.leader < 0).count();
        }
        Err(e) => topic.error = Some(format!("replicas not read: {e}")),
    }
}

/// A topic of the catalog as the cluster's metadata lists it.
fn topic_health(info: &ticketing_kafka::ClusterInfo, name: String) -> TopicHealth {
    let found = info.topics.iter().find(|t| t.name == name);
    TopicHealth {
        present: found.is_some_and(|t| t.error.is_none()),
        partitions: found.map_or(0, |t| t.partitions),
        replicas: 0,
        under_replicated: 0,
        leaderless: 0,
        error: match found {
            Some(t) => t.error.clone(),
            None => Some("missing".into()),
        },
        topic: name,
    }
}

pub async fn health(ctx: &Context) -> Result<ExitCode, OpsError> {
    let kafka = &ctx.settings.kafka;
    let info = ticketing_kafka::cluster_info(kafka)
        .await
        .map_err(|e| unreachable(ctx, e))?;
    let mut topics: Vec<TopicHealth> = topics::ALL
        .iter()
        .map(|logical| topic_health(&info, kafka.topic(logical)))
        .collect();
    for topic in &mut topics {
        replication(ctx, topic).await;
    }
    let quorum = quorum_health(&kafka.bootstrap_servers).await;
    let zookeeper = match &kafka.zookeeper {
        Some(address) => Some(zookeeper_health(address).await),
        None => None,
    };
    let healthy = topics
        .iter()
        .all(|t| t.present && t.partitions > 0 && t.under_replicated == 0 && t.leaderless == 0)
        && quorum.majority
        && zookeeper.as_ref().is_none_or(|z| z.ok);
    let report = Health {
        bootstrap: kafka.bootstrap_servers.clone(),
        latency_ms: info.latency.as_secs_f64() * 1e3,
        brokers: info
            .brokers
            .iter()
            .map(|b| format!("{}@{}:{}", b.id, b.host, b.port))
            .collect(),
        healthy,
        topics,
        quorum,
        zookeeper,
    };
    output::emit(ctx.output, &report, || render(&report));
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEM)
    })
}

fn render(report: &Health) -> String {
    let mut out = format!(
        "broker(s) {} answered metadata in {:.1} ms\n",
        report.brokers.join(", "),
        report.latency_ms
    );
    let rows: Vec<Vec<String>> = report
        .topics
        .iter()
        .map(|t| {
            vec![
                t.topic.clone(),
                match (t.present, t.leaderless, t.under_replicated) {
                    (false, _, _) => "MISSING".into(),
                    (true, 0, 0) => "ok".into(),
                    (true, 0, n) => format!("{n} UNDER-REPLICATED"),
                    (true, n, _) => format!("{n} WITHOUT LEADER"),
                },
                t.partitions.to_string(),
                t.replicas.to_string(),
                if t.present && t.under_replicated == 0 {
                    "all".into()
                } else {
                    format!(
                        "{} of {}",
                        t.partitions - t.under_replicated.min(t.partitions),
                        t.partitions
                    )
                },
                t.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&output::table(
        &[
            "TOPIC",
            "STATE",
            "PARTITIONS",
            "REPLICAS",
            "IN SYNC",
            "ERROR",
        ],
        &rows,
    ));
    out.push_str(&render_quorum(&report.quorum));
    out
}
