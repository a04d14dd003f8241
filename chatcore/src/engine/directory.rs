//! In-memory caches of what the chat hot path reads: user by name and the links
//! between two users. Names never change and users are never deleted, so the user
//! cache never goes stale. Links change only through the engine's own friend
//! operations, which write the committed result through to the cache; a fill after
//! a miss never overwrites an entry, so a fill racing with an operation cannot
//! leave the older value behind.

use std::collections::HashMap;
use std::sync::RwLock;

use super::handlers::internal;
use crate::friends::Link;
use crate::protocol::ErrorCode;
use crate::store::{Store, User, UserId};

/// Most entries per cache before it is cleared (a crude bound on memory).
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct Directory {
    users: RwLock<HashMap<String, User>>,
    links: RwLock<HashMap<(UserId, UserId), Link>>,
}

impl Directory {
    /// The user named `name` (any case), or `NoSuchUser`.
    pub async fn user(&self, store: &dyn Store, name: &str) -> Result<User, ErrorCode> {
        let key = name.to_lowercase();
        if let Some(user) = self.users.read().expect("directory lock").get(&key) {
            return Ok(user.clone());
        }
        let user = match store.account_by_name(name).await {
            Ok(Some(account)) => account.user,
            Ok(None) => return Err(ErrorCode::NoSuchUser),
            Err(e) => return Err(internal(e)),
        };
        let mut users = self.users.write().expect("directory lock");
        if users.len() >= MAX_ENTRIES {
            users.clear();
        }
        users.insert(key, user.clone());
        Ok(user)
    }

    /// `owner`'s link to `other`.
    pub async fn link(
        &self,
        store: &dyn Store,
        owner: UserId,
        other: UserId,
    ) -> Result<Link, ErrorCode> {
        if let Some(link) = self
            .links
            .read()
            .expect("directory lock")
            .get(&(owner, other))
        {
            return Ok(link.clone());
        }
        let link = store.link(owner, other).await.map_err(internal)?;
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
}
