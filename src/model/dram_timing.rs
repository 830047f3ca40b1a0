//! The DRAM as a device with timing (`[dram] model = "timing"` and its `[dram.timing]`
//! table): its organisation (channels, ranks, bank groups, banks, rows, columns), its
//! clock against the accelerator's, the standard's timing constraints in DRAM clocks,
//! how a byte address splits into channel, rank, bank group, bank, row and column, and
//! the controller's page policy and scheduling. Presets (`preset = "ddr4_2400"`) are the
//! files in `models/dram/`, with their sources in their comments; fields written beside
//! a preset replace its values.
//!
//! The simulator runs per-bank state machines under these constraints
//! (`sim::dram_timing`); the analytic half prices a transfer by
//! [`DramTiming::stream_cycles`], an estimate from the same parameters.

use super::diag::{Collector, Problem};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Which DRAM model times transfers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DramKind {
    /// One port of `bw_bits` per cycle and a fixed latency (the paper's model).
    #[default]
    Port,
    /// Banks, rows, refresh and the standard's constraints (`[dram.timing]`).
    Timing,
}

impl DramKind {
    pub fn is_port(&self) -> bool {
        *self == DramKind::Port
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagePolicy {
    /// A row stays open after an access, until another row of its bank is needed.
    Open,
    /// Every access precharges its row when it is done (auto-precharge).
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheduling {
    /// Bursts are served in arrival order.
    Fcfs,
    /// Among the bursts in the queue, those to an open row first, then the oldest.
    FrFcfs,
}

/// One field of a DRAM address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    Channel,
    Rank,
    BankGroup,
    Bank,
    Row,
    Column,
}

impl AddressField {
    const ALL: [(&'static str, AddressField); 6] = [
        ("ch", AddressField::Channel),
        ("ra", AddressField::Rank),
        ("bg", AddressField::BankGroup),
        ("ba", AddressField::Bank),
        ("ro", AddressField::Row),
        ("co", AddressField::Column),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

/// The `[dram.timing]` table, resolved (preset plus the fields written beside it).
/// Every `t*`, `cl` and `cwl` is in DRAM clocks (nCK) of `tck_ps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DramTiming {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub standard: String,
    pub channels: u64,
    pub ranks: u64,
    pub bank_groups: u64,
    pub banks_per_group: u64,
    pub rows: u64,
    /// Column addresses per row of one device.
    pub columns: u64,
    pub device_width_bits: u64,
    /// Width of a channel's data bus (devices per rank × device width).
    pub bus_width_bits: u64,
    pub burst_length: u64,
    /// The DRAM clock period, picoseconds.
    pub tck_ps: u64,
    /// The accelerator's clock, against which `tck_ps` counts: the accelerator's
    /// `clock_mhz`, copied here when the model is read.
    #[serde(default = "default_clock_mhz")]
    pub accelerator_clock_mhz: u64,
    /// Supply voltage and the currents of one device, mA, by the datasheet method
    /// (each absent: what it prices is not counted): IDD2N precharge standby and IDD5B
    /// refresh for the background power; IDD0 one activate–precharge cycle against
    /// IDD3N active standby for a row activation's energy; IDD4R and IDD4W bursts.
    #[serde(default)]
    pub vdd_v: f64,
    #[serde(default)]
    pub idd2n_ma: f64,
    #[serde(default)]
    pub idd5b_ma: f64,
    #[serde(default)]
    pub idd0_ma: f64,
    #[serde(default)]
    pub idd3n_ma: f64,
    #[serde(default)]
    pub idd4r_ma: f64,
    #[serde(default)]
    pub idd4w_ma: f64,
    pub cl: u64,
    pub cwl: u64,
    pub trcd: u64,
    pub trp: u64,
    pub tras: u64,
    pub trc: u64,
    pub trrd_s: u64,
    pub trrd_l: u64,
    pub tfaw: u64,
    pub twtr_s: u64,
    pub twtr_l: u64,
    pub twr: u64,
    pub trtp: u64,
    pub tccd_s: u64,
    pub tccd_l: u64,
    pub trfc: u64,
    pub trefi: u64,
    /// Address fields from the most significant down, e.g. `ro,ba,bg,co,ch`; below
    /// them, the bytes of one burst.
    pub address_mapping: AddressMapping,
    pub page_policy: PagePolicy,
    pub scheduling: Scheduling,
    /// Bursts the controller looks ahead at (activates ahead, reorders under FR-FCFS).
    pub queue_depth: u64,
}

/// The request size of a DRAM trace under the port model, and the alignment of the
/// objects' DRAM regions: one 64-byte line (a DDR4 x64 burst of 8).
pub const LINE_BYTES: u64 = 64;

/// The most banks a device may have in all (each is simulated).
const MAX_BANKS: u64 = 1 << 16;

/// Clocks the data bus stays idle between a read's data and a write's (the bus turns
/// around and the write preamble goes out).
pub const READ_TO_WRITE_GAP: u64 = 2;

/// The accelerator clock unless stated, MHz.
pub const DEFAULT_CLOCK_MHZ: u64 = 1000;

fn default_clock_mhz() -> u64 {
    DEFAULT_CLOCK_MHZ
}

/// The bundled presets: name and file text.
pub const PRESETS: [(&str, &str); 3] = [
    (
        "ddr4_2400",
        include_str!("../../models/dram/ddr4_2400.toml"),
    ),
    (
        "lpddr4_3200",
        include_str!("../../models/dram/lpddr4_3200.toml"),
    ),
    ("hbm2", include_str!("../../models/dram/hbm2.toml")),
];

/// The address fields, most significant first; written `ro,ba,co,bg,ch` (a name that
/// is not a field, or one named twice, is refused when the table is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressMapping(pub Vec<AddressField>);

impl std::fmt::Display for AddressMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|x| x.name()).collect();
        write!(f, "{}", names.join(","))
    }
}

impl std::str::FromStr for AddressMapping {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_mapping(text).map(AddressMapping)
    }
}

