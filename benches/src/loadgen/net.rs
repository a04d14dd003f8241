//! Connecting to the server and provisioning users.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use chatcore::client::{Client, Events};
use chatcore::protocol::DEFAULT_MAX_FRAME_LEN;
use chatcore::transport::tcp::TcpConnection;
use chatcore::transport::ws::{self, ClientStream, Subprotocol};
use tokio::net::{TcpSocket, TcpStream};

use super::args::TransportKind;
use super::Res;

/// Where the clients connect, and how.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The server's (loopback) address.
    pub addr: SocketAddr,
    /// TCP, or WebSocket to `/ws` at `addr`.
    pub transport: TransportKind,
}

/// The password of every user the load generator registers.
pub const PASSWORD: &str = "loadgen-password";

/// Resolves `addr` and refuses anything but a loopback address: the load
/// generator only ever drives a server on this machine.
pub async fn resolve_loopback(addr: &str) -> Res<SocketAddr> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("--addr {addr}: {e}"))?
        .collect();
    resolved
        .into_iter()
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| {
            format!("--addr {addr}: not a loopback address; loadgen drives a local server only")
                .into()
        })
}

/// A per-process random tag, so user and room names of repeated runs against
/// the same server never collide.
pub fn process_tag() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// The `i`-th of `n` client source addresses: 127.0.0.2, 127.0.0.3, ...
pub fn source_ip(i: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(n.max(1))) as u8)
}

/// Connects (from `source` if given, else from any address) and says hello.
pub async fn open(target: Target, source: Option<Ipv4Addr>) -> Res<(Client, Events)> {
    let addr = target.addr;
    let stream = match source {
        None => TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?,
        Some(ip) => {
            let socket = TcpSocket::new_v4()?;
            socket
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
            socket
                .connect(addr)
                .await
                .map_err(|e| format!("connect to {addr} from {ip}: {e}"))?
        }
    };
    let connected = match target.transport {
        TransportKind::Tcp => {
            Client::connect(TcpConnection::new(stream, DEFAULT_MAX_FRAME_LEN)?).await
        }
        TransportKind::Ws => {
            stream.set_nodelay(true)?;
            let url = format!("ws://{addr}{}", ws::DEFAULT_PATH);
            let conn = ws::connect_over(
                ClientStream::Plain(stream),
                &url,
                Subprotocol::Postcard,
                DEFAULT_MAX_FRAME_LEN,
            )
            .await
            .map_err(|e| format!("upgrade {url}: {e}"))?;
            Client::connect(conn).await
        }
    };
    Ok(connected.map_err(|e| format!("hello to {addr}: {e}"))?)
}

/// Connects, registers `name` and logs in.
pub async fn new_user(addr: Target, name: &str) -> Res<(Client, Events)> {
    let (client, events) = open(addr, None).await?;
    client
        .register(name, PASSWORD)
        .await
        .map_err(|e| format!("register {name}: {e}"))?;
    client
        .login(name, PASSWORD)
        .await
        .map_err(|e| format!("login {name}: {e}"))?;
    Ok((client, events))
}

/// Makes `a` and `b` friends (request, then accept unless it crossed one).
pub async fn befriend(a: &Client, a_name: &str, b: &Client, b_name: &str) -> Res<()> {
    let friends = a
        .friend_request(b_name, "")
        .await
        .map_err(|e| format!("friend request {a_name} -> {b_name}: {e}"))?;
    if !friends {
        b.respond_friend(a_name, true)
            .await
            .map_err(|e| format!("accept {a_name} by {b_name}: {e}"))?;
    }
    Ok(())
}
