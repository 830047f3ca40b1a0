//! The look-ahead window's bank queue. When a tile starts, its core's controller
//! issues the buffer fills of its first `LOOKAHEAD_PASSES` passes at once. Each fill
//! reads the operand's next piece from the global SRAM, from where the previous one
//! ended, so fills whose pieces lie in one bank queue at that bank's read port, and a
//! pass starts only once its fills are in. The mapper spreads an operand's traffic
//! evenly over as many banks as its data spans; this models how far the window's
//! fills, from where the tile's data actually lies, wait beyond that.

use crate::model::BankLayout;
use crate::model::accelerator::LOOKAHEAD_PASSES;
use crate::schedule::memory::{Extent, address_in};
use smallvec::SmallVec;

/// How a tile's passes fill a buffer with one operand: `bits` at the first pass and
/// every `every` passes after it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Fills {
    pub bits: u64,
    pub every: u64,
}

impl Fills {
    /// The offset into the operand's data of the last fill a window over `passes`
    /// passes issues: the window reads nothing past that fill.
    pub fn last_in_window(&self, passes: u64) -> u64 {
        let window = passes.clamp(1, LOOKAHEAD_PASSES);
        (window - 1) / self.every.max(1) * self.bits
    }
}

/// One operand a tile's passes fill a buffer with from the global SRAM.
pub(super) struct Feed {
    /// Where its data lies, in the order fills read it: at least as far as the offset
    /// of its last fill in the window ([`Fills::last_in_window`]), past it when that
    /// lies beyond the data (fills wrap around it).
    pub extents: SmallVec<[Extent; 8]>,
    pub fills: Fills,
    /// The write port of the buffer it fills, bits per cycle.
    pub buffer_bw: u64,
    /// Banks the mapper spreads its traffic over.
    pub span: u64,
}

/// The SRAM the fills read from: its banks and each bank's read port.
#[derive(Clone, Copy)]
pub(super) struct Banks {
    pub layout: BankLayout,
    pub read_bw: u64,
}

/// What a tile's first fills cost: the cycles its first passes wait beyond what they
/// would if each feed's fills took its `span` banks in turn, and until when (from the
/// tile's start) they hold each bank's read port.
pub(super) struct Window {
    pub wait: u64,
    pub bank_reads: BankReads,
}

/// (bank, cycle) pairs.
pub(super) type BankReads = SmallVec<[(u64, u64); 16]>;

/// The window of a tile of `passes` passes of `pass_cycles` each.
pub(super) fn window(banks: Banks, feeds: &[Feed], passes: u64, pass_cycles: u64) -> Window {
    let window = passes.clamp(1, LOOKAHEAD_PASSES);
    let mut bank_reads = BankReads::new();
    if feeds.iter().all(|f| f.fills.bits == 0) {
        return Window {
            wait: 0,
            bank_reads,
        };
    }
    let placed = window_end(banks, feeds, (window, pass_cycles), false, &mut bank_reads);
    // One pass has no window, and through one bank the mapper already serves the
    // fills in turn.
    let wait = if window < 2
        || banks.layout.banks < 2
        || placed <= spread_floor(banks, feeds, window, pass_cycles)
    {
        0
    } else {
        let spread = window_end(
            banks,
            feeds,
            (window, pass_cycles),
            true,
            &mut BankReads::new(),
        );
        placed.saturating_sub(spread)
    };
    Window { wait, bank_reads }
}

/// A floor on `window_end(.., spread: true)`: the window's passes after the first
/// pass's fills, each read out of one bank and written into its buffer. A placed window
/// ending by then waits nothing, and the spread one need not be replayed.
fn spread_floor(banks: Banks, feeds: &[Feed], window: u64, pass_cycles: u64) -> u64 {
    let first_fill = feeds
        .iter()
        .filter(|f| f.fills.bits > 0)
        .map(|f| {
            let bits = f.fills.bits;
            bits.div_ceil(banks.read_bw.max(1))
                .max(bits.div_ceil(f.buffer_bw.max(1)))
        })
        .max()
        .unwrap_or(0);
    first_fill + window * pass_cycles
}

