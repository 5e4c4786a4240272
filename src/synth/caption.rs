//! The captions of the caption protocol: a vocabulary of shapes, directions and "then", and
//! the caption of two actions in sequence ("disk left then square up"), with the frames each
//! noun names. spec/synth.md (SYN-16, SYN-17)

use super::classes::CLASSES;
use super::draw::Shape;

/// The sentence token of a captioner's vocabulary: index 0, the start and the end of every
/// caption (spec/caption.md). Never a word of a caption.
pub const SENTENCE_WORD: &str = "<s>";

/// The vocabulary of the caption protocol, in the order of its indices (SYN-16): the sentence
/// token, the three shapes (the nouns), the six directions, "then".
pub const CAPTION_WORDS: [&str; 11] = [
    SENTENCE_WORD,
    "disk",
    "square",
    "triangle",
    "left",
    "right",
    "up",
    "down",
    "downright",
    "upleft",
    "then",
];

/// The noun of an actor's shape (SYN-16). Panics for a distractor's shape (never an actor).
pub fn shape_word(shape: Shape) -> &'static str {
    match shape {
        Shape::Disk => "disk",
        Shape::Square => "square",
        Shape::Triangle => "triangle",
        other => panic!("shape_word: {other:?} is not an actor's shape"),
    }
}

/// The word of a direction of motion (row, column) (SYN-16): the compass words joined, the
/// vertical first (down-right is "downright").
pub fn direction_word(direction: [i32; 2]) -> &'static str {
    match direction {
        [0, -1] => "left",
        [0, 1] => "right",
        [-1, 0] => "up",
        [1, 0] => "down",
        [1, 1] => "downright",
        [-1, -1] => "upleft",
        other => panic!("direction_word: no word for {other:?}"),
    }
}

/// A noun of a caption and the actor it names: its class and its inclusive frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Noun {
    pub word: &'static str,
    pub class: usize,
    pub segment: [usize; 2],
}

/// A clip's caption (SYN-17): its words, and per noun the frames of the actor it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptionTruth {
    pub words: Vec<&'static str>,
    pub nouns: Vec<Noun>,
}

/// The caption of the actions `first` (frames `first_segment`) then `second` (frames
/// `second_segment`): "<shape> <direction> then <shape> <direction>" (SYN-17).
pub fn caption_of(
    first: usize,
    first_segment: [usize; 2],
    second: usize,
    second_segment: [usize; 2],
) -> CaptionTruth {
    let (a, b) = (&CLASSES[first], &CLASSES[second]);
    let words = vec![
        shape_word(a.shape),
        direction_word(a.direction),
        "then",
        shape_word(b.shape),
        direction_word(b.direction),
    ];
    let nouns = vec![
        Noun {
            word: shape_word(a.shape),
            class: first,
            segment: first_segment,
        },
        Noun {
            word: shape_word(b.shape),
            class: second,
            segment: second_segment,
        },
    ];
    CaptionTruth { words, nouns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_words_in_the_vocabulary() {
        for (k, class) in CLASSES.iter().enumerate() {
            let shape = shape_word(class.shape);
            let direction = direction_word(class.direction);
            assert!(CAPTION_WORDS[1..].contains(&shape));
            assert!(CAPTION_WORDS[1..].contains(&direction));
            // the class name is the two words, the direction's parts joined by "_"
            let name = class.name.replace('_', "");
            assert_eq!(name, format!("{shape}{direction}"), "class {k}");
        }
        let c = caption_of(0, [0, 7], 2, [8, 15]);
        assert_eq!(c.words, ["disk", "left", "then", "square", "up"]);
        assert_eq!(c.nouns[1].segment, [8, 15]);
    }
}
