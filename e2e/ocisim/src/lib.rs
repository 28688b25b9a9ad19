//! OCI simulator (placeholder).
