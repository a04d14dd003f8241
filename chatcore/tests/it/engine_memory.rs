//! The engine scenarios over the in-memory transport and the memory store.

use chatcore::store::testkit::Fixture;
use chatcore::store::{KvStore, MemoryBackend};

chatcore::engine_scenario_tests!({
    let backend = MemoryBackend::new();
    Fixture::new(move || KvStore::open(backend.clone()).expect("open"))
});
