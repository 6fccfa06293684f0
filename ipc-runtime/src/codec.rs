//! The one module that names the encoding format (bincode 2 through serde), so the
//! format can be swapped in one file.

use serde::{Serialize, de::DeserializeOwned};

use crate::Error;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Appends the encoding of `value` to `buf`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T, what: &str) -> Result<(), Error> {
    bincode::serde::encode_into_std_write(value, buf, config())
        .map(drop)
        .map_err(|e| Error::Encode { what: what.to_owned(), message: e.to_string() })
}

/// Decodes one value from the front of `bytes`, returning it and how many bytes it used.
pub(crate) fn decode_from<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<(T, usize), Error> {
    bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| Error::Decode { what: what.to_owned(), message: e.to_string() })
}

/// Appends a byte buffer as a length and the raw bytes, in one copy rather than
/// one serializer call per element.
pub(crate) fn encode_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// Reads a byte buffer written by [`encode_bytes`] from the front of `bytes`.
pub(crate) fn decode_bytes<'a>(bytes: &'a [u8], what: &str) -> Result<(&'a [u8], usize), Error> {
    let short = || Error::Decode { what: what.to_owned(), message: "byte buffer cut short".into() };
    let header: [u8; 8] = bytes.get(..8).ok_or_else(short)?.try_into().map_err(|_| short())?;
    let len = usize::try_from(u64::from_le_bytes(header)).map_err(|_| short())?;
    let body = bytes.get(8..).and_then(|rest| rest.get(..len)).ok_or_else(short)?;
    Ok((body, 8 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut buf = Vec::new();
        encode_into(&mut buf, &(1u32, "two".to_string(), Some(vec![3u64])), "t").unwrap();
        encode_into(&mut buf, &7i8, "u").unwrap();
        let (first, used): ((u32, String, Option<Vec<u64>>), usize) = decode_from(&buf, "t").unwrap();
        assert_eq!(first, (1, "two".to_string(), Some(vec![3])));
        let (second, _): (i8, usize) = decode_from(&buf[used..], "u").unwrap();
        assert_eq!(second, 7);
    }

    #[test]
    fn bytes_round_trip_and_refuse_short_input() {
        let mut buf = Vec::new();
        encode_bytes(&mut buf, b"hello");
        let (bytes, used) = decode_bytes(&buf, "b").unwrap();
        assert_eq!((bytes, used), (&b"hello"[..], 13));
        assert!(decode_bytes(&buf[..10], "b").is_err());
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(1);
        assert!(decode_bytes(&huge, "b").is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        let result: Result<(String, usize), _> = decode_from(&[0xff, 0xff, 0xff], "s");
        assert!(matches!(result, Err(Error::Decode { .. })));
    }
}
