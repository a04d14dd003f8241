//! In-memory caches of what the chat hot path reads: user by name, the links
//! between two users, rooms by name and room members.
//!
//! The store is the truth and these are accelerators: the store checks
//! permissions again inside every write's transaction, so a stale entry can delay
//! a refusal to the store but never grant what the store refuses. Names never
//! change and users are never deleted, so the user cache never goes stale. Links,
//! rooms and members change only through the engine's own operations, which
//! invalidate the entry after their commit (in a cluster on every node: the
//! engine publishes the invalidation, and a node whose bus was cut off clears
//! the three caches when it reconnects); a fill installs what it read only if
//! no invalidation happened since it began, so a fill racing with a change can
//! never leave the older value behind.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crate::friends::Link;
use crate::store::{Room, RoomId, Store, StoreError, User, UserId};

/// Most entries per cache before it is cleared (a crude bound on memory).
const MAX_ENTRIES: usize = 1 << 20;

/// A cache whose fills lose to invalidations: `generation` counts every
/// invalidation, and a fill that began in an older generation is not installed.
/// (One counter for the whole cache: an unrelated change only costs a racing fill
/// its install, and clearing the map cannot reset a key's guard.)
#[derive(Debug)]
struct Cache<K, V> {
    inner: Mutex<Entries<K, V>>,
}

#[derive(Debug)]
struct Entries<K, V> {
    generation: u64,
    /// Hashed with foldhash, seeded per map (clients choose names): each
    /// send looks up a name and two links, and SipHash cost more than the
    /// rest of the lookup.
    map: HashMap<K, V, foldhash::fast::RandomState>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Self {
            inner: Mutex::new(Entries {
                generation: 0,
                map: HashMap::default(),
            }),
        }
    }

    /// The cached value, or the generation a fill must begin in.
    fn get<Q>(&self, key: &Q) -> Result<V, u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.inner.lock().expect("directory lock");
        inner.map.get(key).cloned().ok_or(inner.generation)
    }

    /// Installs a value read from the store since `generation` began, unless
    /// something was invalidated meanwhile.
    fn fill(&self, key: K, value: V, generation: u64) {
        let mut inner = self.inner.lock().expect("directory lock");
        if inner.generation != generation {
            return;
        }
        if inner.map.len() >= MAX_ENTRIES {
            inner.map.clear();
        }
        inner.map.insert(key, value);
    }

    /// Forgets everything (some invalidations may have been lost).
    fn clear(&self) {
        let mut inner = self.inner.lock().expect("directory lock");
        inner.generation += 1;
        inner.map.clear();
    }

    /// Forgets `keys` after a committed change.
    fn invalidate(&self, keys: impl IntoIterator<Item = K>) {
        let mut inner = self.inner.lock().expect("directory lock");
        inner.generation += 1;
        for key in keys {
            inner.map.remove(&key);
        }
    }

    /// A cached value, or one read by `load` and filled in (`load` is called
    /// only on a miss: making the store's future allocates).
    async fn get_or_load<F, L>(&self, key: K, load: L) -> Result<V, StoreError>
    where
        L: FnOnce() -> F,
        F: std::future::Future<Output = Result<V, StoreError>>,
    {
        match self.get(&key) {
            Ok(value) => Ok(value),
            Err(generation) => {
                let value = load().await?;
                self.fill(key, value.clone(), generation);
                Ok(value)
            }
        }
    }
}

/// `name` in lower case (the caches' key), without a copy when it is
/// already: ASCII without capitals lowercases to itself.
fn lowercase(name: &str) -> Cow<'_, str> {
    if name
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.to_lowercase())
    }
}

#[derive(Debug)]
pub(crate) struct Directory {
    users: Cache<String, User>,
    links: Cache<(UserId, UserId), Link>,
    rooms: Cache<String, Room>,
    members: Cache<RoomId, Arc<[User]>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            users: Cache::new(),
            links: Cache::new(),
            rooms: Cache::new(),
            members: Cache::new(),
        }
    }
}

