//! Epoch arithmetic of the legacy schedule (finney through at least spec 393, and the SDK's
//! `blocks_until_next_epoch`). It plans submissions; whether an epoch really ran is decided by
//! `LastMechansimStepBlock == block`, never by this formula.

use super::types::{MechId, NetUid};

/// Subnets per chain; `NetUidStorageIndex = mechid * 4096 + netuid`.
pub const GLOBAL_MAX_SUBNET_COUNT: u16 = 4096;

/// True when the legacy rule runs the subnet's epoch in `block`: `(block + netuid + 1) %
/// (tempo + 1) == 0`. A tempo of 0 never runs.
pub fn epoch_runs_at(block: u64, netuid: NetUid, tempo: u16) -> bool {
    tempo != 0 && (block + u64::from(netuid) + 1).is_multiple_of(u64::from(tempo) + 1)
}

/// Index of the epoch `block` belongs to: `(block + netuid + 1) / (tempo + 1)`; it increases by
/// one exactly at each epoch block.
pub fn epoch_index(block: u64, netuid: NetUid, tempo: u16) -> u64 {
    (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
}

/// The first and last block of epoch `index` (those whose [`epoch_index`] is `index`); the
/// first is the block the epoch ran in. Tempo 0 has one epoch with every block.
pub fn epoch_blocks(index: u64, netuid: NetUid, tempo: u16) -> (u64, u64) {
    if tempo == 0 {
        return (0, u64::MAX);
    }
    let (period, offset) = (u64::from(tempo) + 1, u64::from(netuid) + 1);
    let first = (index * period).saturating_sub(offset);
    let last = ((index + 1) * period).saturating_sub(offset + 1);
    (first, last)
}

/// Blocks from `block` until the next epoch block (0 when `block` itself is one); `None` for
/// tempo 0.
pub fn blocks_until_next_epoch(block: u64, netuid: NetUid, tempo: u16) -> Option<u64> {
    if tempo == 0 {
        return None;
    }
    let period = u64::from(tempo) + 1;
    let r = (block + u64::from(netuid) + 1) % period;
    Some(if r == 0 { 0 } else { period - r })
}

/// The next block strictly after `block` in which the epoch runs.
pub fn next_epoch_block(block: u64, netuid: NetUid, tempo: u16) -> Option<u64> {
    blocks_until_next_epoch(block + 1, netuid, tempo).map(|d| block + 1 + d)
}

/// The storage index of per-mechanism items (`Weights`, `LastUpdate`, `Incentive`, ...).
pub fn netuid_storage_index(netuid: NetUid, mechid: MechId) -> u16 {
    u16::from(mechid) * GLOBAL_MAX_SUBNET_COUNT + netuid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_blocks_are_exactly_the_blocks_of_the_index() {
        for (netuid, tempo) in [(1u16, 360u16), (3, 29), (0, 10), (4095, 99)] {
            for index in 50..100 {
                let (first, last) = epoch_blocks(index, netuid, tempo);
                assert!(
                    epoch_runs_at(first, netuid, tempo),
                    "{netuid} {tempo} {index}"
                );
                assert_eq!(epoch_index(first, netuid, tempo), index);
                assert_eq!(epoch_index(last, netuid, tempo), index);
                assert_eq!(epoch_index(first - 1, netuid, tempo), index - 1);
                assert_eq!(epoch_index(last + 1, netuid, tempo), index + 1);
            }
        }
    }

    #[test]
    fn legacy_rule_matches_the_sdk() {
        // netuid 1, tempo 360: epochs at blocks where (b + 2) % 361 == 0.
        assert!(epoch_runs_at(359, 1, 360));
        assert!(!epoch_runs_at(360, 1, 360));
        assert!(epoch_runs_at(359 + 361, 1, 360));
        assert_eq!(blocks_until_next_epoch(359, 1, 360), Some(0));
        assert_eq!(blocks_until_next_epoch(358, 1, 360), Some(1));
        assert_eq!(blocks_until_next_epoch(360, 1, 360), Some(360));
        assert_eq!(next_epoch_block(359, 1, 360), Some(720));
        assert_eq!(next_epoch_block(0, 1, 360), Some(359));
        assert_eq!(epoch_index(358, 1, 360), 0);
        assert_eq!(epoch_index(359, 1, 360), 1);
        assert!(!epoch_runs_at(100, 1, 0));
        assert_eq!(blocks_until_next_epoch(100, 1, 0), None);
    }

    #[test]
    fn epoch_blocks_are_one_period_apart_for_any_netuid() {
        for netuid in [1u16, 7, 4095] {
            for tempo in [1u16, 10, 99, 360] {
                let epochs: Vec<u64> = (0..5_000u64)
                    .filter(|&b| epoch_runs_at(b, netuid, tempo))
                    .collect();
                assert!(
                    epochs
                        .windows(2)
                        .all(|w| w[1] - w[0] == u64::from(tempo) + 1)
                );
                for &e in epochs.iter().filter(|&&e| e > 0) {
                    assert_eq!(blocks_until_next_epoch(e, netuid, tempo), Some(0));
                    assert_eq!(
                        epoch_index(e, netuid, tempo),
                        epoch_index(e - 1, netuid, tempo) + 1
                    );
                }
            }
        }
    }

    #[test]
    fn storage_index_of_mechanisms() {
        assert_eq!(netuid_storage_index(7, 0), 7);
        assert_eq!(netuid_storage_index(7, 1), 4103);
    }
}
