//! The client and its driver against a scripted connection: what goes out in
//! which write, and how acks are batched.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::channel::mpsc as fmpsc;

use super::driver::MAX_BURST;
use super::*;
use crate::protocol::{limits, RoomInfo};

/// A connection that records each flush's frames as one write.
struct Recording {
    incoming: fmpsc::UnboundedReceiver<ServerFrame>,
    unflushed: Vec<ClientFrame>,
    writes: Arc<Mutex<Vec<Vec<ClientFrame>>>>,
}

impl futures::Stream for Recording {
    type Item = Result<ServerFrame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_next_unpin(cx).map(|f| f.map(Ok))
    }
}

impl futures::Sink<ClientFrame> for Recording {
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: ClientFrame) -> Result<(), Self::Error> {
        self.unflushed.push(item);
        Ok(())
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.unflushed.is_empty() {
            let write = std::mem::take(&mut self.unflushed);
            self.writes.lock().unwrap().push(write);
        }
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_flush(cx)
    }
}

type Writes = Arc<Mutex<Vec<Vec<ClientFrame>>>>;

/// A client connected to a server that says hello with `version`; the
/// server's sender, and the client's writes.
async fn connected(version: u16) -> (Client, Events, fmpsc::UnboundedSender<ServerFrame>, Writes) {
    connected_with(version, ClientConfig::default()).await
}

async fn connected_with(
    version: u16,
    config: ClientConfig,
) -> (Client, Events, fmpsc::UnboundedSender<ServerFrame>, Writes) {
    let (server, incoming) = fmpsc::unbounded();
    let writes = Writes::default();
    let conn = Recording {
        incoming,
        unflushed: Vec::new(),
        writes: writes.clone(),
    };
    server
        .unbounded_send(ServerFrame::Hello {
            version,
            server: "test".into(),
        })
        .unwrap();
    let (client, events) = Client::connect_with(conn, config).await.unwrap();
    (client, events, server, writes)
}

