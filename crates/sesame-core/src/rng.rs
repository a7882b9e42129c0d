//! A small seeded RNG (SplitMix64) whose whole state is one `u64`, so runs can record and restore it: the data
//! order of the learner and the dropout masks drawn on the host both come from it.

/// SplitMix64: fast, statistically solid for shuffling, trivially serialisable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    pub state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// An independent stream for `(seed, stream)`, e.g. one per epoch.
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut base = SplitMix64::new(seed ^ 0x5EED_5E5A_4E00_0000);
        let mut rng = SplitMix64::new(base.next_u64() ^ stream.wrapping_mul(Self::GAMMA));
        rng.next_u64();
        rng
    }

    /// The increment of the state per draw.
    pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// The output function: the draw whose advanced state is `z` (a counter-based stream can jump to any draw).
    pub fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        Self::mix(self.state)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_permutation_and_all_elements_kept() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        SplitMix64::derive(7, 1).shuffle(&mut a);
        SplitMix64::derive(7, 1).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        let mut c: Vec<usize> = (0..100).collect();
        SplitMix64::derive(7, 2).shuffle(&mut c);
        assert_ne!(a, c, "another epoch gets another order");
    }
}
