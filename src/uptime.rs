//! Uptime: observations from axon probes and the validator's API, hourly and daily rollups, and
//! the bonus families of the uptime strategy (SPEC.md §4–5). Tier lookups use [`crate::tiers`].
//!
//! The probe loop, rollups and bonuses land with issue 7.
