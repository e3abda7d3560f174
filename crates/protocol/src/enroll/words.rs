//! The enrollment phrase's word list.

/// 256 short, common, inoffensive English words, one per byte value. No two share their first
/// four letters, so a word misread or half-remembered still points at one entry. Fixed forever:
/// changing a word changes every phrase a relying party's page shows.
pub(super) const WORDS: [&str; 256] = [
    "acorn", "actor", "alarm", "album", "amber", "anchor", "angle", "ankle", "apple", "apricot",
    "apron", "arena", "armor", "arrow", "atlas", "attic", "badge", "bagel", "baker", "bamboo",
    "banjo", "barn", "basket", "beach", "beard", "bell", "bench", "berry", "bike", "bird", "bloom",
    "board", "cabin", "cactus", "cake", "camel", "candle", "canoe", "canvas", "carpet", "castle",
    "cave", "cedar", "cello", "chair", "chalk", "cheese", "cherry", "daisy", "dance", "dawn",
    "deer", "denim", "desk", "diary", "dock", "donkey", "door", "dove", "drawer", "dream", "duck",
    "dune", "eagle", "earth", "easel", "echo", "egg", "elbow", "elm", "ember", "engine", "eraser",
    "fabric", "falcon", "farm", "fence", "fern", "ferry", "field", "finch", "fish", "flag",
    "flute", "foam", "forest", "fossil", "fox", "frog", "galaxy", "garden", "garlic", "gate",
    "gecko", "giant", "ginger", "glass", "glove", "goat", "gold", "grape", "grass", "gravel",
    "guitar", "hammer", "harbor", "harp", "hawk", "hazel", "heart", "hedge", "helmet", "hill",
    "hippo", "honey", "hook", "horse", "hotel", "house", "igloo", "island", "ivory", "jacket",
    "jaguar", "jelly", "jigsaw", "juice", "jungle", "kayak", "kettle", "kitten", "kiwi", "koala",
    "ladder", "lake", "lamp", "laptop", "lemon", "lily", "lion", "lizard", "locket", "magnet",
    "mango", "maple", "marble", "meadow", "melon", "mirror", "mitten", "monkey", "moon", "moss",
    "muffin", "museum", "music", "napkin", "navy", "nectar", "nest", "noodle", "nutmeg", "oasis",
    "ocean", "olive", "onion", "opal", "orange", "orbit", "otter", "oven", "owl", "oyster",
    "paddle", "palace", "panda", "paper", "parrot", "pasta", "peach", "peanut", "pebble", "pencil",
    "pepper", "piano", "picnic", "pillow", "pilot", "pine", "planet", "quail", "quarry", "quilt",
    "rabbit", "radio", "raven", "recipe", "ribbon", "river", "robin", "rocket", "roof", "rose",
    "ruby", "saddle", "salad", "salmon", "sandal", "satin", "scarf", "school", "shell", "shovel",
    "silver", "skate", "sketch", "sled", "snail", "sofa", "spider", "spoon", "table", "tango",
    "teapot", "tennis", "ticket", "tiger", "timber", "toast", "tomato", "topaz", "tower", "train",
    "tulip", "tunnel", "turtle", "valley", "velvet", "violin", "waffle", "wagon", "walnut",
    "water", "wheat", "willow", "window", "winter", "wizard", "wolf", "wool", "yacht", "yarn",
    "yellow", "yogurt", "zebra", "zinc",
];
