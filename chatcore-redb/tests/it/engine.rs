//! The engine scenarios (in-memory transport) run on the redb store.

use chatcore::store::testkit::Fixture;

chatcore::engine_scenario_tests!(Fixture::in_temp_dir(|dir| chatcore_redb::open(dir).unwrap()));
