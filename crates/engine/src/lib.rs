//! Engine services: images, containers, events, system
#![forbid(unsafe_code)]
