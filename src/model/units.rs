//! Memory sizes as users write them (`128KiB`, `1 MiB`, `2048B`) and as stems keeps them
//! (bits, `u64`). Units are binary (KiB = 1024 bytes); `KB`/`MB` are rejected as
//! ambiguous. Sizes are parsed exactly and bounded by `limits::MAX_SIZE_BITS`.

use super::limits::MAX_SIZE_BITS;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A size in bits, written in TOML and on the command line as a string with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "SizeRepr", into = "String")]
pub struct Size {
    bits: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeRepr {
    Text(String),
    Bytes(i64),
}

impl TryFrom<SizeRepr> for Size {
    type Error = String;
    fn try_from(repr: SizeRepr) -> Result<Self, String> {
        match repr {
            SizeRepr::Text(s) => s.parse(),
            SizeRepr::Bytes(b) => Size::checked_from_bytes(b),
        }
    }
}

impl From<Size> for String {
    fn from(s: Size) -> String {
        s.to_string()
    }
}

impl Size {
    pub const fn from_bits(bits: u64) -> Self {
        Self { bits }
    }
    pub const fn from_bytes(bytes: u64) -> Self {
        Self { bits: bytes * 8 }
    }
    pub const fn from_kib(kib: u64) -> Self {
        Self::from_bytes(kib * 1024)
    }
    pub const fn bits(self) -> u64 {
        self.bits
    }
}

impl Size {
    /// A byte count as written in a file: positive and within the size limit.
    pub fn checked_from_bytes(bytes: i64) -> Result<Self, String> {
        if bytes < 1 {
            return Err(format!("size must be positive, got {bytes}"));
        }
        Self::within_limits(bytes as u128 * 8, &format!("{bytes} bytes"))
    }

    fn within_limits(bits: u128, written: &str) -> Result<Self, String> {
        if bits < 1 {
            return Err(format!("'{written}' is not a positive size"));
        }
        if bits > MAX_SIZE_BITS as u128 {
            return Err(format!(
                "'{written}' is larger than the largest size stems models ({})",
                Size::from_bits(MAX_SIZE_BITS)
            ));
        }
        Ok(Size { bits: bits as u64 })
    }
}

impl FromStr for Size {
    type Err = String;

    /// A decimal number and a binary unit: `128KiB`, `1.5 MiB`, `4096B`, `12b`. Exact:
    /// the size must be a whole number of bits.
    fn from_str(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let not_a_size = || format!("'{s}' is not a size (write e.g. 128KiB, 1MiB, 4096B)");
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(not_a_size());
        }
        // Up to 24 digits each: beyond that the size is over the limit anyway.
        if whole.len() > 24 || fraction.len() > 24 {
            return Err(format!(
                "'{s}' is larger than the largest size stems models ({})",
                Size::from_bits(MAX_SIZE_BITS)
            ));
        }
        let digits = |d: &str| -> Result<u128, String> {
            if d.is_empty() {
                Ok(0)
            } else {
                d.parse::<u128>().map_err(|_| not_a_size())
            }
        };
        let unit_bits: u128 = match unit.trim() {
            "b" | "bit" | "bits" => 1,
            "B" => 8,
            "KiB" => 8 << 10,
            "MiB" => 8 << 20,
            "GiB" => 8 << 30,
            "TiB" => 8 << 40,
            ambiguous @ ("KB" | "kB" | "K" | "k" | "MB" | "M" | "GB" | "G" | "TB" | "T") => {
                return Err(format!(
                    "'{s}': '{ambiguous}' is ambiguous (1000 or 1024?); write KiB, MiB, GiB or TiB for powers of 1024, or the size in B"
                ));
            }
            "" => {
                return Err(format!(
                    "'{s}' has no unit (use b, B, KiB, MiB, GiB or TiB)"
                ));
            }
            other => {
                return Err(format!(
                    "'{s}': unknown unit '{other}' (use b, B, KiB, MiB, GiB or TiB)"
                ));
            }
        };
        let scale = 10u128.pow(fraction.len() as u32);
        let fraction_bits = digits(fraction)? * unit_bits;
        if !fraction_bits.is_multiple_of(scale) {
            return Err(format!("'{s}' is not a whole number of bits"));
        }
        let bits = digits(whole)? * unit_bits + fraction_bits / scale;
        Self::within_limits(bits, s.trim())
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits;
        if !b.is_multiple_of(8) {
            return write!(f, "{b}b");
        }
        let bytes = b / 8;
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if bytes >= scale && bytes.is_multiple_of(scale) {
                return write!(f, "{}{unit}", bytes / scale);
            }
        }
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if bytes >= scale {
                return write!(f, "{:.2}{unit}", bytes as f64 / scale as f64);
            }
        }
        write!(f, "{bytes}B")
    }
}

