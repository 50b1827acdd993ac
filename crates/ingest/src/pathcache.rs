//! Path → offset map for the classifier's per-thread regex-result cache.
//!
//! Open addressing with linear probing over a slot array; keys live back to back in one byte
//! arena. A slot keeps the key's full 64-bit hash, so a probe compares hashes first and bytes
//! only on a hash match, with an inline word-wise compare (short keys make a `memcmp` call the
//! larger part of a lookup). Hashes are seeded per process (foldhash), so crafted paths cannot
//! aim for collisions.

use std::hash::BuildHasher;

/// A slot's `off` when it is empty.
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    /// Start of the key in `keys`.
    start: u32,
    len: u32,
    off: u32,
}

const VACANT: Slot = Slot {
    hash: 0,
    start: 0,
    len: 0,
    off: EMPTY,
};

pub(crate) struct PathCache {
    state: foldhash::fast::RandomState,
    /// Empty, or a power of two at least twice `len`.
    slots: Vec<Slot>,
    keys: Vec<u8>,
    len: usize,
}

impl PathCache {
    pub(crate) fn new() -> PathCache {
        PathCache {
            state: foldhash::fast::RandomState::default(),
            slots: Vec::new(),
            keys: Vec::new(),
            len: 0,
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of keys held.
    pub(crate) fn key_bytes(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.keys.clear();
        self.len = 0;
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.state.hash_one(key)
    }

    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        let mask = self.slots.len().checked_sub(1)?;
        let hash = self.hash(key);
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots.get(i)?;
            if s.off == EMPTY {
                return None;
            }
            if s.hash == hash && s.len as usize == key.len() {
                let start = s.start as usize;
                if let Some(k) = self.keys.get(start..start + key.len()) {
                    if bytes_eq(k, key) {
                        return Some(s.off);
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `key` (not present) with `off`. Does nothing when `key` or the arena would pass
    /// `u32` sizes; the caller bounds both far below that.
    pub(crate) fn insert(&mut self, key: &[u8], off: u32) {
        let (Ok(start), Ok(len)) = (u32::try_from(self.keys.len()), u32::try_from(key.len()))
        else {
            return;
        };
        if start.checked_add(len).is_none() || off == EMPTY {
            return;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let hash = self.hash(key);
        self.keys.extend_from_slice(key);
        self.place(Slot {
            hash,
            start,
            len,
            off,
        });
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot.hash as usize & mask;
        // `grow` keeps at least half the slots vacant, so this finds one.
        for _ in 0..self.slots.len() {
            match self.slots.get_mut(i) {
                Some(s) if s.off == EMPTY => {
                    *s = slot;
                    return;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![VACANT; cap]);
        for s in old.into_iter().filter(|s| s.off != EMPTY) {
            self.place(s);
        }
    }
}

/// `a == b` without a `memcmp` call: eight bytes at a time.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let mut wx = [0u8; 8];
        let mut wy = [0u8; 8];
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        if u64::from_ne_bytes(wx) != u64::from_ne_bytes(wy) {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_grow_clear() {
        let mut c = PathCache::new();
        assert_eq!(c.get(b"/a"), None);
        let keys: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("/p/{i}/{}", "x".repeat(i % 40)).into_bytes())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            c.insert(k, i as u32 * 3);
        }
        assert_eq!(c.len(), 1000);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.get(k), Some(i as u32 * 3));
        }
        assert_eq!(c.get(b"/p/1/"), None);
        assert_eq!(c.get(b""), None);
        c.insert(b"", 7);
        assert_eq!(c.get(b""), Some(7));
        c.clear();
        assert_eq!((c.len(), c.key_bytes()), (0, 0));
        assert_eq!(c.get(&keys[5]), None);
    }

    #[test]
    fn word_compare() {
        for (a, b, eq) in [
            (&b""[..], &b""[..], true),
            (b"abcdefgh", b"abcdefgh", true),
            (b"abcdefghi", b"abcdefghj", false),
            (b"abcdefgh1", b"abcdefgh1", true),
            (b"xbcdefgh1", b"abcdefgh1", false),
            (b"abc", b"abcd", false),
        ] {
            assert_eq!(bytes_eq(a, b), eq, "{a:?} {b:?}");
        }
    }
}
