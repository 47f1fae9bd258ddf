//! The KRaft controller quorum as Kafka's DescribeQuorum (API key 55, the
//! request behind `kafka-metadata-quorum.sh describe --status`): the
//! leader, its epoch and high watermark, each voter's log end offset and
//! lag, and whether a majority of the voters is caught up. librdkafka has no
//! DescribeQuorum, so the request is framed here with the `kafka-protocol`
//! crate's message types (the protocol's own generated schemas) over one TCP
//! connection to a broker, which answers it for the active controller
//! (KIP-836, "Addition of Information in DescribeQuorumResponse about Voter
//! Lag"; KIP-595 for the quorum itself).

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    DescribeQuorumRequest, DescribeQuorumResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The metadata log's topic: the quorum replicates its one partition.
const METADATA_TOPIC: &str = "__cluster_metadata";
const API_KEY: i16 = 55;
/// v1 adds each replica's last fetch and last caught-up time (Kafka 3.3+).
const VERSION: i16 = 1;
/// A voter counts as caught up when it reached the leader's log end this
/// recently (the controller's default `controller.quorum.fetch.timeout.ms`
/// is 2 s; a voter silent for longer than this is not following).
pub const CAUGHT_UP_WITHIN_MS: i64 = 10_000;
/// The largest answer read (1 MiB).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("no broker at {address} answered within {timeout:?}: {reason}")]
    Unreachable {
        address: String,
        timeout: Duration,
        reason: String,
    },
    #[error("DescribeQuorum to {address} could not be encoded or decoded: {reason}")]
    Protocol { address: String, reason: String },
    #[error("the quorum answered error code {code}{}: no leader to describe it (a majority of the voters may be down)", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused { code: i16, message: Option<String> },
}

/// One replica of the metadata log, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replica {
    pub id: i32,
    pub log_end_offset: i64,
    /// The leader's high watermark minus this replica's log end offset.
    pub lag: i64,
    /// Milliseconds since this replica last reached the leader's log end
    /// (None when the leader has no record of it).
    pub caught_up_ms_ago: Option<i64>,
}

/// The quorum as the leader describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quorum {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<Replica>,
    pub observers: Vec<Replica>,
}

impl Quorum {
    /// Whether `voter` follows the leader: the leader itself, or one that
    /// reached its log end within [`CAUGHT_UP_WITHIN_MS`].
    pub fn in_sync(&self, voter: &Replica) -> bool {
        voter.id == self.leader_id
            || voter
                .caught_up_ms_ago
                .is_some_and(|ms| ms <= CAUGHT_UP_WITHIN_MS)
    }

    /// Voters following the leader, and whether they are a majority of all
    /// voters (KRaft commits only with a majority: without one, no metadata
    /// change, topic or leader election, goes through).
    pub fn majority(&self) -> (usize, bool) {
        let following = self.voters.iter().filter(|v| self.in_sync(v)).count();
        (following, following * 2 > self.voters.len())
    }
}

fn replicas(
    states: &[kafka_protocol::messages::describe_quorum_response::ReplicaState],
    high_watermark: i64,
    now_ms: i64,
) -> Vec<Replica> {
    states
        .iter()
        .map(|r| Replica {
            id: r.replica_id.0,
            log_end_offset: r.log_end_offset,
            lag: (high_watermark - r.log_end_offset).max(0),
            caught_up_ms_ago: (r.last_caught_up_timestamp >= 0)
                .then(|| (now_ms - r.last_caught_up_timestamp).max(0)),
        })
        .collect()
}

/// The request's bytes, length prefix included: pure.
pub fn encode_request(correlation_id: i32) -> Result<BytesMut, String> {
    let header = RequestHeader::default()
        .with_request_api_key(API_KEY)
        .with_request_api_version(VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("opsctl")));
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let mut body = BytesMut::new();
    header
        .encode(&mut body, DescribeQuorumRequest::header_version(VERSION))
        .map_err(|e| e.to_string())?;
    request
        .encode(&mut body, VERSION)
        .map_err(|e| e.to_string())?;
    let mut framed = BytesMut::with_capacity(body.len() + 4);
    framed.put_i32(i32::try_from(body.len()).map_err(|e| e.to_string())?);
    framed.extend_from_slice(&body);
    Ok(framed)
}