impl Serialize for AddressMapping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AddressMapping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A DRAM address split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DramAddress {
    pub channel: u64,
    pub rank: u64,
    pub bank_group: u64,
    pub bank: u64,
    pub row: u64,
    pub column: u64,
}

/// Splits byte addresses into DRAM fields (`DramTiming::decoder`).
#[derive(Debug, Clone)]
pub struct AddressDecoder {
    /// Each field, its lowest bit and its mask, least significant first.
    fields: Vec<(AddressField, u32, u64)>,
}

impl AddressDecoder {
    pub fn decode(&self, byte_address: u64) -> DramAddress {
        let mut a = DramAddress::default();
        for &(f, shift, mask) in &self.fields {
            let v = byte_address.checked_shr(shift).unwrap_or(0) & mask;
            match f {
                AddressField::Channel => a.channel = v,
                AddressField::Rank => a.rank = v,
                AddressField::BankGroup => a.bank_group = v,
                AddressField::Bank => a.bank = v,
                AddressField::Row => a.row = v,
                AddressField::Column => a.column = v,
            }
        }
        a
    }
}

impl DramTiming {
    /// Bytes one burst moves on a channel.
    pub fn burst_bytes(&self) -> u64 {
        self.bus_width_bits * self.burst_length / 8
    }

    /// Bytes of one row across a rank.
    pub fn row_bytes(&self) -> u64 {
        self.columns * self.bus_width_bits / 8
    }

    /// Bytes the device holds (saturating).
    pub fn capacity_bytes(&self) -> u64 {
        let banks = self.channels * self.ranks * self.bank_groups * self.banks_per_group;
        (banks as u128 * self.rows as u128 * self.row_bytes() as u128).min(u64::MAX as u128) as u64
    }

    /// Bursts that move `bits`.
    fn bursts(&self, bits: u64) -> u64 {
        bits.div_ceil(self.burst_bytes() * 8)
    }

    /// Bursts one row of one bank holds.
    fn row_bursts(&self) -> u64 {
        (self.row_bytes() / self.burst_bytes()).max(1)
    }

