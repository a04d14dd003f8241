//! Lists in pages: users, friends, rooms, members, files and history, each a
//! page at a time, and every page filled only up to what fits in a frame.
//!
//! A page asks the store for one row more than it may hold, so it knows
//! whether a next page exists, and stops adding rows once their encoded size
//! would pass the frame limit (less [`limits::PAGE_FRAME_OVERHEAD`]). It always
//! holds its first row, so paging always gets on; a row too big for a frame on
//! its own (a history message on a server whose frame limit is below the text
//! limit) fails in the writer, which logs it and closes the connection. The
//! list requests older than [`Request::Page`](crate::protocol::Request::Page)
//! answer the first page.

use std::str::FromStr;

use serde::Serialize;

use super::conn::{internal, Conn, Reply};
use super::files::info;
use crate::friends::LinkState;
use crate::protocol::{
    limits, ErrorCode, FileInfo, FriendEntry, Items, List, MemberEntry, Message, Peer, Response,
    RoomInfo,
};
use crate::store::UserId;

/// A page's items, and the cursor of the next page (`None` at the end).
type Page<T> = (Vec<T>, Option<String>);

/// The encoded size of one item.
fn encoded_len<T: Serialize>(item: &T) -> usize {
    postcard::serialize_with_flavor(item, postcard::ser_flavors::Size::default())
        .expect("protocol values always serialize")
}

/// Fills a page from `rows` (each with the cursor that goes on after it, in list
/// order, at most `limit + 1`): up to `limit` items and `budget` encoded bytes,
/// but always the first.
fn fill<T: Serialize>(
    rows: impl IntoIterator<Item = (String, T)>,
    limit: usize,
    budget: usize,
) -> Page<T> {
    let mut items = Vec::new();
    let (mut used, mut last) = (0, None);
    for (cursor, item) in rows {
        let size = encoded_len(&item);
        if items.len() == limit || (!items.is_empty() && used + size > budget) {
            return (items, last);
        }
        used += size;
        items.push(item);
        last = Some(cursor);
    }
    (items, None)
}

/// A cursor of a list ordered by a number (an id, a seq); `InvalidArgument` if
/// it is not one this server made.
fn numeric<T: FromStr>(after: Option<String>) -> Result<Option<T>, ErrorCode> {
    after
        .map(|cursor| cursor.parse().map_err(|_| ErrorCode::InvalidArgument))
        .transpose()
}

impl Conn {
    /// How many encoded bytes of items a page may hold.
    fn page_budget(&self) -> usize {
        self.state
            .config
            .max_frame_len
            .saturating_sub(limits::PAGE_FRAME_OVERHEAD)
    }

    /// Answers `Request::Page`.
    pub(super) async fn page(&self, list: List, after: Option<String>, limit: u32) -> Reply {
        let limit = limit.clamp(1, limits::MAX_PAGE) as usize;
        let (items, next) = match list {
            List::Users { prefix } => {
                let (page, next) = self.users_page(prefix, after, limit).await?;
                (Items::Users(page), next)
            }
            List::Friends => {
                let (page, next) = self.friends_page(after, limit).await?;
                (Items::Friends(page), next)
            }
            List::Rooms => {
                let (page, next) = self.rooms_page(after, limit).await?;
                (Items::Rooms(page), next)
            }
            List::Members { room } => {
                let (page, next) = self.members_page(room, after, limit).await?;
                (Items::Members(page), next)
            }
            List::Files { peer } => {
                let (page, next) = self.files_page(peer, after, limit).await?;
                (Items::Files(page), next)
            }
            List::History { peer } => {
                let before = numeric(after)?;
                let (page, next) = self.history_page(peer, before, limit).await?;
                (Items::History(page), next)
            }
        };
        Ok(Response::Page { items, next })
    }

