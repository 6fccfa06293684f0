//! `Calculator`: every value family that crosses a boundary, for the
//! library's own tests and examples.

use std::collections::{BTreeMap, HashMap};

use multiprocess::{Deserialize, Serialize, ipc_interface};

/// A point, to show a user struct crossing the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Point {
    /// Horizontal.
    pub x: i64,
    /// Vertical.
    pub y: i64,
}

/// A user enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum Shape {
    /// No area.
    Dot(Point),
    /// Axis-aligned.
    Rect {
        /// One corner.
        min: Point,
        /// The opposite corner.
        max: Point,
    },
}

/// The error a [`Calculator`] returns. Transport failures arrive as
/// `CalcError::Ipc` through `From<multiprocess::Error>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum CalcError {
    /// Division by zero.
    DivideByZero,
    /// The call did not get through.
    Ipc(String),
}

impl From<multiprocess::Error> for CalcError {
    fn from(error: multiprocess::Error) -> Self {
        CalcError::Ipc(error.to_string())
    }
}

/// Exercises every value family that crosses by value, by reference and in/out.
#[ipc_interface(name = "Calculator")]
pub trait Calculator: Send + Sync {
    /// Unit in, unit out.
    fn nothing(&self);
    /// Primitives.
    fn add(&self, a: i64, b: i64) -> i64;
    /// A fallible method: `Err` crosses as a value.
    fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError>;
    /// `&str` in, `String` out.
    fn shout(&self, text: &str) -> String;
    /// `&[T]` in.
    fn sum(&self, values: &[i64]) -> i64;
    /// `&T` in.
    fn norm(&self, point: &Point) -> i64;
    /// `&mut T`: the callee's changes are written back.
    fn push_twice(&self, values: &mut Vec<i64>, value: i64) -> usize;
    /// Tuples and options.
    fn swap(&self, pair: (u8, Option<String>)) -> (Option<String>, u8);
    /// Maps.
    fn invert(&self, map: HashMap<String, u32>) -> BTreeMap<u32, String>;
    /// User structs and enums.
    fn bounds(&self, shapes: Vec<Shape>) -> Option<Shape>;
    /// Byte buffers travel as bytes.
    fn reverse_bytes(&self, bytes: Vec<u8>) -> Vec<u8>;
    /// A borrowed byte slice.
    fn checksum(&self, bytes: &[u8]) -> u32;
    /// Panics, to show what the caller sees.
    fn fail(&self, message: String) -> u32;
    /// Panics in a fallible method.
    fn try_fail(&self, message: String) -> Result<u32, CalcError>;
}

/// The local [`Calculator`].
#[derive(Debug, Default)]
pub struct LocalCalculator;

impl Calculator for LocalCalculator {
    fn nothing(&self) {}

    fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_div(b).ok_or(CalcError::DivideByZero)
    }

    fn shout(&self, text: &str) -> String {
        text.to_uppercase()
    }

    fn sum(&self, values: &[i64]) -> i64 {
        values.iter().fold(0, |sum, v| sum.wrapping_add(*v))
    }

    fn norm(&self, point: &Point) -> i64 {
        point.x.wrapping_abs().wrapping_add(point.y.wrapping_abs())
    }

    fn push_twice(&self, values: &mut Vec<i64>, value: i64) -> usize {
        values.push(value);
        values.push(value);
        values.len()
    }

    fn swap(&self, (number, text): (u8, Option<String>)) -> (Option<String>, u8) {
        (text, number)
    }

    fn invert(&self, map: HashMap<String, u32>) -> BTreeMap<u32, String> {
        map.into_iter().map(|(k, v)| (v, k)).collect()
    }

    fn bounds(&self, shapes: Vec<Shape>) -> Option<Shape> {
        let points: Vec<Point> = shapes
            .iter()
            .flat_map(|shape| match shape {
                Shape::Dot(p) => vec![*p],
                Shape::Rect { min, max } => vec![*min, *max],
            })
            .collect();
        let first = points.first()?;
        let (mut min, mut max) = (*first, *first);
        for p in &points {
            min = Point { x: min.x.min(p.x), y: min.y.min(p.y) };
            max = Point { x: max.x.max(p.x), y: max.y.max(p.y) };
        }
        Some(Shape::Rect { min, max })
    }

    fn reverse_bytes(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.reverse();
        bytes
    }

    fn checksum(&self, bytes: &[u8]) -> u32 {
        bytes.iter().fold(0u32, |sum, b| sum.wrapping_mul(31).wrapping_add(u32::from(*b)))
    }

    fn fail(&self, message: String) -> u32 {
        panic!("{message}")
    }

    fn try_fail(&self, message: String) -> Result<u32, CalcError> {
        panic!("{message}")
    }
}
