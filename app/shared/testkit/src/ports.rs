//! Ports for the servers tests start themselves (private brokers, Redis
//! servers, `ticketing serve` processes, containers).
//!
//! Asking the OS for port 0, reading the number and closing the socket
//! leaves a gap before the server binds it, and the OS hands the same
//! number to the next socket that asks: most often an outgoing
//! connection's source port (the tests open thousands), which then holds
//! it (seen in CI: a private Kafka node's `BindException: Address already
//! in use`). So the ports come from below the kernel's ephemeral range
//! (`net.ipv4.ip_local_port_range`), where no source port is ever taken,
//! and none twice from one process.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{LazyLock, Mutex};

/// How many ports below the ephemeral range are used.
const SPAN: u16 = 10_000;

/// Ports this process has handed out.
static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(Mutex::default);

/// The first port of the kernel's ephemeral range (32768 when it cannot
/// be read, Linux's default).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The band free ports are taken from: `SPAN` ports below `ephemeral`,
/// never below 1024.
fn band(ephemeral: u16) -> std::ops::Range<u16> {
    let end = ephemeral.max(1_024 + SPAN);
    (end - SPAN)..end
}

/// A port nothing listens on right now, outside the ephemeral range and
/// not handed out before by this process. Panics (this is test code) when
/// the whole band is taken.
pub fn free_port() -> u16 {
    let band = band(ephemeral_start());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Processes start at different places in the band, so two test
    // binaries running at once rarely probe the same ports.
    let start = std::process::id() % u32::from(SPAN);
    (0..u32::from(SPAN))
        .map(|i| band.start + u16::try_from((start + i) % u32::from(SPAN)).unwrap_or(0))
        .find(|port| !handed_out.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .inspect(|port| {
            handed_out.insert(*port);
        })
        .unwrap_or_else(|| panic!("no free port in {band:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() {
        let ephemeral = ephemeral_start();
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in &ports {
            assert!(
                *port < ephemeral && *port >= 1_024,
                "{port} (ephemeral from {ephemeral})"
            );
            TcpListener::bind(("127.0.0.1", *port)).expect("a handed-out port is free");
        }
        assert_eq!(band(32_768), 22_768..32_768);
        assert_eq!(band(2_000), 1_024..11_024, "never below 1024");
    }
}
