//! chat-client: a terminal client for chat-server, interactive or `--json`.
//!
//! Exit status: 0 at end of input or `quit` (after the last response), 1 if the
//! server cannot be reached, 2 if the connection is lost (given several
//! addresses, it reconnects instead, and exits 2 only when it stops: kicked
//! by a newer login, or its device revoked).
#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use chatcore::client::{Client, ClientError, Events, Reconnecting};
use chatcore::protocol::DEFAULT_MAX_FRAME_LEN;
use chatcore::transport::tls;
use chatcore::transport::ws::{self, Subprotocol};
use chatcore_examples::client::app::{App, Mode};
use chatcore_examples::client::device::{self, DeviceSettings};
use chatcore_examples::client::render::Style;
use clap::Parser;
use tokio::sync::mpsc;

/// A chat client for chat-server: interactive by default (type `help` at the
/// prompt), or `--json` for scripts.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Server address. Repeat it (or give a comma-separated list) for nodes
    /// sharing one store: the client connects to the first that answers and,
    /// when its connection is lost, moves to another, logged in again as the
    /// same device.
    #[arg(long, default_value = "127.0.0.1:7878", value_delimiter = ',')]
    addr: Vec<String>,
    /// Read one command per line from stdin and print every response and event
    /// as one JSON object per line (for scripts and tests).
    #[arg(long)]
    json: bool,
    /// Connect with TLS (the server runs with --tls-cert/--tls-key).
    #[arg(long)]
    tls: bool,
    /// Connect over WebSocket to this URL instead: `ws://HOST:PORT/ws`, or
    /// `wss://` for a server with --tls-cert (the postcard subprotocol).
    /// Repeatable (or a comma-separated list), like --addr.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["tls", "server_name"],
        value_delimiter = ','
    )]
    ws: Vec<String>,
    /// PEM file of the CA (or self-signed certificate) to trust for --tls or
    /// a wss:// --ws; default: the Mozilla root certificates.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Name the server's certificate must carry (default: the host of each --addr).
    #[arg(long, requires = "tls")]
    server_name: Option<String>,
    /// Log in as this device (e.g. "laptop"): its first login gets an id from
    /// the server, kept in the device file for the next runs.
    #[arg(long)]
    device: Option<String>,
    /// Where device ids are kept (default: chatcore/devices.json in
    /// $XDG_CONFIG_HOME or ~/.config).
    #[arg(long, requires = "device")]
    device_file: Option<std::path::PathBuf>,
}

/// Reads stdin on a thread of its own: a blocking read must not keep the
/// runtime from shutting down when the connection is lost.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stdin.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    if tx
                        .send(line.trim_end_matches(['\n', '\r']).to_string())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Connects to the one address, or (given several) makes a client that moves
/// between them.
async fn connect(args: &Args, addrs: Vec<String>) -> Result<(Client, Events), ClientError> {
    let several = addrs.len() > 1;
    if !args.ws.is_empty() {
        let trust = match &args.ca {
            Some(ca) => Some(
                tls::client_config(Some(ca)).map_err(chatcore::transport::TransportError::from)?,
            ),
            None => None,
        };
        let connect = move |url: String| {
            let trust = trust.clone();
            async move {
                ws::connect_with(&url, Subprotocol::Postcard, trust, DEFAULT_MAX_FRAME_LEN).await
            }
        };
        if several {
            return Reconnecting::new(addrs, connect).connect().await;
        }
        Client::connect(connect(addrs[0].clone()).await?).await
    } else if args.tls {
        let config = tls::client_config(args.ca.as_deref())
            .map_err(chatcore::transport::TransportError::from)?;
        let server_name = args.server_name.clone();
        let connect = move |addr: String| {
            let (config, server_name) = (config.clone(), server_name.clone());
            async move {
                let host = addr.rsplit_once(':').map_or(&*addr, |(h, _)| h);
                let name = server_name.as_deref().unwrap_or(host);
                tls::connect(&addr, name, config).await
            }
        };
        if several {
            return Reconnecting::new(addrs, connect).connect().await;
        }
        Client::connect(connect(addrs[0].clone()).await?).await
    } else {
        let connect = |addr: String| chatcore::transport::tcp::connect(addr);
        if several {
            return Reconnecting::new(addrs, connect).connect().await;
        }
        Client::connect(connect(addrs[0].clone()).await?).await
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let wss = args.ws.iter().any(|u| u.starts_with("wss:"));
    if args.ca.is_some() && !args.tls && !wss {
        eprintln!("chat-client: --ca is for --tls or a wss:// --ws");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let addrs = if args.ws.is_empty() {
            args.addr.clone()
        } else {
            args.ws.clone()
        };
        // The device file knows a cluster by its first address.
        let server = addrs[0].clone();
        let (client, events) = match connect(&args, addrs.clone()).await {
            Ok(connected) => connected,
            Err(e) => {
                eprintln!("chat-client: cannot connect to {}: {e}", addrs.join(", "));
                return 1;
            }
        };
        let stdout = std::io::stdout();
        let mode = if args.json {
            Mode::Json
        } else {
            let terminal = stdout.is_terminal();
            Mode::Interactive {
                style: Style {
                    color: terminal && std::env::var_os("NO_COLOR").is_none(),
                },
                prompt: terminal && std::io::stdin().is_terminal(),
                progress: terminal,
            }
        };
        let mut app = App::new(client, events, stdout.lock(), mode);
        if let Some(name) = args.device {
            if !chatcore::protocol::is_valid_device_name(&name) {
                eprintln!(
                    "chat-client: --device: device names are 1-64 bytes without control characters"
                );
                return 1;
            }
            let Some(file) = args.device_file.or_else(device::default_file) else {
                eprintln!(
                    "chat-client: --device: no config directory ($HOME unset); give --device-file"
                );
                return 1;
            };
            app = app.with_device(DeviceSettings { name, file, server });
        }
        app.run(stdin_lines()).await.code()
    });
    // Do not wait for the stdin thread: it may be blocked in a read.
    runtime.shutdown_background();
    ExitCode::from(code)
}
