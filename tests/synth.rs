//! `ebr synth` (spec/synth.md): the same bytes for a seed, boxes that hold the actor, the
//! protocols' segments and classes, the caption protocol's captions and nouns, .npy clips
//! equal to ebr's preprocessing of the example PNGs, and one clear error line for bad
//! arguments.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ebr::clip::load_clip;
use ebr::npy::read_tensor;
use ebr::synth::draw::{bounding_box, mask, Canvas};
use ebr::synth::scene::{FRAME_SIZE, NOISE_AMPLITUDE};
use ebr::synth::{
    generate_clip, synth_input, Protocol, CAPTION_WORDS, CLASSES, SENTENCE_WORD, SPLICE3_GT_LENGTHS,
};
use serde_json::Value;

mod common;

fn ebr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(args)
        .output()
        .expect("the ebr binary runs")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn ok(args: &[&str]) {
    let out = ebr(args);
    assert!(
        out.status.success(),
        "ebr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` (relative path -> bytes), in sorted order; the marker `.ebr-output`
/// left out and summary.json without its `run_id`, the run's identity, which differs in every
/// run by design (spec/outputs.md, OUT-1).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap() != ".ebr-output" {
                let mut bytes = fs::read(&path).unwrap();
                if path.file_name().unwrap() == "summary.json" {
                    bytes = common::without_run_id(&String::from_utf8(bytes).unwrap());
                }
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_seed_gives_the_same_bytes_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let common = [
        "--clips",
        "3",
        "--seed",
        "5",
        "--protocol",
        "all",
        "--quiet",
    ];
    let mut args_a = vec!["synth", "--out", path_str(&a), "--threads", "1"];
    args_a.extend(common);
    let mut args_b = vec!["synth", "--out", path_str(&b), "--threads", "3"];
    args_b.extend(common);
    ok(&args_a);
    ok(&args_b);
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (name, bytes) in &ta {
        assert!(
            bytes == &tb[name],
            "{} differs between runs",
            name.display()
        );
    }
    // 3 sets x (set.json + 3 clips + 2 examples x T frames) + summary.json
    assert_eq!(ta.len(), 1 + 3 * 4 + 2 * (16 + 16 + 64));
    // A second run into an earlier output replaces it; another seed changes the clips.
    let mut again = vec!["synth", "--out", path_str(&a), "--seed", "6"];
    again.extend(["--clips", "3", "--protocol", "all", "--quiet"]);
    ok(&again);
    let tc = tree(&a);
    assert_ne!(
        tc[Path::new("trimmed/clips/0000.npy")],
        ta[Path::new("trimmed/clips/0000.npy")]
    );
    // Clip k does not depend on how many clips the set has.
    let one = dir.path().join("one");
    ok(&[
        "synth",
        "--out",
        path_str(&one),
        "--clips",
        "1",
        "--seed",
        "5",
        "--protocol",
        "splice3",
        "--quiet",
    ]);
    assert!(tree(&one)[Path::new("clips/0000.npy")] == ta[Path::new("splice3/clips/0000.npy")]);
}

#[test]
fn every_box_is_the_tight_box_of_the_actor_drawn_alone() {
    for protocol in Protocol::ALL {
        for k in 0..3 {
            let clip = generate_clip(11, protocol, k);
            for (t, f) in clip.truth.iter().enumerate() {
                // The actor alone on a blank canvas.
                let mut canvas = Canvas::new(FRAME_SIZE, FRAME_SIZE);
                canvas.paint(&f.actor, [1.0, 1.0, 1.0]);
                let drawn: Vec<bool> = canvas.rgb.chunks(3).map(|p| p[0] == 1.0).collect();
                assert_eq!(drawn, mask(&f.actor, FRAME_SIZE, FRAME_SIZE));
                let [top, left, bottom, right] = f.bbox;
                assert!(top <= bottom && left <= right && bottom < 64 && right < 64);
                for i in 0..FRAME_SIZE {
                    for j in 0..FRAME_SIZE {
                        if drawn[i * FRAME_SIZE + j] {
                            assert!(
                                (top..=bottom).contains(&i) && (left..=right).contains(&j),
                                "{} clip {k} frame {t}: pixel ({i}, {j}) outside {:?}",
                                protocol.name(),
                                f.bbox
                            );
                        }
                    }
                }
                assert_eq!(
                    bounding_box(&drawn, FRAME_SIZE, FRAME_SIZE),
                    Some(f.bbox),
                    "tight"
                );
                assert_eq!(f.actor.shape, CLASSES[f.class].shape);
                // In the real frame the actor is on top: its pixels are one colour plus noise.
                let image = &clip.images[t];
                let pixels: Vec<[u8; 3]> = (0..FRAME_SIZE * FRAME_SIZE)
                    .filter(|&p| drawn[p])
                    .map(|p| image.get_pixel((p % 64) as u32, (p / 64) as u32).0)
                    .collect();
                let spread = 2.0 * NOISE_AMPLITUDE * 255.0 + 2.0;
                for c in 0..3 {
                    let lo = pixels.iter().map(|p| p[c]).min().unwrap() as f64;
                    let hi = pixels.iter().map(|p| p[c]).max().unwrap() as f64;
                    // Saturated channels clip, which only narrows the spread.
                    assert!(hi - lo <= spread, "clip {k} frame {t}: spread {}", hi - lo);
                }
            }
        }
    }
}

#[test]
fn segments_and_classes_follow_the_protocols() {
    for k in 0..12 {
        let c = generate_clip(3, Protocol::Trimmed, k);
        assert_eq!(
            (c.segment, c.other_class, c.truth.len()),
            ([0, 15], None, 16)
        );
        assert!(c.truth.iter().all(|f| f.class == c.gt_class));

        let c = generate_clip(3, Protocol::Splice2, k);
        let other = c.other_class.expect("a splice has a rand class");
        assert_ne!(other, c.gt_class);
        let want = if k.is_multiple_of(2) { [8, 15] } else { [0, 7] };
        assert_eq!((c.segment, c.truth.len()), (want, 16));
        for (t, f) in c.truth.iter().enumerate() {
            let inside = (want[0]..=want[1]).contains(&t);
            assert_eq!(f.class, if inside { c.gt_class } else { other });
        }

        let c = generate_clip(3, Protocol::Splice3, k);
        let other = c.other_class.expect("a splice has a rand class");
        assert_ne!(other, c.gt_class);
        let [start, end] = c.segment;
        assert_eq!(end - start + 1, SPLICE3_GT_LENGTHS[k % 3]);
        assert!(
            start >= 1 && end <= 62,
            "rand on both sides: {:?}",
            c.segment
        );
        assert_eq!(c.truth.len(), 64);
        for (t, f) in c.truth.iter().enumerate() {
            let inside = (start..=end).contains(&t);
            assert_eq!(f.class, if inside { c.gt_class } else { other });
        }
    }
}

#[test]
fn set_json_matches_the_format_and_the_npy_equals_the_pngs_preprocessed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    ok(&[
        "synth",
        "--out",
        path_str(&out),
        "--clips",
        "4",
        "--seed",
        "7",
        "--protocol",
        "splice2",
        "--examples",
        "2",
        "--quiet",
    ]);
    let set = read_json(&out.join("set.json"));
    assert_eq!(set["format"], "ebr-synth-1");
    assert_eq!(set["protocol"], "splice2");
    assert_eq!(set["seed"], 7);
    assert_eq!(set["frame_size"], serde_json::json!([64, 64]));
    assert_eq!(set["frames_per_clip"], 16);
    let names: Vec<&str> = CLASSES.iter().map(|c| c.name).collect();
    assert_eq!(set["classes"], serde_json::json!(names));
    assert_eq!(
        set["input"],
        serde_json::json!({"channels": 3, "height": 64, "width": 64, "scale": 1.0,
            "channel_order": "rgb", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    );
    let clips = set["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 4);
    for (k, entry) in clips.iter().enumerate() {
        let c = generate_clip(7, Protocol::Splice2, k);
        assert_eq!(entry["file"], format!("clips/{k:04}.npy"));
        assert_eq!(entry["gt_class"], c.gt_class);
        assert_eq!(entry["segment"], serde_json::json!(c.segment));
        assert_eq!(entry["other_class"], serde_json::json!(c.other_class));
        let frames = entry["frames"].as_array().unwrap();
        assert_eq!(frames.len(), 16);
        for (f, truth) in frames.iter().zip(&c.truth) {
            assert_eq!(f["class"], truth.class);
            assert_eq!(f["box"], serde_json::json!(truth.bbox));
        }
        let npy = read_tensor(&out.join(format!("clips/{k:04}.npy"))).unwrap();
        assert_eq!(npy.shape, vec![16, 3, 64, 64]);
        if k < 2 {
            // The PNG frames through ebr's own preprocessing give the .npy exactly.
            let from_pngs = load_clip(&out.join(format!("examples/{k:04}")), &synth_input())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(from_pngs.frames, 16);
            assert!(from_pngs.data == npy.data, "clip {k}: PNGs and .npy differ");
        } else {
            assert!(!out.join(format!("examples/{k:04}")).exists());
        }
    }
    assert!(out.join("summary.json").is_file());
}

/// Runs a command that must fail with `code`; returns stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = ebr(args);
    assert_eq!(out.status.code(), Some(code), "ebr {args:?}: exit code");
    String::from_utf8(out.stderr).expect("stderr is UTF-8")
}

#[test]
fn bad_arguments_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = path_str(&out);

    let e = fails(&["synth", "--out", o, "--clips", "0"], 1);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.starts_with("ebr: ") && e.contains("--clips 0"), "{e}");
    let e = fails(&["synth", "--out", o, "--clips", "10001"], 1);
    assert!(e.contains("between 1 and 10000"), "{e}");
    assert!(!out.exists(), "nothing written");

    // clap's usage errors exit with 2 and name the bad value and the valid ones.
    let e = fails(&["synth", "--out", o, "--protocol", "splice4"], 2);
    assert!(e.lines().next().unwrap().contains("splice4"), "{e}");
    assert!(e.contains("trimmed") && e.contains("splice3"), "{e}");
    let e = fails(&["synth", "--out", o, "--clips", "-3"], 2);
    assert!(e.contains("-3"), "{e}");
    let e = fails(&["synth", "--clips", "3"], 2);
    assert!(e.contains("--out"), "{e}");

    // A directory that is not an ebr output is never replaced.
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("precious.txt"), "keep").unwrap();
    let e = fails(
        &[
            "synth",
            "--out",
            path_str(&foreign),
            "--clips",
            "1",
            "--quiet",
        ],
        1,
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("is not an ebr output directory"), "{e}");
    assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
    // Nor is a file.
    let file = dir.path().join("file.txt");
    fs::write(&file, "x").unwrap();
    let e = fails(&["synth", "--out", path_str(&file), "--clips", "1"], 1);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    // A missing parent.
    let deep = dir.path().join("no/such/dir");
    let e = fails(&["synth", "--out", path_str(&deep), "--clips", "1"], 1);
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn protocol_names_round_trip() {
    for p in Protocol::ALL {
        assert_eq!(Protocol::from_name(p.name()).unwrap(), p);
    }
    let e = Protocol::from_name("splice4").unwrap_err().to_string();
    assert!(
        e.contains("splice4") && e.contains("trimmed, splice2, splice3, caption"),
        "{e}"
    );
}

