//! Canonical ids and their 64-bit keys.
//!
//! An id may arrive as utf8, as an integer (int64, or int32 as some
//! warehouses write it) or as a decimal of scale 0; all mean the same id when
//! the utf8 text is the decimal form of the number (`"42"`, `42` and
//! `42::decimal(20,0)`). Every id is reduced to its canonical bytes (the utf8
//! text, or the decimal text of the number) and keyed with xxh3-64 of those
//! bytes.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, GenericStringArray, Int32Array, Int64Array, StringViewArray,
};
use arrow_schema::DataType;
use xxhash_rust::xxh3::xxh3_64;

/// The xxh3-64 key of a canonical id.
pub type IdKey = u64;

/// Key of an id given as text.
#[inline]
pub fn key_of_str(id: &str) -> IdKey {
    xxh3_64(id.as_bytes())
}

/// Key of an id given as an integer: the key of its decimal text.
#[inline]
pub fn key_of_i64(id: i64) -> IdKey {
    let mut buf = itoa::Buffer::new();
    xxh3_64(buf.format(id).as_bytes())
}

/// Key of an id given as a decimal of scale 0: the key of its decimal text.
#[inline]
pub fn key_of_i128(id: i128) -> IdKey {
    let mut buf = itoa::Buffer::new();
    xxh3_64(buf.format(id).as_bytes())
}

/// The id types, as error messages name them.
pub const ID_TYPES: &str = "utf8, int64, int32 or decimal with scale 0";

/// Whether a column of this type can hold ids. A decimal with a scale other
/// than 0 is refused: `42.00` is not the id `42`, and which text would be?
pub fn is_id_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Int64
            | DataType::Int32
            | DataType::Decimal128(_, 0)
    )
}

