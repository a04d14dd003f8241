//! Room handlers: create, join, leave, delete (the room and member lists are
//! in `lists`; live delivery of room messages is `sequencer`'s).

use std::sync::Arc;

use super::conn::{internal, Conn, Reply};
use crate::protocol::{is_valid_name, limits, ErrorCode, Event, Response, ServerFrame};
use crate::store::{Room, User};

impl Conn {
    /// Looks a room up, or `NoSuchRoom`.
    pub(super) async fn room(&self, name: &str) -> Result<Room, ErrorCode> {
        self.state
            .directory
            .room(&*self.state.store, name)
            .await
            .map_err(internal)?
            .ok_or(ErrorCode::NoSuchRoom)
    }

    /// Looks up a room `me` is a member of: `NoSuchRoom` or `NotRoomMember`.
    pub(super) async fn joined_room(&self, me: &User, name: &str) -> Result<Room, ErrorCode> {
        let room = self.room(name).await?;
        match self.state.store.is_member(room.id, me.id).await {
            Ok(true) => Ok(room),
            Ok(false) => Err(ErrorCode::NotRoomMember),
            Err(e) => Err(internal(e)),
        }
    }

    /// Pushes an event to every online member of `room`.
    pub(super) async fn broadcast(&self, room: &Room, event: Event) {
        let Ok(members) = self
            .state
            .directory
            .members(&*self.state.store, room.id)
            .await
            .map_err(internal)
        else {
            return;
        };
        let frame = Arc::new(ServerFrame::Event(event));
        self.state.push_all(members.iter().map(|m| m.id), &frame);
    }

    pub(super) async fn create_room(&self, name: String) -> Reply {
        if !is_valid_name(&name) {
            return Err(ErrorCode::InvalidRoomName);
        }
        let me = self.me();
        let max_owned = self.state.config.max_rooms_per_owner;
        let room = self
            .state
            .store
            .create_room(&me, &name, max_owned)
            .await
            .map_err(internal)??;
        // A deleted room of that name may still be cached.
        self.state.room_changed(&room.name, None);
        tracing::info!(room = %room.name, owner = %me.name, "room created");
        Ok(Response::Done)
    }

    /// Joins; the response is followed by the room's recent messages, oldest first.
    pub(super) async fn join_room(&self, req_id: u32, name: String) {
        let me = self.me();
        let room = match self.room(&name).await {
            Ok(room) => room,
            Err(code) => return self.respond(req_id, Err(code)),
        };
        let joined = match self.state.store.join_room(room.id, me.id).await {
            Ok(Ok(joined)) => joined,
            // Deleted since the lookup.
            Ok(Err(code)) => return self.respond(req_id, Err(code)),
            Err(e) => return self.respond(req_id, Err(internal(e))),
        };
        self.respond(req_id, Ok(Response::Done));
        if joined {
            self.state.members_changed(room.id);
            let notice = Event::RoomJoined {
                room: room.name.clone(),
                user: me.name.clone(),
            };
            self.broadcast(&room, notice).await;
        }
        let recent = self
            .state
            .store
            .room_history(room.id, None, limits::ROOM_RECENT_ON_JOIN as usize)
            .await;
        match recent {
            Ok(recent) => {
                for message in recent.into_iter().rev() {
                    if !self.send_event_waiting(Event::Message(message)).await {
                        break; // the session is going away
                    }
                }
            }
            Err(e) => {
                internal(e);
            }
        }
    }

    pub(super) async fn leave_room(&self, name: String) -> Reply {
        let me = self.me();
        let room = self.room(&name).await?;
        if !self
            .state
            .store
            .leave_room(room.id, me.id)
            .await
            .map_err(internal)?
        {
            return Err(ErrorCode::NotRoomMember);
        }
        self.state.members_changed(room.id);
        let notice = Event::RoomLeft {
            room: room.name.clone(),
            user: me.name.clone(),
        };
        self.broadcast(&room, notice.clone()).await;
        // The leaver's own sessions are no longer members: tell them directly.
        self.state
            .push(me.id, &Arc::new(ServerFrame::Event(notice)));
        Ok(Response::Done)
    }

    pub(super) async fn delete_room(&self, name: String) -> Reply {
        let me = self.me();
        let room = self.room(&name).await?;
        if room.owner != me.id {
            return Err(ErrorCode::NotRoomOwner);
        }
        let members = self
            .state
            .store
            .delete_room(room.id)
            .await
            .map_err(internal)?;
        self.state.room_changed(&room.name, Some(room.id));
        tracing::info!(room = %room.name, "room deleted");
        let frame = Arc::new(ServerFrame::Event(Event::RoomDeleted { room: room.name }));
        self.state.push_all(members, &frame);
        Ok(Response::Done)
    }
}