/// SYN-16, SYN-17: a caption clip is two actors of different shapes, 8 + 8 frames, each its
/// own video; its caption names each actor's shape and direction in order, with "then"
/// between; each noun names the frames of its actor. Over 240 clips every ordered pair of
/// classes of different shapes (6 x 4 = 24) occurs, and none of one shape.
#[test]
fn caption_clips_name_two_actors_of_different_shapes_in_order() {
    let shape_word = |k: usize| ["disk", "square", "triangle"][k / 2];
    let direction_word = |k: usize| ["left", "right", "up", "down", "downright", "upleft"][k];
    let mut pairs = std::collections::BTreeSet::new();
    for k in 0..240 {
        let c = generate_clip(3, Protocol::Caption, k);
        let (first, second) = (c.gt_class, c.other_class.expect("two actions"));
        assert_ne!(first / 2, second / 2, "clip {k}: two actors of one shape");
        pairs.insert((first, second));
        assert_eq!((c.segment, c.truth.len()), ([0, 7], 16));
        for (t, f) in c.truth.iter().enumerate() {
            assert_eq!(
                f.class,
                if t < 8 { first } else { second },
                "clip {k} frame {t}"
            );
        }
        let caption = c.caption.expect("a caption clip has a caption");
        assert_eq!(
            caption.words,
            [
                shape_word(first),
                direction_word(first),
                "then",
                shape_word(second),
                direction_word(second)
            ]
        );
        assert_eq!(caption.nouns.len(), 2);
        assert_eq!(
            (
                caption.nouns[0].word,
                caption.nouns[0].class,
                caption.nouns[0].segment
            ),
            (shape_word(first), first, [0, 7])
        );
        assert_eq!(
            (
                caption.nouns[1].word,
                caption.nouns[1].class,
                caption.nouns[1].segment
            ),
            (shape_word(second), second, [8, 15])
        );
        // every caption word is in the vocabulary, never the sentence token
        assert!(caption.words.iter().all(|w| CAPTION_WORDS[1..].contains(w)));
        if k < 12 {
            // the other protocols have no caption
            for p in Protocol::ACTIONS {
                assert!(generate_clip(3, p, k).caption.is_none());
            }
        }
    }
    assert_eq!(pairs.len(), 24, "{pairs:?}");
}

