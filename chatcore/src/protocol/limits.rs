//! Limits of the protocol that both sides enforce.

/// Longest text body, in bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;
/// Longest friend-request note, in bytes.
pub const MAX_NOTE_LEN: usize = 512;
/// Most results of one search.
pub const MAX_SEARCH_RESULTS: u32 = 100;
/// Most messages of one history page.
pub const MAX_HISTORY_PAGE: u32 = 200;
/// Most items of one page of any other list (`Request::Page`, and the
/// first page the older list requests answer).
pub const MAX_PAGE: u32 = 1000;
/// Room left in a frame beside a page's items for the rest of the response
/// (its request id, variant tags, item count and next cursor): a page is
/// filled up to the frame limit less this.
pub const PAGE_FRAME_OVERHEAD: usize = 256;
/// Most ids in one ack.
pub const MAX_ACK_IDS: usize = 4096;
/// Bytes per file chunk (well under the default frame limit).
pub const FILE_CHUNK: u32 = 256 * 1024;
/// Room to leave in a frame beside a file chunk for the rest of its request
/// (generous: the request's own fields take a few dozen bytes).
pub const CHUNK_FRAME_OVERHEAD: usize = 1024;
/// Default largest file, in bytes.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 50 * 1024 * 1024;
/// Longest file name, in bytes.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Longest device name, in bytes.
pub const MAX_DEVICE_NAME_LEN: usize = 64;
/// How often one connection's typing notices to one place are passed on.
pub const TYPING_EVERY_MS: u64 = 1_000;
/// How long a client shows a typing notice ([`Event::Typing`](super::Event::Typing)).
pub const TYPING_SHOWN_MS: u32 = 5_000;
/// Messages pushed to a member when they join a room.
pub const ROOM_RECENT_ON_JOIN: u32 = 20;
/// Shortest username.
pub const MIN_USERNAME_LEN: usize = 3;
/// Longest username.
pub const MAX_USERNAME_LEN: usize = 32;
/// Shortest password, in bytes.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;
