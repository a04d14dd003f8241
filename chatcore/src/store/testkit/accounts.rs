//! Accounts: unique names without regard to case, lookups, and search.

use super::{user, Fixture, HASH};
use crate::store::{Store, UserId};

/// Names are unique without regard to case; lookups ignore case; ids are stable.
pub async fn users_are_unique_without_case<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let ann = user(&store, "Ann").await;
    assert_eq!(store.create_user("ann", HASH).await.unwrap(), None);
    assert_eq!(store.create_user("ANN", HASH).await.unwrap(), None);
    let bob = user(&store, "bob").await;
    assert_ne!(ann.id, bob.id);
    let found = store.account_by_name("aNN").await.unwrap().expect("found");
    assert_eq!(found.user, ann);
    assert_eq!(found.password_hash, HASH);
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob));
    assert_eq!(store.account_by_name("nobody").await.unwrap(), None);
    assert_eq!(store.user_by_id(UserId(u64::MAX - 1)).await.unwrap(), None);
}

/// Search is a case-insensitive substring match, in name order, bounded.
pub async fn search_finds_substrings_in_name_order<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    for name in ["carol", "Caroline", "oscar", "dave"] {
        user(&store, name).await;
    }
    assert_eq!(
        store.search_users("CAR", 10).await.unwrap(),
        vec!["carol", "Caroline", "oscar"]
    );
    assert_eq!(store.search_users("car", 2).await.unwrap().len(), 2);
    assert!(store.search_users("zzz", 10).await.unwrap().is_empty());
}
