//! The engine scenarios (in-memory transport) run on the sled store.

use chatcore::store::testkit::Fixture;

chatcore::engine_scenario_tests!(Fixture::in_temp_dir(|dir| chatcore_sled::open(dir).unwrap()));
