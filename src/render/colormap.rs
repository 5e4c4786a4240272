//! matplotlib's 'jet' colormap, computed the way matplotlib computes it: a 256-entry lookup
//! table sampled from the segment data, and a value mapped to its table entry.
//! spec/render.md (REN-3)
//!
//! The demo colored with `plt.get_cmap('jet')(m)`, which reads the float table ([`jet_unit`]);
//! [`jet`] gives matplotlib's 8-bit colors, `jet(v, bytes=True)`.

/// The table's size: matplotlib's default `N` for its named colormaps.
pub const JET_LEVELS: usize = 256;

/// One channel's segment data: rows (x, y0, y1) of matplotlib's `_jet_data`. Values between
/// two rows are linear; y0 = y1 for every row of 'jet' (the channels are continuous).
type Segments = &'static [(f64, f64, f64)];

const JET_RED: Segments = &[
    (0.0, 0.0, 0.0),
    (0.35, 0.0, 0.0),
    (0.66, 1.0, 1.0),
    (0.89, 1.0, 1.0),
    (1.0, 0.5, 0.5),
];
const JET_GREEN: Segments = &[
    (0.0, 0.0, 0.0),
    (0.125, 0.0, 0.0),
    (0.375, 1.0, 1.0),
    (0.64, 1.0, 1.0),
    (0.91, 0.0, 0.0),
    (1.0, 0.0, 0.0),
];
const JET_BLUE: Segments = &[
    (0.0, 0.5, 0.5),
    (0.11, 1.0, 1.0),
    (0.34, 1.0, 1.0),
    (0.65, 0.0, 0.0),
    (1.0, 0.0, 0.0),
];

/// Entry `index` (0..255) of one channel's table, with matplotlib's f64 operations in its
/// order (`_create_lookup_table`, gamma 1), so that the 8-bit truncation in [`jet`] lands on
/// the same integer:
///
/// ```text
/// x_k     = seg_x[k] * 255                           the breakpoints, scaled
/// xind    = 255 * (index * (1 / 255))                numpy's linspace(0, 1, 256)[index]
/// k       = the first breakpoint with x_k >= xind    numpy's searchsorted
/// value   = (xind - x_{k-1}) / (x_k - x_{k-1}) * (y0_k - y1_{k-1}) + y1_{k-1}
/// ```
///
/// with entry 0 = y1 of the first row and entry 255 = y0 of the last, clipped to [0, 1].
fn channel_entry(segments: Segments, index: usize) -> f64 {
    let last = JET_LEVELS - 1;
    let value = if index == 0 {
        segments[0].2
    } else if index >= last {
        segments[segments.len() - 1].1
    } else {
        let xind = last as f64 * (index as f64 * (1.0 / last as f64));
        let mut k = 1;
        while k < segments.len() - 1 && segments[k].0 * (last as f64) < xind {
            k += 1;
        }
        let x_low = segments[k - 1].0 * last as f64;
        let x_high = segments[k].0 * last as f64;
        let distance = (xind - x_low) / (x_high - x_low);
        distance * (segments[k].1 - segments[k - 1].2) + segments[k - 1].2
    };
    value.clamp(0.0, 1.0)
}

/// The table index of a value: `floor(v * 256)`, with v clamped to [0, 1] first and 1.0
/// mapped to 255, as matplotlib's `Colormap.__call__` does for floats in range. A NaN maps to
/// 0 (matplotlib would give its transparent "bad" color; a NaN never reaches the drawing,
/// whose normalization, REN-1, turns NaN into 0). spec/render.md (REN-3)
pub fn jet_index(v: f32) -> usize {
    if v.is_nan() {
        return 0;
    }
    let v = v.clamp(0.0, 1.0) as f64;
    let index = (v * JET_LEVELS as f64).floor() as usize;
    index.min(JET_LEVELS - 1)
}

