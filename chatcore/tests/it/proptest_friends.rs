//! The friend workflow checked against a small model over random operation
//! sequences: the pure transition function, and the same model through the
//! memory store. (The session state machine's proptest is in chatcore-testkit,
//! next to the reference model it shares with the fuzz harness.)

use std::collections::{BTreeMap, BTreeSet};

use chatcore::friends::{transition, FriendAction, Link, LinkState, NoticeKind, Side};
use chatcore::protocol::{ErrorCode, Event};
use chatcore::store::{MemoryStore, Store, User, UserId};
use proptest::prelude::*;

// ===========================================================================
// (a) The friend workflow: `friends::transition` against a model of N users.

const N: usize = 4;
const MAX_PENDING: usize = 2;

/// The relation of an unordered pair.
#[derive(Debug, Clone, PartialEq)]
enum Rel {
    None,
    Friends,
    Pending { from: usize, note: String },
}

/// The whole friend graph, as the rules in DESIGN.md describe it.
#[derive(Debug, Default)]
struct Model {
    rel: BTreeMap<(usize, usize), Rel>,
    /// (blocker, blocked)
    blocks: BTreeSet<(usize, usize)>,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Model {
    fn rel(&self, a: usize, b: usize) -> Rel {
        self.rel.get(&pair(a, b)).cloned().unwrap_or(Rel::None)
    }

    fn set(&mut self, a: usize, b: usize, rel: Rel) {
        if rel == Rel::None {
            self.rel.remove(&pair(a, b));
        } else {
            self.rel.insert(pair(a, b), rel);
        }
    }

    /// Open outgoing requests of `u`.
    fn pending_of(&self, u: usize) -> usize {
        self.rel
            .values()
            .filter(|r| matches!(r, Rel::Pending { from, .. } if *from == u))
            .count()
    }

    /// Applies `action` of `a` towards `b`; the notices it should produce.
    fn apply(
        &mut self,
        a: usize,
        b: usize,
        action: &FriendAction,
    ) -> Result<Vec<(Side, NoticeKind)>, ErrorCode> {
        let befriended = vec![
            (Side::Other, NoticeKind::Added),
            (Side::Actor, NoticeKind::Added),
        ];
        match action {
            FriendAction::Request { note } => {
                if self.blocks.contains(&(a, b)) || self.blocks.contains(&(b, a)) {
                    return Err(ErrorCode::Blocked);
                }
                match self.rel(a, b) {
                    Rel::Friends => Err(ErrorCode::AlreadyFriends),
                    Rel::Pending { from, .. } if from == a => Err(ErrorCode::AlreadyRequested),
                    Rel::Pending { .. } => {
                        // Crossing requests: friends at once.
                        self.set(a, b, Rel::Friends);
                        Ok(befriended)
                    }
                    Rel::None if self.pending_of(a) >= MAX_PENDING => {
                        Err(ErrorCode::TooManyPendingRequests)
                    }
                    Rel::None => {
                        self.set(
                            a,
                            b,
                            Rel::Pending {
                                from: a,
                                note: note.clone(),
                            },
                        );
                        Ok(vec![(
                            Side::Other,
                            NoticeKind::Requested { note: note.clone() },
                        )])
                    }
                }
            }
            FriendAction::Respond { accept } => match self.rel(a, b) {
                Rel::Pending { from, .. } if from == b => {
                    if *accept {
                        self.set(a, b, Rel::Friends);
                        Ok(befriended)
                    } else {
                        self.set(a, b, Rel::None);
                        Ok(vec![(Side::Other, NoticeKind::Rejected)])
                    }
                }
                _ => Err(ErrorCode::NoSuchRequest),
            },
            FriendAction::Remove => match self.rel(a, b) {
                Rel::Friends => {
                    self.set(a, b, Rel::None);
                    Ok(vec![(Side::Other, NoticeKind::Removed)])
                }
                _ => Err(ErrorCode::NotFriends),
            },
            FriendAction::Block => {
                let notices = match self.rel(a, b) {
                    Rel::Friends => vec![(Side::Other, NoticeKind::Removed)],
                    _ => vec![],
                };
                self.set(a, b, Rel::None);
                self.blocks.insert((a, b));
                Ok(notices)
            }
            FriendAction::Unblock => {
                self.blocks.remove(&(a, b));
                Ok(vec![])
            }
        }
    }

    /// `owner`'s link to `other` as a store should hold it.
    fn link(&self, owner: usize, other: usize) -> Link {
        let state = match self.rel(owner, other) {
            Rel::None => LinkState::None,
            Rel::Friends => LinkState::Friends,
            Rel::Pending { from, note } if from == owner => LinkState::Outgoing { note },
            Rel::Pending { note, .. } => LinkState::Incoming { note },
        };
        Link {
            state,
            blocked: self.blocks.contains(&(owner, other)),
        }
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        for u in 0..N {
            prop_assert!(self.pending_of(u) <= MAX_PENDING, "model over the bound");
        }
        for &(x, y) in &self.blocks {
            prop_assert_eq!(self.rel(x, y), Rel::None, "a blocked pair has a relation");
        }
        Ok(())
    }
}

fn friend_action() -> impl Strategy<Value = FriendAction> {
    let note = prop::sample::select(vec!["", "hi", "👋 hello", "hi"]).prop_map(str::to_owned);
    prop_oneof![
        5 => note.prop_map(|note| FriendAction::Request { note }),
        3 => any::<bool>().prop_map(|accept| FriendAction::Respond { accept }),
        1 => Just(FriendAction::Remove),
        1 => Just(FriendAction::Block),
        1 => Just(FriendAction::Unblock),
    ]
}

/// (actor, other, action) with actor != other (the engine refuses self-requests
/// before the store).
fn friend_op() -> impl Strategy<Value = (usize, usize, FriendAction)> {
    (0..N, 1..N, friend_action()).prop_map(|(a, k, action)| (a, (a + k) % N, action))
}

/// Same elements, any order.
fn same_multiset<T: PartialEq + std::fmt::Debug>(
    got: &[T],
    want: &[T],
) -> Result<(), TestCaseError> {
    let mut rest: Vec<&T> = got.iter().collect();
    for w in want {
        match rest.iter().position(|g| *g == w) {
            Some(i) => {
                rest.swap_remove(i);
            }
            None => {
                return Err(TestCaseError::fail(format!(
                    "missing {w:?}: got {got:?}, want {want:?}"
                )))
            }
        }
    }
    prop_assert!(
        rest.is_empty(),
        "extra {:?}: got {:?}, want {:?}",
        rest,
        got,
        want
    );
    Ok(())
}

/// Symmetry of one pair's stored links.
fn check_symmetry(x: &Link, y: &Link) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        x.state == LinkState::Friends,
        y.state == LinkState::Friends,
        "friends on one side only: {:?} / {:?}",
        x,
        y
    );
    for (p, q) in [(x, y), (y, x)] {
        if let LinkState::Outgoing { note } = &p.state {
            prop_assert_eq!(
                &q.state,
                &LinkState::Incoming { note: note.clone() },
                "outgoing without incoming"
            );
        }
        if let LinkState::Incoming { note } = &p.state {
            prop_assert_eq!(
                &q.state,
                &LinkState::Outgoing { note: note.clone() },
                "incoming without outgoing"
            );
        }
    }
    Ok(())
}

