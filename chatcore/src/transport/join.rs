//! [`join`]: one server, two listeners (TCP and WebSocket, say).

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::{Sink, Stream};

use super::{Transport, TransportError};

/// Accepts from both `first` and `second` (either may be `None`, which yields
/// nothing). The server's connection caps count the connections of both.
///
/// Each side's `accept` must be cancel-safe (dropped before it completes, it
/// loses no connection): those of chatcore's transports are.
pub fn join<A: Transport, B: Transport>(first: A, second: B) -> Joined<A, B> {
    Joined {
        first: Some(first),
        second: Some(second),
    }
}

/// Two transports as one ([`join`]); it ends when both have ended.
#[derive(Debug)]
pub struct Joined<A, B> {
    first: Option<A>,
    second: Option<B>,
}

/// A connection of either side of a [`Joined`] transport.
#[derive(Debug)]
pub enum Either<A, B> {
    /// From the first transport.
    First(A),
    /// From the second.
    Second(B),
}

type Accepted<C> = Result<Option<(C, Option<SocketAddr>)>, TransportError>;

#[async_trait]
impl<A: Transport, B: Transport> Transport for Joined<A, B> {
    type Connection = Either<A::Connection, B::Connection>;

    async fn accept(&mut self) -> Accepted<Self::Connection> {
        loop {
            let accepted = match (&mut self.first, &mut self.second) {
                (None, None) => return Ok(None),
                (Some(a), None) => First(a.accept().await),
                (None, Some(b)) => Second(b.accept().await),
                (Some(a), Some(b)) => tokio::select! {
                    accepted = a.accept() => First(accepted),
                    accepted = b.accept() => Second(accepted),
                },
            };
            match accepted {
                First(Ok(None)) => self.first = None,
                Second(Ok(None)) => self.second = None,
                First(r) => return r.map(|o| o.map(|(c, peer)| (Either::First(c), peer))),
                Second(r) => return r.map(|o| o.map(|(c, peer)| (Either::Second(c), peer))),
            }
        }
    }
}

use Side::{First, Second};

/// Which side an accept came from.
enum Side<A, B> {
    First(A),
    Second(B),
}

/// `None` accepts nothing: a listener that is switched off.
#[async_trait]
impl<T: Transport> Transport for Option<T> {
    type Connection = T::Connection;

    async fn accept(&mut self) -> Accepted<Self::Connection> {
        match self {
            Some(t) => t.accept().await,
            None => Ok(None),
        }
    }
}

impl<A, B, T> Stream for Either<A, B>
where
    A: Stream<Item = T> + Unpin,
    B: Stream<Item = T> + Unpin,
{
    type Item = T;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.get_mut() {
            Either::First(a) => Pin::new(a).poll_next(cx),
            Either::Second(b) => Pin::new(b).poll_next(cx),
        }
    }
}

impl<A, B, Item> Sink<Item> for Either<A, B>
where
    A: Sink<Item, Error = TransportError> + Unpin,
    B: Sink<Item, Error = TransportError> + Unpin,
{
    type Error = TransportError;
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        match self.get_mut() {
            Either::First(a) => Pin::new(a).poll_ready(cx),
            Either::Second(b) => Pin::new(b).poll_ready(cx),
        }
    }
    fn start_send(self: Pin<&mut Self>, item: Item) -> Result<(), TransportError> {
        match self.get_mut() {
            Either::First(a) => Pin::new(a).start_send(item),
            Either::Second(b) => Pin::new(b).start_send(item),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        match self.get_mut() {
            Either::First(a) => Pin::new(a).poll_flush(cx),
            Either::Second(b) => Pin::new(b).poll_flush(cx),
        }
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        match self.get_mut() {
            Either::First(a) => Pin::new(a).poll_close(cx),
            Either::Second(b) => Pin::new(b).poll_close(cx),
        }
    }
}
