//! chatcore-testkit's integration tests, as modules of one binary (as in
//! chatcore): the fuzz corpora replayed.

mod fuzz_corpus;
