//! Ports and processes: free loopback ports for servers that cannot bind port
//! 0 and report it, and child processes that never outlive their test.

use std::net::TcpListener;
use std::process::Child;

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free loopback ports: all are bound at once, read, then
/// released, so none repeats.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// A child process killed (and reaped) when dropped, even when the test fails.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_ephemeral_ports() {
        // Distinct and non-zero. (Whether one is still free when bound again is
        // up to the rest of the machine: the callers retry or fail clearly.)
        let ports = free_ports(4);
        let unique: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), 4, "{ports:?}");
        assert!(ports.iter().all(|p| *p >= 1024), "{ports:?}");
    }

    #[test]
    fn a_dropped_guard_kills_its_child() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let pid = child.id();
        drop(Killed(child));
        // Killed and reaped: the pid names no process (or another one, not our sleep).
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!cmdline.starts_with("sleep"), "sleep {pid} still runs");
    }
}