/// The links a store would keep: non-default links per ordered pair, and each
/// user's open outgoing request count, maintained from the links' changes.
#[derive(Debug, Default)]
struct LinkTable {
    links: BTreeMap<(usize, usize), Link>,
    pending: [usize; N],
}

impl LinkTable {
    fn get(&self, owner: usize, other: usize) -> Link {
        self.links.get(&(owner, other)).cloned().unwrap_or_default()
    }

    fn set(&mut self, owner: usize, other: usize, new: Link) {
        let old = self.get(owner, other);
        self.pending[owner] =
            self.pending[owner] + new.is_outgoing() as usize - old.is_outgoing() as usize;
        if new.is_none() {
            self.links.remove(&(owner, other));
        } else {
            self.links.insert((owner, other), new);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn friend_transition_follows_the_model(ops in prop::collection::vec(friend_op(), 0..40)) {
        let mut model = Model::default();
        let mut table = LinkTable::default();
        for (step, (a, b, action)) in ops.iter().enumerate() {
            let (a, b) = (*a, *b);
            let actor = table.get(a, b);
            let other = table.get(b, a);
            let got = transition(&actor, &other, action, table.pending[a], MAX_PENDING);
            let want = model.apply(a, b, action);
            match (got, want) {
                (Ok(t), Ok(notices)) => {
                    same_multiset(&t.notices, &notices)?;
                    table.set(a, b, t.actor);
                    table.set(b, a, t.other);
                }
                (Err(got), Err(want)) => prop_assert_eq!(got, want, "step {}", step),
                (got, want) => {
                    return Err(TestCaseError::fail(format!(
                        "step {step}: {a} {action:?} {b}: got {got:?}, model says {want:?}"
                    )))
                }
            }
            model.check_invariants()?;
            for x in 0..N {
                prop_assert_eq!(table.pending[x], model.pending_of(x), "pending of {}", x);
                for y in 0..N {
                    if x == y {
                        continue;
                    }
                    let link = table.get(x, y);
                    prop_assert_eq!(&link, &model.link(x, y), "link {}->{} after step {}", x, y, step);
                    check_symmetry(&link, &table.get(y, x))?;
                }
            }
        }
    }
}

/// A few fixed sequences through the model, so the rules the model encodes are
/// pinned by example too (the property alone would accept a model and a library
/// that were wrong the same way).
#[test]
fn friend_model_examples() {
    let req = |note: &str| FriendAction::Request { note: note.into() };
    let mut m = Model::default();
    assert_eq!(
        m.apply(0, 1, &req("hi")),
        Ok(vec![(
            Side::Other,
            NoticeKind::Requested { note: "hi".into() }
        )])
    );
    assert_eq!(
        m.apply(0, 1, &req("again")),
        Err(ErrorCode::AlreadyRequested)
    );
    assert_eq!(m.apply(0, 2, &req("")).map(|n| n.len()), Ok(1));
    assert_eq!(
        m.apply(0, 3, &req("")),
        Err(ErrorCode::TooManyPendingRequests)
    );
    // Crossing request: friends at once, even at the bound.
    assert_eq!(m.apply(1, 0, &req("")).map(|n| n.len()), Ok(2));
    assert_eq!(m.link(0, 1).state, LinkState::Friends);
    assert_eq!(m.apply(0, 1, &req("")), Err(ErrorCode::AlreadyFriends));
    assert_eq!(
        m.apply(2, 0, &FriendAction::Respond { accept: false }),
        Ok(vec![(Side::Other, NoticeKind::Rejected)])
    );
    assert_eq!(
        m.apply(2, 0, &FriendAction::Respond { accept: true }),
        Err(ErrorCode::NoSuchRequest)
    );
    assert_eq!(
        m.apply(2, 0, &FriendAction::Remove),
        Err(ErrorCode::NotFriends)
    );
    assert_eq!(
        m.apply(1, 0, &FriendAction::Block),
        Ok(vec![(Side::Other, NoticeKind::Removed)])
    );
    assert_eq!(m.apply(0, 1, &req("")), Err(ErrorCode::Blocked));
    assert_eq!(m.apply(1, 0, &req("")), Err(ErrorCode::Blocked));
    assert_eq!(m.apply(1, 0, &FriendAction::Unblock), Ok(vec![]));
    assert_eq!(m.apply(0, 1, &req("")).map(|n| n.len()), Ok(1));
    assert_eq!(m.pending_of(0), 1);
}

// ===========================================================================
// (b) The same model through `MemoryStore::friend_op` (the KvStore plumbing:
// both links, the pending counter and the inbox notices in one write).

/// A store notice as the model predicts it: recipient, kind, and who it names.
#[derive(Debug, PartialEq)]
struct ExpectedNotice {
    recipient: UserId,
    kind: NoticeKind,
    about: String,
}

fn expected_notice(
    users: &[User],
    a: usize,
    b: usize,
    side: Side,
    kind: NoticeKind,
) -> ExpectedNotice {
    let (to, about) = match side {
        Side::Actor => (a, b),
        Side::Other => (b, a),
    };
    ExpectedNotice {
        recipient: users[to].id,
        kind,
        about: users[about].name.clone(),
    }
}

fn observed_notice(recipient: UserId, event: &Event) -> Result<ExpectedNotice, TestCaseError> {
    let (kind, about) = match event {
        Event::FriendRequested { from, note, .. } => {
            (NoticeKind::Requested { note: note.clone() }, from.clone())
        }
        Event::FriendAdded { user, .. } => (NoticeKind::Added, user.clone()),
        Event::FriendRejected { user, .. } => (NoticeKind::Rejected, user.clone()),
        Event::FriendRemoved { user, .. } => (NoticeKind::Removed, user.clone()),
        other => {
            return Err(TestCaseError::fail(format!(
                "not a friend notice: {other:?}"
            )))
        }
    };
    Ok(ExpectedNotice {
        recipient,
        kind,
        about,
    })
}

async fn store_follows_the_model(
    ops: &[(usize, usize, FriendAction)],
) -> Result<(), TestCaseError> {
    let store = MemoryStore::new();
    let mut users = Vec::new();
    for i in 0..N {
        let user = store
            .create_user(&format!("user{i}"), "hash")
            .await
            .unwrap()
            .expect("fresh name");
        users.push(user);
    }
    let index = |id: UserId| users.iter().position(|u| u.id == id).expect("known user");
    let mut model = Model::default();
    let mut inboxes: Vec<Vec<Event>> = vec![Vec::new(); N];
    let mut last_id = 0;

    for (step, (a, b, action)) in ops.iter().enumerate() {
        let (a, b) = (*a, *b);
        let got = store
            .friend_op(&users[a], &users[b], action.clone(), MAX_PENDING)
            .await
            .expect("the memory store does not fail");
        let want = model.apply(a, b, action);
        match (got, want) {
            (Ok(outcome), Ok(notices)) => {
                prop_assert_eq!(
                    &outcome.link,
                    &model.link(a, b),
                    "actor link, step {}",
                    step
                );
                let want: Vec<ExpectedNotice> = notices
                    .into_iter()
                    .map(|(side, kind)| expected_notice(&users, a, b, side, kind))
                    .collect();
                let mut got = Vec::new();
                for notice in &outcome.notices {
                    got.push(observed_notice(notice.recipient, &notice.item.event)?);
                    let id = notice
                        .item
                        .event
                        .inbox_id()
                        .expect("friend notices have ids");
                    prop_assert!(id > last_id, "inbox ids increase");
                    last_id = id;
                    inboxes[index(notice.recipient)].push(notice.item.event.clone());
                }
                same_multiset(&got, &want)?;
            }
            (Err(got), Err(want)) => prop_assert_eq!(got, want, "step {}", step),
            (got, want) => {
                return Err(TestCaseError::fail(format!(
                    "step {step}: {a} {action:?} {b}: store {got:?}, model {want:?}"
                )))
            }
        }
        for x in 0..N {
            let stored: BTreeMap<usize, Link> = store
                .links(users[x].id)
                .await
                .unwrap()
                .into_iter()
                .map(|(user, link)| (index(user.id), link))
                .collect();
            for y in 0..N {
                if x == y {
                    prop_assert!(!stored.contains_key(&x), "a link to oneself");
                    continue;
                }
                let want = model.link(x, y);
                let listed = stored.get(&y).cloned();
                if want.is_none() {
                    prop_assert_eq!(listed, None, "default link {}->{} listed", x, y);
                } else {
                    prop_assert_eq!(listed.as_ref(), Some(&want), "link {}->{}", x, y);
                }
                prop_assert_eq!(store.link(users[x].id, users[y].id).await.unwrap(), want);
            }
        }
    }
    for (i, user) in users.iter().enumerate() {
        let stream = store.stream(user.id, 0, usize::MAX).await.unwrap();
        let inbox: Vec<_> = stream.into_iter().map(|item| item.event).collect();
        prop_assert_eq!(&inbox, &inboxes[i], "stream of {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn store_friend_ops_follow_the_model(ops in prop::collection::vec(friend_op(), 0..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(store_follows_the_model(&ops))?;
    }
}