impl Directory {
    /// The user named `name` (any case), if there is one.
    pub async fn user(&self, store: &dyn Store, name: &str) -> Result<Option<User>, StoreError> {
        let key = lowercase(name);
        // A miss is not cached: the name may be registered any moment.
        let generation = match self.users.get(&*key) {
            Ok(user) => return Ok(Some(user)),
            Err(generation) => generation,
        };
        let Some(account) = store.account_by_name(name).await? else {
            return Ok(None);
        };
        self.users
            .fill(key.into_owned(), account.user.clone(), generation);
        Ok(Some(account.user))
    }

    /// `owner`'s link to `other`.
    pub async fn link(
        &self,
        store: &dyn Store,
        owner: UserId,
        other: UserId,
    ) -> Result<Link, StoreError> {
        self.links
            .get_or_load((owner, other), || store.link(owner, other))
            .await
    }

    /// Forgets the links between `a` and `b` after a committed friend operation.
    pub fn links_changed(&self, a: UserId, b: UserId) {
        self.links.invalidate([(a, b), (b, a)]);
    }

    /// The room named `name` (any case), if there is one.
    pub async fn room(&self, store: &dyn Store, name: &str) -> Result<Option<Room>, StoreError> {
        let key = lowercase(name);
        let generation = match self.rooms.get(&*key) {
            Ok(room) => return Ok(Some(room)),
            Err(generation) => generation,
        };
        let Some(room) = store.room_by_name(name).await? else {
            return Ok(None);
        };
        self.rooms.fill(key.into_owned(), room.clone(), generation);
        Ok(Some(room))
    }

    /// The members of `room`.
    pub async fn members(
        &self,
        store: &dyn Store,
        room: RoomId,
    ) -> Result<Arc<[User]>, StoreError> {
        self.members
            .get_or_load(room, || async {
                Ok(store.room_members(room).await?.into())
            })
            .await
    }

    /// Forgets `room`'s members after a committed join or leave.
    pub fn members_changed(&self, room: RoomId) {
        self.members.invalidate([room]);
    }

    /// Forgets every link, room and member list (a cluster's bus was cut off:
    /// invalidations may have been lost). Users never go stale.
    pub fn clear(&self) {
        self.links.clear();
        self.rooms.clear();
        self.members.clear();
    }

    /// Forgets whatever is cached under a room name after a committed create or
    /// delete.
    pub fn room_changed(&self, name: &str, id: Option<RoomId>) {
        self.rooms.invalidate([name.to_lowercase()]);
        if let Some(id) = id {
            self.members_changed(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_began_before_an_invalidation_is_not_installed() {
        let cache: Cache<u8, &str> = Cache::new();
        let generation = cache.get(&1).unwrap_err();
        // A change commits and invalidates while the fill's store read is in
        // flight with the older value.
        cache.invalidate([1]);
        cache.fill(1, "before the change", generation);
        let generation = cache.get(&1).expect_err("the stale value was installed");
        cache.fill(1, "after the change", generation);
        assert_eq!(cache.get(&1), Ok("after the change"));
    }

    #[test]
    fn clearing_a_full_map_does_not_reset_the_guard() {
        let cache: Cache<u64, u64> = Cache::new();
        let stale = cache.get(&0).unwrap_err();
        cache.invalidate([0]);
        let generation = cache.get(&0).unwrap_err();
        for key in 0..MAX_ENTRIES as u64 + 1 {
            cache.fill(key, key, generation);
        }
        cache.fill(0, 99, stale);
        assert_ne!(cache.get(&0), Ok(99));
    }

    /// The cache key is the name in lower case whichever way it is made.
    #[test]
    fn lowercase_borrows_only_what_is_lower_case_already() {
        for name in [
            "ann",
            "Ann",
            "ANN_2",
            "Ärger",
            "straße",
            "ǅemal",
            "İstanbul",
            "",
        ] {
            assert_eq!(lowercase(name), name.to_lowercase(), "{name}");
        }
        assert!(matches!(lowercase("ann-2_x"), Cow::Borrowed(_)));
        assert!(matches!(lowercase("Ann"), Cow::Owned(_)));
    }
}
