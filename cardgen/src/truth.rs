//! What a synthetic card says: random but plausible Korean holders (names, valid resident
//! registration numbers, addresses, issuers, licence data), deterministic per seed.

use crate::rng::SynthRng;
use serde::{Deserialize, Serialize};
use vision::card::DocumentType;

/// The ground truth printed on a synthetic card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardTruth {
    pub doc: DocumentType,
    /// Name in Hangul, e.g. "김민준".
    pub name: String,
    /// The same name in Hanja, e.g. "金敏俊" (printed in parentheses on some 주민등록증).
    pub name_hanja: Option<String>,
    /// `YYMMDD-SNNNNNN` with a valid check digit.
    pub rrn: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// 'M' or 'F'.
    pub sex: char,
    /// Road-name address, e.g. "서울특별시 종로구 세종대로 175, 101동 1203호".
    pub address: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    /// "서울특별시 종로구청장", "서울특별시경찰청장".
    pub issuer: String,
    /// Licence only: `RR-YY-NNNNNN-CC`.
    pub licence_number: Option<String>,
    /// Licence only: "1종보통", ...
    pub licence_type: Option<String>,
    /// Licence only: the last day of the renewal period, `YYYY.MM.DD`.
    pub renewal: Option<String>,
}

const SURNAMES: &[(&str, &str)] = &[
    ("김", "金"),
    ("이", "李"),
    ("박", "朴"),
    ("최", "崔"),
    ("정", "鄭"),
    ("강", "姜"),
    ("조", "趙"),
    ("윤", "尹"),
    ("장", "張"),
    ("임", "林"),
    ("한", "韓"),
    ("오", "吳"),
    ("서", "徐"),
    ("신", "申"),
    ("권", "權"),
    ("황", "黃"),
    ("안", "安"),
    ("송", "宋"),
    ("류", "柳"),
    ("홍", "洪"),
];

const GIVEN_MALE: &[(&str, &str)] = &[
    ("민", "敏"),
    ("준", "俊"),
    ("서", "瑞"),
    ("도", "道"),
    ("현", "賢"),
    ("우", "宇"),
    ("성", "成"),
    ("재", "在"),
    ("동", "東"),
    ("태", "泰"),
    ("상", "相"),
    ("호", "浩"),
    ("진", "鎭"),
    ("영", "永"),
    ("철", "哲"),
    ("석", "錫"),
    ("훈", "勳"),
    ("건", "健"),
];

const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("서", "瑞"),
    ("지", "智"),
    ("수", "秀"),
    ("민", "旼"),
    ("연", "妍"),
    ("은", "恩"),
    ("하", "夏"),
    ("예", "藝"),
    ("윤", "允"),
    ("혜", "惠"),
    ("희", "姬"),
    ("미", "美"),
    ("경", "京"),
    ("주", "珠"),
    ("유", "裕"),
    ("정", "貞"),
    ("영", "英"),
    ("아", "雅"),
];

/// (시/도, its 구/군/시; "" where the 시 has none).
const REGIONS: &[(&str, &[&str])] = &[
    (
        "서울특별시",
        &[
            "종로구",
            "중구",
            "용산구",
            "성동구",
            "마포구",
            "서대문구",
            "강남구",
            "서초구",
            "송파구",
            "관악구",
            "노원구",
            "영등포구",
        ],
    ),
    (
        "부산광역시",
        &["해운대구", "수영구", "동래구", "부산진구", "사하구"],
    ),
    ("대구광역시", &["수성구", "달서구", "중구", "북구"]),
    ("인천광역시", &["연수구", "남동구", "부평구", "강화군"]),
    ("광주광역시", &["서구", "북구", "광산구"]),
    ("대전광역시", &["유성구", "서구", "대덕구"]),
    ("울산광역시", &["남구", "중구", "울주군"]),
    ("세종특별자치시", &[""]),
    (
        "경기도",
        &[
            "수원시",
            "성남시",
            "고양시",
            "용인시",
            "부천시",
            "양평군",
            "가평군",
        ],
    ),
    ("강원특별자치도", &["춘천시", "원주시", "강릉시", "평창군"]),
    ("충청북도", &["청주시", "충주시", "옥천군"]),
    ("충청남도", &["천안시", "아산시", "공주시", "예산군"]),
    ("전북특별자치도", &["전주시", "익산시", "군산시"]),
    ("전라남도", &["목포시", "여수시", "순천시", "해남군"]),
    ("경상북도", &["포항시", "경주시", "구미시", "안동시"]),
    ("경상남도", &["창원시", "김해시", "진주시", "거제시"]),
    ("제주특별자치도", &["제주시", "서귀포시"]),
];

