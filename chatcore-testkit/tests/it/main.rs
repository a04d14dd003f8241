//! chatcore-testkit's integration tests, as modules of one binary (as in
//! chatcore): the fuzz corpora replayed, and the session proptest.

mod fuzz_corpus;
mod proptest_state;
