//! `tenure vesting …`: status, history and mode changes.

use super::{ModeChange, VestingCommand, change_mode, database};
use crate::config::Loaded;

pub(super) async fn vesting_command(loaded: Loaded, command: VestingCommand) -> anyhow::Result<()> {
    use crate::config::Mode;
    use crate::vesting::{report, store};
    let pool = database(&loaded).await?;
    let (netuid, cfg) = (loaded.config.chain.netuid, &loaded.config.vesting);
    let change = |mode: Mode, c: ModeChange| (mode, c.reason);
    let (mode, reason) = match command {
        VestingCommand::Status { json } => {
            let status = store::status(&pool, netuid, cfg).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", report::status(&status));
            }
            return Ok(());
        }
        VestingCommand::History { miner, limit } => {
            let sel = store::MinerSel::parse(&miner);
            match store::history(&pool, netuid, &sel, None, limit.clamp(1, 10_000)).await? {
                Some(rows) => print!("{}", report::history(&miner, &rows)),
                None => anyhow::bail!("no miner {miner} on netuid {netuid}"),
            }
            return Ok(());
        }
        VestingCommand::Simulate { .. } => return Ok(()),
        VestingCommand::On(c) => change(Mode::On, c),
        VestingCommand::Off(c) => change(Mode::Off, c),
        VestingCommand::Shadow(c) => change(Mode::Shadow, c),
    };
    change_mode(&pool, netuid, "vesting", cfg.mode, mode, reason).await
}