/// A response's bytes (after the length prefix) as the quorum: pure.
pub fn decode_response(mut body: &[u8], now_ms: i64) -> Result<Quorum, QuorumError> {
    let protocol = |e: anyhow::Error| QuorumError::Protocol {
        address: String::new(),
        reason: e.to_string(),
    };
    let _header =
        ResponseHeader::decode(&mut body, DescribeQuorumResponse::header_version(VERSION))
            .map_err(protocol)?;
    let response = DescribeQuorumResponse::decode(&mut body, VERSION).map_err(protocol)?;
    let refused = |code: i16, message: Option<&StrBytes>| QuorumError::Refused {
        code,
        message: message.map(|m| m.as_str().to_owned()),
    };
    if response.error_code != 0 {
        return Err(refused(
            response.error_code,
            response.error_message.as_ref(),
        ));
    }
    let partition = response
        .topics
        .iter()
        .find(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| refused(-1, None))?;
    if partition.error_code != 0 {
        return Err(refused(
            partition.error_code,
            partition.error_message.as_ref(),
        ));
    }
    let hw = partition.high_watermark;
    Ok(Quorum {
        leader_id: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        high_watermark: hw,
        voters: replicas(&partition.current_voters, hw, now_ms),
        observers: replicas(&partition.observers, hw, now_ms),
    })
}

async fn exchange(address: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = encode_request(1).map_err(std::io::Error::other)?;
    stream.write_all(&request).await?;
    let size = stream.read_i32().await?;
    let size = usize::try_from(size).map_err(std::io::Error::other)?;
    // A quorum's description is a few hundred bytes: a larger length is not
    // a DescribeQuorum answer (something else on that port).
    if size > MAX_RESPONSE_BYTES {
        return Err(std::io::Error::other(format!(
            "a {size}-byte answer is not a DescribeQuorum response"
        )));
    }
    let mut body = vec![0; size];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Asks the first broker of `bootstrap` that answers to describe the
/// quorum.
pub async fn describe_quorum(bootstrap: &str, timeout: Duration) -> Result<Quorum, QuorumError> {
    let mut last = None;
    for address in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match tokio::time::timeout(timeout, exchange(address)).await {
            Ok(Ok(body)) => {
                let now = chrono::Utc::now().timestamp_millis();
                return decode_response(&body, now).map_err(|e| match e {
                    QuorumError::Protocol { reason, .. } => QuorumError::Protocol {
                        address: address.to_owned(),
                        reason,
                    },
                    other => other,
                });
            }
            Ok(Err(e)) => last = Some((address.to_owned(), e.to_string())),
            Err(_) => last = Some((address.to_owned(), "timed out".to_owned())),
        }
    }
    let (address, reason) = last.unwrap_or_else(|| (bootstrap.to_owned(), "no address".into()));
    Err(QuorumError::Unreachable {
        address,
        timeout,
        reason,
    })
}

/// Skips a length prefix (for tests that frame a response themselves).
pub fn without_length_prefix(mut framed: &[u8]) -> &[u8] {
    if framed.len() >= 4 {
        framed.advance(4);
    }
    framed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(id: i32, leo: i64, ago: Option<i64>) -> Replica {
        Replica {
            id,
            log_end_offset: leo,
            lag: 0,
            caught_up_ms_ago: ago,
        }
    }

    #[test]
    fn a_majority_is_more_than_half_of_the_voters_following_the_leader() {
        let quorum = |voters| Quorum {
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 10,
            voters,
            observers: vec![],
        };
        assert_eq!(quorum(vec![voter(1, 10, None)]).majority(), (1, true));
        let three = quorum(vec![
            voter(1, 10, Some(0)),
            voter(2, 10, Some(500)),
            voter(3, 4, Some(60_000)),
        ]);
        assert_eq!(three.majority(), (2, true));
        let lost = quorum(vec![
            voter(1, 10, Some(0)),
            voter(2, 3, Some(60_000)),
            voter(3, 4, None),
        ]);
        assert_eq!(lost.majority(), (1, false));
    }

    #[test]
    fn the_request_frames_describe_quorum_for_the_metadata_log() {
        let framed = encode_request(7).expect("encodes");
        let body = without_length_prefix(&framed);
        assert_eq!(
            usize::try_from(i32::from_be_bytes([
                framed[0], framed[1], framed[2], framed[3]
            ]))
            .ok(),
            Some(body.len())
        );
        let mut buf = body;
        let header = RequestHeader::decode(&mut buf, 2).expect("header");
        assert_eq!(
            (
                header.request_api_key,
                header.request_api_version,
                header.correlation_id
            ),
            (55, 1, 7)
        );
        let request = DescribeQuorumRequest::decode(&mut buf, 1).expect("body");
        assert_eq!(request.topics[0].topic_name.0.as_str(), METADATA_TOPIC);
    }

    #[test]
    fn a_refusal_says_there_is_no_leader() {
        use kafka_protocol::messages::describe_quorum_response as r;
        let response = DescribeQuorumResponse::default().with_topics(vec![r::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![r::PartitionData::default().with_error_code(6)])]);
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(1)
            .encode(&mut body, DescribeQuorumResponse::header_version(VERSION))
            .expect("header");
        response.encode(&mut body, VERSION).expect("body");
        let err = decode_response(&body, 0).expect_err("refused");
        assert!(matches!(err, QuorumError::Refused { code: 6, .. }), "{err}");
        assert!(err.to_string().contains("no leader"), "{err}");
    }
}
