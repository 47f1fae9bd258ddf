//! Who the client is, behind a known number of proxies that each append the
//! address they received the request from to `X-Forwarded-For` (the ALB
//! does: Elastic Load Balancing, "HTTP headers and Application Load
//! Balancers", X-Forwarded-For). With `trusted` such proxies in front, the
//! client's address is the `trusted`-th entry from the right; entries
//! further left are whatever the client sent and identify nothing. With no
//! trusted proxy (the local stack) the header is ignored and the peer is
//! the client. Set by `booking.trusted_proxies` (1 in dev and prod: the
//! ALB; the gateway forwards the header unchanged to the services).

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client's address, or `None` when it cannot be told (a request that
/// came through fewer proxies than are trusted, and no peer given).
pub fn client_address(headers: &HeaderMap, peer: Option<IpAddr>, trusted: usize) -> Option<String> {
    if trusted == 0 {
        return peer.map(|p| p.to_string());
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    match entries.len().checked_sub(trusted) {
        Some(i) => Some(entries[i].to_owned()),
        None => peer.map(|p| p.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn the_entry_the_last_trusted_proxy_appended_is_the_client() {
        let peer: Option<IpAddr> = "10.0.0.5".parse().ok();
        // Behind the ALB: the client claims 1.1.1.1, the ALB appended 203.0.113.7.
        let spoofed = headers(&["1.1.1.1, 203.0.113.7"]);
        assert_eq!(
            client_address(&spoofed, peer, 1).as_deref(),
            Some("203.0.113.7")
        );
        // Two proxies: the second from the right.
        assert_eq!(
            client_address(&spoofed, peer, 2).as_deref(),
            Some("1.1.1.1")
        );
        // Several header lines are one list.
        let split = headers(&["1.1.1.1", "203.0.113.7"]);
        assert_eq!(
            client_address(&split, peer, 1).as_deref(),
            Some("203.0.113.7")
        );
        // No trusted proxy: the header is the client's own claim, ignored.
        assert_eq!(
            client_address(&spoofed, peer, 0).as_deref(),
            Some("10.0.0.5")
        );
        // Fewer entries than trusted proxies: not through them; the peer.
        assert_eq!(
            client_address(&headers(&[]), peer, 1).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(client_address(&headers(&[]), None, 1), None);
    }
}
