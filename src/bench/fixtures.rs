//! Synthetic data for the index benchmark and the index tests: seeded, so a
//! test sees the same vectors every run and a benchmark the same data set
//! hnswlib is run on (`scripts/bench-hnswlib.py`).

use crate::index::dense::normalize;

/// splitmix64: tiny, seedable, good enough for synthetic data.
pub struct Rng(pub u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn gaussian(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// `n` clustered unit vectors, about `cluster_size` per cluster (at least
/// 10 clusters), plus `nq` held-out queries from the same clusters; the
/// cluster of each base vector is returned for text topics.
///
/// Inside a cluster the noise is isotropic in all dimensions, so cluster
/// mates are near-equidistant (cosine ≈ 0.51 ± 0.03 at 384-d): finding the
/// top 10 among them is the uniform-random worst case for any graph index,
/// and it gets harder as clusters grow. Keeping the cluster size fixed
/// while `n` grows makes a size sweep measure the index, not a harder
/// data set.
pub fn clustered_vectors(
    n: usize,
    nq: usize,
    dim: usize,
    cluster_size: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = Rng(seed);
    let clusters = (n / cluster_size.max(1)).max(10);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| rng.gaussian()).collect();
            normalize(&mut c);
            c
        })
        .collect();
    let sigma = 0.05f32;
    let point = |rng: &mut Rng| {
        let c = rng.below(clusters);
        let mut v: Vec<f32> = centres[c]
            .iter()
            .map(|x| x + sigma * rng.gaussian())
            .collect();
        normalize(&mut v);
        (v, c)
    };
    let mut base = Vec::with_capacity(n);
    let mut topic = Vec::with_capacity(n);
    for _ in 0..n {
        let (v, c) = point(&mut rng);
        base.push(v);
        topic.push(c);
    }
    let queries = (0..nq).map(|_| point(&mut rng).0).collect();
    (base, queries, topic)
}
