//! Byte buffers inside your own types, encoded as one run of bytes.
//!
//! Serde encodes a `Vec<u8>` one element at a time unless told otherwise,
//! which makes a megabyte an order of magnitude slower than the socket.
//! `Vec<u8>`, `&[u8]`, `String` and `&str` in a method signature are sent as
//! raw bytes already; for a field of your own struct, use this module with
//! `#[serde(with = ..)]`:
//!
//! ```
//! #[derive(multiprocess::Serialize, multiprocess::Deserialize)]
//! #[serde(crate = "multiprocess::serde")]
//! pub struct Block {
//!     pub height: u32,
//!     #[serde(with = "multiprocess::bytes")]
//!     pub data: Vec<u8>,
//! }
//! ```

use std::fmt;

use serde::{Deserializer, Serializer, de};

/// Serializes a byte buffer as one run of bytes.
///
/// ```
/// #[derive(multiprocess::Serialize)]
/// #[serde(crate = "multiprocess::serde")]
/// struct Blob {
///     #[serde(serialize_with = "multiprocess::bytes::serialize")]
///     data: Vec<u8>,
/// }
/// # let _ = Blob { data: vec![1, 2, 3] };
/// ```
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// Deserializes a byte buffer written by [`serialize`].
///
/// ```
/// #[derive(multiprocess::Deserialize)]
/// #[serde(crate = "multiprocess::serde")]
/// struct Blob {
///     #[serde(deserialize_with = "multiprocess::bytes::deserialize")]
///     data: Vec<u8>,
/// }
/// # let _ = |blob: Blob| blob.data;
/// ```
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_byte_buf(ByteBuf)
}

struct ByteBuf;

impl<'de> de::Visitor<'de> for ByteBuf {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte buffer")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // Self-describing formats may present bytes as a sequence.
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(byte) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(bytes)
    }
}
