//! Container names: docker's rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`) and its
//! `adjective_surname` names for containers created without one.

use std::io::Read;

const LEFT: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const RIGHT: &[&str] = &[
    "albattani",
    "allen",
    "almeida",
    "archimedes",
    "ardinghelli",
    "aryabhata",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bassi",
    "bell",
    "bhabha",
    "blackwell",
    "bohr",
    "booth",
    "borg",
    "bose",
    "brahmagupta",
    "brattain",
    "brown",
    "carson",
    "cerf",
    "chandrasekhar",
    "clarke",
    "colden",
    "cori",
    "cray",
    "curie",
    "darwin",
    "davinci",
    "dijkstra",
    "driscoll",
    "dubinsky",
    "easley",
    "einstein",
    "elion",
    "engelbart",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gates",
    "goldberg",
    "goldstine",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hermann",
    "hodgkin",
    "hofstadter",
    "hopper",
    "hypatia",
    "jackson",
    "jang",
    "jennings",
    "johnson",
    "kalam",
    "keller",
    "kepler",
    "khorana",
    "kilby",
    "knuth",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lovelace",
    "lumiere",
    "mayer",
    "mccarthy",
    "mcclintock",
    "meitner",
    "mendel",
    "merkle",
    "mirzakhani",
    "montalcini",
    "moore",
    "morse",
    "napier",
    "nash",
    "newton",
    "nobel",
    "noether",
    "pare",
    "pascal",
    "pasteur",
    "perlman",
    "pike",
    "poincare",
    "ptolemy",
    "raman",
    "ritchie",
    "rosalind",
    "sammet",
    "shannon",
    "shaw",
    "shockley",
    "sinoussi",
    "snyder",
    "spence",
    "stallman",
    "swanson",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "wilbur",
    "wiles",
    "williams",
    "wing",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
];

/// Whether `name` (without its leading `/`) is a valid container name.
pub fn valid(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(7);
        return t ^ std::process::id();
    }
    u32::from_le_bytes(buf)
}

/// A random `adjective_surname`; after clashes, a digit is appended as docker does.
pub fn generate(retry: u32) -> String {
    let r = random_u32() as usize;
    let l = LEFT[r % LEFT.len()];
    let rr = RIGHT[(r / LEFT.len()) % RIGHT.len()];
    if retry > 0 {
        format!("{l}_{rr}{}", r % 10)
    } else {
        format!("{l}_{rr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid("web") && valid("a1") && valid("my_app.v-2"));
        assert!(!valid("a") && !valid("_x") && !valid("a/b") && !valid("") && !valid("x y"));
        for i in 0..20 {
            assert!(valid(&generate(i % 2)));
        }
    }
}
