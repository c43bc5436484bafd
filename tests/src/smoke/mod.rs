//! The compose smoke run (`deploy/smoke.sh`): stand-ins for the images no
//! registry gives on a closed machine (an OTLP collector, Jaeger, Grafana, a
//! webhook receiver), and the client that drives the running stack through
//! its published gateway port and checks what came out.
//!
//! The stand-ins reuse the test receivers ([`crate::otlp`],
//! [`crate::webhook`]) bound to all interfaces, with a small HTTP query
//! port so the driver, outside the compose network, can read what arrived.

pub mod drive;
pub mod standin;
