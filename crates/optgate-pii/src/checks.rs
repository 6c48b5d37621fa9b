//! Validators: check digits and structure of the identifiers the scanner
//! looks for. Each takes the identifier's significant characters (no
//! separators) and says whether it is well-formed.

/// Luhn (mod 10) over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A payment card number: issuer prefix and length, then Luhn.
pub fn card(digits: &[u8]) -> bool {
    let n = digits.len();
    if !(12..=19).contains(&n) || !luhn(digits) {
        return false;
    }
    let prefix = |k: usize| -> u32 {
        digits[..k]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    match p1 {
        4 => matches!(n, 13 | 16 | 19),       // Visa
        3 if p2 == 34 || p2 == 37 => n == 15, // Amex
        3 if p2 == 36 || (300..=305).contains(&p3) || p2 == 38 || p2 == 39 => {
            (14..=19).contains(&n)
        } // Diners
        3 if (3528..=3589).contains(&p4) => (16..=19).contains(&n), // JCB
        5 if (51..=55).contains(&p2) => n == 16, // Mastercard
        5 if p2 == 50 || (56..=59).contains(&p2) => (12..=19).contains(&n), // Maestro
        2 if (222_100..=272_099).contains(&p6) => n == 16, // Mastercard 2-series
        6 if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) => (16..=19).contains(&n), // Discover
        6 if p2 == 62 => (16..=19).contains(&n), // UnionPay
        6 => (12..=19).contains(&n),             // Maestro 6x
        _ => false,
    }
}

/// IBAN length per registry country.
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The IBAN length of a country (upper-case code), if it has IBANs.
pub fn iban_length(country: [u8; 2]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| **c == country)
        .map(|(_, n)| *n)
}

