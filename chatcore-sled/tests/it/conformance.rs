//! The sled store passes the store conformance suite.

use chatcore::store::testkit::Fixture;

chatcore::store_conformance_tests!(Fixture::in_temp_dir(|dir| chatcore_sled::open(dir).unwrap()));
