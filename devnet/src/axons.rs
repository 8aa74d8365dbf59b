//! Miners' axons as real TCP listeners on 127.0.0.1, opened and closed to follow each miner's
//! uptime profile, so the daemon's probes meet real connections and real refusals. An open axon
//! answers any request with `HTTP/1.1 200 OK` and closes, so TCP and HTTP probes both work.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Blocks in a chain hour and a chain day.
const HOUR: u64 = 300;
const DAY: u64 = 7_200;

/// How a miner's axon behaves over chain time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Always serving.
    Up,
    /// Up for 100 blocks, down for 100, and so on.
    Flapping,
    /// Down for the first two chain hours of every chain day.
    Down2h,
    /// Served on chain, but nothing ever listens.
    Dead,
    /// Down for the first six chain hours, then up for good.
    Recovering,
}

impl Profile {
    pub fn is_up(self, block: u64) -> bool {
        match self {
            Profile::Up => true,
            Profile::Flapping => (block / 100).is_multiple_of(2),
            Profile::Down2h => (block % DAY) / HOUR >= 2,
            Profile::Dead => false,
            Profile::Recovering => block >= 6 * HOUR,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Up => "up",
            Profile::Flapping => "flapping",
            Profile::Down2h => "down2h",
            Profile::Dead => "dead",
            Profile::Recovering => "recovering",
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "up" => Profile::Up,
            "flapping" => Profile::Flapping,
            "down2h" => Profile::Down2h,
            "dead" => Profile::Dead,
            "recovering" => Profile::Recovering,
            other => {
                return Err(format!(
                    "unknown axon profile `{other}` (up, flapping, down2h, dead, recovering)"
                ));
            }
        })
    }
}

/// 127.0.0.1 as the chain stores an IPv4 address: in the low 32 bits of a u128.
pub const LOOPBACK_IP: u128 = 0x7f00_0001;

/// The listeners, by uid.
#[derive(Default)]
pub struct Farm {
    listening: HashMap<u16, (u16, Option<JoinHandle<()>>)>,
}

impl Farm {
    /// Reserves a free port for each uid (closed until [`Farm::set`] opens it).
    pub async fn reserve(uids: impl Iterator<Item = u16>) -> std::io::Result<(Farm, Vec<u16>)> {
        let mut farm = Farm::default();
        let mut ports = Vec::new();
        for uid in uids {
            let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
            farm.listening.insert(uid, (port, None));
            ports.push(port);
        }
        Ok((farm, ports))
    }

    /// Opens or closes uid's axon.
    pub async fn set(&mut self, uid: u16, up: bool) {
        let Some((port, task)) = self.listening.get_mut(&uid) else {
            return;
        };
        match (up, task.is_some()) {
            (true, false) => {
                match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], *port))).await {
                    Ok(listener) => *task = Some(tokio::spawn(serve(listener))),
                    Err(e) => {
                        tracing::warn!(uid, port = *port, error = %e, "devnet cannot open an axon")
                    }
                }
            }
            (false, true) => {
                if let Some(t) = task.take() {
                    // Dropping the listener closes the port: connections are refused.
                    t.abort();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Farm {
    /// Closes every axon: a stopped devnet leaves no listener behind.
    fn drop(&mut self) {
        for (_, task) in self.listening.values_mut() {
            if let Some(t) = task.take() {
                t.abort();
            }
        }
    }
}

async fn serve(listener: TcpListener) {
    while let Ok((mut conn, _)) = listener.accept().await {
        tokio::spawn(async move {
            // Read the request (if any) first: closing with unread input would reset the
            // connection before the client reads the reply.
            let mut buf = [0u8; 1024];
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(1), conn.read(&mut buf)).await;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await;
            let _ = conn.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_over_chain_time() {
        assert!(Profile::Up.is_up(123_456));
        assert!(!Profile::Dead.is_up(0));
        assert!(
            Profile::Flapping.is_up(99)
                && !Profile::Flapping.is_up(100)
                && Profile::Flapping.is_up(200)
        );
        assert!(
            !Profile::Down2h.is_up(0) && !Profile::Down2h.is_up(599) && Profile::Down2h.is_up(600)
        );
        assert!(!Profile::Down2h.is_up(DAY + 10) && Profile::Down2h.is_up(DAY + 600));
        assert!(!Profile::Recovering.is_up(1_799) && Profile::Recovering.is_up(1_800));
        // Over a whole day: down 2 h of 24.
        let up = (0..DAY).filter(|b| Profile::Down2h.is_up(*b)).count() as f64 / DAY as f64;
        assert!((up - 22.0 / 24.0).abs() < 1e-9);
    }
}