/// SYN-13, SYN-17: a caption set's set.json has the vocabulary ("words") and every clip its
/// "caption" and "nouns", as generate_clip says; the same bytes whatever the threads; the
/// other protocols' sets have neither; `--protocol all` still writes the three action sets
/// only.
#[test]
fn caption_sets_carry_their_captions_and_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (out, threads) in [(&a, "1"), (&b, "3")] {
        ok(&[
            "synth",
            "--out",
            path_str(out),
            "--protocol",
            "caption",
            "--clips",
            "4",
            "--seed",
            "7",
            "--examples",
            "1",
            "--threads",
            threads,
            "--quiet",
        ]);
    }
    assert!(
        tree(&a) == tree(&b),
        "the caption set depends on the threads"
    );
    let set = read_json(&a.join("set.json"));
    assert_eq!(set["protocol"], "caption");
    assert_eq!(set["frames_per_clip"], 16);
    assert_eq!(set["words"], serde_json::json!(CAPTION_WORDS));
    assert_eq!(set["words"][0], SENTENCE_WORD);
    for (k, entry) in set["clips"].as_array().unwrap().iter().enumerate() {
        let c = generate_clip(7, Protocol::Caption, k);
        let caption = c.caption.as_ref().unwrap();
        assert_eq!(entry["gt_class"], c.gt_class);
        assert_eq!(entry["other_class"], serde_json::json!(c.other_class));
        assert_eq!(entry["segment"], serde_json::json!([0, 7]));
        assert_eq!(entry["caption"], serde_json::json!(caption.words));
        let nouns: Vec<serde_json::Value> = caption
            .nouns
            .iter()
            .map(|n| serde_json::json!({"word": n.word, "class": n.class, "segment": n.segment}))
            .collect();
        assert_eq!(entry["nouns"], serde_json::json!(nouns));
        for (f, truth) in entry["frames"].as_array().unwrap().iter().zip(&c.truth) {
            assert_eq!(f["box"], serde_json::json!(truth.bbox));
        }
    }
    let trimmed = dir.path().join("t");
    ok(&[
        "synth",
        "--out",
        path_str(&trimmed),
        "--protocol",
        "trimmed",
        "--clips",
        "1",
        "--quiet",
    ]);
    let text = fs::read_to_string(trimmed.join("set.json")).unwrap();
    assert!(!text.contains("\"words\"") && !text.contains("\"caption\""));
    let summary = read_json(&a.join("summary.json"));
    assert_eq!(summary["sets"][0]["protocol"], "caption");
}
