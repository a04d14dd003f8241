//! The test PostgreSQL ([`chatcore_postgres::test_server`]) and stores on it.

use chatcore::store::testkit::Fixture;
use chatcore_postgres::{Config, PgOptions, PgStore};

pub use chatcore_postgres::test_server::{fresh_database, Server};

/// A store on `config` with small pools (many tests run at once).
pub fn open(config: &Config) -> PgStore {
    let options = PgOptions {
        max_connections: 8,
        ..PgOptions::default()
    };
    PgStore::new(config.clone(), options).expect("a store")
}

/// A fixture on a fresh database; reopening makes a new store (a new pool)
/// on the same database.
pub fn fixture() -> Fixture<PgStore> {
    let config = fresh_database();
    Fixture::new(move || open(&config))
}

/// The store the tests open.
pub type Store = PgStore;
