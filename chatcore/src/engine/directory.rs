//! In-memory caches of what the chat hot path reads: user by name, the links
//! between two users, rooms by name and room members. Names never change and users are never deleted, so the user
//! cache never goes stale. Links change only through the engine's own friend
//! operations, which write the committed result through to the cache; a fill after
//! a miss never overwrites an entry, so a fill racing with an operation cannot
//! leave the older value behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::friends::Link;
use crate::store::{Room, RoomId, Store, StoreError, User, UserId};

/// Most entries per cache before it is cleared (a crude bound on memory).
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct Directory {
    users: RwLock<HashMap<String, User>>,
    links: RwLock<HashMap<(UserId, UserId), Link>>,
    rooms: RwLock<HashMap<String, Room>>,
    members: Mutex<HashMap<RoomId, Members>>,
}

/// A room's cached member list. `version` counts membership changes, so a fill
/// that read the store before a change cannot install the older list after it.
#[derive(Debug, Default)]
struct Members {
    version: u64,
    list: Option<Arc<[User]>>,
}

impl Directory {
    /// The user named `name` (any case), if there is one.
    pub async fn user(&self, store: &dyn Store, name: &str) -> Result<Option<User>, StoreError> {
        let key = name.to_lowercase();
        if let Some(user) = self.users.read().expect("directory lock").get(&key) {
            return Ok(Some(user.clone()));
        }
        let Some(account) = store.account_by_name(name).await? else {
            return Ok(None);
        };
        let user = account.user;
        let mut users = self.users.write().expect("directory lock");
        if users.len() >= MAX_ENTRIES {
            users.clear();
        }
        users.insert(key, user.clone());
        Ok(Some(user))
    }

    /// `owner`'s link to `other`.
    pub async fn link(
        &self,
        store: &dyn Store,
        owner: UserId,
        other: UserId,
    ) -> Result<Link, StoreError> {
        if let Some(link) = self
            .links
            .read()
            .expect("directory lock")
            .get(&(owner, other))
        {
            return Ok(link.clone());
        }
        let link = store.link(owner, other).await?;
        let mut links = self.links.write().expect("directory lock");
        if links.len() >= MAX_ENTRIES {
            links.clear();
        }
        Ok(links.entry((owner, other)).or_insert(link).clone())
    }

    /// Records committed links (after a friend operation).
    pub fn set_links(&self, a: UserId, b: UserId, a_to_b: Link, b_to_a: Link) {
        let mut links = self.links.write().expect("directory lock");
        links.insert((a, b), a_to_b);
        links.insert((b, a), b_to_a);
    }

    /// The room named `name` (any case), if there is one.
    pub async fn room(&self, store: &dyn Store, name: &str) -> Result<Option<Room>, StoreError> {
        let key = name.to_lowercase();
        if let Some(room) = self.rooms.read().expect("directory lock").get(&key) {
            return Ok(Some(room.clone()));
        }
        let Some(room) = store.room_by_name(name).await? else {
            return Ok(None);
        };
        let mut rooms = self.rooms.write().expect("directory lock");
        if rooms.len() >= MAX_ENTRIES {
            rooms.clear();
        }
        Ok(Some(rooms.entry(key).or_insert(room).clone()))
    }

    /// The members of `room`.
    pub async fn members(
        &self,
        store: &dyn Store,
        room: RoomId,
    ) -> Result<Arc<[User]>, StoreError> {
        let version = {
            let mut members = self.members.lock().expect("directory lock");
            let entry = members.entry(room).or_default();
            if let Some(list) = &entry.list {
                return Ok(Arc::clone(list));
            }
            entry.version
        };
        let list: Arc<[User]> = store.room_members(room).await?.into();
        let mut members = self.members.lock().expect("directory lock");
        if members.len() >= MAX_ENTRIES {
            members.clear();
        }
        let entry = members.entry(room).or_default();
        if entry.version == version {
            entry.list = Some(Arc::clone(&list));
        }
        Ok(list)
    }

    /// Forgets `room`'s members after a committed join or leave.
    pub fn members_changed(&self, room: RoomId) {
        let mut members = self.members.lock().expect("directory lock");
        let entry = members.entry(room).or_default();
        entry.version += 1;
        entry.list = None;
    }

    /// Forgets a deleted room.
    pub fn room_deleted(&self, room: &Room) {
        self.rooms
            .write()
            .expect("directory lock")
            .remove(&room.name.to_lowercase());
        self.members_changed(room.id);
    }
}
