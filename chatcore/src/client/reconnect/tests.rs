//! The reconnecting client: against real servers over TCP on 127.0.0.1 (nodes
//! sharing one store, each in a runtime of its own so that killing one drops
//! every socket it holds), and against scripted connections for what must
//! happen to requests in flight.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc as fmpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::auth::HashParams;
use crate::engine::{Server, ServerConfig};
use crate::protocol::{Body, DeviceClaim, ItemId, Peer, PROTOCOL_VERSION};
use crate::store::MemoryStore;
use crate::transport::tcp::{self, TcpTransport};

/// Every wait in these tests: a bound, never an expectation of speed.
const BOUND: Duration = Duration::from_secs(20);

/// A server in a runtime of its own.
struct Node {
    runtime: Option<tokio::runtime::Runtime>,
    addr: String,
}

impl Node {
    fn start(store: Arc<MemoryStore>) -> Node {
        // Built and started on another thread: a runtime cannot block inside
        // the test's.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let addr = runtime.block_on(async {
                let listener = TcpTransport::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap().to_string();
                let config = ServerConfig {
                    hash_params: HashParams::insecure_fast(),
                    open_chat: true,
                    ..ServerConfig::default()
                };
                let server = Server::new(store, config).unwrap();
                tokio::spawn(server.serve(listener, CancellationToken::new()));
                addr
            });
            Node {
                runtime: Some(runtime),
                addr,
            }
        })
        .join()
        .unwrap()
    }

    /// Gone at once, like a killed process: every task and socket dropped.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn next_update(events: &mut Events) -> Update {
    tokio::time::timeout(BOUND, events.next_update())
        .await
        .expect("an update within the bound")
        .expect("the client goes on")
}

/// Collects message ids (counting repeats) until `until` says stop.
async fn collect(
    events: &mut Events,
    seen: &mut HashMap<ItemId, usize>,
    mut until: impl FnMut(&Update, &HashMap<ItemId, usize>) -> bool,
) -> Vec<Update> {
    let mut others = Vec::new();
    loop {
        let update = next_update(events).await;
        if let Update::Event(Event::Message(m)) = &update {
            *seen.entry(m.id).or_default() += 1;
        }
        let done = until(&update, seen);
        if !matches!(update, Update::Event(Event::Message(_))) {
            others.push(update);
        }
        if done {
            return others;
        }
    }
}

async fn bob_on(node: &Node, texts: std::ops::Range<u32>) -> Vec<ItemId> {
    let (bob, _events) = Client::connect(tcp::connect(&node.addr).await.unwrap())
        .await
        .unwrap();
    bob.login("bob", "bob-password").await.unwrap();
    let mut ids = Vec::new();
    for n in texts {
        ids.push(bob.send_text("ann", &format!("m{n}")).await.unwrap().id);
    }
    ids
}

#[tokio::test]
async fn moves_to_the_next_address_losing_nothing_and_handing_nothing_over_twice() {
    let store = Arc::new(MemoryStore::new());
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::start(store.clone())).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();

    // Acks wait for a request: what the first node handed over is still
    // unacked when it dies, so the next one replays it.
    let config = ClientConfig {
        ack_delay: Duration::from_secs(3600),
        ..ClientConfig::default()
    };
    let (ann, mut events) = Reconnecting::new(addrs.clone(), |addr: String| tcp::connect(addr))
        .config(config)
        .backoff(Duration::from_millis(10), Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    ann.register("ann", "ann-password").await.unwrap();
    ann.register("bob", "bob-password").await.unwrap();
    let claim = DeviceClaim::New {
        name: "phone".into(),
    };
    let phone = ann
        .login_device("ann", "ann-password", claim)
        .await
        .unwrap();
    let mut seen = HashMap::new();
    collect(&mut events, &mut seen, |u, _| {
        matches!(u, Update::Event(Event::CaughtUp))
    })
    .await;

    // Live on the first node, handed over, not acked.
    let mut sent = bob_on(&nodes[0], 0..5).await;
    collect(&mut events, &mut seen, |_, seen| seen.len() == 5).await;

    // The first node dies; more is sent (on the second) while ann moves.
    nodes[0].kill();
    sent.extend(bob_on(&nodes[1], 5..10).await);
    // The backlog (with what the first node handed over again) and
    // `CaughtUp`, and what came live.
    let mut caught_up = false;
    let news = collect(&mut events, &mut seen, |u, seen| {
        caught_up |= matches!(u, Update::Event(Event::CaughtUp));
        caught_up && seen.len() == 10
    })
    .await;
    assert!(
        matches!(&news[0], Update::Disconnected { addr, .. } if *addr == addrs[0]),
        "{news:?}"
    );
    assert!(
        matches!(&news[1], Update::Reconnected { addr } if *addr == addrs[1]),
        "{news:?}"
    );

    // Acked now (a request takes the waiting acks first); the second node
    // dies, and the third has only what was sent since.
    ann.ping().await.unwrap();
    nodes[1].kill();
    let mut news = collect(&mut events, &mut seen, |u, _| {
        matches!(u, Update::Reconnected { .. })
    })
    .await;
    sent.extend(bob_on(&nodes[2], 10..15).await);
    news.extend(collect(&mut events, &mut seen, |_, seen| seen.len() == 15).await);
    assert!(
        news.iter()
            .any(|u| matches!(u, Update::Reconnected { addr } if *addr == addrs[2])),
        "{news:?}"
    );
    // One round trip more: anything repeated would have come before its answer.
    ann.ping().await.unwrap();
    while let Ok(Some(update)) =
        tokio::time::timeout(Duration::from_millis(100), events.next_update()).await
    {
        if let Update::Event(Event::Message(m)) = update {
            *seen.entry(m.id).or_default() += 1;
        }
    }

    let mut got: Vec<ItemId> = seen.keys().copied().collect();
    got.sort_unstable();
    sent.sort_unstable();
    assert_eq!(got, sent, "every message, none lost");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handed over more than once: {twice:?}");

    // Still the one device.
    let devices = ann.devices().await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].id, phone);
}

