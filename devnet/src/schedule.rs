//! When the simulated chain runs its subnet's epoch, written from subtensor's
//! `should_run_epoch` / `blocks_until_next_epoch` (the legacy rule), not from tenure's client:
//! the devnet is what tenure's own epoch arithmetic is tested against.

/// Subnets a chain can hold; per-mechanism storage is keyed by `mecid * 4096 + netuid`.
const SUBNETS: u16 = 4096;

/// The runtime runs the epoch of `netuid` in `block` when `(block + netuid + 1)` is a multiple of
/// `tempo + 1`; a subnet with tempo 0 never runs one.
pub fn epoch_runs_at(block: u64, netuid: u16, tempo: u16) -> bool {
    if tempo == 0 {
        return false;
    }
    let shifted = block + u64::from(netuid) + 1;
    shifted.is_multiple_of(u64::from(tempo) + 1)
}

/// How many epochs have run by `block` (the epoch of `block` under the legacy rule).
pub fn epoch_index(block: u64, netuid: u16, tempo: u16) -> u64 {
    (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
}

/// The key of per-mechanism storage items (`Weights`, `LastUpdate`, `TimelockedWeightCommits`).
pub fn storage_index(netuid: u16, mecid: u8) -> u16 {
    u16::from(mecid) * SUBNETS + netuid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netuid_one_tempo_360_runs_at_359_and_every_361_blocks() {
        let runs: Vec<u64> = (0..1200).filter(|b| epoch_runs_at(*b, 1, 360)).collect();
        assert_eq!(runs, [359, 720, 1081]);
        assert_eq!(epoch_index(358, 1, 360), 0);
        assert_eq!(epoch_index(359, 1, 360), 1);
        assert!((0..1000).all(|b| !epoch_runs_at(b, 1, 0)));
        assert_eq!(storage_index(3, 1), 4099);
    }
}
