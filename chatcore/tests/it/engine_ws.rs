//! The engine scenarios over the WebSocket transport on 127.0.0.1, both
//! subprotocols (the memory store).

use chatcore::store::testkit::Fixture;
use chatcore::store::{KvStore, MemoryBackend};

fn fixture() -> Fixture<KvStore<MemoryBackend>> {
    let backend = MemoryBackend::new();
    Fixture::new(move || KvStore::open(backend.clone()).expect("open"))
}

mod json {
    use super::fixture;
    chatcore::__engine_scenarios!(chatcore::engine::testkit::over_websocket_json; fixture());
}

mod postcard {
    use super::fixture;
    chatcore::__engine_scenarios!(chatcore::engine::testkit::over_websocket_postcard; fixture());
}
