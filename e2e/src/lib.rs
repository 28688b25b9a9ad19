//! Testbed (placeholder).