/// An IBAN (upper-case ASCII alphanumerics): country length and mod-97 = 1.
pub fn iban(s: &[u8]) -> bool {
    if s.len() < 4 || iban_length([s[0], s[1]]) != Some(s.len()) {
        return false;
    }
    if !s[2].is_ascii_digit() || !s[3].is_ascii_digit() {
        return false;
    }
    let mut rem = 0u32;
    for &c in s[4..].iter().chain(&s[..4]) {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + u32::from(c - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    rem == 1
}

fn number(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// French NIR (numéro de sécurité sociale): 13 digits and a 2-digit key,
/// key = 97 - (number mod 97). Corsican 2A/2B departments count as 19/18.
/// Fifteen digits with a key of 1 in 97 need no more: the sex digit and
/// the month are not checked.
pub fn fr_nir(s: &[u8]) -> bool {
    if s.len() != 15 {
        return false;
    }
    let mut body = [0u8; 13];
    body.copy_from_slice(&s[..13]);
    let corsica = match (body[5], body[6]) {
        (b'2', b'A') => Some(1_000_000u64),
        (b'2', b'B') => Some(2_000_000u64),
        _ => None,
    };
    if corsica.is_some() {
        body[6] = b'0';
    }
    if !all_digits(&body) || !all_digits(&s[13..]) {
        return false;
    }
    let n = number(&body) - corsica.unwrap_or(0);
    97 - n % 97 == number(&s[13..])
}

/// Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter).
pub fn es_dni_nie(s: &[u8]) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    if s.len() != 9 {
        return false;
    }
    let lead = match s[0] {
        b'X' => Some(0),
        b'Y' => Some(1),
        b'Z' => Some(2),
        _ => None,
    };
    let digits = match lead {
        Some(_) => &s[1..8],
        None => &s[..8],
    };
    if !all_digits(digits) {
        return false;
    }
    let n = lead.map_or(0, |l| l * 10_000_000) + number(digits);
    LETTERS[(n % 23) as usize] == s[8]
}

/// Whether `s` has the shape of an Italian codice fiscale: six letters,
/// the year, the month's letter, the day, the town's letter and three
/// digits, and a check letter; any digit may be written as a letter
/// (omocodia: "RSSMRA45C12F4LRI").
pub fn it_codice_fiscale_shape(s: &[u8]) -> bool {
    if s.len() != 16 {
        return false;
    }
    let letter = |i: usize| s[i].is_ascii_uppercase();
    // Digits may be replaced by letters (omocodia) in positions 7-8, 10-11, 13-15.
    let digit_or_omocode = |i: usize| s[i].is_ascii_digit() || b"LMNPQRSTUV".contains(&s[i]);
    if !(0..6).all(letter)
        || !digit_or_omocode(6)
        || !digit_or_omocode(7)
        || !b"ABCDEHLMPRST".contains(&s[8])
        || !digit_or_omocode(9)
        || !digit_or_omocode(10)
        || !letter(11)
        || !(12..15).all(digit_or_omocode)
        || !letter(15)
    {
        return false;
    }
    true
}

/// Italian codice fiscale (16 upper-case alphanumerics) with its check letter.
pub fn it_codice_fiscale(s: &[u8]) -> bool {
    // Values of characters in odd (1st, 3rd, …) positions; digits map like A..J.
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    if !it_codice_fiscale_shape(s) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in s[..15].iter().enumerate() {
        let idx = if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'A'
        } as usize;
        sum += if i % 2 == 0 { ODD[idx] } else { idx as u32 };
    }
    u32::from(s[15] - b'A') == sum % 26
}

/// Dutch BSN: 9 digits passing the "elfproef" (weights 9..2, then -1).
pub fn nl_bsn(s: &[u8]) -> bool {
    if s.len() != 9 || !all_digits(s) || s == b"000000000" {
        return false;
    }
    let mut sum: i64 = 0;
    for (i, d) in s[..8].iter().enumerate() {
        sum += (9 - i as i64) * i64::from(d - b'0');
    }
    sum -= i64::from(s[8] - b'0');
    sum % 11 == 0
}

/// Polish PESEL: 11 digits, weights 1-3-7-9, with a valid birth month encoding.
pub fn pl_pesel(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(s) {
        return false;
    }
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = s[..10]
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let month = number(&s[2..4]) % 20;
    let day = number(&s[4..6]);
    (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (10 - sum % 10) % 10 == u32::from(s[10] - b'0')
}

/// Belgian national register number: 11 digits, check = 97 - (first 9 mod 97),
/// with "2" prefixed to the first 9 digits for people born from 2000.
pub fn be_national_number(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(s) {
        return false;
    }
    let body = number(&s[..9]);
    let check = number(&s[9..]);
    let month = number(&s[2..4]);
    if month > 12 && !(20..=32).contains(&month) && !(40..=52).contains(&month) {
        return false;
    }
    97 - body % 97 == check || 97 - (2_000_000_000 + body) % 97 == check
}

/// Portuguese NIF: 9 digits, mod-11 check digit.
pub fn pt_nif(s: &[u8]) -> bool {
    if s.len() != 9 || !all_digits(s) || s[0] == b'0' {
        return false;
    }
    let sum: u32 = s[..8]
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * (9 - i as u32))
        .sum();
    let check = match 11 - sum % 11 {
        10 | 11 => 0,
        c => c,
    };
    check == u32::from(s[8] - b'0')
}

/// German Steuerliche Identifikationsnummer: 11 digits, no leading zero, in the
/// first ten one digit appears two or three times and the check digit follows
/// ISO 7064 MOD 11,10.
pub fn de_steuer_id(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(s) || s[0] == b'0' {
        return false;
    }
    let mut seen = [0u8; 10];
    for d in &s[..10] {
        seen[usize::from(d - b'0')] += 1;
    }
    let repeated: Vec<u8> = seen.iter().copied().filter(|c| *c > 1).collect();
    if repeated.len() != 1 || repeated[0] > 3 {
        return false;
    }
    iso7064_mod_11_10(s)
}

/// ISO 7064 MOD 11,10 over eleven digits (the last one the check): the
/// check of the German IdNr and the Croatian OIB.
fn iso7064_mod_11_10(s: &[u8]) -> bool {
    let mut product = 10u32;
    for d in &s[..10] {
        let mut sum = (u32::from(d - b'0') + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    (11 - product) % 10 == u32::from(s[10] - b'0')
}

/// UK National Insurance number: two prefix letters (with the excluded
/// combinations), six digits and a suffix A-D.
pub fn uk_nino(s: &[u8]) -> bool {
    if s.len() != 9 {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
        return false;
    }
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return false;
    }
    if matches!(
        &s[..2],
        b"BG" | b"GB" | b"NK" | b"KN" | b"TN" | b"NT" | b"ZZ"
    ) {
        return false;
    }
    all_digits(&s[2..8]) && b"ABCD".contains(&s[8])
}

/// US Social Security number (9 digits): area not 000, 666 or 9xx, group not
/// 00, serial not 0000.
pub fn us_ssn(s: &[u8]) -> bool {
    if s.len() != 9 || !all_digits(s) {
        return false;
    }
    let area = number(&s[..3]);
    area != 0 && area != 666 && area < 900 && number(&s[3..5]) != 0 && number(&s[5..]) != 0
}

fn num(digits: &[u8]) -> u32 {
    u32::try_from(number(digits)).unwrap_or(u32::MAX)
}

/// Whether day `d` of month `m` exists in year `y`.
fn valid_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn weighted(s: &[u8], weights: &[u32]) -> u32 {
    s.iter()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum()
}

/// Bulgarian EGN: 10 digits, a birth date (month +20 before 1900, +40 from
/// 2000) and a mod-11 check digit.
pub fn bg_egn(s: &[u8]) -> bool {
    if s.len() != 10 || !all_digits(s) {
        return false;
    }
    let (yy, mm, dd) = (num(&s[0..2]), num(&s[2..4]), num(&s[4..6]));
    let (y, m) = match mm {
        1..=12 => (1900 + yy, mm),
        21..=32 => (1800 + yy, mm - 20),
        41..=52 => (2000 + yy, mm - 40),
        _ => return false,
    };
    valid_date(y, m, dd)
        && weighted(&s[..9], &[2, 4, 8, 5, 10, 9, 7, 3, 6]) % 11 % 10 == u32::from(s[9] - b'0')
}

/// Czech and Slovak birth number: 10 digits divisible by 11 (or whose first
/// nine mod 11 is 10 and last digit 0), with a birth date (month +50 for
/// women, +20 for overflow serials); 9 digits before 1954.
pub fn cz_sk_birth_number(s: &[u8]) -> bool {
    if !(9..=10).contains(&s.len()) || !all_digits(s) {
        return false;
    }
    let (yy, mm, dd) = (num(&s[0..2]), num(&s[2..4]), num(&s[4..6]));
    let m = mm % 50 % 20;
    let year = if s.len() == 9 {
        // Nine digits were issued until 1953; from 80 the year is read
        // in the 1800s.
        match yy {
            0..=53 => 1900 + yy,
            80.. => 1800 + yy,
            _ => return false,
        }
    } else if yy < 54 {
        2000 + yy
    } else {
        1900 + yy
    };
    if !valid_date(year, m, dd) {
        return false;
    }
    if s.len() == 9 {
        return true;
    }
    let body = number(&s[..9]);
    let check = u64::from(s[9] - b'0');
    (body % 11) % 10 == check
}

/// Estonian isikukood and Lithuanian asmens kodas: 11 digits, a century and
/// sex digit 1-6 and a birth date, and a two-pass mod-11 check digit. A
/// Lithuanian code that starts with 9 is one given in exceptional cases,
/// without a birth date: its check digit alone is checked (as python-stdnum's
/// `lt.asmens` does). A first digit of 7 or 8 would be a birth after 2099.
pub fn ee_lt_personal_code(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(s) {
        return false;
    }
    let century = match s[0] {
        b'1' | b'2' => Some(1800),
        b'3' | b'4' => Some(1900),
        b'5' | b'6' => Some(2000),
        b'9' => None,
        _ => return false,
    };
    if let Some(century) = century
        && !valid_date(century + num(&s[1..3]), num(&s[3..5]), num(&s[5..7]))
    {
        return false;
    }
    let first: u32 = (0..10)
        .map(|i| ((i % 9) + 1) as u32 * u32::from(s[i] - b'0'))
        .sum::<u32>()
        % 11;
    let check = if first == 10 {
        (0..10)
            .map(|i| (((i + 2) % 9) + 1) as u32 * u32::from(s[i] - b'0'))
            .sum::<u32>()
            % 11
    } else {
        first
    };
    check % 10 == u32::from(s[10] - b'0')
}

/// Finnish henkilötunnus: DDMMYY, a century sign (+, -, A-F, U-Y), three
/// digits (002-899) and a check character (the nine digits mod 31).
pub fn fi_hetu(s: &[u8]) -> bool {
    if s.len() != 11 || !all_digits(&s[..6]) || !all_digits(&s[7..10]) {
        return false;
    }
    let century = match s[6].to_ascii_uppercase() {
        b'+' => 1800,
        b'-' | b'U'..=b'Y' => 1900,
        b'A'..=b'F' => 2000,
        _ => return false,
    };
    let individual = num(&s[7..10]);
    if !valid_date(century + num(&s[4..6]), num(&s[2..4]), num(&s[0..2]))
        || !(2..900).contains(&individual)
    {
        return false;
    }
    const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let n = u64::from(num(&s[..6])) * 1000 + u64::from(individual);
    CHECK[(n % 31) as usize] == s[10].to_ascii_uppercase()
}

/// Swedish personnummer as written, YYMMDD-NNNN or YYMMDD+NNNN (or with
/// the century, YYYYMMDD-NNNN): a birth date (day +60 for a
/// samordningsnummer) and Luhn over the ten digits.
pub fn se_personnummer(s: &[u8]) -> bool {
    let (date, rest) = match s.len() {
        11 => (&s[..6], &s[6..]),
        13 => (&s[2..8], &s[8..]),
        _ => return false,
    };
    if !matches!(rest[0], b'-' | b'+') || !all_digits(date) || !all_digits(&rest[1..]) {
        return false;
    }
    let (m, d) = (num(&date[2..4]), num(&date[4..6]));
    let d = if d > 60 { d - 60 } else { d };
    let mut ten = date.to_vec();
    ten.extend_from_slice(&rest[1..]);
    valid_date(2000, m, d) && luhn(&ten)
}

/// Greek AMKA: 11 digits, DDMMYY and Luhn.
pub fn gr_amka(s: &[u8]) -> bool {
    s.len() == 11 && all_digits(s) && valid_date(2000, num(&s[2..4]), num(&s[0..2])) && luhn(s)
}

/// Romanian CNP: 13 digits, sex and century 1-9 (7 and 8 residents, 9
/// other foreigners, their century unwritten), a birth date, a county code
/// (01-48 with Bucharest's sectors, 51 and 52, 70 for any county, 80-83),
/// and a weighted mod-11 check digit.
pub fn ro_cnp(s: &[u8]) -> bool {
    if s.len() != 13 || !all_digits(s) {
        return false;
    }
    let century = match s[0] {
        b'3' | b'4' => 1800,
        b'5' | b'6' => 2000,
        b'1' | b'2' | b'7' | b'8' | b'9' => 1900,
        _ => return false,
    };
    let county = num(&s[7..9]);
    if !valid_date(century + num(&s[1..3]), num(&s[3..5]), num(&s[5..7]))
        || !matches!(county, 1..=48 | 51 | 52 | 70 | 80..=83)
    {
        return false;
    }
    let check = weighted(&s[..12], &[2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9]) % 11;
    (if check == 10 { 1 } else { check }) == u32::from(s[12] - b'0')
}

/// Slovenian EMŠO: 13 digits, DDMMYYY (the year's last three digits), and
/// a weighted mod-11 check digit.
pub fn si_emso(s: &[u8]) -> bool {
    if s.len() != 13 || !all_digits(s) {
        return false;
    }
    // Born from 1900 to 2039: the range that tells an EMŠO from a
    // millisecond timestamp of this century.
    let yyy = num(&s[4..7]);
    let year = match yyy {
        900..=999 => 1000 + yyy,
        0..=39 => 2000 + yyy,
        _ => return false,
    };
    if !valid_date(year, num(&s[2..4]), num(&s[0..2])) {
        return false;
    }
    let total = weighted(&s[..12], &[7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]);
    (11 - total % 11) % 11 % 10 == u32::from(s[12] - b'0')
}

/// Austrian social insurance number: a serial of three digits, a check
/// digit (weights 3 7 9 _ 5 8 4 2 1 6, mod 11) and the birth date DDMMYY,
/// which is not checked (unknown dates are written with impossible days
/// and months). Weak alone: the scanner wants its shape or a word.
pub fn at_vnr(s: &[u8]) -> bool {
    if s.len() != 10 || !all_digits(s) || s[0] == b'0' {
        return false;
    }
    weighted(s, &[3, 7, 9, 0, 5, 8, 4, 2, 1, 6]) % 11 == u32::from(s[3] - b'0')
}

/// Danish CPR number as written, DDMMYY-SSSS: a birth date (the check
/// digit was given up in 2007, so the shape and the date are all there is).
pub fn dk_cpr_shape(s: &[u8]) -> bool {
    s.len() == 10 && all_digits(s) && valid_date(2000, num(&s[2..4]), num(&s[0..2]))
}

/// Croatian OIB: 11 digits, ISO 7064 MOD 11,10 check digit.
pub fn hr_oib(s: &[u8]) -> bool {
    s.len() == 11 && all_digits(s) && iso7064_mod_11_10(s)
}

/// Portuguese Cartão de Cidadão: 9 digits (the civil id), a check digit,
/// two letters and a version digit, with a Luhn-like check over all twelve
/// characters (letters valued 10-35).
pub fn pt_cc(s: &[u8]) -> bool {
    if s.len() != 12
        || !all_digits(&s[..9])
        || !s[10].is_ascii_alphabetic()
        || !s[11].is_ascii_digit()
    {
        return false;
    }
    let value = |c: u8| -> Option<u32> {
        match c {
            b'0'..=b'9' => Some(u32::from(c - b'0')),
            b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 10),
            _ => None,
        }
    };
    let mut sum = 0;
    for (i, c) in s.iter().rev().enumerate() {
        let Some(v) = value(*c) else {
            return false;
        };
        sum += if i % 2 == 1 {
            let x = v * 2;
            if x > 9 { x - 9 } else { x }
        } else {
            v
        };
    }
    sum % 10 == 0
}

/// A dotted-quad IPv4 address (no leading zeros beyond a lone 0).
pub fn ipv4(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        if part.is_empty()
            || part.len() > 3
            || !part.bytes().all(|b| b.is_ascii_digit())
            || (part.len() > 1 && part.starts_with('0'))
            || part.parse::<u16>().map_or(true, |v| v > 255)
        {
            return false;
        }
    }
    parts == 4
}