    /// Names that start with `prefix`, in lowercase order.
    async fn users_page(
        &self,
        prefix: String,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page<String>, ErrorCode> {
        if prefix.len() > limits::MAX_USERNAME_LEN {
            return Ok((Vec::new(), None));
        }
        let names = self
            .state
            .store
            .search_users(&prefix, after.as_deref(), limit + 1)
            .await
            .map_err(internal)?;
        let rows = names.into_iter().map(|name| (name.to_lowercase(), name));
        Ok(fill(rows, limit, self.page_budget()))
    }

    /// The first page of users whose name starts with `query`, at most `limit`
    /// (and [`limits::MAX_SEARCH_RESULTS`]).
    pub(super) async fn search(&self, query: String, limit: u32) -> Reply {
        let limit = limit.min(limits::MAX_SEARCH_RESULTS) as usize;
        let (names, _) = self.users_page(query, None, limit).await?;
        Ok(Response::Users(names))
    }

    async fn friends_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page<FriendEntry>, ErrorCode> {
        let me = self.me();
        let links = self
            .state
            .store
            .links_page(me.id, numeric(after)?.map(UserId), limit + 1)
            .await
            .map_err(internal)?;
        let rows = links.into_iter().filter_map(|(user, link)| {
            let state = link.friend_state()?;
            let online = link.state == LinkState::Friends && self.state.is_online(user.id);
            let entry = FriendEntry {
                user: user.name,
                state,
                online,
            };
            Some((user.id.0.to_string(), entry))
        });
        Ok(fill(rows, limit, self.page_budget()))
    }

    /// The first page of the friend list.
    pub(super) async fn list_friends(&self) -> Reply {
        let (page, _) = self.friends_page(None, limits::MAX_PAGE as usize).await?;
        Ok(Response::Friends(page))
    }

    async fn rooms_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page<RoomInfo>, ErrorCode> {
        let me = self.me();
        let rooms = self
            .state
            .store
            .rooms(me.id, after.as_deref(), limit + 1)
            .await
            .map_err(internal)?;
        let rows = rooms.into_iter().map(|listing| {
            let cursor = listing.room.name.to_lowercase();
            let info = RoomInfo {
                name: listing.room.name,
                owner: listing.owner,
                members: listing.members,
                joined: listing.joined,
            };
            (cursor, info)
        });
        Ok(fill(rows, limit, self.page_budget()))
    }

    /// The first page of the room list.
    pub(super) async fn list_rooms(&self) -> Reply {
        let (page, _) = self.rooms_page(None, limits::MAX_PAGE as usize).await?;
        Ok(Response::Rooms(page))
    }

    /// Who is in a room, and who of them is online: for its members only
    /// (presence is otherwise for friends).
    async fn members_page(
        &self,
        room: String,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page<MemberEntry>, ErrorCode> {
        let room = self.joined_room(&self.me(), &room).await?;
        let members = self
            .state
            .store
            .room_members_page(room.id, numeric(after)?.map(UserId), limit + 1)
            .await
            .map_err(internal)?;
        let rows = members.into_iter().map(|user| {
            let entry = MemberEntry {
                online: self.state.is_online(user.id),
                user: user.name,
            };
            (user.id.0.to_string(), entry)
        });
        Ok(fill(rows, limit, self.page_budget()))
    }

    /// The first page of a room's members.
    pub(super) async fn members(&self, room: String) -> Reply {
        let (page, _) = self
            .members_page(room, None, limits::MAX_PAGE as usize)
            .await?;
        Ok(Response::Members(page))
    }

    async fn files_page(
        &self,
        peer: Peer,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page<FileInfo>, ErrorCode> {
        let me = self.me();
        let after = numeric(after)?;
        let store = &self.state.store;
        let files = match peer {
            Peer::User(name) => {
                let other = self.resolve(&name).await?;
                store.direct_files(me.id, other.id, after, limit + 1).await
            }
            Peer::Room(name) => {
                let room = self.joined_room(&me, &name).await?;
                store.room_files(room.id, after, limit + 1).await
            }
        }
        .map_err(internal)?;
        let rows = files
            .into_iter()
            .map(|file| (file.id.to_string(), info(file)));
        Ok(fill(rows, limit, self.page_budget()))
    }

    /// The first page of a conversation's files.
    pub(super) async fn list_files(&self, peer: Peer) -> Reply {
        let (page, _) = self
            .files_page(peer, None, limits::MAX_PAGE as usize)
            .await?;
        Ok(Response::Files(page))
    }

    /// Messages below `before_seq`, newest first; the cursor of the next page is
    /// the oldest seq of this one.
    async fn history_page(
        &self,
        peer: Peer,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Page<Message>, ErrorCode> {
        let limit = limit.min(limits::MAX_HISTORY_PAGE as usize);
        let me = self.me();
        let store = &self.state.store;
        let messages = match peer {
            Peer::User(name) => {
                let other = self.resolve(&name).await?;
                store
                    .direct_history(me.id, other.id, before_seq, limit + 1)
                    .await
            }
            Peer::Room(name) => {
                let room = self.joined_room(&me, &name).await?;
                store.room_history(room.id, before_seq, limit + 1).await
            }
        }
        .map_err(internal)?;
        let rows = messages.into_iter().map(|m| (m.seq.to_string(), m));
        Ok(fill(rows, limit, self.page_budget()))
    }

    /// A page of history as `Request::History` asks: fewer messages than asked
    /// if that many do not fit in a frame.
    pub(super) async fn history(&self, peer: Peer, before_seq: Option<u64>, limit: u32) -> Reply {
        let (page, _) = self.history_page(peer, before_seq, limit as usize).await?;
        Ok(Response::History(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> impl Iterator<Item = (String, String)> {
        (0..n).map(|i| (i.to_string(), format!("{i:04}")))
    }

    #[test]
    fn a_page_stops_at_its_limit_or_its_budget_and_says_where_to_go_on() {
        // Each item is 5 bytes encoded (a length and four digits).
        assert_eq!(encoded_len(&"0000".to_string()), 5);
        assert_eq!(
            fill(rows(3), 5, 1000),
            (vec!["0000".into(), "0001".into(), "0002".into()], None)
        );
        let (items, next) = fill(rows(6), 5, 1000);
        assert_eq!((items.len(), next.as_deref()), (5, Some("4")));
        let (items, next) = fill(rows(6), 5, 12);
        assert_eq!((items.len(), next.as_deref()), (2, Some("1")));
        let (items, next) = fill(rows(2), 5, 1);
        assert_eq!(
            (items.len(), next.as_deref()),
            (1, Some("0")),
            "a page always holds its first item"
        );
    }
}