const ROADS: &[&str] = &[
    "세종대로",
    "테헤란로",
    "중앙로",
    "번영로",
    "시청로",
    "문화로",
    "평화로",
    "대학로",
    "새마을로",
    "충장로",
    "해안로",
    "은행나무길",
    "벚꽃길",
    "행복로",
    "한빛로",
    "동문로",
    "남부순환로",
    "월드컵로",
    "신촌로",
    "올림픽로",
];

const DONG_NAMES: &[&str] = &[
    "역삼동",
    "서초동",
    "신림동",
    "상계동",
    "연희동",
    "합정동",
    "우동",
    "만덕동",
    "둔산동",
    "봉명동",
    "영통동",
    "정자동",
];

/// Police agency region codes of licence numbers and the agency that issues them.
const LICENCE_REGIONS: &[(u32, &str)] = &[
    (11, "서울특별시경찰청장"),
    (12, "부산광역시경찰청장"),
    (13, "경기도남부경찰청장"),
    (14, "강원특별자치도경찰청장"),
    (15, "충청북도경찰청장"),
    (16, "충청남도경찰청장"),
    (17, "전북특별자치도경찰청장"),
    (18, "전라남도경찰청장"),
    (19, "경상북도경찰청장"),
    (20, "경상남도경찰청장"),
    (21, "제주특별자치도경찰청장"),
    (22, "대구광역시경찰청장"),
    (23, "인천광역시경찰청장"),
    (24, "광주광역시경찰청장"),
    (25, "대전광역시경찰청장"),
    (26, "울산광역시경찰청장"),
    (28, "경기도북부경찰청장"),
];

const LICENCE_TYPES: &[&str] = &[
    "1종보통",
    "1종보통",
    "2종보통",
    "2종보통",
    "1종대형",
    "2종소형",
    "1종대형 1종보통",
];

/// Weights of the resident registration number's check digit.
pub use vision::card::rrn::{WEIGHTS as RRN_WEIGHTS, check_digit_of as rrn_check_digit};

