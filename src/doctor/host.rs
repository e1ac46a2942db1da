//! What this host says for `demo doctor`: which process listens on a TCP port (from
//! `/proc/net/tcp{,6}` and `/proc/*/fd`, where permitted) and the free space of a directory.
use std::net::Ipv4Addr;
use std::path::Path;

/// A process holding a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

/// The process listening on `port` at `ip` (or on every address), when `/proc` lets us see it.
pub fn port_holder(ip: &str, port: u16) -> Option<Holder> {
    let ip: Ipv4Addr = ip.parse().ok()?;
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, ip, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|n| n.trim().to_string())
                    .unwrap_or_default();
                return Some(Holder { pid, name });
            }
        }
    }
    None
}

/// Socket inodes in a `/proc/net/tcp` or `tcp6` table listening on `port` at `ip` or at the
/// wildcard address.
fn listening_inodes(table: &str, ip: Ipv4Addr, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
        else {
            continue;
        };
        let Some((address, port_hex)) = local.split_once(':') else {
            continue;
        };
        if *state != LISTEN || u16::from_str_radix(port_hex, 16).ok() != Some(port) {
            continue;
        }
        let matches = match address.len() {
            // IPv4: the network-order bytes printed as one native-endian number.
            8 => u32::from_str_radix(address, 16)
                .map(|raw| {
                    let bound = Ipv4Addr::from(raw.to_ne_bytes());
                    bound == ip || bound.is_unspecified()
                })
                .unwrap_or(false),
            // IPv6: the wildcard `::` also takes IPv4 connections unless v6only.
            32 => address.chars().all(|c| c == '0'),
            _ => false,
        };
        if matches && let Ok(inode) = inode.parse() {
            out.push(inode);
        }
    }
    out
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stats` a writable statvfs.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    (rc == 0).then(|| stats.f_bavail as u64 * stats.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4711 1 0 100 0 0 10 0
   1: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4712 1 0 100 0 0 10 0
   2: 0100007F:2382 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4713 1 0 100 0 0 10 0
";

    #[test]
    fn listeners_are_found_by_port_and_address() {
        let loopback = Ipv4Addr::LOCALHOST;
        // 0x2382 = 9090 on 127.0.0.1; the established connection (state 01) is not a listener.
        assert_eq!(listening_inodes(TABLE, loopback, 9090), [4711]);
        // 0x0BB8 = 3000 on 0.0.0.0 holds 127.0.0.1:3000 too.
        assert_eq!(listening_inodes(TABLE, loopback, 3000), [4712]);
        assert!(listening_inodes(TABLE, loopback, 9091).is_empty());
        assert!(listening_inodes(TABLE, Ipv4Addr::new(10, 0, 0, 1), 9090).is_empty());
    }

    #[test]
    fn a_listener_of_this_process_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = port_holder("127.0.0.1", port).expect("our own listener is visible");
        assert_eq!(holder.pid, std::process::id());
    }

    #[test]
    fn free_space_of_the_temp_dir() {
        assert!(free_bytes(&std::env::temp_dir()).unwrap() > 0);
        assert_eq!(free_bytes(Path::new("/no/such/dir")), None);
    }
}
