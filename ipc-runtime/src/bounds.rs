//! The traits behind the bounds that generated code puts on the user's own
//! types. Each says, when a type does not meet it, what to write instead;
//! their blanket impls are `do_not_recommend`, so the compiler reports these
//! messages rather than serde's internals.
//!
//! Generated code checks each bound in exactly one place, [`codec`] or
//! [`error_codec`], which returns the functions that move values of the type;
//! everything else takes the codec and has no bound of its own. A type that
//! does not cross is therefore one error, not one per use.

use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

use crate::{Error, codec as wire, render, scope, shape};

/// A type that crosses a process boundary by value: serde's `Serialize` and
/// `Deserialize`, under one name and one error message.
///
/// ```
/// #[derive(multiprocess::Serialize, multiprocess::Deserialize)]
/// #[serde(crate = "multiprocess::serde")]
/// struct Point { x: i64, y: i64 }
///
/// fn crosses<T: multiprocess::Value>() {}
/// crosses::<Point>();
/// crosses::<Vec<Option<String>>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement serde's `Serialize` and `Deserialize`",
    label = "this value is sent to the other process",
    note = "derive both through multiprocess's re-export, so that your crate needs no serde dependency:\n      #[derive(multiprocess::Serialize, multiprocess::Deserialize)]\n      #[serde(crate = \"multiprocess::serde\")]",
    note = "objects cross as `Box<dyn Trait>` or `Arc<dyn Trait>` of a trait marked `#[ipc_interface]`"
)]
pub trait Value: Serialize + DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> Value for T {}

/// The error type of a fallible method: it crosses by value, and transport
/// failures arrive through `From<multiprocess::Error>`.
///
/// ```
/// fn fallible<E: multiprocess::ErrorValue>() {}
/// fallible::<multiprocess::Error>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of an ipc method",
    label = "the error of a method that crosses a process boundary",
    note = "an error type must implement `From<multiprocess::Error>` (transport failures arrive through it) and serde's `Serialize` and `Deserialize` (errors cross as values)",
    note = "return `Result<T, multiprocess::Error>`, or use an error type of your own:\n      #[derive(multiprocess::Serialize, multiprocess::Deserialize)]\n      #[serde(crate = \"multiprocess::serde\")]\n      enum MyError {{ NotFound, Ipc(String) }}\n      impl From<multiprocess::Error> for MyError {{ .. }}"
)]
pub trait ErrorValue: Value + From<Error> {}

#[diagnostic::do_not_recommend]
impl<E: Value + From<Error>> ErrorValue for E {}

/// Encodes a value (or a slice of values) onto a buffer; the `&str` names it in errors.
type EncodeFn<T> = fn(&T, &mut Vec<u8>, &str) -> Result<(), Error>;
/// Decodes a value from the front of a buffer, and says how many bytes it used.
type DecodeFn<T> = fn(&[u8], &str) -> Result<(T, usize), Error>;

/// How values of one type cross: its encoding, decoding, rendering for log
/// lines and shape for the contract, made where the compiler checks [`Value`].
pub struct Codec<T> {
    /// Encodes a value that does not move into the call: handles in it are refused.
    pub(crate) encode: EncodeFn<T>,
    /// Encodes under whatever handle context the caller set (see `embed`).
    pub(crate) encode_in_context: EncodeFn<T>,
    /// Encodes a borrowed slice under the caller's handle context.
    pub(crate) encode_slice: EncodeFn<[T]>,
    pub(crate) decode: DecodeFn<T>,
    pub(crate) render: fn(&T) -> String,
    pub(crate) render_slice: fn(&[T]) -> String,
    pub(crate) shape: fn() -> String,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

impl<T> fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codec<{}>", std::any::type_name::<T>())
    }
}

/// The codec of `T`; the one place generated code requires `T: Value`.
pub const fn codec<T: Value>() -> Codec<T> {
    Codec {
        encode: |value, out, what| scope::refusing(|| wire::encode_into(out, value, what)),
        encode_in_context: |value, out, what| wire::encode_into(out, value, what),
        encode_slice: |values, out, what| wire::encode_into(out, values, what),
        decode: |bytes, what| wire::decode_from(bytes, what),
        render: |value| scope::rendering(|| render::render(value)),
        render_slice: |values| scope::rendering(|| render::render(values)),
        shape: shape::shape_of::<T>,
    }
}

/// The codec of an error type `E`, and how a transport failure becomes one.
pub struct ErrorCodec<E> {
    pub(crate) codec: Codec<E>,
    pub(crate) from_error: fn(Error) -> E,
}

impl<E> Clone for ErrorCodec<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for ErrorCodec<E> {}

impl<E> fmt::Debug for ErrorCodec<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCodec<{}>", std::any::type_name::<E>())
    }
}

/// The codec of `E`; the one place generated code requires `E: ErrorValue`.
pub const fn error_codec<E: ErrorValue>() -> ErrorCodec<E> {
    ErrorCodec { codec: codec::<E>(), from_error: E::from }
}
