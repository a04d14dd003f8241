//! The PostgreSQL store passes the store conformance suite.

chatcore::store_conformance_tests!(crate::pg::fixture());
