//! The engine scenarios (in-memory transport) run on the PostgreSQL store.

chatcore::engine_scenario_tests!(crate::pg::fixture());