    /// DRAM clocks a burst holds its channel's data bus (two transfers per clock).
    pub fn burst_clocks(&self) -> u64 {
        self.burst_length.div_ceil(2)
    }

    /// The address fields, most significant first (checked when the model was read).
    pub fn mapping(&self) -> &[AddressField] {
        &self.address_mapping.0
    }

    fn count(&self, f: AddressField) -> u64 {
        match f {
            AddressField::Channel => self.channels,
            AddressField::Rank => self.ranks,
            AddressField::BankGroup => self.bank_groups,
            AddressField::Bank => self.banks_per_group,
            AddressField::Row => self.rows,
            AddressField::Column => self.columns / self.burst_length,
        }
    }

    /// Splits byte addresses by the mapping, wrapping beyond the device's capacity
    /// (every count is a power of two, so each field is a run of address bits).
    pub fn decoder(&self) -> AddressDecoder {
        let mut shift = self.burst_bytes().trailing_zeros();
        let mut fields = Vec::new();
        for &f in self.mapping().iter().rev() {
            let bits = self.count(f).trailing_zeros();
            fields.push((f, shift, (1u64 << bits) - 1));
            shift += bits;
        }
        AddressDecoder { fields }
    }

    /// Accelerator cycles that `clocks` DRAM clocks last, rounded up.
    pub fn to_cycles(&self, clocks: u64) -> u64 {
        let ps = clocks as u128 * self.tck_ps as u128 * self.accelerator_clock_mhz as u128;
        ps.div_ceil(1_000_000) as u64
    }

    /// The DRAM clock an accelerator cycle falls in.
    pub fn to_clocks(&self, cycle: u64) -> u64 {
        let per = self.tck_ps as u128 * self.accelerator_clock_mhz as u128;
        (cycle as u128 * 1_000_000 / per) as u64
    }

    /// The fields a sequential stream steps through before it changes row, lowest
    /// first: how many channels and banks it spreads over, and how many bursts it
    /// takes in one row of one bank before moving on.
    fn stream_shape(&self) -> StreamShape {
        let below_row = || {
            self.mapping()
                .iter()
                .rev()
                .take_while(|f| **f != AddressField::Row)
        };
        let spread = |f: AddressField| {
            if below_row().any(|g| *g == f) {
                self.count(f)
            } else {
                1
            }
        };
        // The field that changes right after a channel's bursts: the column when a
        // stream stays in a row, else the bank it moves on to.
        let next_in_channel =
            below_row().find(|f| **f != AddressField::Channel && self.count(**f) > 1);
        StreamShape {
            channels: spread(AddressField::Channel),
            banks: spread(AddressField::Rank)
                * spread(AddressField::BankGroup)
                * spread(AddressField::Bank),
            same_group_next: matches!(
                next_in_channel,
                Some(AddressField::Column | AddressField::Bank) | None
            ),
        }
    }

    /// The analytic estimate of a sequential transfer of `bits`: accelerator cycles
    /// from its request to its last data, alone on an idle DRAM. The channels the
    /// stream spreads over move bursts in parallel, each at the column-to-column
    /// spacing; every row change costs a precharge and an activate, hidden behind
    /// other banks' bursts when the stream spreads over banks and the controller
    /// looks far enough ahead; refresh takes tRFC of every tREFI.
    pub fn stream_cycles(&self, bits: u64, write: bool) -> u64 {
        if bits == 0 {
            return 0;
        }
        let shape = self.stream_shape();
        let bursts = self.bursts(bits);
        let per_channel = bursts.div_ceil(shape.channels);
        let spacing = self.burst_clocks().max(if shape.same_group_next {
            self.tccd_l
        } else {
            self.tccd_s
        });
        let row_bursts = self.row_bursts();
        let rows = per_channel.div_ceil(row_bursts);
        let lookahead = self.queue_depth.min(row_bursts) * spacing;
        let row_change = self.trp + self.trcd;
        let exposed = if shape.banks > 1 {
            row_change.saturating_sub(lookahead)
        } else {
            row_change
        };
        let first = self.trcd + if write { self.cwl } else { self.cl };
        let busy =
            (per_channel - 1) * spacing + self.burst_clocks() + rows.saturating_sub(1) * exposed;
        let with_refresh = (busy as u128 * self.trefi as u128)
            .div_ceil(self.trefi.saturating_sub(self.trfc).max(1) as u128)
            as u64;
        self.to_cycles(first + with_refresh)
    }

