//! The incentive lab: try parameters before they pay real money. `simulate` runs a synthetic
//! subnet through the daemon's own engines; the report says what each group earns over time,
//! the network-health figures, and which tiers a configuration leaves dead.

pub mod behaviour;
pub mod figures;
pub mod liveness;
pub mod population;
pub mod recorded;
pub mod replay;
pub mod report;
pub mod simulate;

use population::Population;
use report::Report;
use simulate::{Rules, World};

/// Runs `pop` for `days` chain days under `rules`.
pub fn simulate(
    pop: &Population,
    rules: &Rules,
    days: u32,
) -> Result<Report, crate::weights::normalize::WeightsError> {
    let mut world = World::new(pop, rules);
    world.run(days)?;
    Ok(Report::new(pop, rules, days, world.liveness, world.figures))
}
