//! A synthetic subnet for `tenure simulate`: groups of miners, each with an uptime behaviour and
//! a holding behaviour, read from TOML. Unknown keys and kinds are errors naming the file and
//! the key; every number is checked before a run starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Miners in one run at most: uids are `u16`, and the largest subnets have 4,096 uids.
pub const MAX_MINERS: u32 = 65_535;

#[derive(Debug, thiserror::Error)]
pub enum PopulationError {
    #[error("population file {}: {message}", .file.display())]
    Unreadable { file: PathBuf, message: String },
    #[error("population file {}: key `{key}`: {message}", .file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// What the population stands for (shown in the report).
    #[serde(default)]
    pub description: String,
    /// Seed of the random behaviours: the same file and seed give the same run.
    #[serde(default)]
    pub seed: u64,
    /// Alpha emitted to the subnet's miners per chain day, shared by weight.
    #[serde(default = "default_emission")]
    pub emission_per_day: f64,
    /// Probe rounds per chain hour (the daemon's `3600 / (block_time · probe_interval_blocks)`).
    #[serde(default = "default_rounds")]
    pub rounds_per_hour: u32,
    /// Evaluations per chain day: the rules read hourly and daily rollups, so one a day shows
    /// every rule; more show the hourly ones move within a day and take longer.
    #[serde(default = "default_epochs_per_day")]
    pub epochs_per_day: u32,
    /// The subnet's `MaxWeightsLimit` (u16 of 65,535).
    #[serde(default = "default_max_weight_limit")]
    pub max_weight_limit: u16,
    pub groups: Vec<Group>,
}

fn default_emission() -> f64 {
    // 41 % of one alpha per 12 s block.
    2_952.0
}

fn default_rounds() -> u32 {
    12
}

fn default_epochs_per_day() -> u32 {
    1
}

fn default_max_weight_limit() -> u16 {
    u16::MAX
}

fn default_score() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub miners: u32,
    /// The validator's base score of each miner of the group (constant: the lab shows what the
    /// multipliers do, not what the subnet's scoring does).
    #[serde(default = "default_score")]
    pub score: f64,
    /// Chain day the group's miners register.
    #[serde(default)]
    pub joins_day: u32,
    /// Chain day they are deregistered (never, when absent).
    #[serde(default)]
    pub leaves_day: Option<u32>,
    pub uptime: Uptime,
    pub holding: Holding,
}

/// When a miner answers probes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Uptime {
    /// Up at every round.
    AlwaysUp,
    /// Never up.
    Dead,
    /// Each round up with probability `uptime`.
    Random { uptime: f64 },
    /// Down `hours` hours every day from UTC hour `from_hour`.
    DownDaily {
        hours: u32,
        #[serde(default)]
        from_hour: u32,
    },
    /// `up_hours` up, then `down_hours` down, again and again.
    Flapping { up_hours: u32, down_hours: u32 },
    /// Down on Saturdays and Sundays (UTC).
    WeekendOff,
    /// One outage of `hours` hours every `every_days` days (miners spread over the days).
    Outages { every_days: u32, hours: u32 },
    /// Each round up with a probability going linearly from `from` to `to` over the first
    /// `days` days after registering, then `to`.
    Recovering { from: f64, to: f64, days: u32 },
}

/// What a miner's coldkey does with the alpha it earns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Holding {
    /// Keeps everything.
    HoldsAll,
    /// Sells `fraction` of each emission `after_days` days after earning it.
    Sells { fraction: f64, after_days: u32 },
    /// Sells everything it holds every `every_days` days.
    Dumps { every_days: u32 },
}

