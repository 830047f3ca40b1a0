//! Figures over a fixed set of names (the stall causes, the energy components, what
//! energy is spent on), held as an array: an exploration holds a report per schedule,
//! and a map keyed by `String` cost each report a few kilobytes of small allocations.
//! The JSON form is that of a map in name order, as before.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// A fixed set of names, in index order.
pub trait Names {
    const NAMES: &'static [&'static str];
}

/// One `V` per name of `K` (`N` of them), indexed like `K::NAMES`.
pub struct ByName<K, V, const N: usize> {
    values: [V; N],
    names: PhantomData<K>,
}

impl<K: Names, V, const N: usize> ByName<K, V, N> {
    /// Values in `K::NAMES` order.
    pub fn new(values: [V; N]) -> Self {
        debug_assert_eq!(K::NAMES.len(), N);
        ByName {
            values,
            names: PhantomData,
        }
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        K::NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| &self.values[i])
    }

    /// (name, value) in name order, as a map keyed by name iterates.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &V)> {
        Self::name_order().map(|i| (K::NAMES[i], &self.values[i]))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.values.iter()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.values.iter_mut()
    }

    fn name_order() -> impl Iterator<Item = usize> {
        let mut order: [usize; N] = std::array::from_fn(|i| i);
        order.sort_by_key(|&i| K::NAMES[i]);
        order.into_iter()
    }
}

impl<K: Names, V, const N: usize> std::ops::Index<&str> for ByName<K, V, N> {
    type Output = V;
    /// Panics on a name not among `K::NAMES`, as a map's index does on a missing key.
    fn index(&self, name: &str) -> &V {
        match self.get(name) {
            Some(v) => v,
            None => panic!("'{name}' is not one of {:?}", K::NAMES),
        }
    }
}

impl<K: Names, V: Default, const N: usize> Default for ByName<K, V, N> {
    fn default() -> Self {
        Self::new(std::array::from_fn(|_| V::default()))
    }
}

impl<K, V: Clone, const N: usize> Clone for ByName<K, V, N> {
    fn clone(&self) -> Self {
        ByName {
            values: self.values.clone(),
            names: PhantomData,
        }
    }
}

impl<K, V: PartialEq, const N: usize> PartialEq for ByName<K, V, N> {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl<K: Names, V: std::fmt::Debug, const N: usize> std::fmt::Debug for ByName<K, V, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Names, V: Serialize, const N: usize> Serialize for ByName<K, V, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(N))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A map of known names; a name it does not hold takes `V::default()`, an unknown one
/// is an error naming the known ones.
impl<'de, K: Names, V: Deserialize<'de> + Default, const N: usize> Deserialize<'de>
    for ByName<K, V, N>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<K, V, const N: usize>(PhantomData<(K, V)>);
        impl<'de, K: Names, V: Deserialize<'de> + Default, const N: usize> Visitor<'de>
            for Entries<K, V, N>
        {
            type Value = ByName<K, V, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a map with keys among {:?}", K::NAMES)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = ByName::<K, V, N>::default();
                while let Some(name) = map.next_key::<String>()? {
                    let Some(i) = K::NAMES.iter().position(|&n| n == name) else {
                        return Err(serde::de::Error::unknown_field(&name, K::NAMES));
                    };
                    out.values[i] = map.next_value()?;
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Entries::<K, V, N>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Abc;
    impl Names for Abc {
        const NAMES: &'static [&'static str] = &["b", "c", "a"];
    }

    #[test]
    fn json_is_a_map_in_name_order_and_reads_back() {
        let m = ByName::<Abc, u64, 3>::new([1, 2, 3]);
        let json = serde_json::to_string(&m).expect("serializes");
        assert_eq!(json, r#"{"a":3,"b":1,"c":2}"#);
        let back: ByName<Abc, u64, 3> = serde_json::from_str(&json).expect("reads");
        assert_eq!(back, m);
        assert_eq!(m["c"], 2);
        let partial: ByName<Abc, u64, 3> = serde_json::from_str(r#"{"c":5}"#).expect("reads");
        assert_eq!(partial.values().copied().collect::<Vec<_>>(), [0, 5, 0]);
        let err = serde_json::from_str::<ByName<Abc, u64, 3>>(r#"{"d":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `d`"), "{err}");
    }
}
