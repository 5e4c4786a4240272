//! The action classes of the synthetic set: an actor's shape and its direction of motion.
//! spec/synth.md (SYN-1)
//!
//! The same shape moving in opposite directions makes two classes, so a single frame cannot
//! tell them apart: only the motion over several frames can (the temporal model matters).

use super::draw::Shape;

/// One action class: the actor's shape and its unit direction of motion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActionClass {
    /// The name in set.json's "classes" (and a model's labels).
    pub name: &'static str,
    pub shape: Shape,
    /// The direction of motion (row, column): -1, 0 or 1 each. A diagonal direction is scaled
    /// by 1/sqrt(2) when the actor moves (SYN-4), so that the speed is the same.
    pub direction: [i32; 2],
}

/// The classes, in the order of their indices (SYN-1).
pub const CLASSES: [ActionClass; 6] = [
    ActionClass {
        name: "disk_left",
        shape: Shape::Disk,
        direction: [0, -1],
    },
    ActionClass {
        name: "disk_right",
        shape: Shape::Disk,
        direction: [0, 1],
    },
    ActionClass {
        name: "square_up",
        shape: Shape::Square,
        direction: [-1, 0],
    },
    ActionClass {
        name: "square_down",
        shape: Shape::Square,
        direction: [1, 0],
    },
    ActionClass {
        name: "triangle_down_right",
        shape: Shape::Triangle,
        direction: [1, 1],
    },
    ActionClass {
        name: "triangle_up_left",
        shape: Shape::Triangle,
        direction: [-1, -1],
    },
];

/// The class names in index order.
pub fn class_names() -> Vec<String> {
    CLASSES.iter().map(|c| c.name.to_string()).collect()
}

/// The unit vector (row, column) of a class's direction (SYN-4).
pub fn unit_direction(class: &ActionClass) -> [f64; 2] {
    let [dy, dx] = class.direction;
    let norm = ((dy * dy + dx * dx) as f64).sqrt();
    [dy as f64 / norm, dx as f64 / norm]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opposite_directions_pair_up_per_shape() {
        for pair in CLASSES.chunks(2) {
            assert_eq!(pair[0].shape, pair[1].shape);
            assert_eq!(
                [-pair[0].direction[0], -pair[0].direction[1]],
                pair[1].direction
            );
        }
        let names = class_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "names are unique");
    }
}
