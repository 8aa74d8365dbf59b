//! tenure: a validator sidecar for Bittensor subnets. It follows the finalized chain, keeps each
//! miner's stake, emissions and uptime in PostgreSQL, and once per epoch pushes weights that
//! reward miners for holding what they earned (vesting) and for staying up (uptime).
//!
//! One module per concept; see README.md for the map.

pub mod api;
pub mod chain;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod db;
pub mod drand;
pub mod edge;
pub mod health;
pub mod ingest;
pub mod lab;
pub mod laps;
pub mod leader;
pub mod metrics;
pub mod miners;
pub mod network;
pub mod notify;
pub mod progress;
pub mod pulse;
pub mod settings;
pub mod telemetry;
pub mod text_column;
pub mod tiers;
pub mod units;
pub mod uptime;
pub mod vesting;
pub mod wallet;
pub mod web;
pub mod weights;
