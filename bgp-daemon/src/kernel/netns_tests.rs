//! Namespace tests (below).
