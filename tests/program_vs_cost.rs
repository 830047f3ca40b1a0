//! Does the simulator's lowering (`sim/program.rs`) move what the analytic cost model
//! (`mapping/cost.rs`) charges — on any legal loop nest and any buffer boundaries, not
//! only the ones the mapper picks? The two share no code; traffic per level, the
//! array's reads, state loads and stores, outputs and operations must agree exactly.

mod common;

use common::{Conv, accelerator, conv_strategy};
use proptest::prelude::*;
use stems::mapping::{Boundary, CostModel, Dim, Loop, Residency};
use stems::model::{Operand, Unroll};
use stems::sim::program::{FillTarget, Nest, TileProgram};

/// Prime factors, smallest first.
fn factors(mut n: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut p = 2;
    while n > 1 {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    out
}

/// A legal nest: the temporal iterations of K, OY, OX and T as prime-factor loops in
/// the order `outer_order` picks, above C, FY, FX in the order `reduction_order` picks.
fn nest(sizes: [u64; 7], outer_order: &[usize], reduction_order: &[usize]) -> (Vec<Loop>, usize) {
    let mut outer: Vec<Loop> = [Dim::K, Dim::OY, Dim::OX, Dim::T]
        .into_iter()
        .flat_map(|d| {
            factors(sizes[d.index()])
                .into_iter()
                .map(move |size| Loop { dim: d, size })
        })
        .collect();
    // A permutation drawn as "take the i-th remaining" choices.
    let mut ordered = Vec::with_capacity(outer.len());
    for &pick in outer_order {
        if outer.is_empty() {
            break;
        }
        ordered.push(outer.remove(pick % outer.len()));
    }
    ordered.append(&mut outer);
    let mut reduction: Vec<Loop> = [Dim::C, Dim::FY, Dim::FX]
        .into_iter()
        .filter(|d| sizes[d.index()] > 1)
        .map(|d| Loop {
            dim: d,
            size: sizes[d.index()],
        })
        .collect();
    let mut red = Vec::new();
    for &pick in reduction_order {
        if reduction.is_empty() {
            break;
        }
        red.push(reduction.remove(pick % reduction.len()));
    }
    red.append(&mut reduction);
    let reduction_loops = red.len();
    ordered.extend(red);
    (ordered, reduction_loops)
}

/// What the lowered passes add up to.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    fill_w: u64,
    fill_i: u64,
    read_w: u64,
    read_i: u64,
    v_load: u64,
    v_store: u64,
    o: u64,
    ops: u64,
    passes: u64,
}

/// The 16 rows of the array as OY × OX = d × 16/d output pixels (d = 16 is the
/// paper's OY unrolling), or as 16 flattened pixels in raster order (`OYOX`); the
/// columns as 32 output channels.
fn unrolling(pick: usize) -> Unroll {
    if pick % 6 == 5 {
        return Unroll {
            k: 32,
            c: 2,
            oy: 1,
            ox: 16,
            flat: true,
        };
    }
    let oy = [16, 8, 4, 2, 1][pick % 6];
    Unroll {
        k: 32,
        c: 2,
        oy,
        ox: 16 / oy,
        flat: false,
    }
}

fn lowered(
    conv: &Conv,
    (loops, reduction_loops): (&[Loop], usize),
    unroll: Unroll,
    bw: usize,
    bi: usize,
) -> Totals {
    let acc = accelerator();
    let core = &acc.cores[0];
    let shape = conv.shape(0..conv.timesteps);
    let boundary = |operand, level: &str, loops_below| Boundary {
        operand,
        level: level.into(),
        loops_below,
        tile_bits: 0,
    };
    let n = loops.len();
    let boundaries = [
        boundary(Operand::W, "weight_lb", bw),
        boundary(Operand::I, "input_lb", bi),
        boundary(Operand::W, "global_sram", n),
        boundary(Operand::I, "global_sram", n),
    ];
    let mut program = TileProgram::lower(
        shape,
        core,
        Nest {
            loops,
            reduction_loops,
            boundaries: &boundaries,
            streamed: &[],
            first_timestep: 0,
            unroll,
        },
        conv.timesteps,
    );
    let mut t = Totals::default();
    while let Some(p) = program.next_pass() {
        t.passes += 1;
        for f in &p.fills {
            assert!(matches!(f.target, FillTarget::Buffer(_)), "nothing streams");
            match f.operand {
                Operand::W => t.fill_w += f.bits,
                Operand::I => t.fill_i += f.bits,
                other => panic!("fill of {other:?}"),
            }
        }
        for &(_, op, bits) in &p.buffer_reads {
            match op {
                Operand::W => t.read_w += bits,
                _ => t.read_i += bits,
            }
        }
        t.v_load += p.v_load_bits;
        t.v_store += p.v_store_bits;
        t.o += p.o_bits;
        t.ops += p.macs + p.sops + p.other_ops;
    }
    t
}