/// True when `rrn` is `YYMMDD-SNNNNNN` (dash optional) with a correct check digit.
pub fn rrn_is_valid(rrn: &str) -> bool {
    let digits: String = rrn.chars().filter(|c| *c != '-').collect();
    if digits.len() != 13 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let (first, last) = digits.split_at(12);
    rrn_check_digit(first) == last.chars().next().and_then(|c| c.to_digit(10))
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A random valid date in `[from_year, to_year]`.
fn random_date(rng: &mut SynthRng, from_year: u32, to_year: u32) -> (u32, u32, u32) {
    let y = rng.int(from_year, to_year.max(from_year));
    let m = rng.int(1, 12);
    let d = rng.int(1, days_in_month(y, m));
    (y, m, d)
}

/// A random holder for a document of type `doc`, the same for the same seed.
pub fn sample(seed: u64, doc: DocumentType) -> CardTruth {
    let mut rng = SynthRng::derived(seed, 1);
    let sex = if rng.chance(0.5) { 'M' } else { 'F' };
    let (surname, surname_hanja) = *rng.pick(SURNAMES);
    let given = if sex == 'M' { GIVEN_MALE } else { GIVEN_FEMALE };
    let (g1, h1) = *rng.pick(given);
    let (mut g2, mut h2) = *rng.pick(given);
    if g2 == g1 {
        (g2, h2) = given[(given.iter().position(|x| x.0 == g1).unwrap_or(0) + 1) % given.len()];
    }
    let name = format!("{surname}{g1}{g2}");
    let hanja = format!("{surname_hanja}{h1}{h2}");

    let (by, bm, bd) = random_date(&mut rng, 1940, 2005);
    let century_digit = match (by >= 2000, sex) {
        (false, 'M') => 1,
        (false, _) => 2,
        (true, 'M') => 3,
        (true, _) => 4,
    };
    let serial = rng.int(0, 99_999);
    let first12 = format!("{:02}{bm:02}{bd:02}{century_digit}{serial:05}", by % 100);
    let check = rrn_check_digit(&first12).unwrap_or(0);
    let rrn = format!("{}-{}{check}", &first12[..6], &first12[6..]);

    let (sido, districts) = *rng.pick(REGIONS);
    let district = *rng.pick(districts);
    let road = *rng.pick(ROADS);
    let number = if rng.chance(0.7) {
        format!("{}", rng.int(1, 399))
    } else {
        format!("{}-{}", rng.int(1, 120), rng.int(1, 30))
    };
    let place = if district.is_empty() {
        sido.to_string()
    } else {
        format!("{sido} {district}")
    };
    let mut address = format!("{place} {road} {number}");
    if rng.chance(0.6) {
        address.push_str(&format!(
            ", {}동 {}호",
            rng.int(101, 112),
            rng.int(1, 25) * 100 + rng.int(1, 6)
        ));
    }
    if rng.chance(0.5) {
        address.push_str(&format!(" ({})", rng.pick(DONG_NAMES)));
    }

    // Cards are issued from the 17th (licences: 18th) birthday on, never before 2000 here.
    let adult_at = by
        + if doc == DocumentType::DriverLicence {
            18
        } else {
            17
        };
    let (mut iy, mut im, mut id) = random_date(&mut rng, adult_at.max(2000), 2025);
    // Never before that birthday itself (29 February: the 1st of March).
    if (iy, im, id) < (adult_at, bm, bd) {
        (iy, im, id) = (adult_at, bm, bd.min(days_in_month(adult_at, bm)));
        if bd > id {
            (im, id) = (3, 1);
        }
    }
    let issue_date = format!("{iy:04}-{im:02}-{id:02}");

    let (issuer, licence_number, licence_type, renewal, name_hanja) =
        if doc == DocumentType::DriverLicence {
            let (code, agency) = *rng.pick(LICENCE_REGIONS);
            let number = format!(
                "{code:02}-{:02}-{:06}-{:02}",
                iy % 100,
                rng.int(0, 999_999),
                rng.int(0, 99)
            );
            let kind = rng.pick(LICENCE_TYPES).to_string();
            let renewal = format!("{:04}.12.31", iy + 10);
            (
                agency.to_string(),
                Some(number),
                Some(kind),
                Some(renewal),
                None,
            )
        } else {
            let issuer = if district.is_empty() {
                format!("{sido}장")
            } else if let Some(gun) = district.strip_suffix('군') {
                format!("{sido} {gun}군수")
            } else {
                format!("{sido} {district}장")
            };
            let issuer = issuer.replace("구장", "구청장");
            let hanja = rng.chance(0.5).then_some(hanja);
            (issuer, None, None, None, hanja)
        };

    CardTruth {
        doc,
        name,
        name_hanja,
        rrn,
        birth_date: format!("{by:04}-{bm:02}-{bd:02}"),
        sex,
        address,
        issue_date,
        issuer,
        licence_number,
        licence_type,
        renewal,
    }
}

/// `YYYY-MM-DD` as printed on a 주민등록증: `YYYY. M. D.`.
pub fn rrc_date(iso: &str) -> String {
    let mut parts = iso.split('-').map(|p| p.trim_start_matches('0'));
    match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) => format!("{y}. {m}. {d}."),
        _ => iso.to_string(),
    }
}

/// `YYYY-MM-DD` as printed on a licence: `YYYY.MM.DD`.
pub fn licence_date(iso: &str) -> String {
    iso.replace('-', ".")
}
