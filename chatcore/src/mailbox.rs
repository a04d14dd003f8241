//! What other tasks hand one session: frames for its writer, a [`Control`]
//! that stops it, and the wish for a fill of its stream.
//!
//! One small allocation per session instead of two tokio channels (a bounded frame
//! channel and a control channel hold about 1.3 KiB before the first message): at
//! 100 000 idle sessions that is most of their memory. The writer takes the frame
//! queue's buffer with the frames, so an idle session holds none.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::protocol::ServerFrame;

/// Why the engine stops a session from outside its own task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    /// A newer login replaced this session.
    Kick(String),
    /// Its outbound queue is full: the client does not read.
    SlowReader,
    /// Its device was revoked.
    Revoked,
    /// Its writer failed (a frame that cannot be encoded, a broken socket): no
    /// more frames reach the client.
    WriteFailed,
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue holds its capacity in frames or bytes: the client does not read.
    Full,
    /// The writer is gone.
    Closed,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
    capacity: usize,
    /// Most encoded bytes queued (a single larger frame still goes alone).
    capacity_bytes: usize,
    /// Frames were queued, or the mailbox closed: for the writer.
    readable: Notify,
    /// The writer took frames: for a sender waiting for room.
    writable: Notify,
    /// A control arrived, or a fill is wanted: for the session's task.
    signalled: Notify,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Arc<ServerFrame>>,
    /// The encoded size of `frames`.
    bytes: usize,
    closed: bool,
    /// The first control sent (any control ends the session).
    control: Option<Control>,
    /// A live item of the session's stream showed a gap: a fill must close it.
    fill_wanted: bool,
}

/// What [`Mailbox::signalled`] resolves with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Stop the session.
    Stop(Control),
    /// Fill the session's stream from the store.
    Fill,
}

impl Mailbox {
    /// An empty mailbox that queues at most `capacity` frames and
    /// `capacity_bytes` encoded bytes. The writer holds what it took besides, so
    /// a session that does not read pins at most twice that.
    pub fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Mailbox {
            state: Mutex::default(),
            capacity: capacity.max(1),
            capacity_bytes,
            readable: Notify::new(),
            writable: Notify::new(),
            signalled: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("mailbox lock")
    }

    /// Queues `frame` unless the queue is full or closed.
    pub fn try_push(&self, frame: Arc<ServerFrame>) -> Result<(), PushError> {
        self.push_within(frame, self.capacity, self.capacity_bytes)
    }

    /// Queues `frame` unless the queue holds `frames` frames, or `bytes` bytes
    /// with it (a frame alone always fits), or is closed.
    fn push_within(
        &self,
        frame: Arc<ServerFrame>,
        frames: usize,
        bytes: usize,
    ) -> Result<(), PushError> {
        {
            let mut state = self.state();
            if state.closed {
                return Err(PushError::Closed);
            }
            // Postcard's sizing pass walks the frame without copying its bytes.
            let len = postcard::experimental::serialized_size(&*frame).unwrap_or(usize::MAX);
            let over_bytes = !state.frames.is_empty() && state.bytes.saturating_add(len) > bytes;
            if state.frames.len() >= frames || over_bytes {
                return Err(PushError::Full);
            }
            state.bytes = state.bytes.saturating_add(len);
            state.frames.push_back(frame);
        }
        // Stores a permit if the writer is not waiting right now: nothing is lost.
        self.readable.notify_one();
        Ok(())
    }

    /// Queues `frame` from a bulk send (a backlog), waiting while the queue is
    /// half full: the other half stays free for what cannot wait (live events,
    /// answers to the requests a client sends meanwhile), which a full queue
    /// would refuse as a slow reader's. For the session's own task (one waiter
    /// at a time).
    pub async fn push_bulk(&self, frame: Arc<ServerFrame>) -> Result<(), PushError> {
        let (frames, bytes) = ((self.capacity / 2).max(1), self.capacity_bytes / 2);
        loop {
            match self.push_within(Arc::clone(&frame), frames, bytes) {
                Err(PushError::Full) => self.writable.notified().await,
                done => return done,
            }
        }
    }

    /// Waits for frames and takes them all; `None` once the mailbox is closed and
    /// empty. For the writer. The queue's buffer leaves with the frames, so an
    /// idle session keeps none.
    pub async fn take_all(&self) -> Option<VecDeque<Arc<ServerFrame>>> {
        loop {
            {
                let mut state = self.state();
                if !state.frames.is_empty() {
                    let frames = std::mem::take(&mut state.frames);
                    state.bytes = 0;
                    drop(state);
                    self.writable.notify_one();
                    return Some(frames);
                }
                if state.closed {
                    return None;
                }
            }
            self.readable.notified().await;
        }
    }

    /// No more frames: the writer ends once it has taken what is queued.
    pub fn close(&self) {
        self.state().closed = true;
        self.readable.notify_one();
        self.writable.notify_one();
    }

    /// Tells the session to stop, unless an earlier control already has.
    pub fn stop(&self, control: Control) {
        self.state().control.get_or_insert(control);
        self.signalled.notify_one();
    }

    /// Asks the session to fill its stream from the store. Kept here rather than
    /// in a waiter of its own: an idle session holds no more than this flag.
    pub fn want_fill(&self) {
        self.state().fill_wanted = true;
        self.signalled.notify_one();
    }

    /// Forgets a fill asked for before (a new login starts its own).
    pub fn forget_fill(&self) {
        self.state().fill_wanted = false;
    }

    /// Whether a control waits to be taken: work the session's own task does
    /// between frames (a login backlog) checks it to stop early.
    pub fn is_stopped(&self) -> bool {
        self.state().control.is_some()
    }