    /// Power the devices draw whatever the controller does, µW, by the datasheet
    /// method: every device in precharge standby (IDD2N), plus refresh (IDD5B over
    /// IDD2N) for tRFC of every tREFI. Activates and bursts are priced apart
    /// ([`DramTiming::activate_energy_pj`], [`DramTiming::burst_energy_fj_per_bit`]).
    pub fn background_power_uw(&self) -> f64 {
        let devices = (self.channels * self.ranks) as f64 * self.devices_per_rank();
        let refresh =
            (self.idd5b_ma - self.idd2n_ma).max(0.0) * self.trfc as f64 / self.trefi.max(1) as f64;
        devices * self.vdd_v * (self.idd2n_ma + refresh) * 1000.0
    }

    /// Devices side by side on a channel's bus: they activate, read and write together.
    fn devices_per_rank(&self) -> f64 {
        (self.bus_width_bits / self.device_width_bits.max(1)) as f64
    }

    /// Energy of `clocks` DRAM clocks at `ma` over every device of a rank, pJ
    /// (mA × V × ns).
    fn rank_energy_pj(&self, ma: f64, clocks: f64) -> f64 {
        self.devices_per_rank() * self.vdd_v * ma * clocks * self.tck_ps as f64 / 1000.0
    }

    /// One row activation and its precharge, pJ, by the datasheet method: IDD0 over a
    /// tRC cycle less the standby the rank would draw anyway (IDD3N while the row is
    /// open for tRAS, IDD2N for the rest).
    pub fn activate_energy_pj(&self) -> f64 {
        let cycle = self.idd0_ma * self.trc as f64
            - self.idd3n_ma * self.tras as f64
            - self.idd2n_ma * self.trc.saturating_sub(self.tras) as f64;
        self.rank_energy_pj(cycle.max(0.0), 1.0)
    }

    /// The device's energy per bit of a read or write burst, fJ: IDD4R or IDD4W over
    /// IDD3N for the burst's clocks, over the burst's bits.
    pub fn burst_energy_fj_per_bit(&self, write: bool) -> f64 {
        let idd4 = if write { self.idd4w_ma } else { self.idd4r_ma };
        let pj = self.rank_energy_pj((idd4 - self.idd3n_ma).max(0.0), self.burst_clocks() as f64);
        pj * 1000.0 / (self.burst_bytes() * 8) as f64
    }

    /// The analytic estimate of the row activations a sequential transfer of `bits`
    /// makes on an idle device: each row of a bank it fills (at least one per bank
    /// its first bursts spread over) under the open page policy, every burst under
    /// the closed one.
    pub fn stream_activates(&self, bits: u64) -> u64 {
        let bursts = self.bursts(bits);
        if self.page_policy == PagePolicy::Closed {
            return bursts;
        }
        let row_bursts = self.row_bursts();
        let below_column: u64 = self
            .mapping()
            .iter()
            .rev()
            .take_while(|f| **f != AddressField::Column)
            .map(|&f| self.count(f))
            .product();
        bursts.div_ceil(row_bursts).max(bursts.min(below_column))
    }

    /// Peak bits per accelerator cycle over all channels (no refresh, no row change).
    pub fn peak_bits_per_cycle(&self) -> f64 {
        let per_clock = (self.channels * self.bus_width_bits * 2) as f64;
        per_clock * 1e6 / (self.tck_ps as f64 * self.accelerator_clock_mhz as f64)
    }

    /// What contradicts itself or lies outside its range, as problems of `el`.
    pub fn problems(&self, el: &str) -> Vec<Problem> {
        let mut p = Vec::new();
        self.check_organisation(el, &mut p);
        self.check_constraints(el, &mut p);
        self.check_supply(el, &mut p);
        if let Err(why) = self.check_mapping() {
            p.push(Problem::new(el, why).field("address_mapping"));
        }
        p
    }