/// When the window's last pass ends, counted from the tile's start, with every fill
/// issued at the start and waiting for the bank ports earlier ones hold: the banks
/// its piece lies in, or (`spread`) the next of its feed's `span` banks in turn.
/// A buffer's write port takes fills as their reads start delivering (cut-through),
/// not in pass order: a fill whose bank is busy lets later ones in first. Until when
/// each bank's read port is held goes to `bank_free` (emptied first), in place: the
/// list is large to move.
fn window_end(
    banks: Banks,
    feeds: &[Feed],
    (window, pass_cycles): (u64, u64),
    spread: bool,
    bank_free: &mut BankReads,
) -> u64 {
    let window = window.min(LOOKAHEAD_PASSES);
    bank_free.clear();
    // Per fill, in issue order (pass by pass): (feed, pass, read start, read end).
    let mut reads: SmallVec<[(usize, u64, u64, u64); 16]> = SmallVec::new();
    for pass in 0..window {
        for (f, feed) in feeds.iter().enumerate() {
            let Fills { bits, every } = feed.fills;
            let every = every.max(1);
            if bits == 0 || pass % every != 0 {
                continue;
            }
            let fill = pass / every;
            let (mut start, mut end) = (u64::MAX, 0u64);
            let mut read = |bank: u64, bits: u64| {
                let slot = bank_free.iter().position(|&(b, _)| b == bank);
                let free = slot.map_or(0, |i| bank_free[i].1);
                let done = free + bits.div_ceil(banks.read_bw.max(1));
                match slot {
                    Some(i) => bank_free[i].1 = done,
                    None => bank_free.push((bank, done)),
                }
                start = start.min(free);
                end = end.max(done);
            };
            if spread {
                // Banks of its own, numbered past the real ones.
                read(
                    banks.layout.banks + (f as u64) * window + fill % feed.span.max(1),
                    bits,
                );
            } else {
                let addr = address_in(&feed.extents, fill * bits);
                for (bank, bits) in banks.layout.pieces(addr, bits) {
                    read(bank, bits);
                }
            }
            reads.push((f, pass, start.min(end), end));
        }
    }
    // Stable: fills arriving together keep their issue order.
    reads.sort_by_key(|&(_, _, start, _)| start);
    let mut buffer_free: SmallVec<[u64; 4]> = smallvec::smallvec![0; feeds.len()];
    let mut arrival = [0u64; LOOKAHEAD_PASSES as usize];
    let arrival = &mut arrival[..window as usize];
    for (f, pass, start, end) in reads {
        let feed = &feeds[f];
        let begin = buffer_free[f].max(start);
        let done = (begin + feed.fills.bits.div_ceil(feed.buffer_bw.max(1))).max(end);
        buffer_free[f] = done;
        let a = &mut arrival[pass as usize];
        *a = (*a).max(done);
    }
    arrival
        .iter()
        .fold(0u64, |pass_end, &a| pass_end.max(a) + pass_cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banks() -> Banks {
        // Four banks of 1,000 bits, 100 bits per cycle each.
        Banks {
            layout: BankLayout {
                banks: 4,
                bank_bits: 1000,
                capacity: 4000,
            },
            read_bw: 100,
        }
    }

    fn wait(banks: Banks, feeds: &[Feed], passes: u64, pass_cycles: u64) -> u64 {
        window(banks, feeds, passes, pass_cycles).wait
    }

    fn feed(extents: &[(u64, u64)], bits: u64, span: u64) -> Feed {
        Feed {
            extents: extents
                .iter()
                .map(|&(start, len)| Extent { start, len })
                .collect(),
            fills: Fills { bits, every: 1 },
            buffer_bw: 1000,
            span,
        }
    }

    #[test]
    fn fills_of_data_in_one_bank_queue_beyond_the_spread_the_mapper_assumes() {
        // Eight passes of 1 cycle, each filling 200 bits (2 cycles out of a bank, 1
        // into the buffer), the data in bank 0 only. Spread over 4 banks, fills 0-3
        // are read by 2 and fills 4-7 by 4; the buffer takes them one a cycle from 0,
        // so the passes end at 3, 4, ..., 10. In one bank, fill p is read by 2(p + 1)
        // and pass 7 ends at 17: 7 cycles more.
        assert_eq!(wait(banks(), &[feed(&[(0, 1000)], 200, 4)], 8, 1), 7);
        // Passes of 10 cycles hide the queue: fill p lands long before pass p.
        assert_eq!(wait(banks(), &[feed(&[(0, 1000)], 200, 4)], 8, 10), 0);
    }

    #[test]
    fn data_the_mapper_knows_to_lie_in_one_bank_adds_nothing() {
        assert_eq!(wait(banks(), &[feed(&[(0, 1000)], 200, 1)], 8, 1), 0);
    }

    #[test]
    fn fills_whose_pieces_lie_in_banks_of_their_own_do_not_queue() {
        let scattered = [(0, 200), (1000, 200), (2000, 200), (3000, 200)];
        assert_eq!(wait(banks(), &[feed(&scattered, 200, 4)], 4, 1), 0);
    }

    #[test]
    fn a_buffer_tile_filled_every_other_pass_reaches_the_buffer_as_its_read_starts() {
        // 400-bit fills at passes 0, 2, 4, 6 (4 cycles out of a bank, 1 into the
        // buffer) of data laid out from address 0: fills 0 and 1 in bank 0, fill 2
        // half in bank 0 and half in bank 1, fill 3 in bank 1. Read by 4, 8, 10 and 6,
        // starting at 0, 4, 0 and 2: the buffer takes fill 0 (done 4), fill 2 (10),
        // fill 3 (11), then fill 1 (12). The 1-cycle passes end at 5, 6, 13, 14, 15,
        // 16, 17, 18. Spread over 4 banks every fill is read by 4 and in the buffer by
        // 4, 5, 6, 7: the passes end at 5, 6, ..., 12. 6 cycles more.
        let mut f = feed(&[(0, 4000)], 400, 4);
        f.fills.every = 2;
        assert_eq!(wait(banks(), &[f], 8, 1), 6);
    }

    proptest::proptest! {
        /// The floor that lets `window` skip the spread replay never lies above it, so
        /// skipping changes no wait.
        #[test]
        fn the_spread_floor_never_exceeds_the_spread_replay(
            feeds in proptest::collection::vec(
                (0u64..4000, 1u64..3000, 0u64..900, 1u64..4, 1u64..400, 1u64..6),
                1..3,
            ),
            passes in 1u64..20,
            pass_cycles in 0u64..12,
        ) {
            let feeds: Vec<Feed> = feeds
                .into_iter()
                .map(|(start, len, bits, every, buffer_bw, span)| Feed {
                    extents: smallvec::smallvec![Extent { start, len }],
                    fills: Fills { bits, every },
                    buffer_bw,
                    span,
                })
                .collect();
            let window = passes.clamp(1, LOOKAHEAD_PASSES);
            let spread = window_end(
                banks(),
                &feeds,
                (window, pass_cycles),
                true,
                &mut BankReads::new(),
            );
            proptest::prop_assert!(spread_floor(banks(), &feeds, window, pass_cycles) <= spread);
        }
    }

    #[test]
    fn a_single_pass_has_no_window() {
        assert_eq!(wait(banks(), &[feed(&[(0, 1000)], 200, 4)], 1, 1), 0);
    }
}
