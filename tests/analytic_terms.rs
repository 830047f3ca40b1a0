//! The analytic half's contention terms, on small cases worked by hand: a streamed
//! input's pieces arriving later than the controller's look-ahead hides, folds their
//! buffers cannot feed in their cycles, and a one-bank SRAM serving a tile's first
//! fills and a landing.

mod common;

use common::{Conv, accelerator, plan};
use std::path::Path;
use stems::mapping::cost::{CostModel, Residency};
use stems::mapping::nest::{Dim, Loop};
use stems::model::Operand;
use stems::sim::{SimOptions, simulate};

/// A 1×1 conv of 32 output channels on 16 × 64 pixels, one timestep, stateless.
fn pointwise_conv(c: u64, input_bits: u32) -> Conv {
    Conv {
        k: 32,
        c,
        oy: 16,
        ox: 64,
        f: 1,
        stride: 1,
        timesteps: 1,
        stateful: false,
        input_bits,
    }
}

/// A 1×1 conv, 64 input channels (4-bit) on 16 × `ox` pixels (`ox` up to 64), its
/// input streamed from DRAM through 64 Kibit of staging: one pass per output column of
/// 64 (K 32 × OY 16 on the array, C 64 reduced two per cycle: 32 cycles), 64 passes.
fn streamed_conv_stall(ox: u64, outer_columns: u64) -> u64 {
    streamed_conv_stall_on(ox, outer_columns, 65_536, 64)
}

/// [`streamed_conv_stall`] through `staging_bits` of staging, from a DRAM moving
/// `dram_bw_bits` a cycle.
fn streamed_conv_stall_on(
    ox: u64,
    outer_columns: u64,
    staging_bits: u64,
    dram_bw_bits: u64,
) -> u64 {
    let conv = Conv {
        ox,
        ..pointwise_conv(64, 4)
    };
    let shape = conv.shape(0..1);
    let mut acc = accelerator();
    acc.dram.bw_bits = dram_bw_bits;
    let mut streamed = [false; 4];
    streamed[Operand::I.index()] = true;
    let model = CostModel::new(
        &shape,
        &acc.cores[0],
        &acc.dram,
        Residency { streamed },
        staging_bits,
    );
    let nest = [
        Loop {
            dim: Dim::OX,
            size: outer_columns,
        },
        Loop {
            dim: Dim::OX,
            size: 64 / outer_columns,
        },
        Loop {
            dim: Dim::C,
            size: 32,
        },
    ];
    model.evaluate(&nest, 1).expect("fits").stall_cycles
}

#[test]
fn a_streamed_piece_the_look_ahead_cannot_hide_stalls_the_array() {
    // The array is busy 4,992 cycles (64 passes of 32 cycles plus 46 of fill/drain
    // each): 78 a pass, so the controller requests a piece 8 passes = 624 cycles
    // before the array needs it. The input is 262,144 bits.
    //
    // Pieces of 16 columns (65,536 bits): a piece takes the access latency plus
    // 65,536 / 64 bits per cycle = 100 + 1,024 = 1,124 cycles, 500 more than the
    // look-ahead hides, for each of the three pieces after the first. The first is
    // the prologue: its 1,124 cycles before the first pass. 1,124 + 3 × 500 = 2,624.
    assert_eq!(streamed_conv_stall(64, 4), 2_624);
    // Pieces of 8 columns (32,768 bits) take 100 + 512 = 612 cycles, under the 624 the
    // look-ahead hides: only the prologue, 612.
    assert_eq!(streamed_conv_stall(64, 8), 612);
}

#[test]
fn a_streamed_input_clipped_at_the_tiles_edge_comes_in_as_many_pieces_as_the_loop_counts() {
    // 60 columns in 4 pieces of 16: the last one has 12. The input is 245,760 bits,
    // under four full pieces' 262,144, but the staging area still takes four, of
    // 61,440 bits on average: 100 + 960 = 1,060 cycles each, 436 more than the 624 the
    // look-ahead hides, for each of the three after the first. The first is a full
    // piece, its 1,124 cycles the prologue. 1,124 + 3 × 436 = 2,432. (Counting full
    // pieces in the input, 3, would leave one out.)
    assert_eq!(streamed_conv_stall(60, 4), 2_432);
}