/// Human formatting of counts with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    group_digits(&n.to_string())
}

/// A whole number written out (`"6103515625"`, any width) with thousands separators.
pub fn group_digits(digits: &str) -> String {
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return digits.to_string();
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Human formatting of a bit count in the nearest binary byte unit: `1.50 MiB`.
pub fn human_bits(bits: u64) -> String {
    let bytes = bits as f64 / 8.0;
    if bytes >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
    } else if bytes >= (1u64 << 20) as f64 {
        format!("{:.2} MiB", bytes / (1u64 << 20) as f64)
    } else if bytes >= 1024.0 {
        format!("{:.2} KiB", bytes / 1024.0)
    } else if bits.is_multiple_of(8) {
        format!("{} B", bits / 8)
    } else {
        format!("{bits} b")
    }
}

/// Human formatting of an energy in picojoules, scaled to the nearest SI prefix.
pub fn human_energy_pj(pj: f64) -> String {
    let abs = pj.abs();
    if abs >= 1e9 {
        format!("{:.3} mJ", pj / 1e9)
    } else if abs >= 1e6 {
        format!("{:.3} µJ", pj / 1e6)
    } else if abs >= 1e3 {
        format!("{:.3} nJ", pj / 1e3)
    } else {
        format!("{pj:.3} pJ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_units() {
        assert_eq!("128KiB".parse::<Size>().unwrap().bits(), 128 * 1024 * 8);
        assert_eq!("1 MiB".parse::<Size>().unwrap().bits(), 1 << 23);
        assert_eq!("0.5MiB".parse::<Size>().unwrap(), Size::from_kib(512));
        assert_eq!("12b".parse::<Size>().unwrap().bits(), 12);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!("0KiB".parse::<Size>().is_err());
        assert!("-1KiB".parse::<Size>().is_err());
        assert!("12 parsecs".parse::<Size>().is_err());
        assert!("KiB".parse::<Size>().is_err());
        assert!("1.2.3KiB".parse::<Size>().is_err());
        assert!("0.1b".parse::<Size>().is_err());
        // Powers of ten or of two? Rejected with a hint.
        let e = "512KB".parse::<Size>().unwrap_err();
        assert!(e.contains("ambiguous") && e.contains("KiB"), "{e}");
        // Overflow and huge sizes are errors, not wrapped or saturated numbers.
        for huge in [
            "2305843009213693952B",
            "99999999999999999999999999GiB",
            "2TiB",
        ] {
            let e = huge.parse::<Size>().unwrap_err();
            assert!(e.contains("larger than the largest size"), "{huge}: {e}");
        }
        assert!(Size::checked_from_bytes(i64::MAX).is_err());
        assert!(Size::checked_from_bytes(0).is_err());
        assert_eq!("1TiB".parse::<Size>().unwrap().bits(), MAX_SIZE_BITS);
    }

    #[test]
    fn displays_round_trip() {
        for s in ["128KiB", "1MiB", "2GiB", "12b", "100B"] {
            assert_eq!(s.parse::<Size>().unwrap().to_string(), s);
        }
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
