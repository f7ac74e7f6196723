//! Port leases: a slot gets the lowest offset `k >= 1` for which every configured port
//! `base + k` is leased by no slot on this machine and can be bound right now.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Result, bail};

/// How far to look for a free offset before giving up.
const MAX_OFFSET: u32 = 2000;

/// Picks the offset and the ports for a new slot. Call with the registry locked, and record
/// the result before releasing the lock.
pub fn choose(
    bases: &BTreeMap<String, u16>,
    leased: &BTreeSet<u16>,
) -> Result<(u32, BTreeMap<String, u16>)> {
    'offsets: for k in 1..=MAX_OFFSET {
        let mut ports = BTreeMap::new();
        for (name, base) in bases {
            let Some(port) = u16::try_from(u32::from(*base) + k).ok() else {
                continue 'offsets;
            };
            if leased.contains(&port) || in_use(port) {
                continue 'offsets;
            }
            ports.insert(name.clone(), port);
        }
        return Ok((k, ports));
    }
    let list: Vec<String> = bases.iter().map(|(n, b)| format!("{n}={b}")).collect();
    bail!(
        "no free port offset between 1 and {MAX_OFFSET} for {}; remove slots you no longer need (`git agent ls`)",
        list.join(", ")
    )
}

/// Whether something holds `port` on the loopback addresses. A bind probe on both families
/// catches IPv6-only listeners (Vite on "localhost"); a connect probe catches listeners that a
/// bind with SO_REUSEADDR would not see.
pub fn in_use(port: u16) -> bool {
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    for addr in [v4, v6] {
        match TcpListener::bind(addr) {
            Ok(_) => {}
            // No IPv6 on this machine: not applicable, not in use.
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {}
            Err(_) => return true,
        }
    }
    listening(port)
}

/// What listens, read once for many ports: the kernel's table where the platform gives it
/// (one read for a board of 100 slots, where a connection per port took 200 of them), else a
/// connection per port.
pub struct Listening(Option<std::collections::HashSet<u16>>);

impl Listening {
    pub fn now() -> Listening {
        Listening(crate::procs::listening_ports())
    }

    /// Whether something listens on `port` (on any address, where the table was read).
    pub fn on(&self, port: u16) -> bool {
        match &self.0 {
            Some(ports) => ports.contains(&port),
            None => listening(port),
        }
    }
}

/// Whether something accepts connections on `port` on 127.0.0.1 or ::1.
pub fn listening(port: u16) -> bool {
    let timeout = Duration::from_millis(50);
    [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ]
    .iter()
    .any(|addr| TcpStream::connect_timeout(addr, timeout).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_leased_and_bound_ports() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let held = listener.local_addr().unwrap().port();
        let base = held - 1; // k = 1 would be the held port
        let bases = BTreeMap::from([("PORT".to_string(), base)]);
        let (k, ports) = choose(&bases, &BTreeSet::new()).unwrap();
        assert!(k >= 2, "k={k}");
        assert_ne!(ports["PORT"], held);
        let leased = BTreeSet::from([base + k as u16]);
        let (k2, _) = choose(&bases, &leased).unwrap();
        assert!(k2 > k);
        assert!(in_use(held) && listening(held));
    }

    #[test]
    fn all_ports_share_one_offset() {
        let bases = BTreeMap::from([("A".to_string(), 41000), ("B".to_string(), 42000)]);
        let (k, ports) = choose(&bases, &BTreeSet::from([41001])).unwrap();
        assert_eq!(ports["A"], 41000 + k as u16);
        assert_eq!(ports["B"], 42000 + k as u16);
        assert!(k >= 2);
    }
}