    /// Waits for a control. For the session's task.
    #[cfg(test)]
    pub async fn stopped(&self) -> Control {
        match self.signalled(false).await {
            Signal::Stop(control) => control,
            Signal::Fill => unreachable!("fills not taken"),
        }
    }

    /// Waits for a control, or (if `fill` is set: no fill runs) a wanted fill;
    /// a control goes first. For the session's task.
    pub async fn signalled(&self, fill: bool) -> Signal {
        loop {
            {
                let mut state = self.state();
                if let Some(control) = state.control.take() {
                    return Signal::Stop(control);
                }
                if fill && std::mem::take(&mut state.fill_wanted) {
                    return Signal::Fill;
                }
            }
            self.signalled.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Event;

    fn frame() -> Arc<ServerFrame> {
        Arc::new(ServerFrame::Event(Event::Ping))
    }

    #[tokio::test]
    async fn frames_arrive_in_order_until_closed_and_a_full_queue_refuses() {
        let mailbox = Mailbox::new(2, usize::MAX);
        let (a, b) = (frame(), frame());
        mailbox.try_push(Arc::clone(&a)).unwrap();
        mailbox.try_push(Arc::clone(&b)).unwrap();
        assert_eq!(mailbox.try_push(frame()), Err(PushError::Full));
        let out = mailbox.take_all().await.unwrap();
        assert!(Arc::ptr_eq(&out[0], &a) && Arc::ptr_eq(&out[1], &b));
        mailbox.try_push(frame()).unwrap();
        mailbox.close();
        assert_eq!(mailbox.try_push(frame()), Err(PushError::Closed));
        let out = mailbox.take_all().await;
        assert_eq!(
            out.map(|f| f.len()),
            Some(1),
            "what was queued still goes out"
        );
        assert!(mailbox.take_all().await.is_none());
    }

    #[tokio::test]
    async fn a_wanted_fill_waits_until_fills_are_taken_and_a_stop_goes_first() {
        use std::time::Duration;
        let mailbox = Mailbox::new(4, usize::MAX);
        mailbox.want_fill();
        let not_now = tokio::time::timeout(Duration::from_millis(50), mailbox.signalled(false));
        assert!(not_now.await.is_err(), "no fill while one runs");
        assert_eq!(mailbox.signalled(true).await, Signal::Fill);
        let taken = tokio::time::timeout(Duration::from_millis(50), mailbox.signalled(true));
        assert!(taken.await.is_err(), "one wish, one fill");
        mailbox.want_fill();
        mailbox.forget_fill();
        let forgotten = tokio::time::timeout(Duration::from_millis(50), mailbox.signalled(true));
        assert!(forgotten.await.is_err(), "a new login forgets it");
        mailbox.want_fill();
        mailbox.stop(Control::SlowReader);
        assert_eq!(
            mailbox.signalled(true).await,
            Signal::Stop(Control::SlowReader)
        );
    }

    #[tokio::test]
    async fn the_byte_bound_refuses_what_the_frame_bound_would_take() {
        let big = || {
            Arc::new(ServerFrame::Event(Event::Kicked {
                reason: "x".repeat(1000),
            }))
        };
        let mailbox = Mailbox::new(100, 2500);
        mailbox.try_push(big()).unwrap();
        mailbox.try_push(big()).unwrap();
        assert_eq!(mailbox.try_push(big()), Err(PushError::Full));
        assert_eq!(mailbox.take_all().await.map(|f| f.len()), Some(2));
        // Taken frames no longer count; one frame over the bound alone still goes.
        let huge = Arc::new(ServerFrame::Event(Event::Kicked {
            reason: "x".repeat(10_000),
        }));
        mailbox.try_push(huge).unwrap();
        assert_eq!(mailbox.try_push(big()), Err(PushError::Full));
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_room_when_the_writer_takes_frames() {
        let mailbox = Arc::new(Mailbox::new(1, usize::MAX));
        mailbox.try_push(frame()).unwrap();
        let sender = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move { mailbox.push_bulk(frame()).await }
        });
        tokio::task::yield_now().await;
        assert!(!sender.is_finished(), "waits while full");
        assert_eq!(mailbox.take_all().await.map(|f| f.len()), Some(1));
        sender.await.unwrap().unwrap();
        assert_eq!(mailbox.take_all().await.map(|f| f.len()), Some(1));
    }

    #[tokio::test]
    async fn a_bulk_sender_leaves_half_the_queue_to_what_cannot_wait() {
        let mailbox = Arc::new(Mailbox::new(4, usize::MAX));
        mailbox.push_bulk(frame()).await.unwrap();
        mailbox.push_bulk(frame()).await.unwrap();
        let bulk = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move { mailbox.push_bulk(frame()).await }
        });
        tokio::task::yield_now().await;
        assert!(!bulk.is_finished(), "waits at half full");
        mailbox.try_push(frame()).unwrap();
        mailbox.try_push(frame()).unwrap();
        assert_eq!(mailbox.try_push(frame()), Err(PushError::Full));
        assert_eq!(mailbox.take_all().await.map(|f| f.len()), Some(4));
        bulk.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_first_control_wins_and_none_is_lost() {
        let mailbox = Mailbox::new(1, usize::MAX);
        assert!(!mailbox.is_stopped());
        mailbox.stop(Control::SlowReader);
        mailbox.stop(Control::Kick("later".into()));
        assert!(mailbox.is_stopped());
        assert_eq!(mailbox.stopped().await, Control::SlowReader);
    }
}
