//! Local volumes: create, mount options, copy-up from images, mount specs.
#![forbid(unsafe_code)]
