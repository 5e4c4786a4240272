//! The sizes of one convolution and its output size. spec/layers/conv.md (CONV-1)

/// Sizes of one convolution: one input image (C, H, W) to one output (O, OH, OW).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeometry {
    /// Checks that the sizes describe a convolution with at least one output position.
    pub fn new(
        in_channels: usize,
        in_height: usize,
        in_width: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<ConvGeometry, String> {
        if in_channels == 0 || in_height == 0 || in_width == 0 || out_channels == 0 {
            return Err(format!(
                "convolution sizes must be positive: input {in_channels}x{in_height}x{in_width}, {out_channels} outputs"
            ));
        }
        if kernel == 0 || stride == 0 {
            return Err(format!(
                "convolution kernel ({kernel}) and stride ({stride}) must be positive"
            ));
        }
        if kernel > in_height + 2 * pad || kernel > in_width + 2 * pad {
            return Err(format!(
                "convolution kernel {kernel} is larger than the padded input {}x{} (pad {pad})",
                in_height + 2 * pad,
                in_width + 2 * pad
            ));
        }
        Ok(ConvGeometry {
            in_channels,
            in_height,
            in_width,
            out_channels,
            kernel,
            stride,
            pad,
        })
    }

    /// OH = floor((H + 2P - K) / St) + 1. spec/layers/conv.md (CONV-1)
    pub fn out_height(&self) -> usize {
        (self.in_height + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// OW = floor((W + 2P - K) / St) + 1. spec/layers/conv.md (CONV-1)
    pub fn out_width(&self) -> usize {
        (self.in_width + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Values in one input image: C*H*W.
    pub fn in_len(&self) -> usize {
        self.in_channels * self.in_height * self.in_width
    }

    /// Values in one output image: O*OH*OW.
    pub fn out_len(&self) -> usize {
        self.out_channels * self.out_height() * self.out_width()
    }

    /// Rows of the im2col matrix: C*K*K.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
}
