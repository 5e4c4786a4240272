//! Caffe's pooling geometry, shared by max and average pooling: output size (ceil, then the
//! padding clip) and the window of each output. spec/layers/pooling.md (POOL-1), (POOL-2)

/// Sizes of one pooling over an image (C, H, W) with a square kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

/// The input rows (or columns) one output position reads: `start..end`, clipped to the image,
/// and `padded_len`, the AVE divisor's factor for this axis (POOL-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
    pub padded_len: usize,
}

impl PoolGeometry {
    /// Checks the sizes as Caffe does (kernel and stride positive, pad < kernel, the kernel
    /// fits in the padded input).
    pub fn new(
        channels: usize,
        in_height: usize,
        in_width: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<PoolGeometry, String> {
        if channels == 0 || in_height == 0 || in_width == 0 {
            return Err(format!(
                "pooling input must be non-empty: {channels}x{in_height}x{in_width}"
            ));
        }
        if kernel == 0 || stride == 0 {
            return Err(format!(
                "pooling kernel ({kernel}) and stride ({stride}) must be positive"
            ));
        }
        if pad >= kernel {
            return Err(format!(
                "pooling pad {pad} must be smaller than the kernel {kernel}"
            ));
        }
        if kernel > in_height + 2 * pad || kernel > in_width + 2 * pad {
            return Err(format!(
                "pooling kernel {kernel} is larger than the padded input {}x{} (pad {pad})",
                in_height + 2 * pad,
                in_width + 2 * pad
            ));
        }
        // Every window must hold at least one input: (P_out - 1) * St - P < L (spec/layers/
        // pooling.md, POOL-1). With P > 0 the output size's clip ensures it; with P = 0 and
        // St > K the last window can start past the input, which Caffe reads out of bounds.
        for (axis, len) in [("height", in_height), ("width", in_width)] {
            let last_start = (pooled_len(len, kernel, stride, pad) - 1) * stride;
            if last_start >= len + pad {
                return Err(format!(
                    "pooling kernel {kernel}, stride {stride}, pad {pad} over {axis} {len}: the last window would start past the input (stride larger than the kernel)"
                ));
            }
        }
        Ok(PoolGeometry {
            channels,
            in_height,
            in_width,
            kernel,
            stride,
            pad,
        })
    }

    /// Output height. spec/layers/pooling.md (POOL-1)
    pub fn out_height(&self) -> usize {
        pooled_len(self.in_height, self.kernel, self.stride, self.pad)
    }

    /// Output width. spec/layers/pooling.md (POOL-1)
    pub fn out_width(&self) -> usize {
        pooled_len(self.in_width, self.kernel, self.stride, self.pad)
    }

    /// Values in one input image: C*H*W.
    pub fn in_len(&self) -> usize {
        self.channels * self.in_height * self.in_width
    }

    /// Values in one output image: C*PH*PW.
    pub fn out_len(&self) -> usize {
        self.channels * self.out_height() * self.out_width()
    }

    /// The rows read by output row `ph`. spec/layers/pooling.md (POOL-2)
    pub fn row_window(&self, ph: usize) -> Window {
        window(ph, self.in_height, self.kernel, self.stride, self.pad)
    }

    /// The columns read by output column `pw`. spec/layers/pooling.md (POOL-2)
    pub fn col_window(&self, pw: usize) -> Window {
        window(pw, self.in_width, self.kernel, self.stride, self.pad)
    }
}

/// P = ceil((L + 2*pad - K) / St) + 1; if pad > 0 and (P - 1) * St >= L + pad, P - 1.
/// spec/layers/pooling.md (POOL-1)
fn pooled_len(len: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    let mut pooled = (len + 2 * pad - kernel).div_ceil(stride) + 1;
    if pad > 0 && (pooled - 1) * stride >= len + pad {
        pooled -= 1;
    }
    pooled
}

/// start = p*St - pad; the AVE factor is min(start + K, L + pad) - start; the window read is
/// [max(start, 0), min(start + K, L)). spec/layers/pooling.md (POOL-2)
fn window(p: usize, len: usize, kernel: usize, stride: usize, pad: usize) -> Window {
    let start = (p * stride) as isize - pad as isize;
    let padded_end = (start + kernel as isize).min((len + pad) as isize);
    let end = (start + kernel as isize).min(len as isize);
    Window {
        start: start.max(0) as usize,
        end: end.max(0) as usize,
        padded_len: (padded_end - start) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: usize, end: usize, padded_len: usize) -> Window {
        Window {
            start,
            end,
            padded_len,
        }
    }

    /// The POOL-1 and POOL-2 examples of spec/layers/pooling.md, along the rows.
    #[test]
    fn output_sizes_and_windows() {
        // L = 3, K = 2, St = 2, P = 0: a partial last window, not padded.
        let g = PoolGeometry::new(1, 3, 3, 2, 2, 0).unwrap();
        assert_eq!(g.out_height(), 2);
        assert_eq!(g.row_window(0), w(0, 2, 2));
        assert_eq!(g.row_window(1), w(2, 3, 1));

        // L = 5, K = 3, St = 2, P = 1: padded rows count in the divisor.
        let g = PoolGeometry::new(1, 5, 5, 3, 2, 1).unwrap();
        assert_eq!(g.out_height(), 3);
        assert_eq!(g.row_window(0), w(0, 2, 3));
        assert_eq!(g.row_window(1), w(1, 4, 3));
        assert_eq!(g.row_window(2), w(3, 5, 3));

        // L = 5, K = 2, St = 2, P = 1: ceil gives 4, the window starting in the padding goes.
        let g = PoolGeometry::new(1, 5, 5, 2, 2, 1).unwrap();
        assert_eq!(g.out_height(), 3);
        assert_eq!(g.row_window(0), w(0, 1, 2));
        assert_eq!(g.row_window(2), w(3, 5, 2));

        // L = 4, K = 3, St = 2, P = 1: the part of the last window past L + P is not counted.
        let g = PoolGeometry::new(1, 4, 4, 3, 2, 1).unwrap();
        assert_eq!(g.out_height(), 3);
        assert_eq!(g.row_window(2), w(3, 4, 2));
    }

    /// A stride larger than the kernel without padding can leave the last window empty
    /// (L = 5, K = 1, St = 3: the third window starts at 5): refused, not read out of bounds.
    #[test]
    fn a_window_past_the_input_is_refused() {
        let err = PoolGeometry::new(1, 5, 5, 1, 3, 0).unwrap_err();
        assert!(
            err.contains("the last window would start past the input"),
            "{err}"
        );
        // L = 7 with the same kernel and stride: windows at 0, 3 and 6, all inside.
        assert!(PoolGeometry::new(1, 7, 7, 1, 3, 0).is_ok());
    }
}
