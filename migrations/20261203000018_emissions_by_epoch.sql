-- Emissions indexed by epoch alone. An epoch block adds one row per miner, and the two indexes
-- keyed by miner (`miner_id, epoch_block`) and by coldkey (SS58 text) put each of those rows on
-- a page of its own: at 4,096 miners × 90 days, inserting an epoch's rows took 128 ms with
-- them and 33 ms without (every page already cached; ≈ 8,500 page reads more when not).
-- Nothing needs them: the stake penalty reads every live coldkey's emissions over a window of
-- epochs, and the lab joins tranches to the emissions of their blocks; both read a range of the
-- primary key (netuid, epoch_block, uid).
DROP INDEX emissions_miner;
DROP INDEX emissions_coldkey;
