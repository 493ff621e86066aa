//! A fast hasher for the usage watcher's per-batch maps, keyed by watch
//! descriptors and the names an inotify batch carries (std's SipHash was a
//! sixth of the watcher's time on a busy mount).
//!
//! Multiply-rotate over 8-byte words (the FxHash scheme), started from a
//! per-map random seed: the names are the workload's choice, and a fixed
//! start would let it aim collisions at one map.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// See the module header.
#[derive(Debug, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        // The length keeps "a" and "a\0" apart.
        self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_i32(&mut self, i: i32) {
        self.add(i as u32 as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FastHasher`]s from one random seed.
#[derive(Debug, Clone, Copy)]
pub struct FastState(u64);

impl Default for FastState {
    fn default() -> FastState {
        FastState(RandomState::new().build_hasher().finish())
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

pub type FastMap<K, V> = HashMap<K, V, FastState>;
pub type FastSet<K> = HashSet<K, FastState>;

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(s: &FastState, b: &[u8]) -> u64 {
        s.hash_one(b)
    }

    #[test]
    fn names_that_differ_hash_apart_and_seeds_differ() {
        let s = FastState::default();
        let names: [&[u8]; 6] = [
            b"",
            b"a",
            b"a\0",
            b"f0001",
            b"f0002",
            b"a-rather-long-name.tmp",
        ];
        let hs: HashSet<u64> = names.iter().map(|n| hash(&s, n)).collect();
        assert_eq!(hs.len(), names.len());
        assert_eq!(hash(&s, b"f0001"), hash(&s, b"f0001"), "stable per map");
        let other = FastState::default();
        assert_ne!(hash(&s, b"f0001"), hash(&other, b"f0001"), "seeded per map");
    }

    #[test]
    fn a_map_works_as_a_map() {
        let mut m: FastMap<(i32, &[u8]), usize> = FastMap::default();
        for i in 0..1000 {
            m.insert((i % 7, b"x"), i as usize);
        }
        assert_eq!(m.len(), 7);
        assert_eq!(m.get(&(3, &b"x"[..])), Some(&997));
    }
}
