//! A small seeded random generator for tests (xorshift64: no dependency for a test's dice, and
//! the sequence the tests' own copies drew, so their seeded scenes stay the same). A
//! clock-seeded one prints its seed, and `KYC_TEST_SEED` replays a run.

/// The environment variable that fixes the seed of [`Rng::from_clock`].
pub const SEED_VAR: &str = "KYC_TEST_SEED";

pub struct Rng {
    seed: u64,
    state: u64,
}

impl Rng {
    /// The same numbers for the same seed, every run (xorshift needs a start that is not 0: the
    /// low bit is set, so seeds that differ only there give the same numbers).
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            state: seed | 1,
        }
    }

    /// Seeded from the clock, or from `KYC_TEST_SEED` where it is set; prints the seed on
    /// stderr with `label`, so a failing run can be replayed.
    pub fn from_clock(label: &str) -> Self {
        let seed = std::env::var(SEED_VAR)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
            });
        eprintln!("{label}: seed {seed} ({SEED_VAR}={seed} replays it)");
        Self::new(seed)
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// A number in `0..n` (0 where `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number from `lo` to `hi` (`hi` itself once in about 2^25 draws: f32 rounding).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f32 / (1u64 << 53) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_numbers_within_their_bounds() {
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..100)
                .map(|_| (r.below(10), r.range(2.0, 3.0)))
                .collect::<Vec<_>>()
        };
        let a = draw(42);
        assert_eq!(a, draw(42));
        assert_ne!(a, draw(44));
        assert!(a.iter().all(|&(n, x)| n < 10 && (2.0..=3.0).contains(&x)));
        assert!(
            a.iter().any(|&(n, _)| n != a[0].0),
            "not stuck on one value"
        );
        assert_eq!(Rng::new(0).below(0), 0);
    }
}
