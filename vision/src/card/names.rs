//! Korean personal names: what a name read off a card can look like. A Korean name is a surname
//! of one syllable (a few of two) and a given name of one to three; a first syllable that is no
//! Korean surname is a misread (blur turns 김 into 깅, 황 into 활), so the reader prefers the
//! reading whose surname exists.

/// Korean surnames (Statistics Korea's census list: the single-syllable surnames held by more
/// than about a thousand people, with the spelling variants 리/이, 류/유, 라/나, 림/임).
const SURNAMES: &str = "김이리박최정강조윤장임림한오서신권황안송류유전홍고문양손배백허남심노로\
하곽성차주우구민진나라지엄원천방공현변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어\
은편용예경봉사부가복태목형계피두감음빈동온호범좌팽승간상시갈견당화창채빙단궉묵묘근란대초";

/// Two-syllable surnames.
const DOUBLE_SURNAMES: [&str; 8] = [
    "남궁", "황보", "제갈", "사공", "선우", "서문", "독고", "동방",
];

fn is_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// Whether `name` is Hangul syllables only, two to five of them.
pub fn is_hangul_name(name: &str) -> bool {
    let n = name.chars().count();
    (2..=5).contains(&n) && name.chars().all(is_syllable)
}

/// Whether `name` (Hangul syllables) starts with a Korean surname and has a given name after it.
pub fn has_korean_surname(name: &str) -> bool {
    if !is_hangul_name(name) {
        return false;
    }
    let syllables: Vec<char> = name.chars().collect();
    let double = DOUBLE_SURNAMES
        .iter()
        .any(|s| name.starts_with(s) && syllables.len() >= 3);
    double || SURNAMES.contains(syllables[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surnames_are_recognised() {
        assert!(has_korean_surname("김현도"));
        assert!(has_korean_surname("황지서"));
        assert!(has_korean_surname("남궁민수"));
        assert!(has_korean_surname("이준"));
        assert!(!has_korean_surname("깅현도"));
        assert!(!has_korean_surname("활지서"));
        assert!(!has_korean_surname("김"));
        assert!(!has_korean_surname("김a도"));
        assert!(!is_hangul_name("홍길동전하만세"));
    }
}