/// The float color of `v`: the table entry `jet_index(v)`, channels in [0, 1]. This is what
/// the demo's `jet(m)` returned and what the overlay (REN-4) blends. spec/render.md (REN-3)
pub fn jet_unit(v: f32) -> [f64; 3] {
    let index = jet_index(v);
    [
        channel_entry(JET_RED, index),
        channel_entry(JET_GREEN, index),
        channel_entry(JET_BLUE, index),
    ]
}

/// The 8-bit color of `v`: matplotlib's `jet(v, bytes=True)[:3]`, that is the float entry
/// times 255 *truncated* (numpy's `astype(uint8)`), so jet(0) = (0, 0, 127), not 128.
/// spec/render.md (REN-3)
pub fn jet(v: f32) -> [u8; 3] {
    let unit = jet_unit(v);
    let mut rgb = [0u8; 3];
    for c in 0..3 {
        rgb[c] = (unit[c] * 255.0) as u8; // truncation toward zero, as astype(uint8)
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `jet(i, bytes=True)[:3]` for every table entry i, from matplotlib 3.11.2:
    /// `plt.get_cmap('jet')(np.arange(256), bytes=True)[:, :3]`.
    const MATPLOTLIB_JET_BYTES: [[u8; 3]; 256] = [
        [0, 0, 127],
        [0, 0, 132],
        [0, 0, 136],
        [0, 0, 141],
        [0, 0, 145],
        [0, 0, 150],
        [0, 0, 154],
        [0, 0, 159],
        [0, 0, 163],
        [0, 0, 168],
        [0, 0, 172],
        [0, 0, 177],
        [0, 0, 182],
        [0, 0, 186],
        [0, 0, 191],
        [0, 0, 195],
        [0, 0, 200],
        [0, 0, 204],
        [0, 0, 209],
        [0, 0, 213],
        [0, 0, 218],
        [0, 0, 222],
        [0, 0, 227],
        [0, 0, 232],
        [0, 0, 236],
        [0, 0, 241],
        [0, 0, 245],
        [0, 0, 250],
        [0, 0, 254],
        [0, 0, 255],
        [0, 0, 255],
        [0, 0, 255],
        [0, 0, 255],
        [0, 4, 255],
        [0, 8, 255],
        [0, 12, 255],
        [0, 16, 255],
        [0, 20, 255],
        [0, 24, 255],
        [0, 28, 255],
        [0, 32, 255],
        [0, 36, 255],
        [0, 40, 255],
        [0, 44, 255],
        [0, 48, 255],
        [0, 52, 255],
        [0, 56, 255],
        [0, 60, 255],
        [0, 64, 255],
        [0, 68, 255],
        [0, 72, 255],
        [0, 76, 255],
        [0, 80, 255],
        [0, 84, 255],
        [0, 88, 255],
        [0, 92, 255],
        [0, 96, 255],
        [0, 100, 255],
        [0, 104, 255],
        [0, 108, 255],
        [0, 112, 255],
        [0, 116, 255],
        [0, 120, 255],
        [0, 124, 255],
        [0, 128, 255],
        [0, 132, 255],
        [0, 136, 255],
        [0, 140, 255],
        [0, 144, 255],
        [0, 148, 255],
        [0, 152, 255],
        [0, 156, 255],
        [0, 160, 255],
        [0, 164, 255],
        [0, 168, 255],
        [0, 172, 255],
        [0, 176, 255],
        [0, 180, 255],
        [0, 184, 255],
        [0, 188, 255],
        [0, 192, 255],
        [0, 196, 255],
        [0, 200, 255],
        [0, 204, 255],
        [0, 208, 255],
        [0, 212, 255],
        [0, 216, 255],
        [0, 220, 254],
        [0, 224, 250],
        [0, 228, 247],
        [2, 232, 244],
        [5, 236, 241],
        [8, 240, 237],
        [12, 244, 234],
        [15, 248, 231],
        [18, 252, 228],
        [21, 255, 225],
        [24, 255, 221],
        [28, 255, 218],
        [31, 255, 215],
        [34, 255, 212],
        [37, 255, 208],
        [41, 255, 205],
        [44, 255, 202],
        [47, 255, 199],
        [50, 255, 195],
        [54, 255, 192],
        [57, 255, 189],
        [60, 255, 186],
        [63, 255, 183],
        [66, 255, 179],
        [70, 255, 176],
        [73, 255, 173],
        [76, 255, 170],
        [79, 255, 166],
        [83, 255, 163],
        [86, 255, 160],
        [89, 255, 157],
        [92, 255, 154],
        [95, 255, 150],
        [99, 255, 147],
        [102, 255, 144],
        [105, 255, 141],
        [108, 255, 137],
        [112, 255, 134],
        [115, 255, 131],
        [118, 255, 128],
        [121, 255, 125],
        [124, 255, 121],
        [128, 255, 118],
        [131, 255, 115],
        [134, 255, 112],
        [137, 255, 108],
        [141, 255, 105],
        [144, 255, 102],
        [147, 255, 99],
        [150, 255, 95],
        [154, 255, 92],
        [157, 255, 89],
        [160, 255, 86],
        [163, 255, 83],
        [166, 255, 79],
        [170, 255, 76],
        [173, 255, 73],
        [176, 255, 70],
        [179, 255, 66],
        [183, 255, 63],
        [186, 255, 60],
        [189, 255, 57],
        [192, 255, 54],
        [195, 255, 50],
        [199, 255, 47],
        [202, 255, 44],
        [205, 255, 41],
        [208, 255, 37],
        [212, 255, 34],
        [215, 255, 31],
        [218, 255, 28],
        [221, 255, 24],
        [224, 255, 21],
        [228, 255, 18],
        [231, 255, 15],
        [234, 255, 12],
        [237, 255, 8],
        [241, 252, 5],
        [244, 248, 2],
        [247, 244, 0],
        [250, 240, 0],
        [254, 237, 0],
        [255, 233, 0],
        [255, 229, 0],
        [255, 226, 0],
        [255, 222, 0],
        [255, 218, 0],
        [255, 215, 0],
        [255, 211, 0],
        [255, 207, 0],
        [255, 203, 0],
        [255, 200, 0],
        [255, 196, 0],
        [255, 192, 0],
        [255, 189, 0],
        [255, 185, 0],
        [255, 181, 0],
        [255, 177, 0],
        [255, 174, 0],
        [255, 170, 0],
        [255, 166, 0],
        [255, 163, 0],
        [255, 159, 0],
        [255, 155, 0],
        [255, 152, 0],
        [255, 148, 0],
        [255, 144, 0],
        [255, 140, 0],
        [255, 137, 0],
        [255, 133, 0],
        [255, 129, 0],
        [255, 126, 0],
        [255, 122, 0],
        [255, 118, 0],
        [255, 115, 0],
        [255, 111, 0],
        [255, 107, 0],
        [255, 103, 0],
        [255, 100, 0],
        [255, 96, 0],
        [255, 92, 0],
        [255, 89, 0],
        [255, 85, 0],
        [255, 81, 0],
        [255, 77, 0],
        [255, 74, 0],
        [255, 70, 0],
        [255, 66, 0],
        [255, 63, 0],
        [255, 59, 0],
        [255, 55, 0],
        [255, 52, 0],
        [255, 48, 0],
        [255, 44, 0],
        [255, 40, 0],
        [255, 37, 0],
        [255, 33, 0],
        [255, 29, 0],
        [255, 26, 0],
        [255, 22, 0],
        [254, 18, 0],
        [250, 15, 0],
        [245, 11, 0],
        [241, 7, 0],
        [236, 3, 0],
        [232, 0, 0],
        [227, 0, 0],
        [222, 0, 0],
        [218, 0, 0],
        [213, 0, 0],
        [209, 0, 0],
        [204, 0, 0],
        [200, 0, 0],
        [195, 0, 0],
        [191, 0, 0],
        [186, 0, 0],
        [182, 0, 0],
        [177, 0, 0],
        [172, 0, 0],
        [168, 0, 0],
        [163, 0, 0],
        [159, 0, 0],
        [154, 0, 0],
        [150, 0, 0],
        [145, 0, 0],
        [141, 0, 0],
        [136, 0, 0],
        [132, 0, 0],
        [127, 0, 0],
    ];

    #[test]
    fn three_values_worked_by_hand() {
        // jet(0): index floor(0 * 256) = 0, entry 0 = y1 of each first row: (0, 0, 0.5).
        // Bytes: 0.5 * 255 = 127.5 truncated -> 127.
        assert_eq!(jet_index(0.0), 0);
        assert_eq!(jet_unit(0.0), [0.0, 0.0, 0.5]);
        assert_eq!(jet(0.0), [0, 0, 127]);
        // jet(1): 1 * 256 = 256 -> 255, the last entry = y0 of each last row: (0.5, 0, 0).
        assert_eq!(jet_index(1.0), 255);
        assert_eq!(jet_unit(1.0), [0.5, 0.0, 0.0]);
        assert_eq!(jet(1.0), [127, 0, 0]);
        // jet(0.5): index 128, x = 128/255 = 0.50196.
        //   red between (0.35, 0) and (0.66, 1): (128 - 89.25) / (168.3 - 89.25)
        //     = 38.75 / 79.05 = 125/255 = 0.490196; times 255 is 125 in real numbers but
        //     124.99999999999999 in f64, truncated to 124 (matplotlib gives 124 too).
        //   green between (0.375, 1) and (0.64, 1): 1 -> 255.
        //   blue between (0.34, 1) and (0.65, 0): 1 - (128 - 86.7) / 79.05 = 0.477546
        //     -> 121.77 -> 121.
        assert_eq!(jet_index(0.5), 128);
        let [r, g, b] = jet_unit(0.5);
        assert!((r - 125.0 / 255.0).abs() < 1e-15, "{r}");
        assert_eq!(g, 1.0);
        assert!((b - (1.0 - 41.3 / 79.05)).abs() < 1e-12, "{b}");
        assert_eq!(jet(0.5), [124, 255, 121]);
    }

    #[test]
    fn float_entries_match_matplotlib() {
        // plt.get_cmap('jet')(i)[:3] printed with repr, matplotlib 3.11.2
        let known: [(usize, [f64; 3]); 6] = [
            (1, [0.0, 0.0, 0.517825311942959]),
            (32, [0.0, 0.00196078431372549, 1.0]),
            (96, [0.08538899430740036, 1.0, 0.8823529411764706]),
            (128, [0.4901960784313725, 1.0, 0.4775458570524984]),
            (160, [0.8950031625553446, 1.0, 0.07273877292852626]),
            (224, [1.0, 0.11692084241103862, 0.0]),
        ];
        for (index, want) in known {
            let got = [
                channel_entry(JET_RED, index),
                channel_entry(JET_GREEN, index),
                channel_entry(JET_BLUE, index),
            ];
            for c in 0..3 {
                assert!(
                    (got[c] - want[c]).abs() <= 1e-15,
                    "entry {index} channel {c}: {} vs {}",
                    got[c],
                    want[c]
                );
            }
        }
    }

    #[test]
    fn every_byte_entry_matches_matplotlib() {
        for (index, want) in MATPLOTLIB_JET_BYTES.iter().enumerate() {
            // the middle of the entry's bin [index/256, (index+1)/256)
            let v = (index as f32 + 0.5) / 256.0;
            assert_eq!(jet_index(v), index);
            assert_eq!(&jet(v), want, "entry {index}");
        }
    }

    #[test]
    fn the_index_is_floor_of_v_times_256() {
        assert_eq!(jet_index(1.0 / 256.0), 1);
        assert_eq!(jet_index(0.999), 255);
        assert_eq!(jet_index(0.25), 64);
        // out of range and NaN
        assert_eq!(jet_index(-0.5), 0);
        assert_eq!(jet_index(7.0), 255);
        assert_eq!(jet_index(f32::NAN), 0);
        assert_eq!(jet_index(f32::INFINITY), 255);
        assert_eq!(jet_index(f32::NEG_INFINITY), 0);
    }
}