    fn check_organisation(&self, el: &str, p: &mut Vec<Problem>) {
        let pow2 = [
            ("channels", self.channels, 64),
            ("ranks", self.ranks, 16),
            ("bank_groups", self.bank_groups, 16),
            ("banks_per_group", self.banks_per_group, 64),
            ("rows", self.rows, 1 << 24),
            ("columns", self.columns, 1 << 16),
            ("device_width_bits", self.device_width_bits, 1024),
            ("bus_width_bits", self.bus_width_bits, 4096),
            ("burst_length", self.burst_length, 256),
        ];
        for (field, v, hi) in pow2 {
            if v == 0 || v > hi || !v.is_power_of_two() {
                p.push(
                    Problem::new(
                        el,
                        format!("must be a power of two from 1 to {hi}, got {v}"),
                    )
                    .field(field),
                );
            }
        }
        let banks = self.channels * self.ranks * self.bank_groups * self.banks_per_group;
        if banks > MAX_BANKS {
            p.push(
                Problem::new(
                    el,
                    format!("{banks} banks in all (channels × ranks × bank groups × banks per group); at most {MAX_BANKS}"),
                )
                .field("banks_per_group"),
            );
        }
        if self.burst_length > self.columns {
            p.push(
                Problem::new(
                    el,
                    format!(
                        "a burst of {} columns is larger than a row of {} columns",
                        self.burst_length, self.columns
                    ),
                )
                .field("burst_length"),
            );
        }
        if self.bus_width_bits < self.device_width_bits {
            p.push(
                Problem::new(
                    el,
                    format!(
                        "the bus ({} bits) is narrower than one device ({} bits)",
                        self.bus_width_bits, self.device_width_bits
                    ),
                )
                .field("bus_width_bits"),
            );
        }
        for (field, v, (lo, hi)) in [
            ("tck_ps", self.tck_ps, (100, 100_000)),
            (
                "accelerator_clock_mhz",
                self.accelerator_clock_mhz,
                (1, 100_000),
            ),
            ("queue_depth", self.queue_depth, (1, 256)),
        ] {
            super::diag::check_range(p, el, field, v, (lo, hi));
        }
    }

    /// The voltage and currents: numbers in range, and each active current at least
    /// the standby it is priced against (IDD0, IDD4R and IDD4W over IDD3N).
    fn check_supply(&self, el: &str, p: &mut Vec<Problem>) {
        let supply = [
            ("vdd_v", self.vdd_v),
            ("idd2n_ma", self.idd2n_ma),
            ("idd5b_ma", self.idd5b_ma),
            ("idd0_ma", self.idd0_ma),
            ("idd3n_ma", self.idd3n_ma),
            ("idd4r_ma", self.idd4r_ma),
            ("idd4w_ma", self.idd4w_ma),
        ];
        for (field, v) in supply {
            if !(v.is_finite() && (0.0..=100_000.0).contains(&v)) {
                p.push(
                    Problem::new(el, format!("must be a number from 0 to 100000, got {v}"))
                        .field(field),
                );
            }
        }
        for (field, v) in &supply[3..] {
            if *v > 0.0 && *v < self.idd3n_ma {
                p.push(
                    Problem::new(
                        el,
                        format!(
                            "{v} mA is below IDD3N ({} mA), the active standby it is priced against",
                            self.idd3n_ma
                        ),
                    )
                    .field(*field),
                );
            }
        }
    }

