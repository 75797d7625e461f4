//! Identifier generation. Memory ids sort by creation time (ULID); the others are random.

use rand::Rng;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// `mem_` + a ULID from a monotonic generator: lexicographic order is creation order, also
/// within one millisecond (so the items of one batch keep their order).
pub fn memory_id() -> String {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ulid = generator
        .get_or_insert_with(ulid::Generator::new)
        .generate()
        // Only after 2^80 ids in one millisecond: fall back to a random one.
        .unwrap_or_else(|_| ulid::Ulid::new());
    drop(generator);
    let mut buf = [0u8; ulid::ULID_LEN];
    let mut id = String::with_capacity(4 + ulid::ULID_LEN);
    id.push_str("mem_");
    id.push_str(ulid.array_to_str(&mut buf));
    id
}

/// `agent_` + 24 hex.
pub fn agent_id() -> String {
    format!("agent_{}", random_hex(12))
}

/// `sess_` + 24 hex.
pub fn session_id() -> String {
    format!("sess_{}", random_hex(12))
}

/// `org_` + 24 hex.
pub fn org_id() -> String {
    format!("org_{}", random_hex(12))
}

/// The org that exists from the first start and whose admin keys administer every org.
pub const DEFAULT_ORG_ID: &str = "org_default";

/// A new API key: its public id (`key_` + 16 hex) and its secret
/// (`ek_<16 hex of the id>_<64 hex = 256 random bits>`).
pub fn api_key() -> (String, String) {
    let id_hex = random_hex(8);
    let secret = format!("ek_{id_hex}_{}", random_hex(32));
    (format!("key_{id_hex}"), secret)
}

/// The key id a secret claims to belong to, if the secret is well-formed.
pub fn key_id_of_secret(secret: &str) -> Option<String> {
    let rest = secret.strip_prefix("ek_")?;
    let (id_hex, random) = rest.split_once('_')?;
    let well_formed =
        id_hex.len() == 16 && random.len() == 64 && id_hex.bytes().chain(random.bytes()).all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| format!("key_{id_hex}"))
}

/// SHA-256 digest of a key secret, as stored. 256 random bits need no slow hash.
pub fn key_digest(secret: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_secret_names_its_id() {
        let (id, secret) = api_key();
        assert_eq!(key_id_of_secret(&secret), Some(id));
        assert_eq!(key_id_of_secret("ek_zz_00"), None);
        assert_eq!(key_id_of_secret("nope"), None);
    }

    #[test]
    fn memory_ids_are_monotonic_within_a_millisecond() {
        let ids: Vec<String> = (0..1000).map(|_| memory_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn memory_ids_sort_by_time() {
        let a = memory_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = memory_id();
        assert!(a < b);
    }
}
