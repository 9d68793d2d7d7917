//! Docker Engine API wire types, versions and filters
#![forbid(unsafe_code)]