#[test]
fn a_piece_from_fast_dram_is_in_no_sooner_than_a_bank_port_writes_it_and_the_buffer_reads_it() {
    // Two pieces of 32 columns (131,072 bits), which the 16 KiB input buffer holds
    // whole, from a DRAM moving 512 bits a cycle: 256 cycles on the bus, but the piece
    // (16 KiB) lies in one 128 KiB bank and lands through its 128-bit write port
    // (1,024 cycles), and the buffer takes
    // it through a 128-bit read port as it lands (1,024): 100 + 1,024 = 1,124 cycles a
    // piece. The prologue is the first; the second is requested 624 cycles ahead
    // (8 passes of 78) and comes 500 late. 1,124 + 500 = 1,624. At the bus's rate alone
    // the second piece (100 + 256) would come before it is needed.
    assert_eq!(streamed_conv_stall_on(64, 2, 131_072, 512), 1_624);
}

#[test]
fn a_one_bank_port_serves_a_tiles_first_fills_in_turn_and_a_landing_holds_up_no_output() {
    // tiny_fused TB-LBL at 16 KiB (one bank). conv_a starts at 184, once its inputs are
    // in; its first weight tile (2,304 bits) and input tile (3,072 bits) come through
    // the bank's one read port in turn: 18 + 24 = 42 cycles before its first pass
    // (in parallel, 24). Its passes take 3,072 cycles: 3,114 in all.
    //
    // conv_b's 18,432 bits of weights are prefetched meanwhile, landing from 284 to
    // 572 and holding the bank's write port. conv_a writes only its outputs into the
    // SRAM, which do not hold up its passes: it ends as planned, after the landing.
    //
    // conv_b's first tiles, 18,432 and 12,288 bits, take 144 + 96 = 240 cycles.
    let s = plan(
        Path::new("models/workloads/tiny_fused.toml"),
        "16KiB",
        "TB-LBL",
    );
    assert_eq!(s.accelerator.cores[0].global_sram().banks, 1);
    let [conv_a, conv_b, _] = &s.tiles[..] else {
        panic!("three tiles")
    };
    assert_eq!(conv_a.predicted.start_cycle, 184);
    assert_eq!(conv_a.predicted.cycles, 42 + 3_072);
    assert_eq!(conv_a.predicted.end_cycle, 184 + 3_114);
    assert_eq!(conv_b.predicted.start_cycle, conv_a.predicted.end_cycle);
    assert_eq!(conv_b.predicted.cycles, 240 + 5_664);
    let predicted = s.predicted.clone();
    // The simulator waits on the bank port at each tile's start for those cycles, and
    // nowhere else; both halves name them bank conflicts. The two latencies agree
    // within 1.5 %.
    assert_eq!(predicted.stall_cycles_by_cause["bank_conflict"], 42 + 240);
    let measured = simulate(s, &SimOptions::default()).expect("runs").report;
    assert_eq!(measured.stall_cycles_by_cause["bank_conflict"], 42 + 240);
    let delta = measured.latency_cycles as f64 / predicted.latency_cycles as f64 - 1.0;
    assert!(delta.abs() < 0.015, "{delta}");
}

/// A 1×1 conv of `input_bits`-bit inputs, K 32 × C 2 × OY 16 on the array (C reduced
/// two per cycle: one cycle a fold), one fold per output column: 64 folds. Returns
/// (the input buffer's cycles, the array's busy cycles, the stall cycles).
fn one_cycle_folds(input_bits: u32) -> (u64, u64, u64) {
    let shape = pointwise_conv(2, input_bits).shape(0..1);
    let acc = accelerator();
    let input_lb = acc.cores[0]
        .memories
        .iter()
        .position(|m| m.holds(Operand::I))
        .expect("an input buffer");
    assert_eq!(acc.cores[0].memories[input_lb].read_bw_bits(), 128);
    let model = CostModel::new(&shape, &acc.cores[0], &acc.dram, Residency::default(), 0);
    let nest = [
        Loop {
            dim: Dim::OX,
            size: 64,
        },
        Loop {
            dim: Dim::C,
            size: 1,
        },
    ];
    let e = model.evaluate(&nest, 1).expect("fits");
    (
        e.level_cycles[input_lb + 1],
        e.array_cycles(),
        e.stall_cycles,
    )
}

