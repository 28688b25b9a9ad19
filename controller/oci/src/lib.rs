//! OCI client (placeholder).
