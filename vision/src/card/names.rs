//! Korean personal names: what a name read off a card can look like, and how several readings
//! of one blurred name are combined. A Korean name is a surname of one syllable (a few of two)
//! and a given name of one to three, nearly always Sino-Korean syllables; a first syllable that
//! is no Korean surname, or a given-name syllable no Han character reads as, is most likely a
//! misread (blur turns 김 into 깅, 태 into 테, 서 into 셔), so the reader prefers readings
//! without one.

/// Korean surnames (Statistics Korea's census list: the single-syllable surnames held by more
/// than about a thousand people, with the spelling variants 리/이, 류/유, 라/나, 림/임).
const SURNAMES: &str = "김이리박최정강조윤장임림한오서신권황안송류유전홍고문양손배백허남심노로\
하곽성차주우구민진나라지엄원천방공현변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어\
은편용예경봉사부가복태목형계피두감음빈동온호범좌팽승간상시갈견당화창채빙단궉묵묘근란대초";

/// Two-syllable surnames.
const DOUBLE_SURNAMES: [&str; 8] = [
    "남궁", "황보", "제갈", "사공", "선우", "서문", "독고", "동방",
];

/// Every Hangul syllable that is the Korean reading of a Han character: the `kHangul` readings
/// of Unicode's Unihan database (Debian's `unicode-data`, Unicode 15; 8,525 characters, 486
/// syllables). Sino-Korean given names use only these. A pure Korean name can use others (빛나,
/// 다솜): such a reading is looked at again, never refused.
const SINO_KOREAN: &str = "가각간갈감갑강개객갱갹거건걸검겁게격견결겸경계고곡곤골공곶과곽관괄광괘괴괵굉교구국군굴궁권궐궤귀규균귤극근글금급긍기긴길김끽나낙난날남납낭내냉녀녁년념녑녕노녹논농뇌뇨누눈눌뉴뉵늑늠능니닉닐다단달담답당대댁덕도독돈돌동두둔둘득등라락란랄람랍랑래랭략량려력련렬렴렵령례로록론롱뢰료룡루류륙륜률륭륵름릉리린림립마막만말망매맥맹멱면멸명몌모목몰몽묘무묵문물미민밀박반발방배백번벌범법벽변별병보복본볼봉부북분불붕비빈빙사삭산살삼삽상새색생서석선설섬섭성세소속손솔송쇄쇠수숙순술숭쉬슬습승시식신실심십쌍씨아악안알암압앙애액앵야약양어억언얼엄업에엔여역연열염엽영예오옥온올옹와완왈왕왜외요욕용우욱운울웅원월위유육윤율융은을음읍응의이익인일임입잉자작잔잠잡장재쟁저적전절점접정제조족존졸종좌죄주죽준줄중즉즐즙증지직진질짐집징차착찬찰참창채책처척천철첨첩청체초촉촌총촬최추축춘출충췌취측층치칙친칠침칩칭쾌타탁탄탈탐탑탕태택탱터토톤통퇴투퉁특틈파판팔패팽퍅편폄평폐포폭표품풍피픽필핍하학한할함합항해핵행향허헌헐험혁현혈혐협형혜호혹혼홀홍화확환활황회획횡효후훈훌훙훤훼휘휴휼흉흑흔흘흠흡흥희히힐";

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

/// How many syllables of `name` are its surname (2 for 남궁…, else 1).
fn surname_len(name: &str) -> usize {
    let double = DOUBLE_SURNAMES
        .iter()
        .any(|s| name.starts_with(s) && name.chars().count() >= 3);
    if double { 2 } else { 1 }
}

/// Whether `name` has a Korean surname and a given name of Sino-Korean syllables only: the
/// name a reading most likely is.
pub fn is_likely_name(name: &str) -> bool {
    has_korean_surname(name)
        && name
            .chars()
            .skip(surname_len(name))
            .all(|c| SINO_KOREAN.contains(c))
}

/// One name from several readings that disagree: the readings of the most common length (the
/// earliest such on a tie) voted syllable by syllable, the earliest reading winning a tie.
/// Different preparations of a blurred name tend to lose different strokes, so the vote can be
/// right where every reading is wrong somewhere (홍영테, 충영태, 홍영데 → 홍영태). None for no
/// readings.
pub fn syllable_vote(readings: &[String]) -> Option<String> {
    let lengths: Vec<usize> = readings.iter().map(|r| r.chars().count()).collect();
    let len = most_common(&lengths)?;
    let same: Vec<Vec<char>> = readings
        .iter()
        .map(|r| r.chars().collect::<Vec<_>>())
        .filter(|r| r.len() == len)
        .collect();
    (0..len)
        .map(|i| most_common(&same.iter().map(|r| r[i]).collect::<Vec<_>>()))
        .collect()
}

/// The value found most often in `items`, the earliest on a tie; None when empty.
fn most_common<T: Copy + PartialEq>(items: &[T]) -> Option<T> {
    let mut best: Option<(T, usize)> = None;
    for (i, &x) in items.iter().enumerate() {
        if items[..i].contains(&x) {
            continue;
        }
        let n = items.iter().filter(|&&y| y == x).count();
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((x, n));
        }
    }
    best.map(|(x, _)| x)
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

    #[test]
    fn given_names_of_syllables_no_han_character_reads_as_are_doubted() {
        assert!(is_likely_name("홍영태"));
        assert!(is_likely_name("남궁민수"));
        assert!(!is_likely_name("홍영테"));
        assert!(!is_likely_name("안셔석"));
        assert!(!is_likely_name("충영태"));
        assert!(!is_likely_name("홍"));
    }

    #[test]
    fn blurred_readings_are_voted_syllable_by_syllable() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let vote = syllable_vote(&r(&["홍영테", "충영태", "총영태", "홍영데", "충영대"]));
        assert_eq!(vote.as_deref(), Some("홍영태"));
        // Readings of another length do not vote.
        let vote = syllable_vote(&r(&["우건", "안우건", "간우건", "안우간"]));
        assert_eq!(vote.as_deref(), Some("안우건"));
        assert_eq!(syllable_vote(&[]), None);
    }
}