    fn check_constraints(&self, el: &str, p: &mut Vec<Problem>) {
        const MAX_CLOCKS: u64 = 1 << 24;
        for (field, v) in self.clocks() {
            super::diag::check_range(p, el, field, v, (0, MAX_CLOCKS));
        }
        let mut order = |field: &str, ok: bool, why: String| {
            if !ok {
                p.push(Problem::new(el, why).field(field));
            }
        };
        let (s, burst) = (self, self.burst_clocks());
        order(
            "trc",
            s.trc >= s.tras + s.trp,
            format!(
                "tRC ({}) must cover tRAS + tRP ({} + {}): a bank activates again only after its row was open and precharged",
                s.trc, s.tras, s.trp
            ),
        );
        for (short, long, a, b) in [
            ("trrd_s", "trrd_l", s.trrd_s, s.trrd_l),
            ("twtr_s", "twtr_l", s.twtr_s, s.twtr_l),
            ("tccd_s", "tccd_l", s.tccd_s, s.tccd_l),
        ] {
            order(
                long,
                b >= a,
                format!(
                    "{long} ({b}) is shorter than {short} ({a}): the same bank group waits at least as long"
                ),
            );
        }
        order(
            "tccd_s",
            s.tccd_s >= burst,
            format!(
                "tCCD_S ({}) is shorter than a burst on the bus (burst_length / 2 = {burst})",
                s.tccd_s
            ),
        );
        order(
            "trefi",
            s.trefi > s.trfc,
            format!(
                "tREFI ({}) must exceed tRFC ({}): the DRAM would do nothing but refresh",
                s.trefi, s.trfc
            ),
        );
        order(
            "trcd",
            s.trcd >= 1 && s.trp >= 1 && s.cl >= 1,
            "tRCD, tRP and CL must be at least one clock".into(),
        );
    }

    fn clocks(&self) -> [(&'static str, u64); 19] {
        [
            ("cl", self.cl),
            ("cwl", self.cwl),
            ("trcd", self.trcd),
            ("trp", self.trp),
            ("tras", self.tras),
            ("trc", self.trc),
            ("trrd_s", self.trrd_s),
            ("trrd_l", self.trrd_l),
            ("tfaw", self.tfaw),
            ("twtr_s", self.twtr_s),
            ("twtr_l", self.twtr_l),
            ("twr", self.twr),
            ("trtp", self.trtp),
            ("tccd_s", self.tccd_s),
            ("tccd_l", self.tccd_l),
            ("trfc", self.trfc),
            ("trefi", self.trefi),
            ("tck_ps", self.tck_ps),
            ("burst_length", self.burst_length),
        ]
    }

    /// Every field appears at most once; row and column always, and any other whose
    /// count is above one (a field of one value takes no address bits).
    fn check_mapping(&self) -> Result<(), String> {
        let fields = self.mapping();
        for (name, f) in AddressField::ALL {
            let needed = matches!(f, AddressField::Row | AddressField::Column) || self.count(f) > 1;
            if needed && !fields.contains(&f) {
                return Err(format!(
                    "'{}' has no '{name}' field ({} of them to address)",
                    self.address_mapping,
                    self.count(f)
                ));
            }
        }
        Ok(())
    }
}

/// How a sequential stream spreads (see `DramTiming::stream_shape`).
struct StreamShape {
    channels: u64,
    banks: u64,
    /// Consecutive bursts on a channel stay in one bank group (tCCD_L applies).
    same_group_next: bool,
}

fn parse_mapping(text: &str) -> Result<Vec<AddressField>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let f = AddressField::ALL
            .iter()
            .find(|(n, _)| *n == part)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                format!(
                    "'{part}' is not an address field (ch, ra, bg, ba, ro, co, separated by commas)"
                )
            })?;
        if out.contains(&f) {
            return Err(format!("'{}' appears twice in '{text}'", f.name()));
        }
        out.push(f);
    }
    Ok(out)
}

/// Reads `[dram] model` and `[dram.timing]` (at `span`): the preset's fields under the
/// ones written, checked. A timing table is read and checked under the port model too,
/// so switching with `--set dram.model=timing` finds it valid.
pub fn resolve(
    model: Option<&str>,
    table: Option<(toml::Table, Range<usize>)>,
    diag: &mut Collector,
    (span, clock_mhz): (&Range<usize>, u64),
) -> (DramKind, Option<DramTiming>) {
    let kind = match model {
        None | Some("port") => DramKind::Port,
        Some("timing") => DramKind::Timing,
        Some(other) => {
            diag.at(
                span,
                "dram",
                "model",
                format!("unknown DRAM model '{other}' (port, timing)"),
            );
            DramKind::Port
        }
    };
    let timing = match table {
        Some((t, tspan)) => resolve_table(t, diag, (&tspan, clock_mhz)),
        None => {
            if kind == DramKind::Timing {
                diag.at(
                    span,
                    "dram",
                    "model",
                    "model = \"timing\" needs a [dram.timing] table (e.g. preset = \"ddr4_2400\")",
                );
            }
            None
        }
    };
    (kind, timing)
}

