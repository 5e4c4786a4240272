//! How much memory ebr lets one input claim. Four sizes are checked against it from headers and
//! model.json, before anything is allocated or read: a .npy file's data, a model's parameters
//! together, one frame's blobs together, and a clip's values (spec/model.md, "Limits and bad
//! values"). One number, in bytes, serves all four: a user who knows the machine sets it once
//! (`--memory-budget` on the command line).

/// The bytes of data one input may claim; a model's parameters, a frame's blobs and a clip may
/// each hold `values()` float32 values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
}

impl Budget {
    /// 4 GiB: 2^30 float32 values, far above VGG16-LSTM (0.14 G parameters, 15 M values per
    /// 224-px frame) and a 10-minute clip of 224-px frames at 12 fps (1.1 G values / 10).
    pub const DEFAULT: Budget = Budget { bytes: 4 << 30 };

    /// `gib` GiB (2^30 bytes), at least one float32 value; None unless `gib` is positive and
    /// finite.
    pub fn from_gib(gib: f64) -> Option<Budget> {
        let bytes = gib * (1u64 << 30) as f64;
        (gib.is_finite() && gib > 0.0 && bytes < u64::MAX as f64).then(|| Budget {
            bytes: (bytes as u64).max(4),
        })
    }

    /// The float32 values that fit.
    pub fn values(self) -> usize {
        usize::try_from(self.bytes / 4).unwrap_or(usize::MAX)
    }

    /// For messages: "4 GiB" for whole GiB, else the bytes ("1048576 bytes").
    pub fn describe(self) -> String {
        if self.bytes.is_multiple_of(1 << 30) {
            format!("{} GiB", self.bytes >> 30)
        } else {
            format!("{} bytes", self.bytes)
        }
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gib_become_bytes_and_values() {
        assert_eq!(Budget::DEFAULT.values(), 1 << 30);
        assert_eq!(Budget::DEFAULT.describe(), "4 GiB");
        let half = Budget::from_gib(0.5).unwrap();
        assert_eq!(half.bytes, 1 << 29);
        assert_eq!(half.describe(), "536870912 bytes");
        assert_eq!(Budget::from_gib(1e-12).unwrap().bytes, 4);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            assert_eq!(Budget::from_gib(bad), None, "{bad}");
        }
    }
}
