//! End-to-end tests of dora live in `tests/`: they use the crates together,
//! the way a user's dataflow does. This library is empty on purpose.
