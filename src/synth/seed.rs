//! Seeds for the parts of a set: clip k of a protocol, a clip's videos, a frame's noise.
//! Each part gets its own ChaCha8 stream (src/rng.rs), so that clip k depends only on (seed, protocol,
//! k) and not on how many clips were made before it. spec/synth.md (SYN-9)

use crate::rng::Rng;

/// The seed of child `index` of `parent`: `first(first(parent) + index)`, with `first(x)` the
/// first 64 bits of the ChaCha8 stream keyed by x (`Rng::new(x).next_u64()`), used as a hash.
/// The children of one parent are hashes of consecutive keys that start at a hashed point, so
/// two parents' children coincide only by a 2^-64-scale chance.
pub fn derive_seed(parent: u64, index: u64) -> u64 {
    let base = Rng::new(parent).next_u64();
    Rng::new(base.wrapping_add(index)).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_differ_and_are_fixed() {
        assert_eq!(derive_seed(7, 3), derive_seed(7, 3));
        assert_ne!(derive_seed(7, 3), derive_seed(7, 4));
        assert_ne!(derive_seed(7, 3), derive_seed(8, 3));
    }
}