/// A connection whose server side the test plays.
struct Scripted {
    incoming: fmpsc::UnboundedReceiver<ServerFrame>,
    outgoing: fmpsc::UnboundedSender<ClientFrame>,
}

impl futures::Stream for Scripted {
    type Item = Result<ServerFrame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_next_unpin(cx).map(|f| f.map(Ok))
    }
}

impl futures::Sink<ClientFrame> for Scripted {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: ClientFrame) -> Result<(), Self::Error> {
        self.outgoing
            .unbounded_send(item)
            .map_err(|_| TransportError::Io(std::io::ErrorKind::BrokenPipe.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The server's side of a scripted connection.
struct ServerSide {
    to_client: fmpsc::UnboundedSender<ServerFrame>,
    from_client: fmpsc::UnboundedReceiver<ClientFrame>,
}

impl ServerSide {
    async fn read(&mut self) -> ClientFrame {
        tokio::time::timeout(BOUND, self.from_client.next())
            .await
            .expect("a frame within the bound")
            .expect("the client keeps the connection")
    }

    /// Reads until a request, skipping acks.
    async fn request(&mut self) -> (u32, Request) {
        loop {
            match self.read().await {
                ClientFrame::Request { req_id, request } => return (req_id, request),
                ClientFrame::Ack { .. } | ClientFrame::AckUpTo { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn answer(&self, req_id: u32, result: Result<Response, ErrorCode>) {
        self.to_client
            .unbounded_send(ServerFrame::Response { req_id, result })
            .unwrap();
    }
}

/// Connections handed out in order (whatever the address), each saying hello
/// first; the addresses asked for are recorded.
type Dialer = Arc<Mutex<(VecDeque<Scripted>, Vec<String>)>>;

fn scripted(count: usize) -> (Dialer, Vec<ServerSide>) {
    let mut conns = VecDeque::new();
    let mut peers = Vec::new();
    for _ in 0..count {
        let (to_client, incoming) = fmpsc::unbounded();
        let (outgoing, from_client) = fmpsc::unbounded();
        to_client
            .unbounded_send(ServerFrame::Hello {
                version: PROTOCOL_VERSION,
                server: "scripted".into(),
            })
            .unwrap();
        conns.push_back(Scripted { incoming, outgoing });
        peers.push(ServerSide {
            to_client,
            from_client,
        });
    }
    (Arc::new(Mutex::new((conns, Vec::new()))), peers)
}

fn dial(
    dialer: Dialer,
) -> impl Fn(String) -> futures::future::Ready<Result<Scripted, TransportError>> {
    move |addr| {
        let mut state = dialer.lock().unwrap();
        state.1.push(addr);
        futures::future::ready(state.0.pop_front().ok_or(TransportError::Io(
            std::io::ErrorKind::ConnectionRefused.into(),
        )))
    }
}

#[tokio::test]
async fn a_send_in_flight_goes_again_under_its_id_and_other_requests_fail() {
    let (dialer, mut peers) = scripted(2);
    let (ann, mut events) = Reconnecting::new(["one", "two"], dial(dialer.clone()))
        .backoff(Duration::from_millis(1), Duration::from_millis(10))
        .connect()
        .await
        .unwrap();
    let mut second = peers.pop().unwrap();
    let mut first = peers.pop().unwrap();
    assert!(matches!(first.read().await, ClientFrame::Hello { .. }));

    let login = tokio::spawn({
        let ann = ann.clone();
        async move { ann.login("ann", "ann-password").await }
    });
    let (req_id, request) = first.request().await;
    assert!(matches!(request, Request::Login { .. }), "{request:?}");
    first.answer(req_id, Ok(Response::LoggedIn { user: "ann".into() }));
    assert_eq!(login.await.unwrap().unwrap(), "ann");

    // A send and a count in flight; then the connection is gone.
    let send = tokio::spawn({
        let ann = ann.clone();
        async move {
            ann.send(Peer::User("bob".into()), 42, Body::Text("hi".into()))
                .await
        }
    });
    let (_, request) = first.request().await;
    assert!(
        matches!(
            request,
            Request::Send {
                client_msg_id: 42,
                ..
            }
        ),
        "{request:?}"
    );
    let count = tokio::spawn({
        let ann = ann.clone();
        async move { ann.online_count().await }
    });
    let (_, request) = first.request().await;
    assert_eq!(request, Request::OnlineCount);
    drop(first);

    // The next address: hello, the same login, then the send again.
    assert!(matches!(second.read().await, ClientFrame::Hello { .. }));
    let (req_id, request) = second.request().await;
    assert_eq!(req_id, driver::RELOGIN_REQ_ID);
    assert_eq!(
        request,
        Request::Login {
            username: "ann".into(),
            password: "ann-password".into()
        }
    );
    second.answer(req_id, Ok(Response::LoggedIn { user: "ann".into() }));
    let (req_id, request) = second.request().await;
    assert_eq!(
        request,
        Request::Send {
            to: Peer::User("bob".into()),
            client_msg_id: 42,
            body: Body::Text("hi".into())
        }
    );
    let receipt = Response::Sent {
        id: 7,
        seq: 1,
        ts: 1,
    };
    second.answer(req_id, Ok(receipt));
    let sent = send.await.unwrap().unwrap();
    assert_eq!((sent.id, sent.seq), (7, 1));
    assert!(matches!(
        count.await.unwrap(),
        Err(ClientError::ConnectionLost)
    ));

    assert_eq!(
        next_update(&mut events).await,
        Update::Disconnected {
            addr: "one".into(),
            error: "the server closed the connection".into()
        }
    );
    assert_eq!(
        next_update(&mut events).await,
        Update::Reconnected { addr: "two".into() }
    );
    assert_eq!(dialer.lock().unwrap().1, ["one", "two"]);
}

#[tokio::test]
async fn a_kicked_session_does_not_come_back() {
    let (dialer, mut peers) = scripted(2);
    let (ann, mut events) = Reconnecting::new(["one", "two"], dial(dialer.clone()))
        .backoff(Duration::from_millis(1), Duration::from_millis(10))
        .connect()
        .await
        .unwrap();
    let first = peers.remove(0);
    let kicked = Event::Kicked {
        reason: "logged in elsewhere".into(),
    };
    first
        .to_client
        .unbounded_send(ServerFrame::Event(kicked.clone()))
        .unwrap();
    drop(first);
    assert_eq!(next_update(&mut events).await, Update::Event(kicked));
    let end = tokio::time::timeout(BOUND, events.next_update()).await;
    assert_eq!(end.unwrap(), None, "the client stops");
    assert!(matches!(ann.ping().await, Err(ClientError::Closed)));
    assert_eq!(dialer.lock().unwrap().1, ["one"], "no second connection");
}

#[tokio::test]
async fn the_login_refused_after_a_move_leaves_the_client_logged_out() {
    let (dialer, mut peers) = scripted(2);
    let (ann, mut events) = Reconnecting::new(["one", "two"], dial(dialer))
        .connect()
        .await
        .unwrap();
    let mut second = peers.pop().unwrap();
    let mut first = peers.pop().unwrap();
    first.read().await;
    let login = tokio::spawn({
        let ann = ann.clone();
        async move {
            let claim = DeviceClaim::New {
                name: "phone".into(),
            };
            ann.login_device("ann", "ann-password", claim).await
        }
    });
    let (req_id, _) = first.request().await;
    let logged_in = Response::LoggedInDevice {
        user: "ann".into(),
        device: 12,
    };
    first.answer(req_id, Ok(logged_in));
    assert_eq!(login.await.unwrap().unwrap(), 12);
    drop(first);

    second.read().await;
    let (req_id, request) = second.request().await;
    // The device the server issued, not a new one.
    assert_eq!(
        request,
        Request::LoginDevice {
            username: "ann".into(),
            password: "ann-password".into(),
            device: DeviceClaim::Known { id: 12 }
        }
    );
    second.answer(req_id, Err(ErrorCode::UnknownDevice));
    assert!(matches!(
        next_update(&mut events).await,
        Update::Disconnected { .. }
    ));
    assert_eq!(
        next_update(&mut events).await,
        Update::Reconnected { addr: "two".into() }
    );
    assert_eq!(
        next_update(&mut events).await,
        Update::LoginRefused {
            code: ErrorCode::UnknownDevice
        }
    );
    // Connected: requests go out on the new connection.
    let ping = tokio::spawn(async move { ann.ping().await });
    let (req_id, request) = second.request().await;
    assert_eq!(request, Request::Ping);
    second.answer(req_id, Ok(Response::Pong));
    ping.await.unwrap().unwrap();
}

#[tokio::test]
async fn it_gives_up_after_max_attempts_and_waiting_requests_fail() {
    let (dialer, mut peers) = scripted(1);
    let (ann, mut events) = Reconnecting::new(["one", "two"], dial(dialer.clone()))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .max_attempts(Some(3))
        .connect()
        .await
        .unwrap();
    drop(peers.remove(0));
    assert!(matches!(
        next_update(&mut events).await,
        Update::Disconnected { .. }
    ));
    // Waits for a connection that never comes, then fails.
    let ping = tokio::time::timeout(BOUND, ann.ping()).await.unwrap();
    assert!(matches!(ping, Err(ClientError::Closed)), "{ping:?}");
    let end = tokio::time::timeout(BOUND, events.next_update()).await;
    assert_eq!(end.unwrap(), None, "the client stops");
    // The first connection, then three attempts in turn.
    assert_eq!(dialer.lock().unwrap().1, ["one", "two", "one", "two"]);
}

/// The room's messages handed to the application, as (seq, text), until `n`.
async fn room_texts(events: &mut Events, room: &str, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        if let Update::Event(Event::Message(m)) = next_update(events).await {
            if let (Peer::Room(r), Body::Text(text)) = (&m.to, &m.body) {
                if r == room {
                    got.push((m.seq, text.clone()));
                }
            }
        }
    }
    got
}

#[tokio::test]
async fn room_messages_sent_while_moving_are_read_from_history_in_order_once() {
    let store = Arc::new(MemoryStore::new());
    let mut nodes: Vec<Node> = (0..2).map(|_| Node::start(store.clone())).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    // Attempts wait at the gate while it is shut: ann stays away while bob
    // writes to the room.
    let (gate, gate_rx) = tokio::sync::watch::channel(true);
    let dial = move |addr: String| {
        let mut open = gate_rx.clone();
        async move {
            let _ = open.wait_for(|open| *open).await;
            tcp::connect(addr).await
        }
    };
    let (ann, mut events) = Reconnecting::new(addrs.clone(), dial)
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    ann.register("ann", "ann-password").await.unwrap();
    ann.register("bob", "bob-password").await.unwrap();
    ann.login("ann", "ann-password").await.unwrap();
    let (bob, _bob_events) = Client::connect(tcp::connect(&addrs[0]).await.unwrap())
        .await
        .unwrap();
    bob.login("bob", "bob-password").await.unwrap();
    bob.create_room("lobby").await.unwrap();
    ann.join_room("lobby").await.unwrap();
    bob.say("lobby", "r0").await.unwrap();
    assert_eq!(
        room_texts(&mut events, "lobby", 1).await,
        [(1, "r0".to_string())]
    );

    // The first node dies with ann away; bob writes on the second meanwhile.
    gate.send_replace(false);
    nodes[0].kill();
    let (bob, _bob_events) = Client::connect(tcp::connect(&addrs[1]).await.unwrap())
        .await
        .unwrap();
    bob.login("bob", "bob-password").await.unwrap();
    for i in 1..=5 {
        bob.say("lobby", &format!("r{i}")).await.unwrap();
    }
    gate.send_replace(true);
    loop {
        if let Update::Reconnected { addr } = next_update(&mut events).await {
            assert_eq!(addr, addrs[1]);
            break;
        }
    }
    // A live one after: it comes after those of the history, and none twice.
    bob.say("lobby", "r6").await.unwrap();
    let got = room_texts(&mut events, "lobby", 6).await;
    let want: Vec<(u64, String)> = (1..=6).map(|i| (i + 1, format!("r{i}"))).collect();
    assert_eq!(got, want);
    bob.say("lobby", "r7").await.unwrap();
    assert_eq!(
        room_texts(&mut events, "lobby", 1).await,
        [(8, "r7".to_string())]
    );
}
