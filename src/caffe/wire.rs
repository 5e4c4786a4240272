//! A reader of protobuf's binary wire format, for the fields of caffe.proto that ebr reads.
//! spec/caffe-import.md (CAFFE-1)
//!
//! Every error gives the byte, counted from the start of the file, where the broken field
//! starts, so that a truncated or corrupt .caffemodel can be located.

/// One field's value, as the wire format carries it. spec/caffe-import.md (CAFFE-1)
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1: 8 bytes, little-endian.
    Fixed64(u64),
    /// Wire type 2: a string, a sub-message or a packed repeated field; `at` is the file
    /// offset of its first byte.
    Bytes { bytes: &'a [u8], at: usize },
    /// Wire type 5: 4 bytes, little-endian.
    Fixed32(u32),
}

/// A field: its number, its value, and the file offset of its key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WireField<'a> {
    pub number: u32,
    pub value: WireValue<'a>,
    pub at: usize,
}

/// Where and why a message cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    /// The byte, from the start of the file.
    pub at: usize,
    pub reason: String,
}

/// Reads the fields of one message in order. spec/caffe-import.md (CAFFE-1)
pub struct WireReader<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes[0]` in the file.
    base: usize,
    position: usize,
}

impl<'a> WireReader<'a> {
    /// A reader of the message `bytes`, which starts at file offset `base`.
    pub fn new(bytes: &'a [u8], base: usize) -> WireReader<'a> {
        WireReader {
            bytes,
            base,
            position: 0,
        }
    }

    fn error(&self, at: usize, reason: String) -> WireError {
        WireError {
            at: self.base + at,
            reason,
        }
    }

    /// A varint at `self.position` (at most 10 bytes).
    fn varint(&mut self, field_start: usize, what: &str) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(self.error(
                    field_start,
                    format!("the file ends inside the varint of {what}"),
                ));
            };
            self.position += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(
            field_start,
            format!("the varint of {what} is longer than 10 bytes"),
        ))
    }

    /// `n` bytes at `self.position`.
    fn take(&mut self, n: usize, field_start: usize, what: &str) -> Result<&'a [u8], WireError> {
        let left = self.bytes.len() - self.position;
        if n > left {
            return Err(self.error(
                field_start,
                format!("{what} needs {n} bytes, only {left} are left in its message"),
            ));
        }
        let taken = &self.bytes[self.position..self.position + n];
        self.position += n;
        Ok(taken)
    }

    /// The next field, or None at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<WireField<'a>>, WireError> {
        if self.position >= self.bytes.len() {
            return Ok(None);
        }
        let start = self.position;
        let key = self.varint(start, "a field key")?;
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(self.error(start, format!("field number {number} is not valid")));
        }
        let number = number as u32;
        let what = format!("field {number}");
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint(start, &what)?),
            1 => {
                let b = self.take(8, start, &what)?;
                WireValue::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            2 => {
                let len = self.varint(start, &what)?;
                let left = (self.bytes.len() - self.position) as u64;
                if len > left {
                    return Err(self.error(
                        start,
                        format!("{what} says it holds {len} bytes, only {left} are left in its message (truncated?)"),
                    ));
                }
                let at = self.base + self.position;
                let bytes = self.take(len as usize, start, &what)?;
                WireValue::Bytes { bytes, at }
            }
            5 => {
                let b = self.take(4, start, &what)?;
                WireValue::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            wire_type => {
                return Err(self.error(
                    start,
                    format!("{what} has wire type {wire_type}, which caffe.proto never uses"),
                ))
            }
        };
        Ok(Some(WireField {
            number,
            value,
            at: self.base + start,
        }))
    }
}

impl<'a> WireField<'a> {
    fn wrong_type(&self, wanted: &str) -> WireError {
        WireError {
            at: self.at,
            reason: format!(
                "field {} should be {wanted}, found wire type {}",
                self.number,
                match self.value {
                    WireValue::Varint(_) => 0,
                    WireValue::Fixed64(_) => 1,
                    WireValue::Bytes { .. } => 2,
                    WireValue::Fixed32(_) => 5,
                }
            ),
        }
    }

    /// A sub-message's reader.
    pub fn message(&self) -> Result<WireReader<'a>, WireError> {
        match self.value {
            WireValue::Bytes { bytes, at } => Ok(WireReader::new(bytes, at)),
            _ => Err(self.wrong_type("a message")),
        }
    }

    /// A string (UTF-8; other bytes are replaced, a name only needs to be shown).
    pub fn string(&self) -> Result<String, WireError> {
        match self.value {
            WireValue::Bytes { bytes, .. } => Ok(String::from_utf8_lossy(bytes).into_owned()),
            _ => Err(self.wrong_type("a string")),
        }
    }

    /// A varint scalar.
    pub fn varint(&self) -> Result<u64, WireError> {
        match self.value {
            WireValue::Varint(v) => Ok(v),
            _ => Err(self.wrong_type("a varint")),
        }
    }

    /// A repeated varint field's values: one (unpacked) or all of a packed run.
    pub fn varints(&self) -> Result<Vec<u64>, WireError> {
        match self.value {
            WireValue::Varint(v) => Ok(vec![v]),
            WireValue::Bytes { bytes, at } => {
                let mut reader = WireReader::new(bytes, at);
                let mut values = Vec::new();
                while reader.position < bytes.len() {
                    let start = reader.position;
                    values.push(reader.varint(start, "a packed value")?);
                }
                Ok(values)
            }
            _ => Err(self.wrong_type("varints")),
        }
    }

    /// A repeated float field's values, appended to `out`: one (wire type 5) or a packed run.
    pub fn floats_into(&self, out: &mut Vec<f32>) -> Result<(), WireError> {
        match self.value {
            WireValue::Fixed32(bits) => out.push(f32::from_bits(bits)),
            WireValue::Bytes { bytes, .. } if bytes.len() % 4 == 0 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            ),
            WireValue::Bytes { bytes, .. } => {
                return Err(WireError {
                    at: self.at,
                    reason: format!(
                        "packed floats of field {} take {} bytes, not a multiple of 4",
                        self.number,
                        bytes.len()
                    ),
                })
            }
            _ => return Err(self.wrong_type("floats")),
        }
        Ok(())
    }

    /// A repeated double field's values, converted to f32 and appended to `out`.
    pub fn doubles_into(&self, out: &mut Vec<f32>) -> Result<(), WireError> {
        match self.value {
            WireValue::Fixed64(bits) => out.push(f64::from_bits(bits) as f32),
            WireValue::Bytes { bytes, .. } if bytes.len() % 8 == 0 => out.extend(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32),
            ),
            WireValue::Bytes { bytes, .. } => {
                return Err(WireError {
                    at: self.at,
                    reason: format!(
                        "packed doubles of field {} take {} bytes, not a multiple of 8",
                        self.number,
                        bytes.len()
                    ),
                })
            }
            _ => return Err(self.wrong_type("doubles")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Result<Vec<WireField<'_>>, WireError> {
        let mut reader = WireReader::new(bytes, 0);
        let mut out = Vec::new();
        while let Some(field) = reader.next_field()? {
            out.push(field);
        }
        Ok(out)
    }

    #[test]
    fn reads_each_wire_type() {
        // field 1 varint 150 (the protobuf docs' example), field 2 string "ab",
        // field 5 float 1.0, field 8 double 2.0
        let mut bytes = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'a', b'b', 0x2d];
        bytes.extend(1.0f32.to_le_bytes());
        bytes.push(0x41);
        bytes.extend(2.0f64.to_le_bytes());
        let f = fields(&bytes).unwrap();
        assert_eq!(f[0].varint().unwrap(), 150);
        assert_eq!(f[1].string().unwrap(), "ab");
        let mut v = Vec::new();
        f[2].floats_into(&mut v).unwrap();
        f[3].doubles_into(&mut v).unwrap();
        assert_eq!(v, [1.0, 2.0]);
        assert_eq!(f[3].at, 12);
    }

    #[test]
    fn a_length_past_the_end_names_its_byte() {
        let bytes = [0x08, 0x01, 0x12, 0x05, b'a'];
        let e = fields(&bytes).unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.reason.contains("holds 5 bytes, only 1"), "{}", e.reason);
    }

    #[test]
    fn groups_and_field_zero_are_refused() {
        assert!(fields(&[0x0b]).unwrap_err().reason.contains("wire type 3"));
        assert!(fields(&[0x00])
            .unwrap_err()
            .reason
            .contains("field number 0"));
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(fields(&long).unwrap_err().reason.contains("longer than 10"));
    }
}
