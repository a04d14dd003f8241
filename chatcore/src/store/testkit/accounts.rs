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

/// Search is a case-insensitive prefix match, in lowercase name order, in
/// pages that go on after the last name of the one before.
pub async fn search_finds_prefixes_in_name_order_by_page<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    for name in ["carol", "Caroline", "oscar", "dave", "carl", "cara"] {
        user(&store, name).await;
    }
    assert_eq!(
        store.search_users("CAR", None, 10).await.unwrap(),
        vec!["cara", "carl", "carol", "Caroline"]
    );
    assert_eq!(
        store.search_users("car", None, 2).await.unwrap(),
        vec!["cara", "carl"]
    );
    assert_eq!(
        store.search_users("car", Some("CARL"), 2).await.unwrap(),
        vec!["carol", "Caroline"]
    );
    assert!(store
        .search_users("car", Some("caroline"), 2)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.search_users("", Some("dave"), 10).await.unwrap(),
        vec!["oscar"],
        "an empty prefix is every name"
    );
    assert_eq!(
        store.search_users("car", Some("a"), 1).await.unwrap(),
        vec!["cara"],
        "a cursor before the prefix starts at the prefix"
    );
    assert!(store
        .search_users("zzz", None, 10)
        .await
        .unwrap()
        .is_empty());
}
