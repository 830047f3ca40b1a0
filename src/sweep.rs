//! Hardware sweeps: the cross product of axes — accelerator fields by path
//! (`dram.bw_bits=16,32,64`), the global SRAM size (`gb=64KiB..2MiB*2`) and schedules —
//! each point scheduled, simulated and verified (see `validate::sweep`), one CSV row per
//! point, and where each schedule stops being DRAM-bound.

use crate::model::limits::MAX_SIZE_BITS;
use crate::model::overrides::FieldSet;
use crate::model::units::Size;
use crate::report::cost::StallCause;
use crate::validate::sweep::Row;
use serde::Serialize;

/// Most values one axis may take.
pub const MAX_AXIS_VALUES: usize = 1000;

/// One axis: a path and its values, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    /// `gb` or an accelerator field path (`dram.bw_bits`).
    pub path: String,
    pub values: Vec<String>,
}

impl Axis {
    pub fn is_gb(&self) -> bool {
        self.path == "gb"
    }

    /// The numeric value of each entry (integers as written, sizes in bits), if every
    /// entry has one — for plotting against.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        self.values.iter().map(|v| number(v)).collect()
    }
}

fn number(v: &str) -> Option<f64> {
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .or_else(|| v.parse::<Size>().ok().map(|s| s.bits() as f64))
}

/// `PATH=V1,V2,…`, `PATH=LO..HI*F` (geometric) or `PATH=LO..HI+S` (arithmetic); LO and
/// HI are integers or sizes.
impl std::str::FromStr for Axis {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (path, spec) = s.split_once('=').ok_or_else(|| {
            format!(
                "axis '{s}' is not PATH=VALUES (e.g. dram.bw_bits=16,32,64 or gb=64KiB..2MiB*2)"
            )
        })?;
        let (path, spec) = (path.trim(), spec.trim());
        if path.is_empty() || spec.is_empty() {
            return Err(format!("axis '{s}' is not PATH=VALUES"));
        }
        let values = match spec.split_once("..") {
            Some((lo, rest)) => {
                range(lo.trim(), rest.trim()).map_err(|e| format!("axis '{s}': {e}"))?
            }
            None => spec.split(',').map(|v| v.trim().to_string()).collect(),
        };
        if values.iter().any(String::is_empty) {
            return Err(format!("axis '{s}' has an empty value"));
        }
        if values.len() > MAX_AXIS_VALUES {
            return Err(format!(
                "axis '{s}' has {} values (limit {MAX_AXIS_VALUES})",
                values.len()
            ));
        }
        if path != "gb" {
            // The path is checked against the file when the point is loaded; here only
            // its shape.
            format!("{path}={}", values[0]).parse::<FieldSet>()?;
        }
        Ok(Self {
            path: path.to_string(),
            values,
        })
    }
}

/// The values of `LO..HI*F` or `LO..HI+S`.
fn range(lo: &str, rest: &str) -> Result<Vec<String>, String> {
    let (hi, op, by) = match rest.rfind(['*', '+']) {
        Some(i) => (&rest[..i], &rest[i..i + 1], &rest[i + 1..]),
        None => return Err("a range is LO..HI*FACTOR or LO..HI+STEP".into()),
    };
    let by: u64 = by
        .trim()
        .parse()
        .map_err(|_| format!("'{by}' is not a whole number"))?;
    if (op == "*" && by < 2) || (op == "+" && by < 1) {
        return Err(format!("{op}{by} would never reach the end of the range"));
    }
    // Integers stay integers; sizes step in bits and print as sizes.
    let (lo_n, hi_n, sized) = match (lo.parse::<u64>(), hi.trim().parse::<u64>()) {
        (Ok(a), Ok(b)) => (a, b, false),
        _ => {
            let a: Size = lo.parse()?;
            let b: Size = hi.trim().parse()?;
            (a.bits(), b.bits(), true)
        }
    };
    if lo_n > hi_n {
        return Err(format!("{lo} is above {hi}"));
    }
    let mut values = Vec::new();
    let mut v = lo_n;
    while v <= hi_n && values.len() <= MAX_AXIS_VALUES {
        values.push(if sized {
            if v > MAX_SIZE_BITS {
                break;
            }
            Size::from_bits(v).to_string()
        } else {
            v.to_string()
        });
        let next = if op == "*" {
            v.checked_mul(by)
        } else {
            v.checked_add(by)
        };
        match next {
            Some(n) if n > v => v = n,
            _ => break,
        }
    }
    Ok(values)
}

/// Every combination of the axes' values, the first axis varying slowest.
pub fn points(axes: &[Axis]) -> Vec<Vec<String>> {
    axes.iter().fold(vec![Vec::new()], |acc, axis| {
        acc.iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(v.clone());
                    q
                })
            })
            .collect()
    })
}

/// Where a schedule stops being DRAM-bound along one axis (the others at their first
/// value): the first value whose measured DRAM-port stall is under `threshold` of the
/// latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Knee {
    pub schedule: String,
    pub axis: String,
    /// `None` when the schedule is DRAM-bound at every value.
    pub compute_bound_from: Option<String>,
    /// Measured dram_port stall share of the latency at each value.
    pub dram_port_share: Vec<f64>,
}

/// The share of measured latency lost to the DRAM port.
pub fn dram_port_share(row: &Row) -> Option<f64> {
    let m = row.measured.as_ref()?;
    Some(m.stall(StallCause::DramPort) as f64 / m.latency_cycles.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_take_lists_and_ranges() {
        let a: Axis = "dram.bw_bits=16,32,64".parse().expect("list");
        assert_eq!(a.values, ["16", "32", "64"]);
        assert_eq!(a.numbers(), Some(vec![16.0, 32.0, 64.0]));
        let g: Axis = "gb=64KiB..1MiB*2".parse().expect("geometric sizes");
        assert_eq!(g.values, ["64KiB", "128KiB", "256KiB", "512KiB", "1MiB"]);
        let s: Axis = "dram.latency_cycles=100..400+100"
            .parse()
            .expect("arithmetic");
        assert_eq!(s.values, ["100", "200", "300", "400"]);
        for bad in [
            "dram.bw_bits",
            "gb=1MiB..64KiB*2",
            "gb=64KiB..1MiB*1",
            "x=1..10",
            "dram.bw_bits=1,,2",
        ] {
            assert!(bad.parse::<Axis>().is_err(), "{bad}");
        }
        assert!("dram.bw_bits=1..1000000000+1".parse::<Axis>().is_err());
    }

    #[test]
    fn points_are_the_cross_product_in_order() {
        let a: Axis = "a.x=1,2".parse().expect("axis");
        let b: Axis = "b.y=3,4,5".parse().expect("axis");
        let p = points(&[a, b]);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], ["1", "3"]);
        assert_eq!(p[5], ["2", "5"]);
    }
}
