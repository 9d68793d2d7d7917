//! Object ids as docker makes them: 64 lowercase hex characters, shown
//! shortened to 12.

use std::fs::File;
use std::io::Read;

/// A new random 64-hex id read from the kernel's random source.
pub fn random_id() -> std::io::Result<String> {
    let mut buf = [0u8; 32];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}

/// Whether `s` has the shape of a full id.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_full_and_distinct() {
        let a = random_id().unwrap();
        let b = random_id().unwrap();
        assert!(is_full_id(&a) && is_full_id(&b));
        assert_ne!(a, b);
    }
}