#[test]
fn a_fold_lasts_as_long_as_its_buffer_needs_to_feed_it() {
    // Each fold computes one cycle, then fills and drains the array for 46: busy
    // 64 × 47 = 3,008 cycles. The skew does not hide reads (the simulator stretches
    // the pass itself).
    //
    // 4-bit inputs: a fold reads 16 rows × 2 channels × 4 bits = 128 bits from the
    // input buffer, one cycle at its 128 bits per cycle: no fold waits. The stall is
    // the prologue alone: the first input tile, 8,192 bits over a 128-bit bank port,
    // 64 cycles.
    assert_eq!(one_cycle_folds(4), (3_008, 3_008, 64));
    // 8-bit inputs: 256 bits a fold, two cycles: each of the 64 folds waits one,
    // 3,008 + 64 = 3,072, although the buffer's 16,384 bits over the run need only
    // 128 cycles. Stall: those 64 plus the prologue's 16,384 / 128 = 128.
    assert_eq!(one_cycle_folds(8), (3_072, 3_008, 192));
}

#[test]
fn a_lane_spills_one_copy_after_another() {
    // tiny_fused ST-LF at 8 KiB: to make room for tile 14, its lane spills a 6,144-bit
    // chunk and then a 3,072-bit one. A lane frees a spilled copy only once the spill
    // is written, and runs its actions in order, so the second spill starts when the
    // first is in DRAM: 6,144 / 64 bits a cycle = 96 cycles of burst plus the 100-cycle
    // access latency. The second takes 48 + 100.
    use stems::schedule::{Action, Reason};
    let s = plan(
        Path::new("models/workloads/tiny_fused.toml"),
        "8KiB",
        "ST-LF",
    );
    let spills: Vec<_> = s.tiles[14]
        .before
        .iter()
        .filter_map(|a| match a {
            Action::Transfer(t) if t.reason == Reason::Spill => Some(t),
            _ => None,
        })
        .collect();
    let [first, second] = spills[..] else {
        panic!("two spills, not {}", spills.len())
    };
    assert_eq!((first.bits, second.bits), (6_144, 3_072));
    assert_eq!(first.predicted_end - first.predicted_start, 96 + 100);
    assert_eq!(second.predicted_start, first.predicted_end);
    assert_eq!(second.predicted_end - second.predicted_start, 48 + 100);
}

/// The first load from DRAM into the global SRAM of tiny_fused under ST-LF at `gb`,
/// from a DRAM moving `dram_bw_bits` a cycle: its bits and the cycles from its first
/// bit leaving DRAM to its last being in.
fn first_load(gb: &str, dram_bw_bits: u64) -> (u64, u64) {
    use stems::schedule::{Action, Location, Reason};
    let s = stems::schedule::plan(
        Path::new("models/workloads/tiny_fused.toml"),
        Path::new("models/hardware/meta_proto.toml"),
        &stems::model::Overrides {
            global_sram: Some(gb.parse().expect("size")),
            hardware: vec![
                format!("dram.bw_bits={dram_bw_bits}")
                    .parse()
                    .expect("field"),
            ],
            ..stems::model::Overrides::default()
        },
        "ST-LF",
        stems::schedule::SchedulerOptions::default(),
    )
    .expect("plans");
    let t = s
        .tiles
        .iter()
        .flat_map(|t| &t.before)
        .find_map(|a| match a {
            Action::Transfer(t)
                if t.reason == Reason::Load && matches!(t.to, Location::Sram { .. }) =>
            {
                Some(t)
            }
            _ => None,
        })
        .expect("a load");
    (t.bits, t.predicted_end - t.predicted_start)
}

#[test]
fn a_load_from_fast_dram_is_in_no_sooner_than_the_banks_it_lands_in_write_it() {
    // From the paper's 64-bit port a load flows at the port's rate. From a 1,024-bit
    // DRAM it would be 16 times faster, but an 8 KiB SRAM is one bank whose write port
    // takes 128 bits a cycle: the load is in after bits / 128 cycles.
    let (bits, slow) = first_load("8KiB", 64);
    assert_eq!(slow, bits.div_ceil(64));
    let (bits, fast) = first_load("8KiB", 1024);
    assert_eq!(fast, bits.div_ceil(128));
}