fn charged(
    conv: &Conv,
    (loops, reduction_loops): (&[Loop], usize),
    unroll: Unroll,
    bw: usize,
    bi: usize,
) -> Totals {
    let acc = accelerator();
    let shape = conv.shape(0..conv.timesteps);
    let cost =
        CostModel::new(&shape, &acc.cores[0], &acc.dram, Residency::ON_CHIP, 0).with_unroll(unroll);
    let neurons_v = if shape.stateful {
        shape.neurons() * shape.precision.v as u64
    } else {
        0
    };
    let visits = cost.state_visits(loops, reduction_loops);
    Totals {
        fill_w: cost.traffic_bits(Operand::W, loops, bw),
        fill_i: cost.traffic_bits(Operand::I, loops, bi),
        read_w: cost.array_feed_bits(Operand::W, loops),
        read_i: cost.array_feed_bits(Operand::I, loops),
        // Reset at the first timestep, discarded after the last.
        v_load: (visits - 1) * neurons_v,
        v_store: (visits - 1) * neurons_v,
        o: shape.output_bits(),
        ops: shape.reduction_ops() + shape.other_ops(),
        passes: loops[..loops.len() - reduction_loops]
            .iter()
            .map(|l| l.size)
            .product(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn lowering_moves_what_the_cost_model_charges(
        conv in conv_strategy(),
        outer_order in prop::collection::vec(0usize..64, 0..24),
        reduction_order in prop::collection::vec(0usize..3, 3),
        bw_pick in 0usize..64,
        bi_pick in 0usize..64,
        unroll_pick in 0usize..6,
    ) {
        let shape = conv.shape(0..conv.timesteps);
        let acc = accelerator();
        let unroll = unrolling(unroll_pick);
        let sizes = CostModel::new(&shape, &acc.cores[0], &acc.dram, Residency::ON_CHIP, 0)
            .with_unroll(unroll)
            .temporal_sizes();
        let (loops, reduction_loops) = nest(sizes, &outer_order, &reduction_order);
        prop_assume!(loops.len() > reduction_loops);
        let bw = bw_pick % (loops.len() + 1);
        let bi = bi_pick % (loops.len() + 1);
        let got = lowered(&conv, (&loops, reduction_loops), unroll, bw, bi);
        let want = charged(&conv, (&loops, reduction_loops), unroll, bw, bi);
        prop_assert_eq!(got, want, "nest {:?} under {:?}, W below {}, I below {}", loops, unroll, bw, bi);
    }
}

#[test]
fn the_nest_generator_keeps_every_iteration() {
    let (loops, red) = nest([12, 9, 8, 6, 3, 3, 4], &[5, 0, 3], &[2, 0]);
    let product = |d: Dim| -> u64 {
        loops
            .iter()
            .filter(|l| l.dim == d)
            .map(|l| l.size)
            .product()
    };
    assert_eq!(
        [Dim::K, Dim::C, Dim::OY, Dim::OX, Dim::FY, Dim::FX, Dim::T].map(product),
        [12, 9, 8, 6, 3, 3, 4]
    );
    assert_eq!(red, 3);
    assert!(
        loops[loops.len() - red..]
            .iter()
            .all(|l| l.dim.is_reduction())
    );
}
