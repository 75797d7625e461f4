//! Identifier generation. Memory ids sort by creation time (ULID); the others are random.

use rand::Rng;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// The 16 bits after a memory id's timestamp that mark it as derived from the store's key
/// ([`memory_id_of`]); ids from before (random ULIDs) carry them only by chance, so a store
/// confirms a match against the row.
const KEYED_MARK: u128 = 0xE6_01;

/// The public id of the memory the store keeps under `key`, created at `created_ms` (Unix
/// milliseconds): `mem_` + a ULID whose timestamp is `created_ms` and whose 80 random bits are
/// [`KEYED_MARK`] and `key`. Ids sort by creation time, and by key within a millisecond (keys
/// follow creation order), and a store finds the row from the id alone ([`memory_key_of`]).
/// The key is not secret: page tokens carry it too.
pub fn memory_id_of(created_ms: i64, key: i64) -> String {
    let ms = u128::from(u64::try_from(created_ms).unwrap_or(0)) & ((1 << 48) - 1);
    let key = u128::from(key as u64);
    let ulid = ulid::Ulid((ms << 80) | (KEYED_MARK << 64) | key);
    let mut buf = [0u8; ulid::ULID_LEN];
    let mut id = String::with_capacity(4 + ulid::ULID_LEN);
    id.push_str("mem_");
    id.push_str(ulid.array_to_str(&mut buf));
    id
}

/// The (creation millisecond, key) a memory id made by [`memory_id_of`] carries; None for any
/// other text. An id from before keyed ids may decode by chance: check it against the row.
pub fn memory_key_of(id: &str) -> Option<(i64, i64)> {
    let ulid = ulid::Ulid::from_string(id.strip_prefix("mem_")?).ok()?.0;
    if (ulid >> 64) & 0xFFFF != KEYED_MARK {
        return None;
    }
    let ms = i64::try_from(ulid >> 80).ok()?;
    Some((ms, ulid as u64 as i64))
}

/// `mem_` + a ULID from a monotonic generator (random bits): the form of memory ids before they
/// were derived from keys; tests use it for ids that exist nowhere.
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
/// `msg_` + 24 hex: a conversation message.
pub fn message_id() -> String {
    format!("msg_{}", random_hex(12))
}

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
    fn keyed_memory_ids_round_trip_and_sort_by_time_then_key() {
        let id = memory_id_of(1_795_176_780_123, 42);
        assert!(id.starts_with("mem_") && id.len() == 30, "{id}");
        assert_eq!(memory_key_of(&id), Some((1_795_176_780_123, 42)));
        assert!(memory_id_of(1_795_176_780_123, 42) < memory_id_of(1_795_176_780_123, 43));
        assert!(memory_id_of(1_795_176_780_123, 900) < memory_id_of(1_795_176_780_124, 1));
        assert!(memory_id_of(1_795_176_780_123, 1 << 40) < memory_id_of(1_795_176_780_123, (1 << 40) + 1));
        assert_eq!(memory_key_of("mem_nope"), None);
        assert_eq!(memory_key_of("agent_0123"), None);
        // Random ids from before only decode when their bits happen to carry the mark.
        let decoded = (0..1000).filter(|_| memory_key_of(&memory_id()).is_some()).count();
        assert!(decoded < 5, "{decoded} of 1000 random ids decoded");
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
