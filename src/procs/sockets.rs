//! Which processes listen on which TCP ports. `None` means the platform gave no answer (the
//! caller says "unknown"), never an error.
//!
//! Linux: the listening sockets come from the kernel's socket table through sock_diag netlink,
//! as `ss -ltn` reads them, restricted to the LISTEN state (tens of microseconds, where
//! /proc/net/tcp walks the whole connection hash); a socket is tied to its process by the
//! `socket:[inode]` links in `/proc/<pid>/fd`, read for the processes asked about only — no
//! crate offers that link. Elsewhere (macOS): the `listeners` crate, over libproc.

use std::collections::{BTreeSet, HashMap};

/// The TCP ports each of `pids` listens on (every pid asked about is in the map).
pub fn ports_of(pids: &[u32]) -> Option<HashMap<u32, Vec<u16>>> {
    platform::ports_of(pids)
}

/// Every TCP port something listens on, on any address, from one read of the kernel's table
/// (`None` when the platform gives none).
pub fn listening_ports() -> Option<std::collections::HashSet<u16>> {
    platform::listening_ports()
}

fn collect(pairs: impl Iterator<Item = (u32, u16)>, pids: &[u32]) -> HashMap<u32, Vec<u16>> {
    let mut sets: HashMap<u32, BTreeSet<u16>> =
        pids.iter().map(|p| (*p, BTreeSet::new())).collect();
    for (pid, port) in pairs {
        if let Some(set) = sets.get_mut(&pid) {
            set.insert(port);
        }
    }
    sets.into_iter()
        .map(|(pid, set)| (pid, set.into_iter().collect()))
        .collect()
}

#[cfg(target_os = "linux")]
mod platform {
    use std::collections::HashMap;

    use netlink_packet_core::{
        NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    };
    use netlink_packet_sock_diag::SockDiagMessage;
    use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
    use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

    pub(super) fn listening_ports() -> Option<std::collections::HashSet<u16>> {
        Some(listening().ok()?.into_values().collect())
    }

    pub(super) fn ports_of(pids: &[u32]) -> Option<HashMap<u32, Vec<u16>>> {
        let by_inode = listening().ok()?;
        let mut pairs = Vec::new();
        for pid in pids {
            // A process that ended or is not ours to read has no sockets to show.
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(link) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let inode = link
                    .to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
                    .and_then(|l| l.parse::<u32>().ok());
                if let Some(port) = inode.and_then(|i| by_inode.get(&i)) {
                    pairs.push((*pid, *port));
                }
            }
        }
        Some(super::collect(pairs.into_iter(), pids))
    }

    /// Every listening TCP socket (IPv4 and IPv6): inode -> port.
    fn listening() -> std::io::Result<HashMap<u32, u16>> {
        let mut found = HashMap::new();
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        for family in [AF_INET, AF_INET6] {
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let socket_id = if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            };
            let request = SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states: StateFlags::LISTEN,
                socket_id,
            });
            let mut packet = NetlinkMessage::new(header, request.into());
            packet.finalize();
            let mut buf = vec![0; packet.header.length as usize];
            packet.serialize(&mut buf[..]);
            socket.send(&buf, 0)?;
            read_dump(&mut socket, &mut found)?;
        }
        Ok(found)
    }

    fn read_dump(socket: &mut Socket, found: &mut HashMap<u32, u16>) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let size = socket.recv(&mut &mut buf[..], 0)?;
            let mut offset = 0;
            while offset < size {
                let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..size])
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                match message.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        found.insert(r.header.inode, r.header.socket_id.source_port);
                    }
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => {
                        return Err(std::io::Error::other(format!("sock_diag: {e:?}")));
                    }
                    _ => {}
                }
                let length = message.header.length as usize;
                if length == 0 {
                    break;
                }
                offset += length;
            }
            if size == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use std::collections::HashMap;

    pub(super) fn listening_ports() -> Option<std::collections::HashSet<u16>> {
        let all = listeners::get_all().ok()?;
        Some(
            all.into_iter()
                .filter(|l| {
                    l.protocol == listeners::Protocol::TCP
                        && l.state == listeners::SocketState::Listen
                })
                .map(|l| l.socket.port())
                .collect(),
        )
    }

    pub(super) fn ports_of(pids: &[u32]) -> Option<HashMap<u32, Vec<u16>>> {
        let all = listeners::get_all().ok()?;
        let pairs = all
            .into_iter()
            .filter(|l| {
                l.protocol == listeners::Protocol::TCP && l.state == listeners::SocketState::Listen
            })
            .map(|l| (l.process.pid, l.socket.port()));
        Some(super::collect(pairs, pids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_is_found_with_its_process() {
        let v4 = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let v6 = std::net::TcpListener::bind(("::1", 0)).ok();
        let me = std::process::id();
        let ports = ports_of(&[me, u32::MAX]).expect("the platform tells");
        let mine = &ports[&me];
        assert!(mine.contains(&v4.local_addr().unwrap().port()), "{mine:?}");
        if let Some(v6) = v6 {
            assert!(mine.contains(&v6.local_addr().unwrap().port()), "{mine:?}");
        }
        assert_eq!(ports[&u32::MAX], Vec::<u16>::new());
        let all = listening_ports().expect("the platform tells");
        assert!(all.contains(&v4.local_addr().unwrap().port()), "{all:?}");
    }
}
