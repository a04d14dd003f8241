//! The memory store passes the store conformance suite.

use chatcore::store::testkit::Fixture;
use chatcore::store::{KvStore, MemoryBackend};

chatcore::store_conformance_tests!({
    let backend = MemoryBackend::new();
    Fixture::new(move || KvStore::open(backend.clone()).expect("open"))
});
