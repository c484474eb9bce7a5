//! Masking of what a card says before it leaves the server or reaches the journal: enough for
//! a person to recognise their card ("홍**", "1990-**-**"), not enough to identify them.

/// The masked form of field `key`'s `value`.
pub fn mask_field(key: &str, value: &str) -> String {
    match key {
        // Already masked by the reader (YYMMDD-S******), or not identifying on their own.
        "document_number" | "resident_number" | "sex" | "issuer" | "licence_type"
        | "renewal_period" | "issue_date" => value.to_owned(),
        "birth_date" => value
            .split_once('-')
            .map(|(year, _)| format!("{year}-**-**"))
            .unwrap_or_else(|| stars(value.chars().count())),
        "address" => value
            .split_whitespace()
            .next()
            .map(|first| format!("{first} ***"))
            .unwrap_or_default(),
        _ => keep_first(value),
    }
}

fn stars(n: usize) -> String {
    "*".repeat(n.max(1))
}

/// The first character, then one star per other character.
fn keep_first(value: &str) -> String {
    let mut chars = value.chars().filter(|c| !c.is_whitespace());
    match chars.next() {
        Some(first) => format!("{first}{}", stars(chars.count())),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dates_and_addresses_are_masked() {
        assert_eq!(mask_field("name", "홍길동"), "홍**");
        assert_eq!(mask_field("name_hanja", "洪吉童"), "洪**");
        assert_eq!(mask_field("birth_date", "1990-01-01"), "1990-**-**");
        assert_eq!(
            mask_field("address", "서울특별시 종로구 세종대로 1"),
            "서울특별시 ***"
        );
        assert_eq!(
            mask_field("document_number", "900101-1******"),
            "900101-1******"
        );
        assert_eq!(mask_field("surname", "KIM"), "K**");
        assert_eq!(mask_field("name", ""), "");
    }
}