/// An IPv6 address in any compressed form (optionally with a trailing IPv4).
pub fn ipv6(s: &str) -> bool {
    s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published example values (specifications, issuers' test numbers and
    // registry documentation); facts, checked against our validators.
    #[test]
    fn reference_vectors_pass() {
        for c in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "2223003122003222",
            "4012888888881881",
            "30569309025904",
        ] {
            assert!(card(c.as_bytes()), "card {c}");
        }
        for i in [
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "BE68539007547034",
            "ES9121000418450200051332",
            "IT60X0542811101000000123456",
            "PL61109010140000071219812874",
            "PT50000201231234567890154",
            "AT611904300234573201",
            "NO9386011117947",
            "MT84MALT011000012345MTLCAST001S",
        ] {
            assert!(iban(i.as_bytes()), "iban {i}");
        }
        assert!(es_dni_nie(b"12345678Z"));
        assert!(es_dni_nie(b"X1234567L"));
        assert!(it_codice_fiscale(b"RSSMRA85T10A562S"));
        assert!(nl_bsn(b"111222333"));
        assert!(nl_bsn(b"123456782"));
        assert!(pl_pesel(b"44051401359"));
        assert!(pl_pesel(b"02070803628"));
        assert!(pt_nif(b"123456789"));
        assert!(de_steuer_id(b"86095742719"));
        assert!(de_steuer_id(b"65929970489"));
        assert!(uk_nino(b"AB123456C"));
        assert!(us_ssn(b"123456789"));
        assert!(fr_nir(b"255081416802538"));
        assert!(be_national_number(b"85073003328"));
        // A CNP of a foreigner (9), and of the counties "any" (70) and 80-83.
        for cnp in ["9850723123454", "1850723701231", "2850723820011"] {
            assert!(ro_cnp(cnp.as_bytes()), "CNP {cnp}");
        }
        // Every digit written as a letter (omocodia).
        assert!(it_codice_fiscale(b"RSSMRAQRCMNFNLRG"));
        assert!(ipv4("192.168.0.1") && ipv4("8.8.8.8") && ipv4("0.0.0.0"));
        for a in [
            "2001:db8::1",
            "::1",
            "fe80::1ff:fe23:4567:890a",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "::ffff:192.0.2.128",
            "::",
        ] {
            assert!(ipv6(a), "ipv6 {a}");
        }
    }

    #[test]
    fn near_misses_fail() {
        assert!(!card(b"4111111111111112"), "Luhn");
        assert!(!card(b"9111111111111111"), "no issuer 9");
        assert!(!iban(b"GB82WEST12345698765433"), "mod 97");
        assert!(!iban(b"GB82WEST1234569876543"), "length");
        assert!(!iban(b"XX82WEST12345698765432"), "country");
        assert!(!es_dni_nie(b"12345678A"));
        assert!(!it_codice_fiscale(b"RSSMRA85T10A562T"));
        assert!(!nl_bsn(b"111222334"));
        assert!(!pl_pesel(b"44051401358"));
        assert!(!pt_nif(b"123456788"));
        assert!(!de_steuer_id(b"86095742718"));
        assert!(!de_steuer_id(b"12345678903"), "no repeated digit");
        assert!(!uk_nino(b"QQ123456C"), "Q is not a valid first letter");
        assert!(!us_ssn(b"666123456") && !us_ssn(b"123006789") && !us_ssn(b"900123456"));
        assert!(!fr_nir(b"255081416802539"));
        // Counties 49 and 50 were never given (check digits made right).
        assert!(!ro_cnp(b"1850723491231") && !ro_cnp(b"1850723501230"));
        assert!(!ipv4("256.1.1.1") && !ipv4("1.2.3") && !ipv4("01.2.3.4"));
        assert!(!ipv6("12:30") && !ipv6("2001:db8::g"));
    }
}
