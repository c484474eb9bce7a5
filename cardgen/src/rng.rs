//! A tiny seeded random number generator (SplitMix64), so synthetic cards are the same on every
//! machine and every version of every dependency.

/// Deterministic per seed; not for anything secret.
#[derive(Debug, Clone)]
pub struct SynthRng {
    state: u64,
}

impl SynthRng {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x5EED_CA2D_0000_0001,
        }
    }

    /// A generator for one purpose derived from a seed, so adding draws to one stage does not
    /// change the others.
    pub fn derived(seed: u64, stream: u64) -> Self {
        let mut r = Self::new(seed.wrapping_add(stream.wrapping_mul(0xA076_1D64_78BD_642F)));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit() as f32
    }

    /// Uniform integer in `[lo, hi]`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// +1 or -1.
    pub fn sign(&mut self) -> f32 {
        if self.chance(0.5) { 1.0 } else { -1.0 }
    }

    /// One element of a non-empty slice (the first one of an empty slice is never asked for).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = (self.next_u64() % items.len().max(1) as u64) as usize;
        &items[i.min(items.len().saturating_sub(1))]
    }

    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f32 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Approximately standard normal (Irwin–Hall sum of four 16-bit uniforms): one draw,
    /// no transcendental functions, for per-pixel noise.
    pub fn fast_gauss(&mut self) -> f32 {
        let r = self.next_u64();
        let sum: u64 = (0..4).map(|i| (r >> (16 * i)) & 0xFFFF).sum();
        (sum as f32 / 65535.0 - 2.0) * 1.732_050_8
    }
}