/// A borrowed view of an id column of any accepted type.
#[derive(Debug, Clone, Copy)]
pub enum IdColumn<'a> {
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    Utf8View(&'a StringViewArray),
    Int64(&'a Int64Array),
    Int32(&'a Int32Array),
    /// A decimal of scale 0.
    Decimal(&'a Decimal128Array),
}

impl<'a> IdColumn<'a> {
    /// Views `array` as ids, or `None` when its type cannot hold ids.
    pub fn new(array: &'a ArrayRef) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => IdColumn::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => IdColumn::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => IdColumn::Utf8View(array.as_string_view()),
            DataType::Int64 => IdColumn::Int64(array.as_primitive::<Int64Type>()),
            DataType::Int32 => IdColumn::Int32(array.as_primitive::<Int32Type>()),
            DataType::Decimal128(_, 0) => IdColumn::Decimal(array.as_primitive()),
            _ => return None,
        })
    }

    pub fn len(&self) -> usize {
        match self {
            IdColumn::Utf8(a) => a.len(),
            IdColumn::LargeUtf8(a) => a.len(),
            IdColumn::Utf8View(a) => a.len(),
            IdColumn::Int64(a) => a.len(),
            IdColumn::Int32(a) => a.len(),
            IdColumn::Decimal(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether row `i` holds an id (is not null).
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        match self {
            IdColumn::Utf8(a) => a.is_valid(i),
            IdColumn::LargeUtf8(a) => a.is_valid(i),
            IdColumn::Utf8View(a) => a.is_valid(i),
            IdColumn::Int64(a) => a.is_valid(i),
            IdColumn::Int32(a) => a.is_valid(i),
            IdColumn::Decimal(a) => a.is_valid(i),
        }
    }

    /// The canonical text of row `i`, or `None` when null: borrowed from the
    /// column where it is text already, else formatted into `buf`, so that
    /// no row allocates.
    #[inline]
    pub fn text_in<'b>(&'b self, i: usize, buf: &'b mut itoa::Buffer) -> Option<&'b str> {
        match self {
            IdColumn::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            IdColumn::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            IdColumn::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
            IdColumn::Int64(a) => a.is_valid(i).then(|| buf.format(a.value(i))),
            IdColumn::Int32(a) => a.is_valid(i).then(|| buf.format(a.value(i))),
            IdColumn::Decimal(a) => a.is_valid(i).then(|| buf.format(a.value(i))),
        }
    }

    /// The key of row `i`, or `None` when the id is null.
    #[inline]
    pub fn key(&self, i: usize) -> Option<IdKey> {
        match self {
            IdColumn::Utf8(a) => a.is_valid(i).then(|| key_of_str(a.value(i))),
            IdColumn::LargeUtf8(a) => a.is_valid(i).then(|| key_of_str(a.value(i))),
            IdColumn::Utf8View(a) => a.is_valid(i).then(|| key_of_str(a.value(i))),
            IdColumn::Int64(a) => a.is_valid(i).then(|| key_of_i64(a.value(i))),
            IdColumn::Int32(a) => a.is_valid(i).then(|| key_of_i64(i64::from(a.value(i)))),
            IdColumn::Decimal(a) => a.is_valid(i).then(|| key_of_i128(a.value(i))),
        }
    }

    /// The canonical text of row `i` (for messages and ledgers), or `None` when null.
    pub fn text(&self, i: usize) -> Option<String> {
        match self {
            IdColumn::Utf8(a) => a.is_valid(i).then(|| a.value(i).to_owned()),
            IdColumn::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i).to_owned()),
            IdColumn::Utf8View(a) => a.is_valid(i).then(|| a.value(i).to_owned()),
            IdColumn::Int64(a) => a.is_valid(i).then(|| a.value(i).to_string()),
            IdColumn::Int32(a) => a.is_valid(i).then(|| a.value(i).to_string()),
            IdColumn::Decimal(a) => a.is_valid(i).then(|| a.value(i).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn utf8_and_int64_with_same_decimal_text_share_a_key() {
        assert_eq!(key_of_str("42"), key_of_i64(42));
        assert_eq!(key_of_str("-7"), key_of_i64(-7));
        assert_eq!(key_of_str("9223372036854775807"), key_of_i64(i64::MAX));
    }

    #[test]
    fn different_text_is_a_different_id() {
        // "042" is not the decimal text of 42: a different id, fail closed.
        assert_ne!(key_of_str("042"), key_of_i64(42));
        assert_ne!(key_of_str("42 "), key_of_i64(42));
    }

    #[test]
    fn id_column_views_every_accepted_type() {
        let utf8: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![Some("42"), None]));
        let large: ArrayRef = Arc::new(arrow_array::LargeStringArray::from(vec![Some("42")]));
        let view: ArrayRef = Arc::new(StringViewArray::from(vec![Some("42")]));
        let int: ArrayRef = Arc::new(Int64Array::from(vec![Some(42), None]));
        let int32: ArrayRef = Arc::new(Int32Array::from(vec![Some(42), None]));
        let decimal: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(42), None])
                .with_precision_and_scale(20, 0)
                .expect("valid precision and scale"),
        );
        for a in [&utf8, &large, &view, &int, &int32, &decimal] {
            let col = IdColumn::new(a).expect("accepted id type");
            assert_eq!(col.key(0), Some(key_of_i64(42)));
            assert_eq!(col.text(0).as_deref(), Some("42"));
        }
        assert_eq!(IdColumn::new(&utf8).and_then(|c| c.key(1)), None);
        assert_eq!(IdColumn::new(&int).and_then(|c| c.key(1)), None);
    }

    #[test]
    fn a_decimal_id_beyond_int64_keys_as_its_decimal_text() {
        let big = i128::from(i64::MAX) + 1;
        assert_eq!(key_of_i128(big), key_of_str("9223372036854775808"));
        assert_eq!(key_of_i128(-42), key_of_i64(-42));
    }

    #[test]
    fn other_types_are_not_ids() {
        let float: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![42.0]));
        assert!(IdColumn::new(&float).is_none());
        assert!(!is_id_type(&DataType::Float64));
        // 42.00 is not the id 42: a decimal with a scale is refused.
        assert!(!is_id_type(&DataType::Decimal128(20, 2)));
        let scaled: ArrayRef = Arc::new(
            Decimal128Array::from(vec![4200])
                .with_precision_and_scale(20, 2)
                .expect("valid precision and scale"),
        );
        assert!(IdColumn::new(&scaled).is_none());
    }
}