impl Population {
    /// Reads and checks a population file.
    pub fn load(file: &Path) -> Result<Population, PopulationError> {
        let text = std::fs::read_to_string(file).map_err(|e| PopulationError::Unreadable {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(file, &text)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Population, PopulationError> {
        let invalid = |key: String, message: String| PopulationError::Invalid {
            file: file.to_path_buf(),
            key,
            message,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(".".into(), e.message().to_string()))?;
        let p: Population = serde_path_to_error::deserialize(de)
            .map_err(|e| invalid(e.path().to_string(), e.inner().message().to_string()))?;
        p.check().map_err(|(key, message)| invalid(key, message))?;
        Ok(p)
    }

    /// Every miner of every group.
    pub fn miners(&self) -> u32 {
        self.groups.iter().map(|g| g.miners).sum()
    }

    fn check(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, message: &str| Err((key.to_string(), message.to_string()));
        if !(self.emission_per_day.is_finite() && self.emission_per_day > 0.0) {
            return fail("emission_per_day", "must be a positive number");
        }
        if self.rounds_per_hour == 0 || self.rounds_per_hour > 3_600 {
            return fail("rounds_per_hour", "must be within 1..=3600");
        }
        if self.epochs_per_day == 0 || 24 % self.epochs_per_day != 0 {
            return fail(
                "epochs_per_day",
                "must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24): epochs end on chain hours",
            );
        }
        if self.groups.is_empty() {
            return fail("groups", "at least one group is needed");
        }
        if self.miners() > MAX_MINERS {
            return fail("groups", "more than 65,535 miners in all");
        }
        for (i, g) in self.groups.iter().enumerate() {
            let at = |key: &str| format!("groups[{i}].{key}");
            let bad = |key: &str, message: &str| Err((at(key), message.to_string()));
            if g.name.trim().is_empty() {
                return bad("name", "must not be empty");
            }
            if self.groups[..i].iter().any(|o| o.name == g.name) {
                return bad("name", "two groups have this name");
            }
            if g.miners == 0 {
                return bad("miners", "must be at least 1");
            }
            if !(g.score.is_finite() && (0.0..=1e12).contains(&g.score)) {
                return bad("score", "must be within [0, 1e12]");
            }
            if g.leaves_day.is_some_and(|l| l <= g.joins_day) {
                return bad("leaves_day", "must be after joins_day");
            }
            g.uptime.check().map_err(|(k, m)| (at(&k), m))?;
            g.holding.check().map_err(|(k, m)| (at(&k), m))?;
        }
        Ok(())
    }
}

fn probability(x: f64) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

impl Uptime {
    fn check(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, message: &str| Err((format!("uptime.{key}"), message.to_string()));
        match *self {
            Uptime::AlwaysUp | Uptime::Dead | Uptime::WeekendOff => Ok(()),
            Uptime::Random { uptime } if !probability(uptime) => {
                fail("uptime", "must be within [0, 1]")
            }
            Uptime::DownDaily { hours, .. } if hours > 24 => fail("hours", "at most 24"),
            Uptime::DownDaily { from_hour, .. } if from_hour > 23 => {
                fail("from_hour", "a UTC hour, 0..=23")
            }
            Uptime::Flapping {
                up_hours,
                down_hours,
            } if up_hours == 0 || down_hours == 0 => fail("up_hours", "both spans must be > 0"),
            Uptime::Outages { every_days: 0, .. } => fail("every_days", "must be at least 1"),
            Uptime::Outages { every_days, hours } if hours == 0 || hours >= every_days * 24 => {
                fail("hours", "must be at least 1 and shorter than every_days")
            }
            Uptime::Recovering { from, to, .. } if !probability(from) || !probability(to) => {
                fail("from", "`from` and `to` must be within [0, 1]")
            }
            _ => Ok(()),
        }
    }
}

impl Holding {
    fn check(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, message: &str| Err((format!("holding.{key}"), message.to_string()));
        match *self {
            Holding::Sells { fraction, .. } if !probability(fraction) => {
                fail("fraction", "must be within [0, 1]")
            }
            Holding::Dumps { every_days: 0 } => fail("every_days", "must be at least 1"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Population, PopulationError> {
        Population::parse(Path::new("p.toml"), text)
    }

    const ONE: &str = r#"
        [[groups]]
        name = "a"
        miners = 2
        uptime = { kind = "down_daily", hours = 2 }
        holding = { kind = "sells", fraction = 0.5, after_days = 3 }
    "#;

    #[test]
    fn reads_a_group_with_defaults() {
        let p = parse(ONE).unwrap();
        assert_eq!(p.miners(), 2);
        assert_eq!(p.epochs_per_day, 1);
        assert_eq!(p.groups[0].score, 1.0);
        assert_eq!(
            p.groups[0].uptime,
            Uptime::DownDaily {
                hours: 2,
                from_hour: 0
            }
        );
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = parse(&ONE.replace("down_daily", "sometimes")).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("population file p.toml: key `groups[0].uptime.kind`"),
            "{s}"
        );
        let e = parse(&ONE.replace("miners = 2", "miners = 2\ncolour = 1")).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = parse(&ONE.replace("fraction = 0.5", "fraction = 1.5")).unwrap_err();
        assert!(
            e.to_string().contains("`groups[0].holding.fraction`"),
            "{e}"
        );
        let e = parse(&format!("{ONE}{ONE}")).unwrap_err();
        assert!(e.to_string().contains("`groups[1].name`"), "{e}");
        let e = parse("groups = []").unwrap_err();
        assert!(e.to_string().contains("at least one group"), "{e}");
        let e = parse(&ONE.replace("hours = 2", "hours = 25")).unwrap_err();
        assert!(e.to_string().contains("`groups[0].uptime.hours`"), "{e}");
    }
}