fn resolve_table(
    mut table: toml::Table,
    diag: &mut Collector,
    (span, clock_mhz): (&Range<usize>, u64),
) -> Option<DramTiming> {
    let el = "dram.timing";
    if table.contains_key("accelerator_clock_mhz") {
        diag.at(
            span,
            el,
            "accelerator_clock_mhz",
            "the accelerator's clock is its top-level clock_mhz; set that instead",
        );
        return None;
    }
    if let Some(name) = table.get("preset").cloned() {
        let found = name
            .as_str()
            .and_then(|n| PRESETS.iter().find(|(p, _)| *p == n));
        let Some((_, text)) = found else {
            let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            diag.at(
                span,
                el,
                "preset",
                format!("unknown preset {name} (known: {})", known.join(", ")),
            );
            return None;
        };
        let mut merged: toml::Table = text.parse().expect("bundled presets are valid TOML");
        merged.extend(table);
        table = merged;
    }
    table.insert(
        "accelerator_clock_mhz".into(),
        toml::Value::Integer(clock_mhz as i64),
    );
    let timing: DramTiming = diag.table(table, el, span)?;
    let problems = timing.problems(el);
    for p in &problems {
        diag.at(
            span,
            el,
            p.field.as_deref().unwrap_or("preset"),
            p.message.clone(),
        );
    }
    problems.is_empty().then_some(timing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> DramTiming {
        let text = PRESETS.iter().find(|(n, _)| *n == name).expect("preset").1;
        toml::from_str(text).expect("preset parses")
    }

    #[test]
    fn presets_are_consistent() {
        for (name, _) in PRESETS {
            let t = preset(name);
            assert!(t.problems("dram.timing").is_empty(), "{name}");
        }
        // DDR4-2400 on a 64-bit bus: 19.2 GB/s, 153.6 bits per 1 GHz cycle.
        let ddr4 = preset("ddr4_2400");
        assert!((ddr4.peak_bits_per_cycle() - 153.7).abs() < 0.2);
        assert_eq!(ddr4.burst_bytes(), 64);
        assert_eq!(ddr4.row_bytes(), 8192);
    }

    #[test]
    fn background_power_follows_the_datasheet_method() {
        // Four x16 devices on the 64-bit bus, each 1.2 V × (IDD2N 37 mA + (IDD5B 250 −
        // 37) mA × tRFC 420 / tREFI 9363 = 9.555 mA) = 55.87 mW: 223.46 mW.
        let t = preset("ddr4_2400");
        assert!(
            (t.background_power_uw() - 223_462.0).abs() < 1.0,
            "{}",
            t.background_power_uw()
        );
        // HBM2 states no currents: none.
        assert_eq!(preset("hbm2").background_power_uw(), 0.0);
    }

    #[test]
    fn activations_and_bursts_follow_the_datasheet_method() {
        let t = preset("ddr4_2400");
        // Per device: 1.2 V × (IDD0 60 × tRC 55 − IDD3N 47 × tRAS 39 − IDD2N 37 × (55 −
        // 39)) mA·nCK = 1.2 × 875 = 1050 mW·nCK, × 0.833 ns = 874.65 pJ; four devices:
        // 3498.6 pJ per activation.
        assert!((t.activate_energy_pj() - 3498.6).abs() < 1e-6);
        // A read burst: 4 × 1.2 V × (160 − 47) mA × 4 nCK × 0.833 ns = 1807.3 pJ over
        // 512 bits = 3529.8 fJ per bit; a write, (145 − 47) mA: 3061.3 fJ.
        assert!((t.burst_energy_fj_per_bit(false) - 3529.8).abs() < 0.1);
        assert!((t.burst_energy_fj_per_bit(true) - 3061.3).abs() < 0.1);
        // HBM2 states no currents: nothing priced.
        let hbm = preset("hbm2");
        assert_eq!(hbm.activate_energy_pj(), 0.0);
        assert_eq!(hbm.burst_energy_fj_per_bit(false), 0.0);
    }

    #[test]
    fn a_stream_activates_each_row_it_fills() {
        let t = preset("ddr4_2400");
        let burst = 64 * 8;
        // One burst opens one row; two alternate the bank groups: two rows.
        assert_eq!(t.stream_activates(burst), 1);
        assert_eq!(t.stream_activates(2 * burst), 2);
        // A bank's row holds 8 KiB = 128 bursts: 1 MiB fills 16,384 / 128 = 128 rows.
        assert_eq!(t.stream_activates(8 << 20), 128);
        let mut closed = t.clone();
        closed.page_policy = PagePolicy::Closed;
        assert_eq!(closed.stream_activates(8 << 20), 16_384);
        assert_eq!(t.stream_activates(0), 0);
    }

    #[test]
    fn addresses_split_by_the_mapping() {
        let t = preset("ddr4_2400");
        let m = t.decoder();
        // bg is the lowest field (one channel): consecutive 64-B bursts alternate the
        // two bank groups, then step the column; 2 × 128 bursts fill a row of each
        // group, then the next bank, and after all four banks the next row.
        assert_eq!(m.decode(64).bank_group, 1);
        assert_eq!(m.decode(128).column, 1);
        let next = m.decode(2 * 8192);
        assert_eq!(
            (next.column, next.bank_group, next.bank, next.row),
            (0, 0, 1, 0)
        );
        let later = m.decode(2 * 8192 * 4);
        assert_eq!((later.bank, later.bank_group, later.row), (0, 0, 1));
    }

    #[test]
    fn contradictions_are_named() {
        let mut t = preset("ddr4_2400");
        t.tras = 60;
        t.address_mapping = "ro,ba,co".parse().expect("mapping");
        t.columns = 1000;
        let fields: Vec<String> = t
            .problems("dram.timing")
            .into_iter()
            .filter_map(|p| p.field)
            .collect();
        assert!(fields.contains(&"trc".to_string()), "{fields:?}");
        assert!(
            fields.contains(&"address_mapping".to_string()),
            "{fields:?}"
        );
        assert!(fields.contains(&"columns".to_string()), "{fields:?}");
        // The same bank group never waits less than another; currents are bounded.
        let mut order = preset("ddr4_2400");
        (order.tccd_l, order.twtr_l, order.idd2n_ma) = (2, 1, f64::NAN);
        let fields: Vec<String> = order
            .problems("dram.timing")
            .into_iter()
            .filter_map(|p| p.field)
            .collect();
        for f in ["tccd_l", "twtr_l", "idd2n_ma"] {
            assert!(fields.contains(&f.to_string()), "{f}: {fields:?}");
        }
        // Every bank is simulated: their number is bounded.
        let mut many = preset("hbm2");
        (
            many.channels,
            many.ranks,
            many.bank_groups,
            many.banks_per_group,
        ) = (64, 16, 16, 64);
        let p = many.problems("dram.timing");
        assert!(
            p.iter().any(|p| p.message.contains("1048576 banks in all")),
            "{p:?}"
        );
    }

    #[test]
    fn a_longer_stream_takes_longer_and_rows_cost() {
        let t = preset("ddr4_2400");
        let one_row = t.stream_cycles(8192 * 8, false);
        let two_rows = t.stream_cycles(2 * 8192 * 8, false);
        assert!(two_rows > one_row && one_row > 0);
        // 128 bursts alternating bank groups, 127 spaced by tCCD_S = 4 clocks and the
        // last one's 4 (512), stretched by refresh to ceil(512 × 9363 / (9363 − 420))
        // = 537, plus tRCD + CL = 32: 569 clocks of 0.833 ns, 474.0 ns, so 474
        // cycles at 1 GHz.
        assert_eq!(one_row, 474);
    }
}
