//! Folding Vietnamese text for search: lowercase, without diacritics, `đ`
//! as `d`, runs of whitespace as one space ("Thành phố  Hà Nội" →
//! "thanh pho ha noi").

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// The search form of `text`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            c => c,
        };
        if c.is_whitespace() {
            if !space {
                out.push(' ');
                space = true;
            }
            continue;
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn strips_diacritics_case_and_spaces() {
        assert_eq!(fold("Thành phố  Hà Nội"), "thanh pho ha noi");
        assert_eq!(fold("Tỉnh Đắk Lắk"), "tinh dak lak");
        assert_eq!(fold("  Phường Đông Hưng Thuận "), "phuong dong hung thuan");
        assert_eq!(fold("HA NOI"), "ha noi");
    }
}