#[tokio::test]
async fn queued_requests_leave_in_one_write_in_order() {
    let (client, _events, server, writes) = connected(PROTOCOL_VERSION).await;

    // Each first poll queues a request; the driver has not run yet.
    let mut pings: Vec<_> = (0..10).map(|_| Box::pin(client.ping())).collect();
    for ping in &mut pings {
        assert!(futures::poll!(ping.as_mut()).is_pending());
    }
    tokio::task::yield_now().await;

    let sent = writes.lock().unwrap().clone();
    assert!(matches!(sent[0][..], [ClientFrame::Hello { .. }]));
    assert_eq!(sent.len(), 2, "one write for the burst: {sent:?}");
    let ids: Vec<u32> = sent[1]
        .iter()
        .map(|frame| match frame {
            ClientFrame::Request {
                req_id,
                request: Request::Ping,
            } => *req_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());

    for req_id in ids {
        let result = Ok(Response::Pong);
        server
            .unbounded_send(ServerFrame::Response { req_id, result })
            .unwrap();
    }
    for ping in pings {
        ping.await.unwrap();
    }
}

#[tokio::test]
async fn a_burst_past_the_limit_is_split_and_loses_nothing() {
    let (client, _events, server, writes) = connected(PROTOCOL_VERSION).await;
    let count = MAX_BURST + 10;
    let mut pings: Vec<_> = (0..count).map(|_| Box::pin(client.ping())).collect();
    for ping in &mut pings {
        assert!(futures::poll!(ping.as_mut()).is_pending());
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let sent = writes.lock().unwrap()[1..].to_vec();
    assert_eq!(
        sent.iter().map(Vec::len).collect::<Vec<_>>(),
        [MAX_BURST, 10]
    );
    for req_id in 1..=count as u32 {
        let result = Ok(Response::Pong);
        server
            .unbounded_send(ServerFrame::Response { req_id, result })
            .unwrap();
    }
    for ping in pings {
        ping.await.unwrap();
    }
}

#[tokio::test]
async fn automatic_acks_use_the_frame_the_server_speaks() {
    for version in [OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION] {
        let (client, mut events, server, writes) = connected(version).await;
        assert_eq!(client.protocol_version(), version);
        let receipt = Event::Delivered {
            id: 9,
            ids: vec![1],
        };
        server
            .unbounded_send(ServerFrame::Event(receipt.clone()))
            .unwrap();
        assert_eq!(events.next().await, Some(receipt));
        // The ack goes out once the driver has nothing else to do.
        let ack = loop {
            if let Some(write) = writes.lock().unwrap().get(1) {
                break write.clone();
            }
            tokio::task::yield_now().await;
        };
        match ack[..] {
            [ClientFrame::Request {
                request: Request::Ack { ref ids },
                ..
            }] if version == 1 => assert_eq!(ids, &[9]),
            [ClientFrame::Ack { ref ids }] if version >= 2 => assert_eq!(ids, &[9]),
            _ => panic!("version {version}: acked with {ack:?}"),
        }
    }
}

#[tokio::test]
async fn a_server_of_an_unknown_version_is_refused() {
    let (server, incoming) = fmpsc::unbounded();
    let conn = Recording {
        incoming,
        unflushed: Vec::new(),
        writes: Writes::default(),
    };
    let version = PROTOCOL_VERSION + 1;
    let server_name = "future".to_string();
    server
        .unbounded_send(ServerFrame::Hello {
            version,
            server: server_name,
        })
        .unwrap();
    match Client::connect(conn).await {
        Err(ClientError::Transport(TransportError::Codec(CodecError::WrongVersion {
            got,
            supported,
        }))) => {
            assert_eq!((got, supported), (version, PROTOCOL_VERSION));
        }
        other => panic!("connected to a server of version {version}: {other:?}"),
    }
}

#[tokio::test]
async fn a_long_backlog_is_acked_in_frames_the_server_accepts() {
    let (_client, mut events, server, writes) = connected(PROTOCOL_VERSION).await;
    // Queued before the driver runs, so all arrive before it is idle.
    let count = limits::MAX_ACK_IDS as u64 + 10;
    for id in 1..=count {
        let receipt = Event::Delivered { id, ids: vec![] };
        server.unbounded_send(ServerFrame::Event(receipt)).unwrap();
    }
    for _ in 0..count {
        events.next().await.unwrap();
    }
    let acks = loop {
        let acks: Vec<Vec<ItemId>> = writes.lock().unwrap()[1..]
            .iter()
            .flatten()
            .map(|frame| match frame {
                ClientFrame::Ack { ids } => ids.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        if acks.iter().map(Vec::len).sum::<usize>() as u64 >= count {
            break acks;
        }
        tokio::task::yield_now().await;
    };
    assert!(acks.len() > 1, "{} acks", acks.len());
    assert!(acks.iter().all(|ids| ids.len() <= limits::MAX_ACK_IDS));
    assert_eq!(acks.concat(), (1..=count).collect::<Vec<_>>());
}

#[tokio::test]
async fn acks_wait_for_the_delay_or_go_before_a_request() {
    let config = ClientConfig {
        ack_delay: std::time::Duration::from_secs(3600),
        ..ClientConfig::default()
    };
    let (client, mut events, server, writes) = connected_with(PROTOCOL_VERSION, config).await;
    for id in [4, 5] {
        let receipt = Event::Delivered { id, ids: vec![] };
        server.unbounded_send(ServerFrame::Event(receipt)).unwrap();
        events.next().await.unwrap();
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(writes.lock().unwrap().len(), 1, "only the hello so far");

    let mut ping = Box::pin(client.ping());
    assert!(futures::poll!(ping.as_mut()).is_pending());
    tokio::task::yield_now().await;
    let sent = writes.lock().unwrap()[1].clone();
    assert!(
        matches!(&sent[..], [ClientFrame::Ack { ids }, ClientFrame::Request { request: Request::Ping, .. }] if ids == &[4, 5]),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_config_that_makes_no_sense_is_refused_before_anything_is_sent() {
    let (_server, incoming) = fmpsc::unbounded();
    let writes = Writes::default();
    let conn = Recording {
        incoming,
        unflushed: Vec::new(),
        writes: writes.clone(),
    };
    let config = ClientConfig {
        client_name: "x".repeat(MAX_CLIENT_NAME_LEN + 1),
        ..ClientConfig::default()
    };
    let refused = Client::connect_with(conn, config).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::Config(ConfigError::BadClientName)),
        "{refused:?}"
    );
    assert!(writes.lock().unwrap().is_empty());
}

/// The `n`th request the client wrote (hello and acks aside), once it has.
async fn nth_request(writes: &Writes, n: usize) -> (u32, Request) {
    loop {
        let found = writes
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter_map(|frame| match frame {
                ClientFrame::Request { req_id, request } => Some((*req_id, request.clone())),
                _ => None,
            })
            .nth(n);
        if let Some(found) = found {
            return found;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_list_method_fetches_every_page_or_asks_an_older_server_for_all() {
    let room = |name: &str| RoomInfo {
        name: name.into(),
        owner: "ann".into(),
        members: 1,
        joined: false,
    };
    let names = |rooms: Vec<RoomInfo>| rooms.into_iter().map(|r| r.name).collect::<Vec<_>>();

    let (client, _events, server, writes) = connected(PROTOCOL_VERSION).await;
    let listing = tokio::spawn(async move { client.rooms().await });
    let pages = [
        (None, vec![room("a"), room("b")], Some("b".to_string())),
        (Some("b".to_string()), vec![room("c")], None),
    ];
    for (n, (after, page, next)) in pages.into_iter().enumerate() {
        let (req_id, request) = nth_request(&writes, n).await;
        let limit = limits::MAX_PAGE;
        assert_eq!(
            request,
            Request::Page {
                list: List::Rooms,
                after,
                limit
            }
        );
        let items = Items::Rooms(page);
        let result = Ok(Response::Page { items, next });
        server
            .unbounded_send(ServerFrame::Response { req_id, result })
            .unwrap();
    }
    assert_eq!(names(listing.await.unwrap().unwrap()), ["a", "b", "c"]);

    let (client, _events, server, writes) = connected(2).await;
    let listing = tokio::spawn(async move { client.rooms().await });
    let (req_id, request) = nth_request(&writes, 0).await;
    assert_eq!(
        request,
        Request::ListRooms,
        "a version 2 server has no pages"
    );
    let result = Ok(Response::Rooms(vec![room("a")]));
    server
        .unbounded_send(ServerFrame::Response { req_id, result })
        .unwrap();
    assert_eq!(names(listing.await.unwrap().unwrap()), ["a"]);
    // Nor is it sent a page request it would not understand.
    let (client, _events, _server, writes) = connected(2).await;
    let refused = client.page(List::Rooms, None, 10).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Unsupported {
                server: 2,
                needed: 3
            })
        ),
        "{refused:?}"
    );
    assert_eq!(writes.lock().unwrap().len(), 1, "only the hello went out");
}

/// Ids made at once, on several threads, are all different, and each
/// thread's grow: a burst of sends within one millisecond never reuses one.
#[test]
fn fresh_client_msg_ids_never_repeat_and_grow() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..20_000)
                    .map(|_| super::fresh_client_msg_id())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = std::collections::HashSet::new();
    for thread in threads {
        let ids = thread.join().unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "each thread's grow");
        all.extend(ids);
    }
    assert_eq!(all.len(), 80_000, "none made twice");
}
