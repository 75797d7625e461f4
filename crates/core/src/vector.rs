//! Vectors (embeddings): their stored form and the arithmetic of cosine similarity.

/// A vector as stored (store rows, index documents): its values as little-endian f32.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A stored vector's values (trailing bytes short of a value are ignored).
pub fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// A vector as the cold tier stores it: a little-endian f32 scale (its largest magnitude), then
/// each value as an i8 code of value / scale × 127: a quarter of the f32 bytes (plus 4), within
/// scale / 254 of each value.
pub fn quantize(vector: &[f32]) -> Vec<u8> {
    let scale = vector.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut out = Vec::with_capacity(4 + vector.len());
    out.extend_from_slice(&scale.to_le_bytes());
    let factor = if scale > 0.0 { 127.0 / scale } else { 0.0 };
    out.extend(vector.iter().map(|v| ((v * factor).round().clamp(-127.0, 127.0) as i8) as u8));
    out
}

/// The values of a [`quantize`]d vector.
pub fn dequantize(bytes: &[u8]) -> Vec<f32> {
    let Some((scale, codes)) = bytes.split_first_chunk::<4>() else { return Vec::new() };
    let step = f32::from_le_bytes(*scale) / 127.0;
    codes.iter().map(|c| f32::from(*c as i8) * step).collect()
}

/// `vector` scaled to length 1 (unchanged when its length is 0).
pub fn normalized(vector: &[f32]) -> Vec<f32> {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 { vector.iter().map(|v| v / norm).collect() } else { vector.to_vec() }
}

/// The dot product (the cosine similarity of two normalized vectors). Eight running sums, so the
/// compiler can keep them in one SIMD register (a single running sum cannot be reordered).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut sums = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_vectors_keep_their_direction() {
        let v: Vec<f32> = (0..384).map(|i| ((i * 37 % 101) as f32 - 50.0) / 60.0).collect();
        let q = quantize(&v);
        assert_eq!(q.len(), 4 + 384);
        let back = dequantize(&q);
        let scale = 50.0 / 60.0;
        assert!(v.iter().zip(&back).all(|(a, b)| (a - b).abs() <= scale / 254.0 + 1e-6));
        let (a, b) = (normalized(&v), normalized(&back));
        assert!(dot(&a, &b) > 0.9999, "{}", dot(&a, &b));
        assert_eq!(dequantize(&quantize(&[0.0, 0.0])), [0.0, 0.0]);
        assert!(dequantize(&[1, 2]).is_empty());
    }

    #[test]
    fn bytes_round_trip_and_cosine() {
        let v = [0.25, -1.0, 3.5e-7, f32::MAX, f32::MIN_POSITIVE];
        assert_eq!(from_bytes(&to_bytes(&v)), v);
        let n = normalized(&[3.0, 4.0]);
        assert!((dot(&n, &n) - 1.0).abs() < 1e-6);
        assert!((dot(&n, &normalized(&[6.0, 8.0])) - 1.0).abs() < 1e-6);
        assert!(dot(&n, &normalized(&[-4.0, 3.0])).abs() < 1e-6);
        let long: Vec<f32> = (0..389).map(|i| (i as f32).sin()).collect();
        let plain: f32 = long.iter().map(|x| x * x).sum();
        assert!((dot(&long, &long) - plain).abs() < 1e-3 * plain);
    }
}
